import { useCallback, useEffect, useState } from 'preact/hooks';
import { errorText, get, post } from '../common/api.js';
import { bi, formatDuration, formatTime, t, useLang } from '../common/i18n.js';
import { Panel, useNow } from '../common/ui.js';
import { useLiveFeed } from '../common/live.js';
import type { Session } from '../common/session.js';
import { can } from '../../../shared/policy.js';
import { INJECT_FORM_LABELS, type InjectForm } from '../../../shared/drill-labels.js';
import type { Scenario } from '../../../shared/drill.js';
import type { Bilingual } from '../../../shared/labels.js';

interface StoredScenario {
  id: string;
  version: number;
  restricted: boolean;
  scenario: Scenario;
}

interface DrillSummary {
  id: string;
  kind: 'tabletop' | 'no-script';
  status: 'ready' | 'sealed' | 'running' | 'paused' | 'ended';
  incidentId: string | null;
  scenario: { id: string; title: Bilingual } | null;
  window: { from: string; to: string } | null;
  fireAt: string | null;
  startedAt: string | null;
  createdAt: string;
  injects: { id: string; form: InjectForm; audience: { kind: string }; at: number | null; manual: boolean; status: 'pending' | 'released'; dueAt: string | null; releasedAt: string | null; content: Bilingual }[];
  expectedActions: { id: string; injectId: string; action: string; withinSeconds: number; status: 'met' | 'late' | 'missed' | 'pending'; metAt: string | null; secondsAfterInject: number | null }[];
  observations: { id: string; at: string; injectId: string | null; text: string; rating: number | null; by: string }[];
}

const STATUS_LABELS: Record<DrillSummary['status'], Bilingual> = {
  ready: { zh: '待开始', en: 'Ready' },
  sealed: { zh: '已密封', en: 'Sealed' },
  running: { zh: '进行中', en: 'Running' },
  paused: { zh: '已暂停', en: 'Paused' },
  ended: { zh: '已结束', en: 'Ended' },
};
const EXPECT_LABELS: Record<DrillSummary['expectedActions'][number]['status'], Bilingual> = {
  met: { zh: '达成', en: 'Met' },
  late: { zh: '超时达成', en: 'Late' },
  missed: { zh: '未达成', en: 'Missed' },
  pending: { zh: '待观察', en: 'Pending' },
};
const ACTION_LABELS: Record<string, Bilingual> = {
  'team-dispatched': { zh: '调派队伍', en: 'Team dispatched' },
  'checklist-item-done': { zh: '检查单完成', en: 'Checklist item done' },
  'warning-approved': { zh: '签发预警', en: 'Warning approved' },
  'level-changed': { zh: '调整响应级别', en: 'Level changed' },
  'report-filed': { zh: '报送现场情况', en: 'Report filed' },
};

/** The drill controller's console (演练导调台): scenarios, drills, the inject timeline, the scoreboard, observations. */
export function DrillsPage(props: { session: Session }) {
  useLang();
  const manage = can(props.session.user, 'drill.manage');
  const [scenarios, setScenarios] = useState<StoredScenario[]>([]);
  const [drills, setDrills] = useState<DrillSummary[]>([]);
  const [selected, setSelected] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const reload = useCallback(async () => {
    try {
      const [s, d] = await Promise.all([get<{ scenarios: StoredScenario[] }>('/api/scenarios'), get<{ drills: DrillSummary[] }>('/api/drills')]);
      setScenarios(s.scenarios);
      setDrills(d.drills);
    } catch (e) {
      setError(errorText(e));
    }
  }, []);
  useEffect(() => void reload(), [reload]);
  const act = async (fn: () => Promise<unknown>) => {
    setError(null);
    try {
      await fn();
      await reload();
    } catch (e) {
      setError(errorText(e));
    }
  };
  const drill = drills.find((d) => d.id === selected) ?? null;
  return (
    <main class="list-page drills-page" data-testid="drills-page">
      <div class="drills-side">
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <Panel title={t('演练列表', 'Drills')} id="drills">
          <table>
            <thead>
              <tr>
                <th>{t('脚本', 'Scenario')}</th>
                <th>{t('方式', 'Kind')}</th>
                <th>{t('状态', 'Status')}</th>
                <th>{t('创建', 'Created')}</th>
              </tr>
            </thead>
            <tbody>
              {drills.map((d) => (
                <tr key={d.id} class={d.id === selected ? 'selected' : ''}>
                  <td>
                    <button type="button" class="link" data-testid="drill-open" onClick={() => setSelected(d.id)}>
                      {d.scenario ? bi(d.scenario.title) : d.id}
                    </button>
                  </td>
                  <td>{d.kind === 'tabletop' ? t('桌面推演', 'Tabletop') : t('无脚本', 'No-script')}</td>
                  <td data-testid="drill-status">{bi(STATUS_LABELS[d.status])}</td>
                  <td>{formatTime(d.createdAt, true)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Panel>
        {manage && <NewDrill scenarios={scenarios} onCreated={(id) => (setSelected(id), void reload())} act={act} />}
        <Panel title={t('演练脚本', 'Scenarios')} id="scenarios">
          <ul class="plain">
            {scenarios.map((s) => (
              <li key={s.id}>
                {bi(s.scenario.title)} <span class="muted small">v{s.version} · {s.scenario.injects.length} {t('条注入', 'injects')}{s.restricted ? ` · ${t('保密', 'restricted')}` : ''}</span>
              </li>
            ))}
          </ul>
        </Panel>
      </div>
      {drill ? <DrillDetail key={drill.id} drillId={drill.id} session={props.session} manage={manage} onChange={reload} /> : <p class="muted">{t('选择一个演练', 'Choose a drill')}</p>}
    </main>
  );
}

function NewDrill(props: { scenarios: StoredScenario[]; onCreated: (id: string) => void; act: (fn: () => Promise<unknown>) => Promise<void> }) {
  const tabletop = props.scenarios.filter((s) => !s.restricted);
  const restricted = props.scenarios.filter((s) => s.restricted);
  const [scenarioId, setScenarioId] = useState('');
  const [sealedIds, setSealedIds] = useState<string[]>([]);
  const [minutes, setMinutes] = useState('10');
  return (
    <Panel title={t('新建演练', 'New drill')} id="new-drill">
      <form
        class="stack"
        onSubmit={(e) => {
          e.preventDefault();
          void props.act(async () => props.onCreated((await post<{ drill: DrillSummary }>('/api/drills', { kind: 'tabletop', scenarioId: scenarioId || tabletop[0]?.id })).drill.id));
        }}
      >
        <label>
          {t('桌面推演脚本', 'Tabletop scenario')}
          <select value={scenarioId} onChange={(e) => setScenarioId(e.currentTarget.value)} data-testid="tabletop-scenario">
            {tabletop.map((s) => (
              <option key={s.id} value={s.id}>
                {bi(s.scenario.title)}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" data-testid="create-tabletop" disabled={tabletop.length === 0}>
          {t('创建桌面推演', 'Create tabletop drill')}
        </button>
      </form>
      <form
        class="stack"
        onSubmit={(e) => {
          e.preventDefault();
          const from = new Date();
          const to = new Date(from.getTime() + Math.max(1, Number(minutes) || 10) * 60_000);
          void props.act(async () =>
            props.onCreated((await post<{ drill: DrillSummary }>('/api/drills', { kind: 'no-script', scenarioIds: sealedIds, window: { from: from.toISOString(), to: to.toISOString() }, participants: {} })).drill.id),
          );
        }}
      >
        <fieldset>
          <legend>{t('无脚本演练（密封，仅导调可见）', 'No-script drill (sealed, controllers only)')}</legend>
          {restricted.length === 0 && <p class="muted small">{t('没有保密脚本：先通过接口存入 restricted 脚本', 'No restricted scenarios yet: store one through the API')}</p>}
          {restricted.map((s) => (
            <label key={s.id} class="check">
              <input
                type="checkbox"
                checked={sealedIds.includes(s.id)}
                onChange={(e) => setSealedIds(e.currentTarget.checked ? [...sealedIds, s.id] : sealedIds.filter((x) => x !== s.id))}
              />{' '}
              {bi(s.scenario.title)}
            </label>
          ))}
          <label>
            {t('时间窗（分钟，从现在起）', 'Window (minutes from now)')}
            <input type="number" min="1" max="10080" value={minutes} onInput={(e) => setMinutes(e.currentTarget.value)} />
          </label>
          <button type="submit" data-testid="create-sealed" disabled={sealedIds.length === 0}>
            {t('密封并创建', 'Seal and create')}
          </button>
        </fieldset>
      </form>
    </Panel>
  );
}

function DrillDetail(props: { drillId: string; session: Session; manage: boolean; onChange: () => void }) {
  const [drill, setDrill] = useState<DrillSummary | null>(null);
  const [error, setError] = useState<string | null>(null);
  const now = useNow(1000);
  const load = useCallback(() => {
    get<{ drill: DrillSummary }>(`/api/drills/${props.drillId}`)
      .then((r) => setDrill(r.drill))
      .catch((e) => setError(errorText(e)));
  }, [props.drillId]);
  useEffect(load, [load]);
  // Every entry of the drill's incident (a release, a dispatch, a checklist item done …) may change the scoreboard.
  // (The replay of a join calls no onEvent, so follow the count of entries too.)
  const feed = useLiveFeed(drill?.incidentId ?? null, props.session.token, load);
  useEffect(() => {
    if (feed.events.length > 0) load();
  }, [feed.events.length, load]);
  // A sealed drill has no incident yet: look again now and then, so the console sees it fire.
  useEffect(() => {
    if (drill?.status !== 'sealed' && drill?.status !== 'ready') return;
    const timer = setInterval(load, 5000);
    return () => clearInterval(timer);
  }, [drill?.status, load]);
  const act = async (path: string, body?: unknown) => {
    setError(null);
    try {
      setDrill((await post<{ drill: DrillSummary }>(path, body ?? {})).drill);
      props.onChange();
    } catch (e) {
      setError(errorText(e));
    }
  };
  if (!drill) return <p class="muted">{error ?? t('加载中…', 'Loading…')}</p>;
  const base = `/api/drills/${drill.id}`;
  const met = drill.expectedActions.filter((e) => e.status === 'met').length;
  return (
    <div class="drill-detail" data-testid="drill-detail">
      <Panel
        title={`${drill.scenario ? bi(drill.scenario.title) : ''} · ${bi(STATUS_LABELS[drill.status])}`}
        id="drill-control"
        extra={
          drill.incidentId ? (
            <a href={`#/incidents/${drill.incidentId}`} data-testid="drill-incident">
              {t('打开演练事件', 'Open the exercise incident')}
            </a>
          ) : undefined
        }
      >
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        {drill.kind === 'no-script' && drill.fireAt && drill.status === 'sealed' && (
          <p data-testid="drill-fire">
            {t('密封：将在', 'Sealed: fires in')} {formatDuration(Date.parse(drill.fireAt) - now)} {t('后触发', '')}（{formatTime(drill.fireAt)}）
          </p>
        )}
        {props.manage && (
          <div class="actions">
            {drill.status === 'ready' && (
              <button type="button" data-testid="drill-start" onClick={() => void act(`${base}/start`)}>
                {t('开始演练', 'Start drill')}
              </button>
            )}
            {drill.status === 'running' && (
              <button type="button" data-testid="drill-pause" onClick={() => void act(`${base}/pause`)}>
                {t('暂停', 'Pause')}
              </button>
            )}
            {drill.status === 'paused' && (
              <button type="button" data-testid="drill-resume" onClick={() => void act(`${base}/resume`)}>
                {t('继续', 'Resume')}
              </button>
            )}
            {(drill.status === 'running' || drill.status === 'paused') && (
              <button type="button" data-testid="drill-end" onClick={() => void act(`${base}/end`)}>
                {t('结束演练', 'End drill')}
              </button>
            )}
          </div>
        )}
        <h3>{t('注入时间线', 'Inject timeline')}</h3>
        <ol class="inject-timeline" data-testid="inject-timeline">
          {drill.injects.map((i) => (
            <li key={i.id} class={`inject ${i.status}`} data-testid={`inject-${i.id}`}>
              <span class="badge">{bi(INJECT_FORM_LABELS[i.form])}</span>{' '}
              <span data-testid="inject-when">
                {i.status === 'released'
                  ? `${t('已发布', 'Released')} ${formatTime(i.releasedAt)}`
                  : i.dueAt
                    ? `${t('倒计时', 'In')} ${formatDuration(Math.max(0, Date.parse(i.dueAt) - now))}`
                    : i.manual
                      ? t('手动', 'Manual')
                      : `T+${i.at ?? 0}s`}
              </span>{' '}
              {bi(i.content)}
              {i.audience.kind === 'controller' && <span class="muted small"> · {t('仅导调', 'controllers only')}</span>}
              {props.manage && i.status === 'pending' && (drill.status === 'running' || drill.status === 'paused') && (
                <button type="button" class="small" data-testid="inject-release" onClick={() => void act(`${base}/injects/${encodeURIComponent(i.id)}/release`)}>
                  {t('立即发布', 'Release now')}
                </button>
              )}
            </li>
          ))}
        </ol>
      </Panel>
      <Panel title={`${t('评估记分', 'Scoreboard')} ${met}/${drill.expectedActions.length}`} id="scoreboard">
        <table>
          <thead>
            <tr>
              <th>{t('注入', 'Inject')}</th>
              <th>{t('期望行动', 'Expected action')}</th>
              <th>{t('时限', 'Within')}</th>
              <th>{t('结果', 'Result')}</th>
            </tr>
          </thead>
          <tbody>
            {drill.expectedActions.map((e) => (
              <tr key={e.id} data-testid={`expect-${e.id}`}>
                <td>{e.injectId}</td>
                <td>{bi(ACTION_LABELS[e.action] ?? { zh: e.action, en: e.action })}</td>
                <td>{formatDuration(e.withinSeconds * 1000)}</td>
                <td class={`expect ${e.status}`} data-testid="expect-status">
                  {bi(EXPECT_LABELS[e.status])}
                  {e.secondsAfterInject !== null ? ` · ${formatDuration(e.secondsAfterInject * 1000)}` : ''}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Panel>
      <Observations drill={drill} onSaved={load} />
    </div>
  );
}

function Observations(props: { drill: DrillSummary; onSaved: () => void }) {
  const [text, setText] = useState('');
  const [injectId, setInjectId] = useState('');
  const [rating, setRating] = useState('');
  const [error, setError] = useState<string | null>(null);
  const open = props.drill.status === 'running' || props.drill.status === 'paused' || props.drill.status === 'ended';
  return (
    <Panel title={t('评估记录', 'Observations')} id="observations">
      <ul class="plain" data-testid="observations">
        {props.drill.observations.map((o) => (
          <li key={o.id}>
            <span class="muted small">
              {formatTime(o.at)} · {o.by}
              {o.injectId ? ` · ${o.injectId}` : ''}
              {o.rating ? ` · ${'★'.repeat(o.rating)}` : ''}
            </span>{' '}
            {o.text}
          </li>
        ))}
      </ul>
      {open && (
        <form
          class="stack"
          onSubmit={(e) => {
            e.preventDefault();
            setError(null);
            post(`/api/drills/${props.drill.id}/observations`, { text, ...(injectId ? { injectId } : {}), ...(rating ? { rating: Number(rating) } : {}) })
              .then(() => (setText(''), props.onSaved()))
              .catch((err) => setError(errorText(err)));
          }}
        >
          {error && (
            <p class="error" role="alert">
              {error}
            </p>
          )}
          <label>
            {t('记录', 'Note')}
            <textarea value={text} onInput={(e) => setText(e.currentTarget.value)} required maxLength={4000} data-testid="observation-text" />
          </label>
          <label>
            {t('关联注入', 'Inject')}
            <select value={injectId} onChange={(e) => setInjectId(e.currentTarget.value)}>
              <option value="">—</option>
              {props.drill.injects.map((i) => (
                <option key={i.id} value={i.id}>
                  {i.id}
                </option>
              ))}
            </select>
          </label>
          <label>
            {t('评分', 'Rating')}
            <select value={rating} onChange={(e) => setRating(e.currentTarget.value)}>
              <option value="">—</option>
              {[1, 2, 3, 4, 5].map((n) => (
                <option key={n} value={String(n)}>
                  {n}
                </option>
              ))}
            </select>
          </label>
          <button type="submit" data-testid="observation-save">
            {t('保存记录', 'Save note')}
          </button>
        </form>
      )}
    </Panel>
  );
}
