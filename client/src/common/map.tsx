import { useEffect, useRef, useState } from 'preact/hooks';
import L from 'leaflet';
import 'leaflet/dist/leaflet.css';
import './map.css';
import { get } from './api.js';
import { bi, formatTime, t } from './i18n.js';
import type { IncidentEvent } from '../../../shared/events.js';
import type { TeamStatus } from '../../../shared/resources.js';

/**
 * The one Leaflet map of the client: the board's situation map, the activation form's picker and
 * the field phone's task map all draw through `MapView`, over the same offline sketch basemap.
 */

/**
 * Leaflet 1.9's canvas renderer can still run a queued redraw after `map.remove()` has deleted its
 * drawing context ("Cannot read properties of undefined (reading 'clearRect')", the family of
 * Leaflet #6030). It was seen once in CI on a page that unmounts one map and mounts another; Preact 11
 * runs an unmounted component's effect cleanups (our `m.remove()`) after paint, not at once. A
 * renderer without a context has nothing to draw on, so its redraw is a no-op.
 */
type CanvasInternals = { _ctx?: CanvasRenderingContext2D; _redrawRequest: number | null; _redraw(): void };
const canvasRenderer = L.Canvas.prototype as unknown as CanvasInternals;
const leafletRedraw = canvasRenderer._redraw;
canvasRenderer._redraw = function (this: CanvasInternals) {
  if (!this._ctx) {
    this._redrawRequest = null;
    return;
  }
  leafletRedraw.call(this);
};

export interface MapMarker {
  id: string;
  lat: number;
  lon: number;
  /** `site`: a dispatch order's task site where it is not the incident's location; `device`: this phone. */
  kind: 'incident' | 'site' | 'team' | 'device' | 'warehouse' | 'shelter' | 'pick';
  label: string;
  status?: string;
  /** Fill colour (teams: by state); else the kind's colour. */
  colour?: string;
  /** Drawn as a ring: a team shown at its home base because no fix has arrived. */
  hollow?: boolean;
  /** The label stays on the map (not only on hover); `zoom`: only from that zoom level on. */
  permanent?: boolean | { zoom: number };
}

/** An area on the map: the incident's circle or polygon, a warning's polygon, a fix's accuracy; or a line. */
export interface MapShape {
  id: string;
  label: string;
  colour: string;
  dashed?: boolean;
  /** [lat, lon] vertices (as the plans and warnings store them). */
  polygon?: [number, number][];
  circle?: { lat: number; lon: number; radiusKm: number };
  /** [lat, lon] points of a line (the straight line from the team to its task site). */
  line?: [number, number][];
}

const COLOURS: Record<MapMarker['kind'], string> = {
  incident: '#eb5757',
  site: '#eb5757',
  team: '#2f80ed',
  device: '#56ccf2',
  warehouse: '#c97b2a',
  shelter: '#27ae60',
  pick: '#f2c94c',
};
const RADIUS: Record<MapMarker['kind'], number> = { incident: 11, site: 11, pick: 11, team: 8, device: 7, warehouse: 6, shelter: 6 };

/** Team state → marker colour (the legends under the maps say which is which). */
export const TEAM_STATE_COLOURS: Record<TeamStatus, string> = {
  available: '#9fb0c0',
  dispatched: '#f2c94c',
  acknowledged: '#f2994a',
  en_route: '#2f80ed',
  on_scene: '#bb6bd9',
  released: '#56ccf2',
};

/** "3 分钟前" — how old a position fix is. */
export function fixAge(at: string, now: number): string {
  const min = Math.max(0, Math.floor((now - Date.parse(at)) / 60_000));
  if (min < 1) return t('刚刚', 'just now');
  if (min < 60) return t(`${min} 分钟前`, `${min} min ago`);
  const h = Math.floor(min / 60);
  if (h < 24) return t(`${h} 小时前`, `${h} h ago`);
  return formatTime(at, true);
}

export interface Fix {
  lat: number;
  lon: number;
  accuracyM: number;
  at: string;
}

/** Fixes that arrived over the live feed since the teams were last read (the marker moves at once). */
export function liveFixes(events: IncidentEvent[]): Map<string, Fix> {
  const fixes = new Map<string, Fix>();
  for (const e of events) {
    const d = e.data as any;
    if (e.type === 'dispatch.status_changed' && d?.position?.latest && typeof d.teamId === 'string') fixes.set(d.teamId, d.position);
    if (e.type === 'field.report' && typeof d?.teamId === 'string' && d.location?.source === 'device' && typeof d.location.lat === 'number')
      fixes.set(d.teamId, { lat: d.location.lat, lon: d.location.lon, accuracyM: d.location.accuracyM ?? 0, at: d.location.at ?? e.at });
  }
  return fixes;
}

/** The newer of two fixes (either may be missing). */
export const newerFix = (a: Fix | null | undefined, b: Fix | null | undefined): Fix | null => (a && b ? (Date.parse(a.at) >= Date.parse(b.at) ? a : b) : (a ?? b ?? null));

/** Leaflet puts a string tooltip into innerHTML; user text (titles, team names) must go in as text. */
export function textNode(text: string): HTMLElement {
  const span = document.createElement('span');
  span.textContent = text;
  return span;
}

const RANK: MapMarker['kind'][] = ['incident', 'site', 'team', 'device', 'warehouse', 'shelter', 'pick'];

/**
 * Permanent labels that would overlap a more important one are hidden (class `covered`): the
 * incident and task site first, then teams, this phone, warehouses, shelters. Hovering (or
 * tapping) a marker shows its label again.
 */
function declutter(container: HTMLElement | null): void {
  if (!container) return;
  const rank = (el: Element) => {
    const i = RANK.findIndex((k) => el.classList.contains(k));
    return i < 0 ? RANK.length : i;
  };
  // (A label still fading out of a redraw has opacity 0: it no longer counts.)
  const labels = [...container.querySelectorAll<HTMLElement>('.leaflet-tooltip.map-label')].filter((el) => el.style.opacity !== '0').sort((a, b) => rank(a) - rank(b));
  const kept: DOMRect[] = [];
  for (const el of labels) {
    el.classList.remove('covered');
    const r = el.getBoundingClientRect();
    if (kept.some((k) => r.left < k.right && r.right > k.left && r.top < k.bottom && r.bottom > k.top)) el.classList.add('covered');
    else kept.push(r);
  }
}

/** How the map reads its basemap and config: the board asks the server; the phone goes through its offline cache. */
export type MapLoader = <T>(path: string) => Promise<T>;

let basemapCache: Promise<GeoJSON.FeatureCollection> | null = null;
let configCache: Promise<{ tileUrl: string | null; tileAttribution: string | null }> | null = null;

/**
 * Leaflet map over the offline basemap (district outline, main roads, rivers as GeoJSON from the
 * server); raster tiles only when the deployment set MAP_TILE_URL.
 */
export function MapView(props: {
  markers: MapMarker[];
  shapes?: MapShape[];
  onPick?: (lat: number, lon: number) => void;
  center?: [number, number];
  /** Points (with an optional radius) the map frames once they are known, instead of the whole district: the response's extent. */
  focus?: { lat: number; lon: number; radiusKm?: number }[];
  /** Frame `focus` again whenever it changes (a fix arrives), until the user pans or zooms by hand. */
  follow?: boolean;
  /** A change frames `focus` again and resumes following (the phone's 「全览」 button). */
  fitSignal?: number;
  /** Reads `/api/map/basemap` and `/api/map/config`; the API by default. */
  load?: MapLoader;
  /** Where permanent labels sit: right of the marker (the board), or on the side with more room (the phone's narrow map). */
  labelSide?: 'right' | 'auto';
  class?: string;
  label?: string;
}) {
  const el = useRef<HTMLDivElement>(null);
  const map = useRef<L.Map | null>(null);
  const layer = useRef<L.LayerGroup | null>(null);
  const shapeLayer = useRef<L.LayerGroup | null>(null);
  const [zoom, setZoom] = useState(12);
  const focused = useRef(false);
  const userMoved = useRef(false);
  const fitting = useRef(false);
  const lastSignal = useRef(props.fitSignal);
  const pick = useRef(props.onPick);
  pick.current = props.onPick;

  /** Our own framing is not the user's: only their drags and zooms stop `follow`. */
  const fit = (m: L.Map, bounds: L.LatLngBounds, opts: L.FitBoundsOptions) => {
    fitting.current = true;
    try {
      m.fitBounds(bounds, { ...opts, animate: false });
    } finally {
      fitting.current = false;
    }
    setZoom(m.getZoom());
  };

  useEffect(() => {
    const m = L.map(el.current!, { zoomControl: true, attributionControl: true, preferCanvas: true, fadeAnimation: false }).setView(props.center ?? [41.79, 123.33], 12);
    map.current = m;
    shapeLayer.current = L.layerGroup().addTo(m);
    layer.current = L.layerGroup().addTo(m);
    m.on('zoomend', () => setZoom(m.getZoom()));
    m.on('moveend', () => declutter(el.current));
    m.on('dragstart', () => (userMoved.current = true));
    m.on('zoomstart', () => fitting.current || (userMoved.current = true));
    const load: MapLoader = props.load ?? get;
    // A failed read is not remembered: the next map to open tries again (the phone, back online).
    configCache ??= load<{ tileUrl: string | null; tileAttribution: string | null }>('/api/map/config').catch((e) => ((configCache = null), Promise.reject(e)));
    configCache.then((c) => map.current === m && c.tileUrl && L.tileLayer(c.tileUrl, { attribution: c.tileAttribution ?? '', maxZoom: 18 }).addTo(m).bringToBack()).catch(() => {});
    basemapCache ??= load<GeoJSON.FeatureCollection>('/api/map/basemap').catch((e) => ((basemapCache = null), Promise.reject(e)));
    basemapCache
      .then((fc) => {
        if (map.current !== m) return; // unmounted before the basemap arrived
        const geo = L.geoJSON(fc, {
          style: (f) => {
            const kind = f?.properties?.kind;
            if (kind === 'district') return { color: '#9fb0c0', weight: 2, dashArray: '6 4', fillColor: '#1d2a36', fillOpacity: 0.35 };
            if (kind === 'river') return { color: '#3b8fd9', weight: 6, opacity: 0.8 };
            return { color: '#c9a86a', weight: f?.properties?.rank === 1 ? 4 : 2.5, opacity: 0.85 };
          },
          onEachFeature: (f, l) => f.properties?.name && l.bindTooltip(textNode(bi(f.properties.name)), { sticky: true }),
        }).addTo(m);
        geo.bringToBack();
        el.current?.setAttribute('data-basemap', String(fc.features.length));
        // Show the whole district, and the incident even when it lies just outside it.
        const district = fc.features.find((f) => f.properties?.kind === 'district');
        if (district && !focused.current) {
          const bounds = L.geoJSON(district).getBounds();
          if (props.center) bounds.extend(props.center);
          fit(m, bounds, { padding: [12, 12] });
        }
      })
      .catch(() => {});
    m.on('click', (e: L.LeafletMouseEvent) => pick.current?.(Math.round(e.latlng.lat * 1e5) / 1e5, Math.round(e.latlng.lng * 1e5) / 1e5));
    return () => {
      m.remove();
      map.current = null;
    };
  }, []);

  const focusKey = (props.focus ?? []).map((p) => `${p.lat.toFixed(4)},${p.lon.toFixed(4)},${p.radiusKm ?? 0}`).join(';');
  useEffect(() => {
    const m = map.current;
    if (!m) return;
    if (props.fitSignal !== lastSignal.current) {
      lastSignal.current = props.fitSignal;
      userMoved.current = false;
    } else if (props.follow ? userMoved.current : focused.current) return;
    if (!props.focus?.length) return;
    const bounds = L.latLngBounds([]);
    for (const p of props.focus) {
      if (p.radiusKm) bounds.extend(L.latLng(p.lat, p.lon).toBounds(p.radiusKm * 2000));
      else bounds.extend([p.lat, p.lon]);
    }
    if (!bounds.isValid()) return;
    focused.current = true;
    fit(m, bounds, { padding: [24, 24], maxZoom: 15 });
  }, [focusKey, props.fitSignal]);

  useEffect(() => {
    const group = shapeLayer.current;
    if (!group) return;
    group.clearLayers();
    for (const sh of props.shapes ?? []) {
      const style = { color: sh.colour, weight: sh.dashed ? 2 : 3, dashArray: sh.dashed ? '8 6' : undefined, fillColor: sh.colour, fillOpacity: sh.dashed ? 0.06 : 0.14 };
      if (sh.polygon) L.polygon(sh.polygon, style).bindTooltip(textNode(sh.label), { sticky: true }).addTo(group);
      if (sh.circle) L.circle([sh.circle.lat, sh.circle.lon], { ...style, radius: sh.circle.radiusKm * 1000 }).bindTooltip(textNode(sh.label), { sticky: true }).addTo(group);
      if (sh.line) L.polyline(sh.line, { color: sh.colour, weight: 3, dashArray: sh.dashed ? '8 6' : undefined, interactive: false }).addTo(group);
    }
  }, [props.shapes]);

  useEffect(() => {
    const group = layer.current;
    if (!group) return;
    group.clearLayers();
    for (const mk of props.markers) {
      const permanent = mk.permanent === true || (typeof mk.permanent === 'object' && zoom >= mk.permanent.zoom);
      const colour = mk.colour ?? COLOURS[mk.kind];
      const marker = L.circleMarker([mk.lat, mk.lon], {
        radius: RADIUS[mk.kind],
        // The phone's own position is ringed in white, like the blue dot of the phone's map apps.
        color: mk.hollow ? colour : mk.kind === 'device' ? '#fff' : '#111',
        weight: mk.hollow || mk.kind === 'device' ? 3 : 1.5,
        dashArray: mk.hollow ? '3 3' : undefined,
        fillColor: colour,
        fillOpacity: mk.hollow ? 0.15 : 0.95,
      })
        // Text nodes only: labels carry names users typed.
        .bindTooltip(textNode(mk.label + (mk.status ? ` · ${mk.status}` : '')), permanent ? { permanent: true, direction: props.labelSide ?? 'right', offset: [8, 0], className: `map-label ${mk.kind}` } : {})
        .addTo(group);
      if (permanent) {
        // A label hidden by decluttering shows while the pointer is on its marker.
        marker.on('mouseover', () => marker.getTooltip()?.getElement()?.classList.add('hover'));
        marker.on('mouseout', () => marker.getTooltip()?.getElement()?.classList.remove('hover'));
      }
    }
    requestAnimationFrame(() => declutter(el.current));
  }, [props.markers, zoom]);

  // The vectors are drawn on a canvas; the counts let a test (and a curious reader) see what is there.
  return (
    <div
      ref={el}
      class={`map ${props.class ?? ''}`}
      role="application"
      aria-label={props.label ?? 'map'}
      data-markers={props.markers.length}
      data-kinds={[...new Set(props.markers.map((m) => m.kind))].sort().join(' ')}
      data-shapes={(props.shapes ?? []).length}
    />
  );
}
