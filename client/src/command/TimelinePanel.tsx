import { useState } from 'preact/hooks';
import { bi, formatTime, t } from '../common/i18n.js';
import type { Bilingual } from '../../../shared/labels.js';
import { Panel } from '../common/ui.js';
import type { IncidentEvent } from '../../../shared/events.js';
import { describeEvent } from '../common/events.js';
import { ReportPhoto } from '../common/photo.js';

const FILTERS: { id: string; zh: string; en: string; match: (type: string) => boolean }[] = [
  { id: 'all', zh: '全部', en: 'All', match: () => true },
  { id: 'incident', zh: '指挥决策', en: 'Command', match: (x) => x.startsWith('incident.') },
  { id: 'checklist', zh: '检查单', en: 'Checklist', match: (x) => x.startsWith('checklist.') },
  { id: 'dispatch', zh: '调派', en: 'Dispatch', match: (x) => x.startsWith('dispatch.') },
  { id: 'material', zh: '物资', en: 'Materials', match: (x) => x.startsWith('allocation.') || x.startsWith('stock.') },
  { id: 'warning', zh: '预警', en: 'Warnings', match: (x) => x.startsWith('warning.') },
  { id: 'field', zh: '现场', en: 'Field', match: (x) => x.startsWith('field.') },
];

export interface TimelineUnits {
  /** The plan's responsible units, id → name. */
  names: Map<string, Bilingual>;
  /** Checklist item id → its unit. */
  items: Map<string, string>;
  /** Team id → the plan units it works for (organisation data). */
  teams: Map<string, string[]>;
}

/** Whether an event concerns a unit: a checklist item of that unit, or a team (dispatch, report) that works for it. */
export function eventInUnit(e: IncidentEvent, unit: string, units: TimelineUnits): boolean {
  const d = (e.data ?? {}) as Record<string, unknown>;
  if (typeof d.itemId === 'string' && units.items.get(d.itemId) === unit) return true;
  if (typeof d.teamId === 'string' && (units.teams.get(d.teamId) ?? []).includes(unit)) return true;
  if (typeof d.unit === 'string' && d.unit === unit) return true;
  return false;
}

/** The incident's event log, newest first, with filters by kind and by responsible unit. */
export function TimelinePanel(props: { events: IncidentEvent[]; units?: TimelineUnits }) {
  const [filter, setFilter] = useState('all');
  const [unit, setUnit] = useState('');
  const f = FILTERS.find((x) => x.id === filter) ?? FILTERS[0]!;
  const shown = props.events
    .filter((e) => f.match(e.type) && (unit === '' || !props.units || eventInUnit(e, unit, props.units)))
    .slice(-300)
    .reverse();
  return (
    <Panel
      title={t('时间线', 'Timeline')}
      id="timeline"
      extra={
        <div role="group" aria-label={t('筛选', 'Filter')} class="chips">
          {FILTERS.map((x) => (
            <button key={x.id} type="button" aria-pressed={filter === x.id} class={filter === x.id ? 'chip on' : 'chip'} onClick={() => setFilter(x.id)}>
              {t(x.zh, x.en)}
            </button>
          ))}
          {props.units && props.units.names.size > 0 && (
            <select aria-label={t('按单位筛选', 'Filter by unit')} data-testid="timeline-unit" value={unit} onChange={(e) => setUnit(e.currentTarget.value)}>
              <option value="">{t('全部单位', 'All units')}</option>
              {[...props.units.names].map(([id, name]) => (
                <option key={id} value={id}>
                  {bi(name)}
                </option>
              ))}
            </select>
          )}
        </div>
      }
    >
      <ol class="timeline" data-testid="timeline" tabIndex={0} aria-label={t('时间线', 'Timeline')}>
        {shown.map((e) => (
          <li key={e.seq} data-type={e.type}>
            <time>{formatTime(e.at)}</time> <span class="who">{e.actor ? (e.actor.displayName ?? e.actor.name) : t('系统', 'system')}</span> <span>{describeEvent(e)}</span>
            {e.type === 'field.report' && typeof (e.data as { photo?: { id?: unknown } }).photo?.id === 'string' && (
              <PhotoToggle incidentId={e.incidentId} photoId={(e.data as { photo: { id: string } }).photo.id} />
            )}
          </li>
        ))}
      </ol>
    </Panel>
  );
}

/** A report's photo on demand: the timeline stays one line per entry until someone asks. */
function PhotoToggle(props: { incidentId: string; photoId: string }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      {' '}
      <button type="button" class="chip" aria-expanded={open} data-testid="timeline-photo" onClick={() => setOpen(!open)}>
        {open ? t('收起照片', 'Hide photo') : t('查看照片', 'Show photo')}
      </button>
      {open && <ReportPhoto incidentId={props.incidentId} photoId={props.photoId} />}
    </>
  );
}
