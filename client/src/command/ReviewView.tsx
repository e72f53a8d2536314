import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { errorText, get, post } from '../common/api.js';
import { loadSession, type Session } from '../common/session.js';
import { bi, formatTime, t, useLang, lang } from '../common/i18n.js';
import { ExerciseBanner, Panel } from '../common/ui.js';
import { useLiveFeed } from '../common/live.js';
import { can } from '../../../shared/policy.js';
import type { Review, ReviewImprovement } from '../../../shared/review.js';
import type { ChecklistItem } from '../../../shared/checklist.js';
import { ITEM_STATUS_LABELS, RESPONSE_LEVEL_LABELS, WARNING_COLOUR_LABELS } from '../../../shared/labels.js';

const num = (n: number | null | undefined) => (n === null || n === undefined ? '—' : String(n));

/** Fetches a file with the session's token and hands it to the browser (a plain link would carry no token). */
async function openFile(path: string, download: string | null): Promise<void> {
  const session = loadSession();
  const res = await fetch(path, { headers: session ? { authorization: `Bearer ${session.token}` } : {} });
  if (!res.ok) throw new Error(`${res.status}`);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  if (download) a.download = download;
  else a.target = '_blank';
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** The after-action review of one incident (总结评估): live while it runs, final once closed. */
export function ReviewView(props: { incidentId: string; session: Session }) {
  useLang();
  const { incidentId, session } = props;
  const [review, setReview] = useState<Review | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(() => {
    get<{ review: Review }>(`/api/incidents/${incidentId}/review`)
      .then((r) => {
        setReview(r.review);
        setError(null);
      })
      .catch((e) => setError(errorText(e)));
  }, [incidentId]);
  useEffect(load, [load]);
  // Live during the incident: every logged change recomputes the review (at most every 2 s).
  const [pending, setPending] = useState(false);
  const onEvent = useCallback(() => setPending(true), []);
  const feed = useLiveFeed(incidentId, session.token, onEvent);
  // The review came by HTTP before the feed joined: what was logged in between arrives with the
  // join as history, not as live events. Anything newer than the review's head counts too.
  const newestSeq = feed.events.length > 0 ? feed.events[feed.events.length - 1]!.seq : 0;
  useEffect(() => {
    if (review && newestSeq > review.chain.lastSeq) setPending(true);
  }, [newestSeq, review]);
  useEffect(() => {
    if (!pending) return;
    const timer = setTimeout(() => {
      setPending(false);
      load();
    }, 2000);
    return () => clearTimeout(timer);
  }, [pending, load]);

  if (error && !review) return <main class="board"><p class="error" role="alert">{error}</p></main>;
  if (!review) return <main class="board"><p class="muted">{t('加载中…', 'Loading…')}</p></main>;
  const s = review.summary;
  const incident = { id: incidentId, mode: s.mode, status: s.status };
  const heading = s.mode === 'exercise' ? t('演练评估报告', 'Exercise evaluation report') : t('突发事件应急处置总结评估', 'After-action review');
  const fail = (e: unknown) => setError(errorText(e));
  return (
    <>
      {s.mode === 'exercise' && <ExerciseBanner />}
      <main class="board review-view" data-testid="review">
        <header class="incident-header">
          <div class="title">
            <h1>
              {heading} · {s.title}
            </h1>
            <div class="meta">
              <span class={`badge ${review.final ? 'ok' : 'bad'}`} data-testid="review-state">{review.final ? t('最终版（响应已终止）', 'Final (closed)') : t('实时（处置中）', 'Live (incident open)')}</span>
              <span class={`badge ${review.chain.ok ? 'ok' : 'bad'}`} data-testid="review-chain">
                {review.chain.ok ? t('事件链完整', 'Log intact') : t(`事件链在第 ${review.chain.brokenAt} 条断开`, `Log broken at entry ${review.chain.brokenAt}`)}
              </span>
              <a href={`#/incidents/${incidentId}`}>{t('返回指挥板', 'Back to the board')}</a>
            </div>
          </div>
          <div class="steer no-print">
            <button type="button" onClick={() => window.print()}>{t('打印', 'Print')}</button>
            <button type="button" onClick={() => openFile(`/api/incidents/${incidentId}/review.html?lang=${lang()}`, null).catch(fail)}>{t('打印版 HTML', 'Printable HTML')}</button>
            <button type="button" onClick={() => openFile(`/api/incidents/${incidentId}/review.docx`, `review-${incidentId}.docx`).catch(fail)}>{t('下载 DOCX', 'Download DOCX')}</button>
            <button type="button" onClick={() => openFile(`/api/incidents/${incidentId}/review.docx?format=hseep`, `review-${incidentId}-hseep.docx`).catch(fail)}>HSEEP AAR/IP</button>
          </div>
          {error && <p class="error" role="alert">{error}</p>}
        </header>
        <div class="review-grid">
          <Panel title={t('基本情况', 'Summary')} id="review-summary">
            <table>
              <tbody>
                <tr><th scope="row">{t('预案', 'Plan')}</th><td>{bi(s.planTitle)}</td></tr>
                <tr><th scope="row">{t('启动', 'Activated')}</th><td>{formatTime(s.activatedAt, true)}</td></tr>
                <tr><th scope="row">{t('终止', 'Closed')}</th><td>{s.closedAt ? formatTime(s.closedAt, true) : '—'}</td></tr>
                <tr><th scope="row">{t('持续（分钟）', 'Minutes')}</th><td data-testid="review-minutes">{s.minutes}</td></tr>
                <tr><th scope="row">{t('响应级别', 'Levels')}</th><td>{s.levels.map((l) => `${bi(RESPONSE_LEVEL_LABELS[l.level])} ${l.minutes}′`).join(' → ')}</td></tr>
                <tr><th scope="row">{t('启动至首条预警（分钟）', 'To first warning (min)')}</th><td>{num(review.minutesToFirstWarning)}</td></tr>
                <tr><th scope="row">{t('参与人员', 'Participants')}</th><td>{s.participants.map((p) => p.displayName ?? p.name).join('、')}</td></tr>
              </tbody>
            </table>
          </Panel>
          <Panel title={t('按责任单位', 'By unit')} id="review-units">
            <table data-testid="review-units">
              <thead><tr><th>{t('单位', 'Unit')}</th><th>{t('事项', 'Items')}</th><th>{t('按时', 'On time')}</th><th>{t('延误', 'Late')}</th><th>{t('跳过', 'Skipped')}</th><th>{t('未完成', 'Open')}</th><th>%</th></tr></thead>
              <tbody>
                {review.checklist.byUnit.map((u) => (
                  <tr key={u.unit}><td>{bi(u.unitName) || u.unit}</td><td>{u.items}</td><td>{u.onTime}</td><td>{u.late}</td><td>{u.skipped}</td><td>{u.open}</td><td>{u.onTimePercent}</td></tr>
                ))}
              </tbody>
            </table>
          </Panel>
          <Panel title={t('队伍调派', 'Dispatches')} id="review-dispatches">
            <table>
              <thead><tr><th>{t('队伍', 'Team')}</th><th>{t('调派', 'Dispatched')}</th><th>{t('到场', 'On scene')}</th><th>{t('到场用时（分钟）', 'To scene (min)')}</th></tr></thead>
              <tbody>
                {review.dispatches.map((d) => (
                  <tr key={d.dispatchId}><td>{bi(d.teamName) || d.teamId}</td><td>{formatTime(d.dispatchedAt)}</td><td>{formatTime(d.onSceneAt)}</td><td>{num(d.durations.toOnScene)}</td></tr>
                ))}
              </tbody>
            </table>
          </Panel>
          <Panel title={t('预警', 'Warnings')} id="review-warnings">
            <table>
              <thead><tr><th>{t('级别', 'Colour')}</th><th>{t('签发', 'Approved')}</th><th>{t('覆盖率 %', 'Coverage %')}</th><th>{t('叫应', 'Acks')}</th></tr></thead>
              <tbody>
                {review.warnings.map((w) => (
                  <tr key={w.id}><td>{w.colour ? bi(WARNING_COLOUR_LABELS[w.colour]) : '—'}</td><td>{formatTime(w.approvedAt)}</td><td>{num(w.coveragePercent)}</td><td>{w.acks.length}</td></tr>
                ))}
              </tbody>
            </table>
          </Panel>
          <Replay incidentId={incidentId} from={s.activatedAt} to={s.closedAt ?? review.computedAt} />
          <Improvements review={review} canManage={can(session.user, 'improvement.manage', { incident })} onChanged={load} onError={fail} />
        </div>
      </main>
    </>
  );
}

/** The time scrubber: the checklist as it stood at the chosen moment (GET …/checklist?at=). */
function Replay(props: { incidentId: string; from: string; to: string }) {
  const start = Date.parse(props.from);
  const end = Math.max(start + 1000, Date.parse(props.to));
  const [at, setAt] = useState(end);
  const [items, setItems] = useState<ChecklistItem[] | null>(null);
  useEffect(() => {
    const timer = setTimeout(() => {
      get<{ items: ChecklistItem[] }>(`/api/incidents/${props.incidentId}/checklist?at=${encodeURIComponent(new Date(at).toISOString())}`)
        .then((r) => setItems(r.items))
        .catch(() => setItems(null));
    }, 150);
    return () => clearTimeout(timer);
  }, [at, props.incidentId]);
  const done = items?.filter((i) => i.status === 'done' || i.status === 'skipped').length ?? 0;
  return (
    <Panel title={t('检查单回放', 'Checklist replay')} id="review-replay" class="review-wide">
      <label class="replay-scrubber">
        {t('时间', 'Time')} <strong data-testid="replay-time">{formatTime(new Date(at).toISOString(), true)}</strong>
        <input type="range" min={start} max={end} step={1000} value={at} aria-label={t('回放时间', 'Replay time')} onInput={(e) => setAt(Number(e.currentTarget.value))} />
      </label>
      <p class="muted" data-testid="replay-progress">{t(`已完成 ${done}/${items?.length ?? 0}`, `${done}/${items?.length ?? 0} finished`)}</p>
      <div class="checklist-scroll">
        <table>
          <tbody>
            {(items ?? []).map((i) => (
              <tr key={i.id} class={`item status-${i.status}`} data-item={i.id}>
                <td>{bi({ zh: i.text, en: i.textEn || i.text })}</td>
                <td>{bi(ITEM_STATUS_LABELS[i.status])}</td>
                <td class="muted">{formatTime(i.dueAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Panel>
  );
}

/** 整改事项: what the review found, owned by a unit, tracked to done. */
function Improvements(props: { review: Review; canManage: boolean; onChanged: () => void; onError: (e: unknown) => void }) {
  const { review } = props;
  const units = useMemo(() => [...new Map(review.checklist.items.map((i) => [i.unit, i.unitName])).entries()], [review]);
  const [problem, setProblem] = useState('');
  const [unit, setUnit] = useState(units[0]?.[0] ?? '');
  const [dueDate, setDueDate] = useState(new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10));
  const [planItemId, setPlanItemId] = useState('');
  const create = async (e: Event) => {
    e.preventDefault();
    try {
      await post(`/api/incidents/${review.incidentId}/improvements`, { problem: problem.trim(), unit, dueDate, planItemId: planItemId || null });
      setProblem('');
      props.onChanged();
    } catch (err) {
      props.onError(err);
    }
  };
  const move = (item: ReviewImprovement, status: 'in_progress' | 'done') => async () => {
    const evidence = status === 'done' ? window.prompt(t('整改证明', 'Evidence')) : undefined;
    if (status === 'done' && !evidence) return;
    try {
      await post(`/api/improvements/${item.id}/status`, { status, ...(evidence ? { evidence } : {}) });
      props.onChanged();
    } catch (err) {
      props.onError(err);
    }
  };
  const STATUS = { open: t('待整改', 'Open'), in_progress: t('整改中', 'In progress'), done: t('已完成', 'Done') };
  return (
    <Panel title={t('整改事项', 'Improvement items')} id="review-improvements" class="review-wide">
      <table data-testid="improvements">
        <thead><tr><th>{t('问题', 'Problem')}</th><th>{t('责任单位', 'Unit')}</th><th>{t('期限', 'Due')}</th><th>{t('状态', 'Status')}</th><th>{t('证明', 'Evidence')}</th><th /></tr></thead>
        <tbody>
          {review.improvements.map((i) => (
            <tr key={i.id}>
              <td>{i.problem}</td>
              <td>{bi(units.find(([u]) => u === i.unit)?.[1]) || i.unit}</td>
              <td>{i.dueDate}</td>
              <td>{STATUS[i.status]}</td>
              <td>{i.evidence ?? '—'}</td>
              <td>
                {props.canManage && i.status === 'open' && <button type="button" onClick={move(i, 'in_progress')}>{t('开始整改', 'Start')}</button>}
                {props.canManage && i.status === 'in_progress' && <button type="button" onClick={move(i, 'done')}>{t('完成', 'Done')}</button>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {props.canManage && (
        <form class="improvement-form no-print" onSubmit={create} aria-label={t('新建整改事项', 'New improvement item')}>
          <input aria-label={t('问题', 'Problem')} placeholder={t('存在问题', 'Problem')} value={problem} onInput={(e) => setProblem(e.currentTarget.value)} required />
          <select aria-label={t('责任单位', 'Unit')} value={unit} onChange={(e) => setUnit(e.currentTarget.value)}>
            {units.map(([id, name]) => (
              <option key={id} value={id}>{bi(name) || id}</option>
            ))}
          </select>
          <select aria-label={t('对应检查单事项', 'Plan item')} value={planItemId} onChange={(e) => setPlanItemId(e.currentTarget.value)}>
            <option value="">{t('（整个预案）', '(the plan as a whole)')}</option>
            {review.checklist.items.map((i) => (
              <option key={i.id} value={i.id}>{bi({ zh: i.text, en: i.textEn || i.text })}</option>
            ))}
          </select>
          <input type="date" aria-label={t('期限', 'Due date')} value={dueDate} onInput={(e) => setDueDate(e.currentTarget.value)} required />
          <button type="submit" disabled={!problem.trim()}>{t('添加', 'Add')}</button>
        </form>
      )}
    </Panel>
  );
}
