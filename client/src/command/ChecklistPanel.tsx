import { Component } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { bi, formatTime, t } from '../common/i18n.js';
import { Panel, useNow } from '../common/ui.js';
import { isOverdue, useChecklist, type ChecklistState } from '../common/checklist.js';
import { ITEM_STATUSES, type ChecklistItem, type ItemStatus } from '../../../shared/checklist.js';
import { ITEM_STATUS_LABELS, PHASES, PHASE_LABELS, type Bilingual } from '../../../shared/labels.js';
import type { ReviewImprovement } from '../../../shared/review.js';

export const STATUS_LABELS: Record<ItemStatus, Bilingual> = ITEM_STATUS_LABELS;

/** The live checklist grouped by phase, then responsible unit; overdue items highlighted and counted. */
export function ChecklistPanel(props: {
  incidentId: string;
  token: string;
  onConnected: (c: boolean) => void;
  /** Called with the overdue items whenever that set changes (the board raises alerts for them). */
  onOverdue?: (items: { id: string; text: string; dueAt: string }[]) => void;
  /** Item id → responsible unit, for the timeline's unit filter. */
  onItemUnits?: (units: Map<string, string>) => void;
  units: Map<string, Bilingual>;
  readOnly: boolean;
  wall: boolean;
  /** Open improvement items (整改事项) of earlier reviews of this plan, by plan item id: shown beside their items. */
  improvements?: Map<string, ReviewImprovement[]>;
}) {
  // The checklist lives here, so an edit storm re-renders this panel only, not the whole board.
  const checklist = useChecklist(props.incidentId, props.token);
  useEffect(() => props.onConnected(checklist.connected), [checklist.connected]);
  const now = useNow(5000);
  const [onlyOverdue, setOnlyOverdue] = useState(false);
  const [unitFilter, setUnitFilter] = useState('');
  const { items } = checklist;
  const current = items.filter((i) => i.inLevel !== false);
  const overdueItems = current.filter((i) => isOverdue(i, now));
  const overdue = overdueItems.length;
  const overdueKey = overdueItems.map((i) => i.id).join(',');
  useEffect(() => props.onOverdue?.(overdueItems.map((i) => ({ id: i.id, text: i.text, dueAt: i.dueAt! }))), [overdueKey]);
  const unitsKey = items.map((i) => `${i.id}:${i.unit}`).join(',');
  useEffect(() => props.onItemUnits?.(new Map(items.map((i) => [i.id, i.unit]))), [unitsKey]);
  const done = current.filter((i) => i.status === 'done' || i.status === 'skipped').length;
  const groups = useMemo(() => {
    const byPhase = new Map<string, Map<string, ChecklistItem[]>>();
    for (const item of items) {
      if (onlyOverdue && !isOverdue(item, now)) continue;
      if (unitFilter && item.unit !== unitFilter) continue;
      const phase = byPhase.get(item.phase) ?? new Map<string, ChecklistItem[]>();
      byPhase.set(item.phase, phase);
      const list = phase.get(item.unit) ?? [];
      phase.set(item.unit, list);
      list.push(item);
    }
    return PHASES.filter((p) => byPhase.has(p)).map((p) => ({ phase: p, units: [...byPhase.get(p)!.entries()] }));
  }, [items, onlyOverdue, unitFilter, now]);
  const unitIds = useMemo(() => [...new Set(items.map((i) => i.unit))], [items]);
  const unitName = (id: string) => bi(props.units.get(id)) || id;

  return (
    <Panel
      title={t('处置检查单', 'Checklist')}
      id="checklist"
      class="checklist-panel"
      extra={
        <div class="checklist-summary">
          <span class="badge ok" data-testid="checklist-progress">
            {done}/{current.length} {t('完成', 'done')}
          </span>
          <span class={`badge ${overdue ? 'bad' : ''}`} data-testid="overdue-count">
            {t('超时', 'Overdue')} {overdue}
          </span>
          <label class="inline">
            <input type="checkbox" checked={onlyOverdue} onChange={(e) => setOnlyOverdue(e.currentTarget.checked)} /> {t('只看超时', 'Overdue only')}
          </label>
          <select aria-label={t('责任单位', 'Unit')} value={unitFilter} onChange={(e) => setUnitFilter(e.currentTarget.value)}>
            <option value="">{t('全部单位', 'All units')}</option>
            {unitIds.map((u) => (
              <option key={u} value={u}>
                {unitName(u)}
              </option>
            ))}
          </select>
        </div>
      }
    >
      {!checklist.connected && items.length === 0 && <p class="muted">{t('正在连接检查单…', 'Connecting to the checklist…')}</p>}
      <div class="checklist-scroll">
        {groups.map((g) => (
          <section key={g.phase} class="phase">
            <h3>{bi(PHASE_LABELS[g.phase])}</h3>
            {g.units.map(([unit, list]) => (
              <div key={unit} class="unit">
                <h4>{unitName(unit)}</h4>
                <table>
                  <tbody>
                    {list.map((item) => (
                      <ChecklistRow key={item.id} item={item} lateMinutes={isOverdue(item, now) ? Math.max(1, Math.floor((now - new Date(item.dueAt!).getTime()) / 60000)) : null} readOnly={props.readOnly || props.wall} display={props.wall} checklist={checklist} improvements={props.improvements?.get(item.id)} />
                    ))}
                  </tbody>
                </table>
              </div>
            ))}
          </section>
        ))}
      </div>
    </Panel>
  );
}

interface RowProps {
  item: ChecklistItem;
  /** Minutes past due, null when not overdue. */
  lateMinutes: number | null;
  readOnly: boolean;
  /** The wall screen: values as text, no controls. */
  display: boolean;
  checklist: ChecklistState;
  improvements?: ReviewImprovement[];
}

/** One item, editable in place; re-renders only when its own fields change (300 items, 50 edits/s). */
export class ChecklistRow extends Component<RowProps> {
  override shouldComponentUpdate(next: RowProps): boolean {
    const a = this.props.item;
    const b = next.item;
    // Items keep their identity until they change (see useChecklist).
    return a !== b || this.props.lateMinutes !== next.lateMinutes || this.props.readOnly !== next.readOnly || this.props.display !== next.display || this.props.improvements !== next.improvements;
  }
  override render() {
    const { item, lateMinutes, readOnly, checklist } = this.props;
    const overdue = lateMinutes !== null;
    return (
      <tr class={`item status-${item.status} ${overdue ? 'overdue' : ''} ${item.inLevel === false ? 'out-of-level' : ''}`} data-item={item.id}>
        <td class="text">
          {bi({ zh: item.text, en: item.textEn || item.text })}
          <div class="muted small">
            {t('时限', 'Due')} {formatTime(item.dueAt)}{' '}
            {overdue && <strong class="overdue-tag">{t(`已超时 ${lateMinutes} 分钟`, `OVERDUE by ${lateMinutes} min`)}</strong>}
            {item.inLevel === false && <span class="badge">{t('降级后不适用', 'not in current level')}</span>}
          </div>
          {this.props.improvements?.map((i) => (
            <div key={i.id} class="improvement-note small" data-testid="item-improvement">
              {t('整改', 'To fix')} ({i.dueDate}): {i.problem}
            </div>
          ))}
        </td>
        {this.props.display ? (
          <>
            <td class="status-text">{bi(STATUS_LABELS[item.status])}</td>
            <td>{item.assignee}</td>
            <td class="note">{item.note}</td>
          </>
        ) : (
          this.editors()
        )}
      </tr>
    );
  }

  private editors() {
    const { item, readOnly, checklist } = this.props;
    return (
      <>
        <td>
          <select aria-label={t('状态', 'Status')} name="status" value={item.status} disabled={readOnly} onChange={(e) => checklist.setStatus(item.id, e.currentTarget.value as ItemStatus)}>
            {ITEM_STATUSES.map((s) => (
              <option key={s} value={s}>
                {bi(STATUS_LABELS[s])}
              </option>
            ))}
          </select>
        </td>
        <td>
          <CommitInput label={t('负责人', 'Assignee')} name="assignee" value={item.assignee ?? ''} readOnly={readOnly} onCommit={(v) => checklist.setAssignee(item.id, v)} />
        </td>
        <td class="note">
          <CommitInput label={t('备注', 'Note')} name="note" value={item.note ?? ''} readOnly={readOnly} onCommit={(v) => checklist.setNote(item.id, v)} />
        </td>
      </>
    );
  }
}

/** A text input that shows remote changes until the user starts typing, and commits on Enter or blur. */
export function CommitInput(props: { label: string; name: string; value: string; readOnly: boolean; onCommit: (v: string) => void }) {
  const [draft, setDraft] = useState<string | null>(null);
  const commit = () => {
    if (draft !== null && draft !== props.value) props.onCommit(draft);
    setDraft(null);
  };
  return (
    <input
      aria-label={props.label}
      placeholder={props.label}
      name={props.name}
      value={draft ?? props.value}
      readOnly={props.readOnly}
      onInput={(e) => setDraft(e.currentTarget.value)}
      onBlur={commit}
      onKeyDown={(e) => {
        if (e.key === 'Enter') commit();
        if (e.key === 'Escape') setDraft(null);
      }}
    />
  );
}
