import { useEffect, useState } from 'preact/hooks';
import { get, post, errorText } from '../common/api.js';
import { bi, formatDuration, formatTime, t } from '../common/i18n.js';
import { Panel, useNow } from '../common/ui.js';
import type { Session } from '../common/session.js';
import type { IncidentView } from '../../../shared/incidents.js';
import { DISPATCH_STATUS_LABELS, TEAM_STATUS_LABELS, type AllocationView, type DispatchView, type Recommendations, type TeamStatus } from '../../../shared/resources.js';
import type { Bilingual } from '../../../shared/labels.js';
import { can } from '../../../shared/policy.js';
import type { Refresh } from './Board.js';

interface TeamRow {
  id: string;
  name: Bilingual;
  status: TeamStatus;
  statusSince: string;
  headcount: number;
}
interface StockRow {
  id: string;
  warehouseId: string;
  item: string;
  quantity: number;
  unit: string;
  minQuantity: number | null;
}

type BatchItem = { ok: true } | { ok: false; error: { code: string; message: string } };
interface BatchOutcome {
  kind: 'teams' | 'materials';
  items: { label: string; ok: boolean; error: string | null }[];
}

/** An action that needs exactly one confirmation: the first click asks, the second does it. */
export function ConfirmButton(props: { label: string; confirm: string; onConfirm: () => Promise<void>; disabled?: boolean; testid?: string }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  if (!asking)
    return (
      <button type="button" disabled={props.disabled} onClick={() => setAsking(true)} data-testid={props.testid}>
        {props.label}
      </button>
    );
  return (
    <span class="confirm">
      <button
        type="button"
        class="primary"
        disabled={busy}
        autoFocus
        data-testid={props.testid ? props.testid + '-confirm' : undefined}
        onClick={async () => {
          setBusy(true);
          try {
            await props.onConfirm();
          } finally {
            setBusy(false);
            setAsking(false);
          }
        }}
      >
        {props.confirm}
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        {t('取消', 'Cancel')}
      </button>
    </span>
  );
}

/** Dispatches, teams, allocations, stock and recommendations of one incident, refetched on live events. */
export function useResources(props: { incident: IncidentView; session: Session; refresh: Refresh }) {
  const { incident } = props;
  const now = useNow(1000);
  const [dispatches, setDispatches] = useState<DispatchView[]>([]);
  const [allocations, setAllocations] = useState<AllocationView[]>([]);
  const [recs, setRecs] = useState<Recommendations | null>(null);
  const [teams, setTeams] = useState<TeamRow[]>([]);
  const [stock, setStock] = useState<StockRow[]>([]);
  const [error, setError] = useState<string | null>(null);
  const canAct = can(props.session.user, 'dispatch.create', { incident }) && can(props.session.user, 'allocation.create', { incident });

  useEffect(() => {
    if (!incident.id) return;
    get<{ dispatches: DispatchView[] }>(`/api/incidents/${incident.id}/dispatches`).then((r) => setDispatches(r.dispatches)).catch(() => {});
    get<{ teams: TeamRow[] }>('/api/teams').then((r) => setTeams(r.teams)).catch(() => {});
  }, [incident.id, props.refresh.dispatches]);
  useEffect(() => {
    if (!incident.id) return;
    get<{ allocations: AllocationView[] }>(`/api/incidents/${incident.id}/allocations`).then((r) => setAllocations(r.allocations)).catch(() => {});
    get<{ stock: StockRow[] }>('/api/stock').then((r) => setStock(r.stock)).catch(() => {});
  }, [incident.id, props.refresh.allocations]);
  useEffect(() => {
    if (!incident.id) return;
    get<{ recommendations: Recommendations }>(`/api/incidents/${incident.id}/recommendations`).then((r) => setRecs(r.recommendations)).catch((e) => setError(errorText(e)));
  }, [incident.id, incident.level, props.refresh.dispatches, props.refresh.allocations]);

  const act = async (fn: () => Promise<unknown>) => {
    setError(null);
    try {
      await fn();
    } catch (e) {
      setError(errorText(e));
    }
  };
  const stockOf = (item: string) => stock.filter((s) => s.item === item).reduce((n, s) => n + s.quantity, 0);
  const stockUnit = (item: string) => stock.find((s) => s.item === item)?.unit ?? '';
  const teamsWorking = teams.filter((tm) => dispatches.some((d) => d.teamId === tm.id && !['returned', 'cancelled'].includes(d.status)));

  return { incident, now, dispatches, allocations, recs, teams, error, canAct, act, stockOf, stockUnit, teamsWorking };
}

export type Resources = ReturnType<typeof useResources>;

export function DispatchesPanel({ r }: { r: Resources }) {
  const { incident, now, dispatches, allocations, recs, teams, error, canAct, act, stockOf, stockUnit, teamsWorking } = r;
  void [incident, now, dispatches, allocations, recs, teams, error, canAct, act, stockOf, stockUnit, teamsWorking];
  return (
      <Panel title={t('调派与队伍', 'Dispatches and teams')} id="dispatches">
        {error && <p class="error" role="alert">{error}</p>}
        {/* 40 teams in a response: the table scrolls, so the timeline below stays in view. */}
        <div class="table-scroll" tabIndex={0} role="region" aria-label={t('调派与队伍', 'Dispatches and teams')}>
        <table data-testid="dispatch-table">
          <thead>
            <tr>
              <th>{t('队伍', 'Team')}</th>
              <th>{t('任务单状态', 'Order')}</th>
              <th>{t('队伍状态', 'Team state')}</th>
              <th>{t('状态持续', 'In state')}</th>
            </tr>
          </thead>
          <tbody>
            {dispatches.map((d) => {
              const team = teams.find((x) => x.id === d.teamId);
              return (
                <tr key={d.id} data-dispatch={d.id} data-status={d.status}>
                  <td>
                    {d.teamId} {bi(d.teamName)}
                  </td>
                  <td>
                    <span class={`badge ${d.status === 'on_scene' ? 'ok' : d.status === 'dispatched' ? 'warn' : ''}`} data-testid="dispatch-status">
                      {bi(DISPATCH_STATUS_LABELS[d.status])}
                    </span>
                  </td>
                  <td>{team ? bi(TEAM_STATUS_LABELS[team.status]) : '—'}</td>
                  <td>{team ? formatDuration(now - new Date(team.statusSince).getTime()) : '—'}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
        </div>
        {dispatches.length === 0 && <p class="muted">{t('尚未调派队伍', 'No team dispatched yet')}</p>}
        <p class="muted small">
          {t('出动队伍', 'Teams working')}: {teamsWorking.length} · {t('全区待命队伍', 'Available in district')}: {teams.filter((x) => x.status === 'available').length}
        </p>
      </Panel>

  );
}

export function RecommendationsPanel({ r }: { r: Resources }) {
  const { incident, now, dispatches, allocations, recs, teams, error, canAct, act, stockOf, stockUnit, teamsWorking } = r;
  void [incident, now, dispatches, allocations, recs, teams, error, canAct, act, stockOf, stockUnit, teamsWorking];
  const [outcome, setOutcome] = useState<BatchOutcome | null>(null);
  const proposedTeams = (recs?.teams ?? []).flatMap((req) => req.candidates.filter((c) => c.proposed).map((c) => ({ teamId: c.teamId, name: c.name })));
  const proposedLines = (recs?.materials ?? []).flatMap((m) =>
    m.sources
      .filter((src) => src.kind === 'warehouse' && src.stockLineId && (src.proposedQuantity ?? 0) > 0)
      .map((src) => ({ stockLineId: src.stockLineId!, quantity: src.proposedQuantity!, label: `${bi(m.itemName)} ${src.proposedQuantity} ${m.unit}` })),
  );
  const dispatchAll = () =>
    act(async () => {
      const { results } = await post<{ results: BatchItem[] }>(`/api/incidents/${incident.id}/dispatches/batch`, { teams: proposedTeams.map(({ teamId }) => ({ teamId })) });
      setOutcome({ kind: 'teams', items: results.map((r, i) => ({ label: bi(proposedTeams[i]!.name), ok: r.ok, error: r.ok ? null : r.error.message })) });
    });
  const allocateAll = () =>
    act(async () => {
      const { results } = await post<{ results: BatchItem[] }>(`/api/incidents/${incident.id}/allocations/batch`, { allocations: proposedLines.map(({ stockLineId, quantity }) => ({ stockLineId, quantity })) });
      setOutcome({ kind: 'materials', items: results.map((r, i) => ({ label: proposedLines[i]!.label, ok: r.ok, error: r.ok ? null : r.error.message })) });
    });
  return (
      <Panel title={t('推荐队伍与物资', 'Recommended teams and materials')} id="recommendations">
        {!recs && <p class="muted">{t('加载中…', 'Loading…')}</p>}
        {canAct && (proposedTeams.length > 0 || proposedLines.length > 0) && (
          <p class="batch-actions">
            {proposedTeams.length > 0 && (
              <ConfirmButton
                testid="dispatch-all"
                label={t(`全部调派（${proposedTeams.length} 支队伍）`, `Dispatch all proposed (${proposedTeams.length} teams)`)}
                confirm={t(`确认调派 ${proposedTeams.length} 支队伍`, `Confirm: dispatch ${proposedTeams.length} teams`)}
                onConfirm={dispatchAll}
              />
            )}{' '}
            {proposedLines.length > 0 && (
              <ConfirmButton
                testid="allocate-all"
                label={t(`全部调拨（${proposedLines.length} 项）`, `Allocate all proposed (${proposedLines.length} lines)`)}
                confirm={t(`确认调拨 ${proposedLines.length} 项物资`, `Confirm: allocate ${proposedLines.length} lines`)}
                onConfirm={allocateAll}
              />
            )}
          </p>
        )}
        {outcome && (
          <div class="batch-outcome" data-testid="batch-outcome" role="status">
            <p>
              {outcome.kind === 'teams' ? t('调派结果', 'Dispatch results') : t('调拨结果', 'Allocation results')}: {outcome.items.filter((i) => i.ok).length}/{outcome.items.length}{' '}
              {t('成功', 'succeeded')}{' '}
              <button type="button" onClick={() => setOutcome(null)}>
                {t('知道了', 'Dismiss')}
              </button>
            </p>
            <ul>
              {outcome.items.map((item, i) => (
                <li key={i} class={item.ok ? 'ok' : 'bad'}>
                  {item.label}：{item.ok ? t('成功', 'done') : item.error}
                </li>
              ))}
            </ul>
          </div>
        )}
        {recs?.teams.map((r) => (
          <div key={r.specialty} class="rec">
            <h4>
              {bi(r.specialtyLabel)} · {t('需', 'need')} {r.count}
              {r.stillNeeded > 0 ? <span class="badge warn">{t('还差', 'still')} {r.stillNeeded}</span> : <span class="badge ok">{t('已满足', 'met')}</span>}
            </h4>
            <ul>
              {r.candidates
                .filter((c) => c.proposed || r.stillNeeded > 0)
                .slice(0, 4)
                .map((c) => (
                  <li key={c.teamId} data-candidate={c.teamId}>
                    <span>
                      {c.teamId} {bi(c.name)} · {c.distanceKm.toFixed(1)} km · {bi(TEAM_STATUS_LABELS[c.status])}
                    </span>{' '}
                    {canAct && c.available && r.stillNeeded > 0 && (
                      <ConfirmButton
                        testid={`dispatch-${c.teamId}`}
                        label={t('调派', 'Dispatch')}
                        confirm={t(`确认调派 ${c.teamId}`, `Confirm dispatch ${c.teamId}`)}
                        onConfirm={() => act(() => post(`/api/incidents/${incident.id}/dispatches`, { teamId: c.teamId }))}
                      />
                    )}
                  </li>
                ))}
            </ul>
          </div>
        ))}
        {recs && recs.materials.some((m) => m.stillNeeded <= 0) && (
          <p class="muted small">
            {t('已满足', 'Met')}: {recs.materials.filter((m) => m.stillNeeded <= 0).map((m) => bi(m.itemName)).join('、')}
          </p>
        )}
        {recs?.materials.filter((m) => m.stillNeeded > 0).map((m) => {
          const src = m.sources.find((s) => s.kind === 'warehouse' && s.stockLineId && (s.proposedQuantity ?? 0) > 0);
          return (
            <div key={m.item} class="rec">
              <h4>
                {bi(m.itemName)} · {t('需', 'need')} {m.quantity} {m.unit} · {t('已调拨', 'allocated')} {m.alreadyAllocated}
                {m.shortfall > 0 && <span class="badge bad">{t('缺口', 'short')} {m.shortfall}</span>}
              </h4>
              {src && canAct && m.stillNeeded > 0 && (
                <p>
                  {bi(src.name)} · {src.distanceKm.toFixed(1)} km · {t('可用', 'available')} {src.available}{' '}
                  <ConfirmButton
                    testid={`allocate-${m.item}`}
                    label={t(`调拨 ${src.proposedQuantity} ${m.unit}`, `Allocate ${src.proposedQuantity} ${m.unit}`)}
                    confirm={t('确认调拨', 'Confirm allocation')}
                    onConfirm={() => act(() => post(`/api/incidents/${incident.id}/allocations`, { stockLineId: src.stockLineId, quantity: src.proposedQuantity }))}
                  />
                </p>
              )}
            </div>
          );
        })}
      </Panel>

  );
}

export function StockPanel({ r }: { r: Resources }) {
  const { incident, now, dispatches, allocations, recs, teams, error, canAct, act, stockOf, stockUnit, teamsWorking } = r;
  void [incident, now, dispatches, allocations, recs, teams, error, canAct, act, stockOf, stockUnit, teamsWorking];
  return (
      <Panel title={t('物资与库存', 'Materials and stock left')} id="stock">
        <table>
          <thead>
            <tr>
              <th>{t('物资', 'Item')}</th>
              <th>{t('调拨', 'Allocated')}</th>
              <th>{t('全区库存剩余', 'Stock left')}</th>
            </tr>
          </thead>
          <tbody>
            {(recs?.materials ?? []).map((m) => (
              <tr key={m.item}>
                <td>{bi(m.itemName)}</td>
                <td>
                  {allocations.filter((a) => a.item === m.item && a.status !== 'cancelled').reduce((n, a) => n + a.quantity - a.returnedQuantity, 0)} {m.unit}
                </td>
                <td data-testid={`stock-${m.item}`}>
                  {stockOf(m.item)} {stockUnit(m.item) || m.unit}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {allocations.length > 0 && (
          <p class="muted small">
            {t('最近调拨', 'Latest allocation')}: {allocations[0]!.item} {allocations[0]!.quantity} {allocations[0]!.unit} · {formatTime(allocations[0]!.createdAt)}
          </p>
        )}
      </Panel>
  );
}

