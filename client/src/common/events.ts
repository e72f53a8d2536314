import type { IncidentEvent } from '../../../shared/events.js';
import { DISPATCH_STATUS_LABELS, type DispatchStatus } from '../../../shared/resources.js';
import { RESPONSE_LEVEL_LABELS, WARNING_COLOUR_LABELS, type Bilingual, type ResponseLevel, type WarningColour } from '../../../shared/labels.js';
import { bi, t } from './i18n.js';

const str = (v: unknown) => (typeof v === 'string' ? v : v == null ? '' : JSON.stringify(v));

/** One line of the timeline for an event-log entry. */
export function describeEvent(e: IncidentEvent): string {
  const d = e.data as Record<string, any>;
  switch (e.type) {
    case 'incident.activated':
      return t(`启动响应：${bi(RESPONSE_LEVEL_LABELS[d.level as ResponseLevel])}（${d.mode === 'exercise' ? '演练' : '实战'}）`, `Activated at ${bi(RESPONSE_LEVEL_LABELS[d.level as ResponseLevel])} (${d.mode})`);
    case 'incident.level_changed':
      return t(`级别调整 ${d.from} → ${d.to}${d.reason ? '：' + d.reason : ''}`, `Level ${d.from} → ${d.to}${d.reason ? ': ' + d.reason : ''}`);
    case 'incident.closed':
      return t(`响应终止${d.summary ? '：' + d.summary : ''}`, `Closed${d.summary ? ': ' + d.summary : ''}`);
    case 'checklist.item_status':
      return t(`检查单「${d.text}」 ${str(d.from)} → ${d.to}`, `Checklist "${d.text}" ${str(d.from)} → ${d.to}`);
    case 'dispatch.created':
      return t(`调派 ${d.teamId} ${bi(d.teamName as Bilingual)}：${str(d.task)}`, `Dispatched ${d.teamId} ${bi(d.teamName as Bilingual)}: ${str(d.task)}`);
    case 'dispatch.status_changed':
      return `${d.teamId} ${bi(DISPATCH_STATUS_LABELS[d.from as DispatchStatus])} → ${bi(DISPATCH_STATUS_LABELS[d.to as DispatchStatus])}${d.note ? ' · ' + d.note : ''}`;
    case 'allocation.created':
    case 'allocation.issued':
    case 'allocation.delivered':
    case 'allocation.returned':
    case 'allocation.cancelled':
      return `${t('物资', 'Materials')} ${e.type.split('.')[1]} ${str(d.item)} ${str(d.quantity ?? '')}`;
    case 'warning.drafted':
      return t(`预警草稿：${bi(d.headline as Bilingual)}`, `Warning drafted: ${bi(d.headline as Bilingual)}`);
    case 'warning.approved':
      return t(`预警已签发 ${bi(WARNING_COLOUR_LABELS[d.colour as WarningColour])}`, `Warning approved ${bi(WARNING_COLOUR_LABELS[d.colour as WarningColour])}`);
    case 'warning.delivery_progress':
      return t(`预警送达 ${Math.round(d.coveragePercent ?? 0)}%`, `Warning delivery ${Math.round(d.coveragePercent ?? 0)}%`);
    case 'field.report':
      return t(`现场情况：${d.text}`, `Field report: ${d.text}`);
    default:
      return `${e.type} ${JSON.stringify(d).slice(0, 120)}`;
  }
}
