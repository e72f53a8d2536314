import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { get, post, errorText } from '../common/api.js';
import { bi, formatTime, t, useLang } from '../common/i18n.js';
import { ExerciseBanner, Panel, useNow } from '../common/ui.js';
import { useLiveFeed } from '../common/live.js';
import type { Session } from '../common/session.js';
import type { IncidentView } from '../../../shared/incidents.js';
import type { IncidentEvent } from '../../../shared/events.js';
import { INCIDENT_MODE_LABELS, RESPONSE_LEVEL_LABELS, WARNING_COLOUR_LABELS, type Bilingual, type ResponseLevel } from '../../../shared/labels.js';
import { ChecklistPanel } from './ChecklistPanel.js';
import { TimelinePanel } from './TimelinePanel.js';
import { DispatchesPanel, RecommendationsPanel, StockPanel, useResources } from './ResourcesPanels.js';
import { WarningsPanel } from './WarningsPanel.js';
import { fixAge, liveFixes, MapView, TEAM_STATE_COLOURS, type MapMarker, type MapShape } from '../common/map.js';
import { TEAM_STATUS_LABELS, type TeamStatus } from '../../../shared/resources.js';
import type { WarningView } from '../../../shared/warnings.js';
import { ROLE_LABELS } from '../../../shared/roles.js';
import { AlertCenter } from './AlertCenter.js';
import { can } from '../../../shared/policy.js';
import type { ReviewImprovement } from '../../../shared/review.js';

/** Stands in until the incident is loaded, so the board's hooks run in the same order every render. */
const PLACEHOLDER = { id: '', status: 'closed', mode: 'actual', level: 'IV' } as IncidentView;

export interface IncidentDetail {
  incident: IncidentView;
  plan: { command: { units: { id: string; name: Bilingual }[] }; warningTemplates: { id: string; colour: string; headline?: Bilingual }[] } & Record<string, any>;
}

/** Bumped by live events so the panels refetch what the server decided. */
export interface Refresh {
  dispatches: number;
  allocations: number;
  warnings: number;
  teams: number;
}

/** The incident board: everything about one incident, live. */
export function Board(props: { incidentId: string; session: Session; wall: boolean }) {
  useLang();
  const { incidentId, session } = props;
  const [detail, setDetail] = useState<IncidentDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [refresh, setRefresh] = useState<Refresh>({ dispatches: 0, allocations: 0, warnings: 0, teams: 0 });

  const load = useCallback(() => {
    get<IncidentDetail>(`/api/incidents/${incidentId}`)
      .then(setDetail)
      .catch((e) => setError(errorText(e)));
  }, [incidentId]);
  useEffect(load, [load]);

  const onEvent = useCallback(
    (e: IncidentEvent) => {
      if (e.type.startsWith('incident.')) load();
      setRefresh((r) => ({
        dispatches: r.dispatches + (e.type.startsWith('dispatch.') ? 1 : 0),
        allocations: r.allocations + (e.type.startsWith('allocation.') || e.type.startsWith('stock.') ? 1 : 0),
        warnings: r.warnings + (e.type.startsWith('warning.') ? 1 : 0),
        teams: r.teams + (e.type.startsWith('dispatch.') ? 1 : 0),
      }));
    },
    [load],
  );
  const feed = useLiveFeed(incidentId, session.token, onEvent);
  const [checklistConnected, setChecklistConnected] = useState(false);
  const [overdue, setOverdue] = useState<{ id: string; text: string; dueAt: string }[]>([]);
  // The log as it stood when the board opened: only what happens after it raises alerts.
  const [baselineSeq, setBaselineSeq] = useState<number | null>(null);
  useEffect(() => setBaselineSeq(null), [incidentId]);
  useEffect(() => {
    if (detail && baselineSeq === null && detail.incident.id === incidentId) setBaselineSeq(detail.incident.lastSeq);
  }, [detail, incidentId]);
  const incident = detail?.incident ?? feed.incident;
  const resources = useResources({ incident: incident ?? PLACEHOLDER, session, refresh });
  const units = useMemo(() => new Map((detail?.plan.command.units ?? []).map((u) => [u.id, u.name])), [detail]);
  // Open improvement items of this plan (from earlier reviews), beside the items they concern.
  const [improvements, setImprovements] = useState<Map<string, ReviewImprovement[]>>(new Map());
  const planId = detail?.incident.planId;
  useEffect(() => {
    if (!planId || !can(session.user, 'improvement.list')) return;
    get<{ improvements: ReviewImprovement[] }>(`/api/plans/${planId}/improvements`)
      .then((r) => {
        const byItem = new Map<string, ReviewImprovement[]>();
        for (const i of r.improvements) if (i.status !== 'done' && i.planItemId) byItem.set(i.planItemId, [...(byItem.get(i.planItemId) ?? []), i]);
        setImprovements(byItem);
      })
      .catch(() => {});
  }, [planId]);
  const [itemUnits, setItemUnits] = useState<Map<string, string>>(new Map());
  const [teamUnits, setTeamUnits] = useState<Map<string, string[]>>(new Map());
  useEffect(() => {
    get<{ teams: { id: string; planUnits?: string[] }[] }>('/api/teams')
      .then((r) => setTeamUnits(new Map(r.teams.map((x) => [x.id, x.planUnits ?? []]))))
      .catch(() => {});
  }, []);
  const timelineUnits = useMemo(() => ({ names: units, items: itemUnits, teams: teamUnits }), [units, itemUnits, teamUnits]);

  if (error) return <main class="board"><p class="error">{error}</p></main>;
  if (!incident) return <main class="board"><p class="muted">{t('加载中…', 'Loading…')}</p></main>;
  return (
    <>
      {incident.mode === 'exercise' && <ExerciseBanner />}
      <main class={`board ${incident.status === 'closed' ? 'closed' : ''}`}>
        <AlertCenter key={incidentId} incidentId={incidentId} events={feed.events} baselineSeq={baselineSeq} overdue={incident.status === 'active' ? overdue : []} />
        <IncidentHeader incident={incident} session={session} onChanged={load} presence={feed.presence} liveConnected={feed.connected} checklistConnected={checklistConnected} />
        {props.wall ? (
          // The wall screen: the shared picture at a glance, no desk tools, every panel in view.
          <div class="wall-grid">
            <div class="col">
              <div class="wall-cell" tabIndex={0}>
                <ChecklistPanel incidentId={incidentId} token={session.token} onConnected={setChecklistConnected} onOverdue={setOverdue} onItemUnits={setItemUnits} units={units} readOnly={!can(session.user, 'checklist.edit', { incident })} wall={props.wall} improvements={improvements} />
              </div>
            </div>
            <div class="col">
              <div class="wall-cell" tabIndex={0}>
                <BoardMap incident={incident} refresh={refresh} events={feed.events} />
              </div>
              <div class="wall-cell" tabIndex={0}>
                <DispatchesPanel r={resources} />
              </div>
            </div>
            <div class="col">
              <div class="wall-cell" tabIndex={0}>
                <TimelinePanel events={feed.events} units={timelineUnits} />
              </div>
              <div class="wall-cell" tabIndex={0}>
                <WarningsPanel incident={incident} detail={detail} session={session} refresh={refresh.warnings} />
              </div>
            </div>
          </div>
        ) : (
          <div class="board-grid">
            <div class="col">
              <ChecklistPanel incidentId={incidentId} token={session.token} onConnected={setChecklistConnected} onOverdue={setOverdue} onItemUnits={setItemUnits} units={units} readOnly={!can(session.user, 'checklist.edit', { incident })} wall={props.wall} improvements={improvements} />
              <RecommendationsPanel r={resources} />
            </div>
            <div class="col side">
              <BoardMap incident={incident} refresh={refresh} events={feed.events} />
              {/* The timeline right under the map: at 1080p both are in view, above the (scrolling) team table. */}
              <TimelinePanel events={feed.events} units={timelineUnits} />
              <DispatchesPanel r={resources} />
              <WarningsPanel incident={incident} detail={detail} session={session} refresh={refresh.warnings} />
              <StockPanel r={resources} />
            </div>
          </div>
        )}
      </main>
    </>
  );
}

function IncidentHeader(props: {
  incident: IncidentView;
  session: Session;
  onChanged: () => void;
  presence: { userId: string; username: string; displayName?: string; role: keyof typeof ROLE_LABELS; connections: number }[];
  liveConnected: boolean;
  checklistConnected: boolean;
}) {
  const { incident, session } = props;
  const now = useNow(1000);
  const [level, setLevel] = useState<ResponseLevel>(incident.level);
  const [reason, setReason] = useState('');
  const [confirmClose, setConfirmClose] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => setLevel(incident.level), [incident.level]);
  const canSteer = can(session.user, 'incident.steer', { incident });
  const open = incident.status === 'active';
  const changeLevel = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      await post(`/api/incidents/${incident.id}/level`, { level, ...(reason.trim() ? { reason: reason.trim() } : {}) });
      setReason('');
      props.onChanged();
    } catch (err) {
      setError(errorText(err));
    }
  };
  const close = async () => {
    setError(null);
    try {
      await post(`/api/incidents/${incident.id}/close`, {});
      setConfirmClose(false);
      props.onChanged();
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <header class="incident-header">
      <div class="title">
        <h1>
          {incident.mode === 'exercise' && <span class="badge ex">{bi(INCIDENT_MODE_LABELS.exercise)}</span>} {incident.title}
        </h1>
        <div class="meta">
          <span class="level-badge" data-testid="incident-level">{bi(RESPONSE_LEVEL_LABELS[incident.level])}</span>
          <span class={`badge ${open ? 'bad' : ''}`} data-testid="incident-status">{open ? t('处置中', 'Active') : t('响应已终止', 'Closed')}</span>
          <span class="muted">
            {bi(incident.planTitle)} · {t('启动于', 'activated')} {formatTime(incident.activatedAt, true)} · {t('已持续', 'running')}{' '}
            {Math.floor((now - new Date(incident.activatedAt).getTime()) / 60000)} {t('分钟', 'min')}
          </span>
          {can(session.user, 'review.read', { incident }) && (
            <a href={`#/incidents/${incident.id}/review`} data-testid="review-link">
              {t('总结评估', 'After-action review')}
            </a>
          )}
                    <span class={`badge ${props.liveConnected && props.checklistConnected ? 'ok' : 'bad'}`}>{props.liveConnected && props.checklistConnected ? t('实时连接', 'Live') : t('连接中断', 'Disconnected')}</span>
        </div>
        <div class="presence" aria-label={t('在线人员', 'Who is here')} data-testid="presence">
          {t('在线', 'Here')}:{' '}
          {props.presence.map((m) => (
            <span key={m.userId} class="badge" title={`${m.username} · ${bi(ROLE_LABELS[m.role])}`}>
              {m.displayName ?? m.username}
              {m.connections > 1 ? ` ×${m.connections}` : ''}
            </span>
          ))}
        </div>
      </div>
      {canSteer && open && (
        <form class="steer" onSubmit={changeLevel} aria-label={t('调整响应级别', 'Change response level')}>
          <select aria-label={t('响应级别', 'Level')} value={level} onChange={(e) => setLevel(e.currentTarget.value as ResponseLevel)} name="level">
            {incident.levels.map((l) => (
              <option key={l} value={l}>
                {bi(RESPONSE_LEVEL_LABELS[l])}
              </option>
            ))}
          </select>
          <input aria-label={t('理由', 'Reason')} placeholder={t('理由', 'Reason')} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
          <button type="submit" disabled={level === incident.level}>
            {t('调整级别', 'Change level')}
          </button>
          {confirmClose ? (
            <>
              <button type="button" class="danger" onClick={close}>
                {t('确认终止响应', 'Confirm close')}
              </button>
              <button type="button" onClick={() => setConfirmClose(false)}>
                {t('取消', 'Cancel')}
              </button>
            </>
          ) : (
            <button type="button" class="danger" onClick={() => setConfirmClose(true)}>
              {t('响应终止', 'Close incident')}
            </button>
          )}
        </form>
      )}
      {error && <p class="error" role="alert">{error}</p>}
    </header>
  );
}

const WARNING_MAP_COLOURS: Record<string, string> = { blue: '#2f80ed', yellow: '#f2c94c', orange: '#f2994a', red: '#eb5757' };

interface MapTeam {
  id: string;
  name: Bilingual;
  status: TeamStatus;
  statusLabel: Bilingual;
  base: { lat: number; lon: number } | null;
  lastFix: { lat: number; lon: number; accuracyM: number; at: string } | null;
}

function BoardMap(props: { incident: IncidentView; refresh: Refresh; events: IncidentEvent[] }) {
  const now = useNow(30_000);
  const [teams, setTeams] = useState<MapTeam[] | null>(null);
  const [working, setWorking] = useState<Set<string>>(new Set());
  const [places, setPlaces] = useState<MapMarker[]>([]);
  const [warnings, setWarnings] = useState<WarningView[]>([]);
  useEffect(() => {
    Promise.all([get('/api/warehouses'), get('/api/shelters')])
      .then(([warehouses, shelters]) => {
        const m: MapMarker[] = [];
        for (const w of warehouses.warehouses ?? [])
          if (w.location) m.push({ id: w.id, kind: 'warehouse', lat: w.location.lat, lon: w.location.lon, label: bi(w.name), permanent: w.tier === 'district' ? true : { zoom: 14 } });
        for (const s of shelters.shelters ?? []) if (s.location) m.push({ id: s.id, kind: 'shelter', lat: s.location.lat, lon: s.location.lon, label: bi(s.name), permanent: { zoom: 14 } });
        setPlaces(m);
      })
      .catch(() => {});
  }, []);
  useEffect(() => {
    Promise.all([get('/api/teams'), get(`/api/incidents/${props.incident.id}/dispatches`).catch(() => ({ dispatches: [] }))])
      .then(([t, dispatches]) => {
        setTeams(t.teams ?? []);
        setWorking(new Set<string>((dispatches.dispatches ?? []).filter((d: any) => !['returned', 'cancelled'].includes(d.status)).map((d: any) => d.teamId)));
      })
      .catch(() => {});
  }, [props.incident.id, props.refresh.teams]);
  useEffect(() => {
    get<{ warnings: WarningView[] }>(`/api/incidents/${props.incident.id}/warnings`)
      .then((r) => setWarnings(r.warnings))
      .catch(() => {});
  }, [props.incident.id, props.refresh.warnings]);
  const live = useMemo(() => liveFixes(props.events), [props.events]);
  const markers = useMemo(() => {
    const m: MapMarker[] = [...places];
    if (props.incident.location) m.push({ id: 'incident', kind: 'incident', ...props.incident.location, label: props.incident.title, permanent: true });
    for (const tm of teams ?? []) {
      if (!(working.has(tm.id) || tm.status !== 'available')) continue;
      const pushed = live.get(tm.id);
      const fix = pushed && (!tm.lastFix || Date.parse(pushed.at) > Date.parse(tm.lastFix.at)) ? pushed : tm.lastFix;
      const colour = TEAM_STATE_COLOURS[tm.status] ?? '#2f80ed';
      if (fix) m.push({ id: tm.id, kind: 'team', lat: fix.lat, lon: fix.lon, colour, label: `${bi(tm.name)} · ${fixAge(fix.at, now)}`, status: bi(tm.statusLabel), permanent: true });
      else if (tm.base) m.push({ id: tm.id, kind: 'team', lat: tm.base.lat, lon: tm.base.lon, colour, hollow: true, label: `${bi(tm.name)} · ${t('驻地（无定位）', 'at base (no fix)')}`, status: bi(tm.statusLabel), permanent: true });
    }
    return m;
  }, [places, teams, working, live, now, props.incident]);
  const shapes = useMemo(() => {
    const s: MapShape[] = [];
    const area = props.incident.area;
    if (area) s.push({ id: 'incident-area', label: `${t('事发区域', 'Incident area')}：${bi(area.description)}`, colour: '#eb5757', polygon: area.polygon as [number, number][] | undefined, circle: area.circle });
    for (const w of warnings) {
      if (w.status !== 'draft' && w.status !== 'sent') continue;
      const label = `${bi(WARNING_COLOUR_LABELS[w.colour])}：${bi(w.headline)}${w.status === 'draft' ? t('（草稿）', ' (draft)') : ''}`;
      s.push({ id: w.id, label, colour: WARNING_MAP_COLOURS[w.colour] ?? '#f2c94c', dashed: w.status === 'draft', polygon: w.area.polygon as [number, number][] | undefined, circle: w.area.circle });
    }
    return s;
  }, [props.incident.area, warnings]);
  const center: [number, number] | undefined = props.incident.location ? [props.incident.location.lat, props.incident.location.lon] : undefined;
  // Framed on the response: the incident, its area and the teams that have a fix (else the whole district).
  const focus = useMemo(() => {
    const f: { lat: number; lon: number; radiusKm?: number }[] = [];
    if (teams === null) return f; // wait for the teams, so the frame holds them
    if (props.incident.location) f.push(props.incident.location);
    if (props.incident.area?.circle) f.push(props.incident.area.circle);
    for (const [lat, lon] of props.incident.area?.polygon ?? []) f.push({ lat, lon });
    const before = f.length;
    for (const mk of markers) if (mk.kind === 'team' && !mk.hollow) f.push(mk);
    // Only a point to show (no area, no team with a fix yet): the whole district is the better frame.
    if (!props.incident.area && f.length === before) return [];
    return f;
  }, [props.incident, teams === null, markers.length]);
  return (
    <Panel title={t('态势图', 'Map')} id="map">
      <MapView markers={markers} shapes={shapes} center={center} focus={focus} class="board-map" />
      <p class="legend muted" data-testid="map-legend">
        <span class="dot incident" /> {t('事发地', 'Incident')} <span class="ring area" /> {t('事发区域', 'Incident area')} <span class="ring warning" /> {t('预警区域', 'Warning area')}{' '}
        <span class="dot warehouse" /> {t('物资库', 'Warehouses')} <span class="dot shelter" /> {t('避难场所', 'Shelters')}
        <br />
        {t('队伍', 'Teams')}:
        {(['dispatched', 'acknowledged', 'en_route', 'on_scene', 'released'] as const).map((s) => (
          <span key={s}>
            {' '}
            <span class="dot" style={{ background: TEAM_STATE_COLOURS[s] }} /> {bi(TEAM_STATUS_LABELS[s])}
          </span>
        ))}{' '}
        <span class="dot hollow" /> {t('驻地（尚无定位）', 'at base (no fix yet)')}
      </p>
    </Panel>
  );
}
