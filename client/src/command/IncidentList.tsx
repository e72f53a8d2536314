import { useEffect, useState } from 'preact/hooks';
import { get, post, errorText } from '../common/api.js';
import { bi, formatTime, t, useLang } from '../common/i18n.js';
import { Panel } from '../common/ui.js';
import type { Session } from '../common/session.js';
import type { IncidentView } from '../../../shared/incidents.js';
import { INCIDENT_MODE_LABELS, RESPONSE_LEVEL_LABELS, type Bilingual, type IncidentMode, type ResponseLevel } from '../../../shared/labels.js';
import { can } from '../../../shared/policy.js';
import { MapView } from '../common/map.js';
import { findPlaces, loadPlaces, type Place } from './places.js';

const PLACE_KIND_LABELS: Record<Place['kind'], Bilingual> = {
  shelter: { zh: '避难场所', en: 'shelter' },
  warehouse: { zh: '储备库', en: 'warehouse' },
  road: { zh: '道路', en: 'road' },
};

interface PlanSummary {
  id: string;
  title: Bilingual;
  hazard: string;
  levels: { level: ResponseLevel; activationCriteria: Bilingual[]; checklistItems: number }[];
}

/** How often the incident list asks the server again. */
const INCIDENT_LIST_REFRESH_MS = 10_000;

const mayActivate = (session: Session, mode: IncidentMode) => can(session.user, 'incident.activate', { incident: { mode, status: 'active' } });

/** Incident list (active / closed, actual / exercise) and activation of a plan. */
export function IncidentList(props: { session: Session }) {
  useLang();
  const [status, setStatus] = useState<'active' | 'closed'>('active');
  const [mode, setMode] = useState<'' | IncidentMode>('');
  const [incidents, setIncidents] = useState<IncidentView[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const q = new URLSearchParams({ status, ...(mode ? { mode } : {}) });
    let current = true;
    const load = async () => {
      try {
        const r = await get<{ incidents: IncidentView[] }>(`/api/incidents?${q}`);
        if (!current) return;
        setIncidents(r.incidents);
        setError(null);
      } catch (e) {
        if (current) setError(errorText(e));
      }
    };
    void load();
    // The list has no live connection: a command centre leaves it open on the wall, so it asks
    // again, and an incident a colleague activated elsewhere shows up (a revoked session ends
    // here too, at the next answer's 401). Not while the tab is hidden; at once when it shows again.
    const timer = setInterval(() => document.visibilityState === 'visible' && void load(), INCIDENT_LIST_REFRESH_MS);
    const onVisible = () => document.visibilityState === 'visible' && void load();
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      current = false;
      clearInterval(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [status, mode]);
  const canActivate = mayActivate(props.session, 'actual') || mayActivate(props.session, 'exercise');
  return (
    <main class="list-page">
      <Panel
        title={t('事件', 'Incidents')}
        id="incidents"
        extra={
          <div class="filters" role="group" aria-label={t('筛选', 'Filter')}>
            <select aria-label={t('状态', 'Status')} value={status} onChange={(e) => setStatus(e.currentTarget.value as 'active' | 'closed')}>
              <option value="active">{t('处置中', 'Active')}</option>
              <option value="closed">{t('已终止', 'Closed')}</option>
            </select>
            <select aria-label={t('类型', 'Mode')} value={mode} onChange={(e) => setMode(e.currentTarget.value as '' | IncidentMode)}>
              <option value="">{t('实战与演练', 'Actual and exercise')}</option>
              <option value="actual">{bi(INCIDENT_MODE_LABELS.actual)}</option>
              <option value="exercise">{bi(INCIDENT_MODE_LABELS.exercise)}</option>
            </select>
          </div>
        }
      >
        {error && <p class="error">{error}</p>}
        {incidents && incidents.length === 0 && <p class="muted">{t('暂无事件', 'No incidents')}</p>}
        <ul class="incident-list">
          {incidents?.map((i) => (
            <li key={i.id}>
              <a href={`#/incidents/${i.id}`} data-testid="incident-link">
                {i.mode === 'exercise' && <span class="badge ex">演练 EXERCISE</span>} <strong>{i.title}</strong>
                <span class="badge warn">{bi(RESPONSE_LEVEL_LABELS[i.level])}</span>
                <span class="muted">
                  {bi(i.planTitle)} · {formatTime(i.activatedAt, true)}
                </span>
              </a>
            </li>
          ))}
        </ul>
      </Panel>
      {canActivate && <ActivateForm session={props.session} />}
    </main>
  );
}

function ActivateForm(props: { session: Session }) {
  const [plans, setPlans] = useState<PlanSummary[]>([]);
  const [planId, setPlanId] = useState('');
  const [level, setLevel] = useState<ResponseLevel | ''>('');
  // No default for actual vs exercise: activating a real response must be a deliberate choice.
  const [mode, setMode] = useState<IncidentMode | ''>(mayActivate(props.session, 'actual') ? '' : 'exercise');
  const [confirming, setConfirming] = useState(false);
  const [places, setPlaces] = useState<Place[]>([]);
  const [placeQuery, setPlaceQuery] = useState('');
  const [placeName, setPlaceName] = useState<string | null>(null);
  const [title, setTitle] = useState('');
  const [location, setLocation] = useState<{ lat: number; lon: number } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    get<{ plans: PlanSummary[] }>('/api/plans')
      .then((r) => setPlans(r.plans))
      .catch((e) => setError(errorText(e)));
    void loadPlaces().then(setPlaces);
  }, []);
  const matches = findPlaces(places, placeQuery);
  const plan = plans.find((p) => p.id === planId);
  const levelInfo = plan?.levels.find((l) => l.level === level);
  const submit = (e: Event) => {
    e.preventDefault();
    if (!plan || !level || !mode) return;
    // An actual response goes out to real people: one more, explicit confirmation.
    if (mode === 'actual' && !confirming) return setConfirming(true);
    void activate();
  };
  const activate = async () => {
    if (!plan || !level || !mode) return;
    setBusy(true);
    setError(null);
    try {
      const body: Record<string, unknown> = { planId, level, mode };
      if (title.trim()) body.title = title.trim();
      if (location) body.location = location;
      const r = await post<{ incident: IncidentView }>('/api/incidents', body);
      window.location.hash = `#/incidents/${r.incident.id}`;
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
      setConfirming(false);
    }
  };
  return (
    <Panel title={t('启动预案', 'Activate a plan')} id="activate" class="activate">
      <form onSubmit={submit} class="activate-form">
        <label>
          {t('预案', 'Plan')}
          <select name="plan" value={planId} required onChange={(e) => (setPlanId(e.currentTarget.value), setLevel(''))}>
            <option value="">{t('— 选择预案 —', '— choose a plan —')}</option>
            {plans.map((p) => (
              <option key={p.id} value={p.id}>
                {bi(p.title)}
              </option>
            ))}
          </select>
        </label>
        {plan && (
          <fieldset class="levels">
            <legend>{t('响应级别（启动条件）', 'Response level (activation criteria)')}</legend>
            {plan.levels.map((l) => (
              <label key={l.level} class={`level-option ${level === l.level ? 'chosen' : ''}`}>
                <span>
                  <input type="radio" name="level" value={l.level} checked={level === l.level} onChange={() => setLevel(l.level)} required />{' '}
                  <strong>{bi(RESPONSE_LEVEL_LABELS[l.level])}</strong> <span class="muted">({l.checklistItems} {t('项', 'items')})</span>
                </span>
                <ul>
                  {l.activationCriteria.map((c, i) => (
                    <li key={i}>{bi(c)}</li>
                  ))}
                </ul>
              </label>
            ))}
          </fieldset>
        )}
        <fieldset class="modes">
          <legend>{t('类型', 'Mode')}</legend>
          {(['actual', 'exercise'] as const).map((m) => (
            <label key={m} class="inline">
              <input type="radio" name="mode" value={m} checked={mode === m} required onChange={() => (setMode(m), setConfirming(false))} /> {bi(INCIDENT_MODE_LABELS[m])}
            </label>
          ))}
        </fieldset>
        <label>
          {t('标题（可选）', 'Title (optional)')}
          <input name="title" value={title} maxLength={200} onInput={(e) => setTitle(e.currentTarget.value)} />
        </label>
        <div>
          <label>
            {t('按名称查找地点（避难场所、储备库、道路）', 'Find a place by name (shelters, warehouses, roads)')}
            <input name="place" value={placeQuery} autoComplete="off" onInput={(e) => setPlaceQuery(e.currentTarget.value)} />
          </label>
          {matches.length > 0 && (
            <ul class="place-matches" data-testid="place-matches">
              {matches.map((p, i) => (
                <li key={i}>
                  <button type="button" onClick={() => (setLocation({ lat: p.lat, lon: p.lon }), setPlaceName(bi(p.name)), setPlaceQuery(''))}>
                    {bi(p.name)} <span class="muted small">{bi(PLACE_KIND_LABELS[p.kind])}</span>
                  </button>
                </li>
              ))}
            </ul>
          )}
          <p class="muted">
            {t('或在地图上点击选择事发地点：', 'Or click the map to set the location: ')}
            <span data-testid="picked-location">{location ? `${location.lat.toFixed(4)}, ${location.lon.toFixed(4)}` : t('未选择', 'not set')}</span>
            {placeName && location && <span data-testid="picked-place"> · {placeName}</span>}
          </p>
          <MapView class="pick-map" markers={location ? [{ id: 'pick', kind: 'pick', lat: location.lat, lon: location.lon, label: t('事发地点', 'Location') }] : []} onPick={(lat, lon) => (setLocation({ lat, lon }), setPlaceName(null))} />
        </div>
        {levelInfo && (
          <p class="muted">
            {t('将生成检查单', 'Checklist items')}: {levelInfo.checklistItems}
          </p>
        )}
        {error && <p class="error" role="alert">{error}</p>}
        {!confirming && (
          <button type="submit" class="primary" disabled={busy || !plan || !level || !mode}>
            {mode === 'exercise' ? t('启动演练', 'Start the exercise') : t('启动响应', 'Activate')}
          </button>
        )}
        {confirming && (
          <div class="confirm-actual" role="alertdialog" aria-label={t('确认启动实战响应', 'Confirm an actual response')}>
            <p>
              <strong>{t('这是实战响应，不是演练。', 'This is an actual response, not an exercise.')}</strong>{' '}
              {t(`将按${level ? bi(RESPONSE_LEVEL_LABELS[level]) : ''}启动「${plan ? bi(plan.title) : ''}」，预警可发往真实公众。`, `It starts "${plan ? bi(plan.title) : ''}" at ${level ? bi(RESPONSE_LEVEL_LABELS[level]) : ''}; warnings can reach the real public.`)}
            </p>
            <button type="button" class="primary danger" disabled={busy} data-testid="confirm-actual" onClick={() => void activate()}>
              {t('确认启动实战响应', 'Confirm: activate the actual response')}
            </button>{' '}
            <button type="button" onClick={() => setConfirming(false)}>
              {t('返回', 'Back')}
            </button>
          </div>
        )}
      </form>
    </Panel>
  );
}
