import { useState } from 'preact/hooks';
import { formatTime, t } from '../common/i18n.js';
import { Panel } from '../common/ui.js';
import type { IncidentEvent } from '../../../shared/events.js';
import { describeEvent } from '../common/events.js';

const FILTERS: { id: string; zh: string; en: string; match: (type: string) => boolean }[] = [
  { id: 'all', zh: '全部', en: 'All', match: () => true },
  { id: 'incident', zh: '指挥决策', en: 'Command', match: (x) => x.startsWith('incident.') },
  { id: 'checklist', zh: '检查单', en: 'Checklist', match: (x) => x.startsWith('checklist.') },
  { id: 'dispatch', zh: '调派', en: 'Dispatch', match: (x) => x.startsWith('dispatch.') },
  { id: 'material', zh: '物资', en: 'Materials', match: (x) => x.startsWith('allocation.') || x.startsWith('stock.') },
  { id: 'warning', zh: '预警', en: 'Warnings', match: (x) => x.startsWith('warning.') },
  { id: 'field', zh: '现场', en: 'Field', match: (x) => x.startsWith('field.') },
];

/** The incident's event log, newest first, with type filters. */
export function TimelinePanel(props: { events: IncidentEvent[] }) {
  const [filter, setFilter] = useState('all');
  const f = FILTERS.find((x) => x.id === filter) ?? FILTERS[0]!;
  const shown = props.events.filter((e) => f.match(e.type)).slice(-300).reverse();
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
        </div>
      }
    >
      <ol class="timeline" data-testid="timeline" tabIndex={0} aria-label={t('时间线', 'Timeline')}>
        {shown.map((e) => (
          <li key={e.seq} data-type={e.type}>
            <time>{formatTime(e.at)}</time> <span class="who">{e.actor ? (e.actor.displayName ?? e.actor.name) : t('系统', 'system')}</span> <span>{describeEvent(e)}</span>
          </li>
        ))}
      </ol>
    </Panel>
  );
}
