import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, errorText, get, logout, post } from '../common/api.js';
import { bi, formatTime, setTimeZone, t, useLang } from '../common/i18n.js';
import { ExerciseBanner, LangSwitch, LoginForm } from '../common/ui.js';
import { useSession, type Session } from '../common/session.js';
import { useChecklist, type ChecklistState } from '../common/checklist.js';
import { useLiveFeed } from '../common/live.js';
import { describeEvent } from '../common/events.js';
import type { IncidentEvent } from '../../../shared/events.js';
import type { IncidentView } from '../../../shared/incidents.js';
import type { ChecklistItem, ItemStatus } from '../../../shared/checklist.js';
import { DISPATCH_STATUS_LABELS, type DispatchStatus, type DispatchView } from '../../../shared/resources.js';
import { WARNING_COLOUR_LABELS, type Bilingual } from '../../../shared/labels.js';
import type { WarningView } from '../../../shared/warnings.js';
import { cachedGet, TASK_MAP_PATHS } from './cache.js';
import { enqueue, enqueueWithPhoto, startOutbox, useOutbox, useOutboxUser, type OutboxEntry } from './outbox.js';
import { PHOTO_MAX_BYTES } from './photo-store.js';
import { ReportPhoto } from '../common/photo.js';
import { geoLink } from './geo-link.js';
import type { FieldMap as FieldMapView } from './FieldMap.js';

function useOnline(): boolean {
  const [online, setOnline] = useState(navigator.onLine);
  useEffect(() => {
    const on = () => setOnline(true);
    const off = () => setOnline(false);
    addEventListener('online', on);
    addEventListener('offline', off);
    return () => (removeEventListener('online', on), removeEventListener('offline', off));
  }, []);
  return online;
}

/** The field app: a phone on a bad network. Everything works from the last-known state; actions queue. */
export function FieldApp() {
  useLang();
  const [session, setSession] = useSession();
  if (!session) return <LoginForm title={t('应急现场', 'Field app')} onLogin={setSession} />;
  return (
    <FieldHome
      session={session}
      onLogout={() => {
        void logout();
        setSession(null);
      }}
    />
  );
}

type Tab = 'orders' | 'checklist' | 'report' | 'warnings' | 'map';

function FieldHome(props: { session: Session; onLogout: () => void }) {
  const { session } = props;
  useOutboxUser(session.user.id);
  useEffect(startOutbox, []);
  const online = useOnline();
  const outbox = useOutbox();
  const [tab, setTab] = useState<Tab>('orders');
  const [incidents, setIncidents] = useState<IncidentView[]>([]);
  const [dispatches, setDispatches] = useState<DispatchView[]>([]);
  const [incidentId, setIncidentId] = useState<string | null>(localStorage.getItem('yingji.field.incident'));
  const [stale, setStale] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const [teamName, setTeamName] = useState<Bilingual | null>(null);
  const [teamUnits, setTeamUnits] = useState<string[]>([]);
  useEffect(() => {
    if (!session.user.teamId) return;
    // People know their team as 排涝一队, not T-D07; cached, so it shows offline too.
    cachedGet<{ team: { name: Bilingual; planUnits?: string[] } }>(`/api/teams/${encodeURIComponent(session.user.teamId)}`)
      .then((r) => (setTeamName(r.data.team.name), setTeamUnits(r.data.team.planUnits ?? [])))
      .catch(() => {});
  }, [session.user.teamId]);
  const loadDispatches = useCallback(() => {
    if (!session.user.teamId) return;
    cachedGet<{ dispatches: DispatchView[] }>('/api/my/dispatches')
      .then((r) => {
        setDispatches(r.data.dispatches);
        setStale(r.fromCache ? r.fetchedAt : null);
      })
      .catch((e) => (e instanceof ApiError && e.status === 401 ? props.onLogout() : setError(errorText(e))));
  }, [session.user.teamId]);
  useEffect(() => {
    loadDispatches();
    cachedGet<{ incidents: IncidentView[] }>('/api/incidents?status=active')
      .then((r) => setIncidents(r.data.incidents))
      .catch(() => {});
    get('/api/organisation')
      .then((o) => o.district?.timezone && setTimeZone(o.district.timezone))
      .catch(() => {});
  }, [loadDispatches, online]);

  // The task map's basemap, shelters and warehouses are read once online, so the map draws offline
  // even if it was never opened before the network went; after the orders, which matter first.
  useEffect(() => {
    if (!online) return;
    const timer = setTimeout(() => TASK_MAP_PATHS.forEach((p) => cachedGet(p).catch(() => {})), 1500);
    return () => clearTimeout(timer);
  }, [online]);

  // The incident to show: the chosen one, else the one of my newest active order, else the newest active.
  const active = dispatches.filter((d) => !['returned', 'cancelled'].includes(d.status));
  const chosen = incidentId && (incidents.some((i) => i.id === incidentId) || dispatches.some((d) => d.incidentId === incidentId)) ? incidentId : active[0]?.incidentId ?? incidents[0]?.id ?? null;
  useEffect(() => {
    if (chosen) localStorage.setItem('yingji.field.incident', chosen);
  }, [chosen]);
  const incident = incidents.find((i) => i.id === chosen) ?? null;
  // A queued status change that has just reached the server: read the orders back now, not only
  // when the live feed (itself reconnecting after the same outage) brings the event.
  const sentStatusChanges = outbox.filter((e) => e.kind === 'dispatch-status' && e.state === 'sent').length;
  useEffect(() => {
    if (sentStatusChanges > 0) loadDispatches();
  }, [sentStatusChanges, loadDispatches]);
  const feed = useLiveFeed(chosen, session.token, (e) => {
    if (e.type.startsWith('dispatch.')) loadDispatches();
  });
  // Kept open whatever tab is shown, so offline edits sync the moment the network is back.
  const checklist = useChecklist(chosen, session.token, { persist: true });
  const mode = (feed.incident ?? incident)?.mode;
  const pending = outbox.filter((e) => e.state === 'pending').length;

  return (
    <div class="field">
      {mode === 'exercise' && <ExerciseBanner />}
      <header class="field-top">
        <div>
          <strong>{t('应急现场', 'Field')}</strong>{' '}
          <span class="muted" data-testid="field-who">
            {session.user.displayName}
            {teamName ? ` · ${bi(teamName)}` : ''}
          </span>
        </div>
        <div class="field-status">
          <span class={`badge ${online && feed.connected ? 'ok' : 'bad'}`} data-testid="net-status">
            {online && feed.connected ? t('在线', 'Online') : t('离线', 'Offline')}
          </span>
          <span class={`badge ${pending ? 'warn' : 'ok'}`} data-testid="outbox-status">
            {pending ? t(`${pending} 项待发送`, `${pending} to send`) : t('全部已送达', 'All sent')}
          </span>
          <LangSwitch />
        </div>
      </header>
      {incidents.length + active.length > 1 && (
        <select class="incident-pick" aria-label={t('事件', 'Incident')} value={chosen ?? ''} onChange={(e) => setIncidentId(e.currentTarget.value)}>
          {[...new Map([...incidents.map((i) => [i.id, i.title] as const), ...dispatches.map((d) => [d.incidentId, d.incidentTitle] as const)]).entries()].map(([id, title]) => (
            <option key={id} value={id}>
              {title}
            </option>
          ))}
        </select>
      )}
      {(incident || feed.incident) && (
        <p class="incident-line" data-testid="field-incident">
          {(feed.incident ?? incident)!.title}
        </p>
      )}
      <Injects events={feed.events} />
      {stale && <p class="muted small">{t(`离线：显示 ${formatTime(stale)} 的数据`, `Offline: showing data from ${formatTime(stale)}`)}</p>}
      {error && <p class="error">{error}</p>}
      <nav class="tabs" role="tablist">
        {(
          [
            ['orders', t('任务单', 'Orders')],
            ['checklist', t('检查单', 'Checklist')],
            ['report', t('现场情况', 'Report')],
            ['warnings', t('预警', 'Warnings')],
            ['map', t('任务地图', 'Task map')],
          ] as const
        ).map(([id, label]) => (
          <button key={id} role="tab" aria-selected={tab === id} class={tab === id ? 'on' : ''} onClick={() => setTab(id)}>
            {label}
          </button>
        ))}
      </nav>
      <main class="field-main">
        {tab === 'orders' && <Orders dispatches={dispatches} outbox={outbox} onShowMap={() => setTab('map')} />}
        {tab === 'checklist' && <MyChecklist incidentId={chosen} session={session} checklist={checklist} teamUnits={teamUnits} />}
        {tab === 'report' && <Report incidentId={chosen} outbox={outbox} teamId={session.user.teamId ?? null} refresh={feed.events.length} />}
        {tab === 'warnings' && <Warnings incidentId={chosen} refresh={feed.events.length} />}
        {tab === 'map' && (
          <TaskMap
            incident={feed.incident ?? incident}
            dispatch={active.find((d) => d.incidentId === chosen) ?? null}
            teamId={session.user.teamId ?? null}
            events={feed.events}
            refresh={outbox.filter((e) => e.state === 'sent').length}
          />
        )}
      </main>
      <footer class="field-foot">
        <button type="button" onClick={props.onLogout}>
          {t('退出', 'Log out')}
        </button>
      </footer>
    </div>
  );
}

/**
 * The task map with Leaflet is a chunk of its own, loaded when the tab is first opened: the orders
 * come up without it on a slow link. The service worker precaches it with the shell, so it opens offline.
 */
function TaskMap(props: Parameters<typeof FieldMapView>[0]) {
  const [View, setView] = useState<typeof FieldMapView | null>(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    import('./FieldMap.js').then((m) => setView(() => m.FieldMap)).catch(() => setFailed(true));
  }, []);
  if (failed) return <p class="error">{t('地图未能加载，请联网后重试', 'The map could not be loaded: try again online')}</p>;
  if (!View) return <p class="muted">{t('地图加载中…', 'Loading the map…')}</p>;
  return <View {...props} />;
}

/**
 * What the drill sends this phone (演练注入): the live feed brings only the injects addressed to
 * everyone, this user's role or this team (the server filters), newest first, as the real thing reads.
 */
function Injects(props: { events: IncidentEvent[] }) {
  const injects = props.events.filter((e) => e.type === 'drill.inject_released').slice(-5).reverse();
  if (injects.length === 0) return null;
  return (
    <section class="field-injects" aria-label={t('现场通知', 'Notices')} data-testid="field-injects">
      {injects.map((e) => (
        <p key={e.seq} class="field-inject" data-testid="field-inject">
          <span class="muted small">{formatTime(e.at)}</span> {describeEvent(e)}
        </p>
      ))}
    </section>
  );
}

function SyncTag(props: { entry?: OutboxEntry }) {
  const e = props.entry;
  if (!e) return null;
  if (e.state === 'pending') return <span class="sync pending" data-testid="sync-pending">{t('待发送', 'Pending')}</span>;
  if (e.state === 'sent') return <span class="sync sent" data-testid="sync-sent">{t('指挥部已收到', 'Received by HQ')} {formatTime(e.sentAt)}</span>;
  return <span class="sync rejected" data-testid="sync-rejected">{t('被拒绝', 'Refused')}: {e.error}</span>;
}

const NEXT: Partial<Record<DispatchStatus, { to: DispatchStatus; zh: string; en: string }>> = {
  dispatched: { to: 'acknowledged', zh: '已接令', en: 'Acknowledge' },
  acknowledged: { to: 'en_route', zh: '出发', en: 'En route' },
  en_route: { to: 'on_scene', zh: '到场', en: 'On scene' },
  released: { to: 'returned', zh: '完成（归队）', en: 'Done (back at base)' },
};

function Orders(props: { dispatches: DispatchView[]; outbox: OutboxEntry[]; onShowMap: () => void }) {
  if (props.dispatches.length === 0) return <p class="muted">{t('暂无任务单', 'No dispatch orders')}</p>;
  return (
    <ul class="orders">
      {props.dispatches.map((d) => {
        const mine = props.outbox.filter((e) => e.kind === 'dispatch-status' && e.ref === d.id);
        const last = mine[mine.length - 1];
        // Until the server confirms, show the status the user chose (marked pending).
        const shown: DispatchStatus = last && last.state === 'pending' ? (last.body.status as DispatchStatus) : d.status;
        const next = NEXT[shown];
        return (
          <li key={d.id} class="order" data-dispatch={d.id}>
            <div class="order-head">
              <strong>{d.incidentTitle}</strong>
              <span class="badge" data-testid="order-status">{bi(DISPATCH_STATUS_LABELS[shown])}</span>
            </div>
            <p>{d.task}</p>
            <p class="muted small">
              {d.location.address ?? `${d.location.lat.toFixed(4)}, ${d.location.lon.toFixed(4)}`} · {t('联系人', 'Contact')} {d.contact.name}{' '}
              <a href={`tel:${d.contact.phone}`}>{d.contact.phone}</a> · {t('下达', 'issued')} {formatTime(d.createdAt)}
            </p>
            <p>
              {/* geo: opens the phone's own map app (高德、百度、系统地图) with the task site, no network map needed here. */}
              <a class="navigate" data-testid="navigate" href={geoLink(d.location.lat, d.location.lon, d.location.address ?? d.incidentTitle)}>
                {t('导航到任务地点', 'Navigate to the task site')}
              </a>{' '}
              <button type="button" class="show-map" data-testid="show-on-map" onClick={props.onShowMap}>
                {t('任务地图', 'Task map')}
              </button>
            </p>
            <div class="order-actions">
              {next && (
                <button
                  type="button"
                  class="primary big"
                  data-testid="order-next"
                  onClick={async () => {
                    // The phone's fix goes with the change: the board then shows the team where it is.
                    const position = await currentPosition();
                    enqueue({ kind: 'dispatch-status', path: `/api/dispatches/${d.id}/status`, body: { status: next.to, ...(position ? { position } : {}) }, ref: d.id });
                  }}
                >
                  {t(next.zh, next.en)}
                </button>
              )}
              {shown === 'on_scene' && <span class="muted small">{t('任务完成后由指挥部解除任务', 'HQ releases the team when the task is done')}</span>}
              <SyncTag entry={last} />
            </div>
          </li>
        );
      })}
    </ul>
  );
}

const FIELD_STATUS: { s: ItemStatus; zh: string; en: string }[] = [
  { s: 'todo', zh: '待办', en: 'To do' },
  { s: 'doing', zh: '进行中', en: 'Doing' },
  { s: 'done', zh: '完成', en: 'Done' },
];

function MyChecklist(props: { incidentId: string | null; session: Session; checklist: ChecklistState; teamUnits: string[] }) {
  const { checklist } = props;
  const [all, setAllState] = useState(localStorage.getItem('yingji.field.showAll') === '1');
  const setAll = (v: boolean) => (setAllState(v), localStorage.setItem('yingji.field.showAll', v ? '1' : '0'));
  const me = [props.session.user.username, props.session.user.displayName, props.session.user.teamId].filter(Boolean) as string[];
  const [unit, setUnit] = useState(localStorage.getItem('yingji.field.unit') ?? '');
  const units = useMemo(() => [...new Set(checklist.items.map((i) => i.unit))], [checklist.items]);
  const [unitNames, setUnitNames] = useState<Record<string, Bilingual>>({});
  useEffect(() => {
    if (!props.incidentId) return;
    cachedGet<{ plan: { command: { units: { id: string; name: Bilingual }[] } } }>(`/api/incidents/${props.incidentId}`)
      .then((r) => setUnitNames(Object.fromEntries(r.data.plan.command.units.map((u) => [u.id, u.name]))))
      .catch(() => {});
  }, [props.incidentId]);
  const unitName = (id: string) => bi(unitNames[id]) || id;
  // "My items": assigned to me, or of the chosen unit — by default the plan units my team works for.
  const myUnits = unit !== '' ? [unit] : props.teamUnits;
  const mine = (i: ChecklistItem) => (i.assignee !== undefined && me.includes(i.assignee)) || myUnits.includes(i.unit);
  const shown = checklist.items.filter((i) => i.inLevel !== false && (all || mine(i)));
  if (!props.incidentId) return <p class="muted">{t('没有进行中的事件', 'No active incident')}</p>;
  return (
    <div>
      <p class="small">
        <span class={`badge ${checklist.connected && checklist.pendingEdits === 0 ? 'ok' : 'warn'}`} data-testid="checklist-sync">
          {checklist.connected
            ? checklist.pendingEdits === 0
              ? t('检查单已同步', 'Checklist in sync')
              : t('正在同步…', 'Syncing…')
            : checklist.pendingEdits > 0
              ? t(`离线：${checklist.pendingEdits} 处修改待同步`, `Offline: ${checklist.pendingEdits} edits to sync`)
              : t('离线（使用本机副本）', 'Offline (local copy)')}
        </span>
      </p>
      <div class="row">
        <select aria-label={t('我的单位', 'My unit')} value={unit} onChange={(e) => (setUnit(e.currentTarget.value), localStorage.setItem('yingji.field.unit', e.currentTarget.value))}>
          <option value="">
            {props.teamUnits.length
              ? t(`本队单位：${props.teamUnits.map(unitName).join('、')}`, `My team's units: ${props.teamUnits.map(unitName).join(', ')}`)
              : t('— 我的单位 —', '— my unit —')}
          </option>
          {units.map((u) => (
            <option key={u} value={u}>
              {unitName(u)}
            </option>
          ))}
        </select>
        <label class="inline">
          <input type="checkbox" checked={all} onChange={(e) => setAll(e.currentTarget.checked)} /> {t('显示全部', 'Show all')}
        </label>
      </div>
      {shown.length === 0 && <p class="muted">{t('没有分配给我的事项（可勾选“显示全部”）', 'Nothing assigned to you (tick "Show all")')}</p>}
      <ul class="field-items">
        {shown.map((i) => (
          <li key={i.id} data-item={i.id} class={`status-${i.status}`}>
            <p>{t(i.text, i.textEn || i.text)}</p>
            <p class="muted small">
              {unitName(i.unit)} · {t('时限', 'due')} {formatTime(i.dueAt)} {i.assignee ? `· ${i.assignee}` : ''}
            </p>
            <div class="seg" role="group" aria-label={t('状态', 'Status')}>
              {FIELD_STATUS.map((s) => (
                <button key={s.s} type="button" aria-pressed={i.status === s.s} class={i.status === s.s ? 'on' : ''} data-status={s.s} onClick={() => checklist.setStatus(i.id, s.s)}>
                  {t(s.zh, s.en)}
                </button>
              ))}
            </div>
            <NoteInput value={i.note} onCommit={(v) => checklist.setNote(i.id, v)} />
          </li>
        ))}
      </ul>
    </div>
  );
}

function NoteInput(props: { value: string; onCommit: (v: string) => void }) {
  const [draft, setDraft] = useState<string | null>(null);
  const commit = () => {
    if (draft !== null && draft !== props.value) props.onCommit(draft);
    setDraft(null);
  };
  return (
    <input
      class="note"
      aria-label={t('备注', 'Note')}
      placeholder={t('备注', 'Note')}
      value={draft ?? props.value}
      onInput={(e) => setDraft(e.currentTarget.value)}
      onBlur={commit}
      onKeyDown={(e) => e.key === 'Enter' && commit()}
    />
  );
}

interface ReportView {
  id: string;
  at: string;
  text: string;
  author: { name: string; displayName?: string } | null;
  location: { lat: number; lon: number; source?: string } | null;
  photo: { id: string; width: number; height: number } | null;
}

function Report(props: { incidentId: string | null; outbox: OutboxEntry[]; teamId: string | null; refresh: number }) {
  const [text, setText] = useState('');
  const [withLocation, setWithLocation] = useState(true);
  const [photo, setPhoto] = useState<File | null>(null);
  const [photoError, setPhotoError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [history, setHistory] = useState<ReportView[]>([]);
  const fileInput = useRef<HTMLInputElement>(null);
  const queued = props.outbox.filter((e) => e.kind === 'report' && e.ref === props.incidentId && e.state !== 'sent').reverse();
  const sentCount = props.outbox.filter((e) => e.kind === 'report' && e.state === 'sent').length;
  useEffect(() => {
    if (!props.incidentId) return;
    const q = props.teamId ? `?teamId=${encodeURIComponent(props.teamId)}` : '';
    cachedGet<{ reports: ReportView[] }>(`/api/incidents/${props.incidentId}/reports${q}`)
      .then((r) => setHistory([...r.data.reports].reverse()))
      .catch(() => {});
  }, [props.incidentId, props.teamId, sentCount, props.refresh]);
  const preview = useMemo(() => (photo ? URL.createObjectURL(photo) : null), [photo]);
  useEffect(() => () => void (preview && URL.revokeObjectURL(preview)), [preview]);
  if (!props.incidentId) return <p class="muted">{t('没有进行中的事件', 'No active incident')}</p>;
  const pickPhoto = (file: File | undefined) => {
    setPhotoError(null);
    if (!file) return setPhoto(null);
    if (file.size > PHOTO_MAX_BYTES) {
      setPhoto(null);
      return setPhotoError(t('照片超过 5 MB', 'The photo is over 5 MB'));
    }
    setPhoto(file);
  };
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!text.trim()) return;
    setBusy(true);
    const location = withLocation ? await currentPosition() : null;
    const entry = { kind: 'report' as const, path: `/api/incidents/${props.incidentId}/reports`, body: { text: text.trim(), ...(location ? { location } : {}) }, ref: props.incidentId! };
    if (photo) await enqueueWithPhoto(entry, photo);
    else enqueue(entry);
    setText('');
    setPhoto(null);
    if (fileInput.current) fileInput.current.value = '';
    setBusy(false);
  };
  return (
    <div>
      <form onSubmit={submit} class="report-form">
        <label>
          {t('现场情况', 'Situation report')}
          <textarea name="report" rows={4} value={text} maxLength={4000} onInput={(e) => setText(e.currentTarget.value)} placeholder={t('例：下穿桥积水约60厘米，已封闭交通', 'e.g. water 60 cm deep in the underpass, traffic closed')} />
        </label>
        <label class="inline">
          <input type="checkbox" checked={withLocation} onChange={(e) => setWithLocation(e.currentTarget.checked)} /> {t('附带我的位置', 'Attach my location')}
        </label>
        <label class="photo-pick">
          {t('照片（≤ 5 MB，JPEG/PNG/WebP）', 'Photo (≤ 5 MB, JPEG/PNG/WebP)')}
          <input ref={fileInput} type="file" name="photo" accept="image/jpeg,image/png,image/webp" capture="environment" onChange={(e) => pickPhoto(e.currentTarget.files?.[0])} />
        </label>
        {photoError && <p class="error" role="alert">{photoError}</p>}
        {preview && <img class="photo-preview" src={preview} alt={t('待上报的照片', 'Photo to send')} />}
        <button type="submit" class="primary big" disabled={busy || !text.trim()}>
          {t('上报', 'Send report')}
        </button>
      </form>
      <h2 class="small-heading">{t('本队上报记录', "My team's reports")}</h2>
      <ul class="sent-reports" data-testid="report-history">
        {queued.map((r) => (
          <li key={r.key} data-testid="report-queued">
            <p>{String(r.body.text)}</p>
            <p class="muted small">
              {formatTime(r.createdAt)} {r.photo ? `· ${t('附照片', 'with photo')}` : ''} <SyncTag entry={r} />
            </p>
          </li>
        ))}
        {history.map((r) => (
          <li key={r.id} data-testid="report-sent">
            <p>{r.text}</p>
            <p class="muted small">
              {formatTime(r.at)} · {r.author ? (r.author.displayName ?? r.author.name) : ''}
              {r.location ? ` · ${r.location.lat.toFixed(4)}, ${r.location.lon.toFixed(4)}${r.location.source === 'exif' ? t('（照片定位）', ' (from photo)') : ''}` : ''}{' '}
              <span class="sync sent" data-testid="sync-sent">
                {t('指挥部已收到', 'Received by HQ')}
              </span>
            </p>
            {r.photo && <ReportPhoto incidentId={props.incidentId!} photoId={r.photo.id} />}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** The phone's fix: position, accuracy and the time it was taken (sent with status changes and reports). */
function currentPosition(): Promise<{ lat: number; lon: number; accuracyM: number; at: string } | null> {
  if (!('geolocation' in navigator)) return Promise.resolve(null);
  return new Promise((resolve) => {
    navigator.geolocation.getCurrentPosition(
      (p) =>
        resolve({
          lat: Math.round(p.coords.latitude * 1e6) / 1e6,
          lon: Math.round(p.coords.longitude * 1e6) / 1e6,
          accuracyM: Math.round(p.coords.accuracy),
          // Never ahead of this phone's clock (the server refuses fixes from the future).
          at: new Date(Math.min(p.timestamp, Date.now())).toISOString(),
        }),
      () => resolve(null),
      { timeout: 5000, maximumAge: 60_000 },
    );
  });
}

function Warnings(props: { incidentId: string | null; refresh: number }) {
  const [warnings, setWarnings] = useState<WarningView[]>([]);
  const [push, setPush] = useState<string>('');
  useEffect(() => {
    if (!props.incidentId) return;
    cachedGet<{ warnings: WarningView[] }>(`/api/incidents/${props.incidentId}/warnings`)
      .then((r) => setWarnings(r.data.warnings.filter((w) => w.status === 'sent')))
      .catch(() => {});
  }, [props.incidentId, props.refresh]);
  useEffect(() => {
    const on = (e: MessageEvent) => e.data?.type === 'warning' && setWarnings((w) => [...w]);
    navigator.serviceWorker?.addEventListener('message', on);
    return () => navigator.serviceWorker?.removeEventListener('message', on);
  }, []);
  const subscribe = async () => {
    try {
      const reg = await navigator.serviceWorker.ready;
      if ((await Notification.requestPermission()) !== 'granted') return setPush(t('未允许通知', 'Notifications not allowed'));
      const { publicKey } = await get<{ publicKey: string }>('/api/push/vapid-public-key');
      const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64UrlToBytes(publicKey) });
      await post('/api/push/subscriptions', sub.toJSON());
      setPush(t('已开启预警推送', 'Warning push enabled'));
    } catch (e) {
      setPush(errorText(e));
    }
  };
  return (
    <div>
      <button type="button" onClick={subscribe}>
        {t('开启预警推送', 'Enable warning push')}
      </button>{' '}
      <span class="muted small">{push}</span>
      {warnings.length === 0 && <p class="muted">{t('暂无已发布预警', 'No warnings sent')}</p>}
      {warnings.map((w) => (
        <article key={w.id} class={`fw colour-${w.colour}`}>
          <h3>{bi(w.headline)}</h3>
          <p class="small">{bi(WARNING_COLOUR_LABELS[w.colour])} · {formatTime(w.approvedAt)}</p>
          <p>{bi(w.text)}</p>
          {w.instruction && <p><strong>{bi(w.instruction)}</strong></p>}
        </article>
      ))}
    </div>
  );
}

function base64UrlToBytes(s: string): Uint8Array<ArrayBuffer> {
  const b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4));
  const out = new Uint8Array(new ArrayBuffer(b.length));
  for (let i = 0; i < b.length; i++) out[i] = b.charCodeAt(i);
  return out;
}
