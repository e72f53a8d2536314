import { useEffect, useMemo, useState } from 'preact/hooks';
import { bi, t, useLang } from '../common/i18n.js';
import { useNow } from '../common/ui.js';
import { fixAge, liveFixes, MapView, newerFix, TEAM_STATE_COLOURS, type Fix, type MapLoader, type MapMarker, type MapShape } from '../common/map.js';
import { bearingDeg, compassPoint, distanceParts, haversineKm, type GeoPoint } from '../../../shared/geo.js';
import type { IncidentEvent } from '../../../shared/events.js';
import type { IncidentView } from '../../../shared/incidents.js';
import type { Bilingual } from '../../../shared/labels.js';
import type { DispatchView, TeamFix, TeamStatus } from '../../../shared/resources.js';
import { cachedGet } from './cache.js';
import { geoLink } from './geo-link.js';

/** The phone's maps read through the offline cache: the basemap seen online is the one drawn offline. */
const cachedLoad: MapLoader = <T,>(path: string) => cachedGet<T>(path).then((r) => r.data);

interface Place {
  id: string;
  kind: 'shelter' | 'warehouse';
  name: Bilingual;
  location: GeoPoint & { address?: string };
}

interface MyTeam {
  name: Bilingual;
  status: TeamStatus;
  base: GeoPoint | null;
  lastFix: TeamFix | null;
}

type DeviceFix = Fix | 'denied' | 'unavailable' | null;

/** 「1.2 公里」 / "1.2 km". */
export function distanceText(km: number): string {
  const d = distanceParts(km);
  return d.unit === 'km' ? t(`${d.value} 公里`, `${d.value} km`) : t(`${d.value} 米`, `${d.value} m`);
}

/** 「距现场 1.2 公里 · 东北」: how far the site is from here, and which way to go. */
export function towardsSite(from: GeoPoint, site: GeoPoint): string {
  const km = haversineKm(from, site);
  // Closer than the phone's fix can tell, a compass point only misleads.
  if (km < 0.05) return t(`距现场 ${distanceText(km)} · 已在现场`, `${distanceText(km)} to the site · on site`);
  const way = compassPoint(bearingDeg(from, site));
  return t(`距现场 ${distanceText(km)} · ${way.zh}`, `${distanceText(km)} to the site · ${way.en}`);
}

/** The phone's own position while the map is open (watchPosition: it follows the team as it moves). */
function useDeviceFix(): DeviceFix {
  const [fix, setFix] = useState<DeviceFix>(null);
  useEffect(() => {
    if (!('geolocation' in navigator)) return setFix('unavailable');
    const id = navigator.geolocation.watchPosition(
      (p) => setFix({ lat: p.coords.latitude, lon: p.coords.longitude, accuracyM: Math.round(p.coords.accuracy), at: new Date(Math.min(p.timestamp, Date.now())).toISOString() }),
      (e) => setFix((old) => (old && typeof old === 'object' ? old : e.code === e.PERMISSION_DENIED ? 'denied' : 'unavailable')),
      { enableHighAccuracy: true, maximumAge: 10_000, timeout: 20_000 },
    );
    return () => navigator.geolocation.clearWatch(id);
  }, []);
  return fix;
}

/**
 * 任务地图: the task site (the order's location, the incident's and its area), where the team was
 * last seen and where this phone is now, the straight line and direction between them, and the
 * nearest shelters — all from what the phone has cached, so it works with no network.
 */
export function FieldMap(props: {
  incident: IncidentView | null;
  dispatch: DispatchView | null;
  teamId: string | null;
  events: IncidentEvent[];
  /** Changes when the team's position may have changed (a status change or report was sent). */
  refresh: number;
}) {
  const lang = useLang(); // the labels below are memoised: a language switch must redraw them
  const now = useNow(30_000);
  const device = useDeviceFix();
  const [team, setTeam] = useState<MyTeam | null>(null);
  const [places, setPlaces] = useState<Place[]>([]);
  const [fitSignal, setFitSignal] = useState(0);

  const relevant = props.events.filter((e) => (e.type === 'dispatch.status_changed' || e.type === 'field.report') && (e.data as { teamId?: string })?.teamId === props.teamId).length;
  useEffect(() => {
    if (!props.teamId) return;
    cachedGet<{ team: MyTeam }>(`/api/teams/${encodeURIComponent(props.teamId)}`)
      .then((r) => setTeam(r.data.team))
      .catch(() => {});
  }, [props.teamId, props.refresh, relevant]);
  useEffect(() => {
    Promise.all([cachedGet<{ shelters: Omit<Place, 'kind'>[] }>('/api/shelters').catch(() => null), cachedGet<{ warehouses: Omit<Place, 'kind'>[] }>('/api/warehouses').catch(() => null)]).then(([s, w]) =>
      setPlaces([...(s?.data.shelters ?? []).map((p) => ({ ...p, kind: 'shelter' as const })), ...(w?.data.warehouses ?? []).map((p) => ({ ...p, kind: 'warehouse' as const }))].filter((p) => p.location)),
    );
  }, []);

  const incident = props.incident;
  const order = props.dispatch;
  // The order says where the team goes; without one, the incident's location is the site.
  const site: (GeoPoint & { label: string; address: string | null }) | null = order
    ? { lat: order.location.lat, lon: order.location.lon, label: order.incidentTitle, address: order.location.address }
    : incident?.location
      ? { ...incident.location, label: incident.title, address: null }
      : null;
  const teamFix = newerFix(team?.lastFix, props.teamId ? liveFixes(props.events).get(props.teamId) : null);
  const here = device && typeof device === 'object' ? device : null;
  const from: { point: Fix; basis: string } | null = here
    ? { point: here, basis: t(`按本机定位（±${here.accuracyM} 米）`, `from this phone (±${here.accuracyM} m)`) }
    : teamFix
      ? { point: teamFix, basis: t(`按本队最后位置（${fixAge(teamFix.at, now)}）`, `from the team's last position (${fixAge(teamFix.at, now)})`) }
      : null;

  const markers = useMemo(() => {
    const m: MapMarker[] = [];
    for (const p of places) m.push({ id: p.id, kind: p.kind, lat: p.location.lat, lon: p.location.lon, label: bi(p.name), permanent: { zoom: 15 } });
    const siteIsIncident = site && incident?.location && haversineKm(site, incident.location) < 0.02;
    if (incident?.location && !siteIsIncident) m.push({ id: 'incident', kind: 'incident', ...incident.location, label: incident.title, permanent: true });
    if (site) m.push({ id: 'site', kind: siteIsIncident ? 'incident' : 'site', lat: site.lat, lon: site.lon, label: siteIsIncident ? site.label : `${t('任务地点', 'Task site')} · ${site.label}`, permanent: true });
    if (team && teamFix) m.push({ id: 'team', kind: 'team', lat: teamFix.lat, lon: teamFix.lon, colour: TEAM_STATE_COLOURS[team.status], label: `${bi(team.name)} · ${fixAge(teamFix.at, now)}`, permanent: true });
    else if (team?.base) m.push({ id: 'team', kind: 'team', ...team.base, colour: TEAM_STATE_COLOURS[team.status], hollow: true, label: `${bi(team.name)} · ${t('驻地（无定位）', 'at base (no fix)')}`, permanent: true });
    if (here) m.push({ id: 'device', kind: 'device', lat: here.lat, lon: here.lon, label: t('本机', 'This phone'), permanent: true });
    return m;
  }, [places, site?.lat, site?.lon, site?.label, incident, team, teamFix?.at, teamFix?.lat, here?.lat, here?.lon, now, lang]);

  const shapes = useMemo(() => {
    const s: MapShape[] = [];
    const area = incident?.area;
    if (area) s.push({ id: 'incident-area', label: `${t('事发区域', 'Incident area')}：${bi(area.description)}`, colour: '#eb5757', polygon: area.polygon as [number, number][] | undefined, circle: area.circle });
    if (here && here.accuracyM > 0) s.push({ id: 'accuracy', label: t(`本机定位精度 ±${here.accuracyM} 米`, `This phone's fix: ±${here.accuracyM} m`), colour: '#56ccf2', dashed: true, circle: { lat: here.lat, lon: here.lon, radiusKm: here.accuracyM / 1000 } });
    if (site && from) s.push({ id: 'to-site', label: '', colour: '#f2c94c', dashed: true, line: [[from.point.lat, from.point.lon], [site.lat, site.lon]] });
    return s;
  }, [incident?.area, here?.lat, here?.lon, here?.accuracyM, site?.lat, site?.lon, from?.point.lat, from?.point.lon, lang]);

  const focus = useMemo(() => {
    const f: { lat: number; lon: number; radiusKm?: number }[] = [];
    if (site) f.push(site);
    if (incident?.location) f.push(incident.location);
    if (incident?.area?.circle) f.push(incident.area.circle);
    for (const [lat, lon] of incident?.area?.polygon ?? []) f.push({ lat, lon });
    if (from) f.push(from.point);
    return f;
  }, [site?.lat, site?.lon, incident, from?.point.lat, from?.point.lon]);

  const nearest = useMemo(() => {
    if (!site) return [];
    const by = (kind: Place['kind'], n: number) =>
      places
        .filter((p) => p.kind === kind)
        .map((p) => ({ ...p, km: haversineKm(site, p.location) }))
        .sort((a, b) => a.km - b.km)
        .slice(0, n);
    return [...by('shelter', 3), ...by('warehouse', 2)];
  }, [places, site?.lat, site?.lon]);

  if (!site) return <p class="muted">{t('暂无任务地点：没有任务单，事件也没有位置', 'No task site yet: no dispatch order, and the incident has no location')}</p>;
  return (
    <section class="task-map" aria-label={t('任务地图', 'Task map')}>
      <div class="nav-card">
        <p class="nav-site" data-testid="task-site">
          {/* Without an address the coordinates, which can be read out over the radio. */}
          <span class="muted">{t('任务地点', 'Task site')}</span> {site.address ?? `${site.lat.toFixed(5)}, ${site.lon.toFixed(5)}`}
        </p>
        {from ? (
          <>
            <p class="nav-distance" data-testid="site-distance">
              {towardsSite(from.point, site)}
            </p>
            <p class="muted small" data-testid="distance-basis">
              {t('直线距离，', 'Straight line, ')}
              {from.basis}
            </p>
          </>
        ) : (
          <p class="muted" data-testid="site-distance-unknown">
            {device === 'denied' ? t('未允许定位：打开定位权限后可显示距离和方向', 'Location not allowed: allow it to see distance and direction') : t('尚无本队或本机位置', 'No position of the team or this phone yet')}
          </p>
        )}
        <div class="nav-actions">
          {/* geo: opens the phone's own map app (高德、百度、系统地图) for turn-by-turn directions. */}
          <a class="button primary" data-testid="map-navigate" href={geoLink(site.lat, site.lon, site.address ?? site.label)}>
            {t('用手机地图导航', 'Navigate in map app')}
          </a>
          <button type="button" data-testid="map-fit" onClick={() => setFitSignal((n) => n + 1)}>
            {t('全览', 'Show all')}
          </button>
        </div>
      </div>
      <MapView class="field-map" labelSide="auto" markers={markers} shapes={shapes} focus={focus} follow fitSignal={fitSignal} load={cachedLoad} label={t('任务地图', 'Task map')} />
      <p class="legend muted small" data-testid="task-map-legend">
        <span class="dot incident" /> {t('现场', 'Site')} <span class="dot team" style={{ background: team ? TEAM_STATE_COLOURS[team.status] : undefined }} /> {t('本队', 'My team')} <span class="dot device" /> {t('本机', 'This phone')}{' '}
        <span class="dot shelter" /> {t('避难场所', 'Shelter')} <span class="dot warehouse" /> {t('物资库', 'Warehouse')}
      </p>
      {nearest.length > 0 && (
        <>
          <h2 class="small-heading">{t('现场附近', 'Near the site')}</h2>
          <ul class="near-places" data-testid="near-places">
            {nearest.map((p) => (
              <li key={p.id} data-kind={p.kind}>
                <span class={`dot ${p.kind}`} />
                <span class="near-name">{bi(p.name)}</span>
                <span class="muted small">
                  {p.kind === 'shelter' ? t('避难场所', 'shelter') : t('物资库', 'warehouse')} · {t(`距现场 ${distanceText(p.km)}`, `${distanceText(p.km)} from the site`)}
                  {p.km >= 0.05 ? ` · ${bi(compassPoint(bearingDeg(site, p.location)))}` : ''}
                </span>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
