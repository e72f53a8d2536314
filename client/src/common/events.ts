import type { IncidentEvent } from '../../../shared/events.js';
import { DISPATCH_STATUS_LABELS, type DispatchStatus } from '../../../shared/resources.js';
import { MATERIAL_ITEMS, type MaterialItemCode } from '../../../shared/catalogue.js';
import {
  ITEM_STATUS_LABELS,
  RESPONSE_LEVEL_LABELS,
  WARNING_CHANNEL_LABELS,
  WARNING_COLOUR_LABELS,
  type Bilingual,
  type ResponseLevel,
  type WarningChannel,
  type WarningColour,
} from '../../../shared/labels.js';
import { t } from './i18n.js';

type Data = Record<string, any>;
/** Both languages of one timeline sentence; the caller picks with `t`. */
type Sentence = { zh: string; en: string };

const text = (v: unknown) => (typeof v === 'string' ? v : v == null ? '' : String(v));
const label = (labels: Record<string, Bilingual>, code: unknown): Bilingual => labels[text(code)] ?? { zh: text(code), en: text(code) };
const level = (code: unknown) => label(RESPONSE_LEVEL_LABELS, code as ResponseLevel);

/** A team as people name it: 排涝一队, falling back to the id only for entries written before names were logged. */
const team = (d: Data): Bilingual => (d.teamName && typeof d.teamName === 'object' ? (d.teamName as Bilingual) : { zh: text(d.teamId), en: text(d.teamId) });

function material(d: Data): Bilingual {
  const item = MATERIAL_ITEMS[d.item as MaterialItemCode];
  const qty = text(d.quantity);
  if (!item) return { zh: `${text(d.item)} ${qty}${text(d.unit)}`, en: `${qty} ${text(d.unit)} ${text(d.item)}` };
  return { zh: `${item.name.zh} ${qty} ${item.unit.zh}`, en: `${qty} ${item.unit.en} of ${item.name.en.toLowerCase()}` };
}

const ALLOCATION_VERBS: Record<string, Sentence> = {
  'allocation.created': { zh: '调拨', en: 'Allocated' },
  'allocation.issued': { zh: '出库', en: 'Issued' },
  'allocation.delivered': { zh: '送达', en: 'Delivered' },
  'allocation.returned': { zh: '归还入库', en: 'Returned to stock' },
  'allocation.cancelled': { zh: '取消调拨', en: 'Cancelled allocation of' },
};

const WARNING_FIELD_NAMES: Record<string, Sentence> = {
  headline: { zh: '标题', en: 'headline' },
  text: { zh: '正文', en: 'text' },
  instruction: { zh: '防御指引', en: 'instructions' },
  area: { zh: '范围', en: 'area' },
  audience: { zh: '对象', en: 'audience' },
  channels: { zh: '渠道', en: 'channels' },
  colour: { zh: '级别', en: 'colour' },
  validHours: { zh: '有效期', en: 'validity' },
};

function deliverySummary(d: Data): Sentence {
  const channels = Array.isArray(d.channels) ? (d.channels as { channel: WarningChannel; delivered: number; total: number }[]) : [];
  const parts = channels.map((c) => ({ zh: `${WARNING_CHANNEL_LABELS[c.channel]?.zh ?? c.channel} ${c.delivered}/${c.total}`, en: `${WARNING_CHANNEL_LABELS[c.channel]?.en ?? c.channel} ${c.delivered}/${c.total}` }));
  const none = Array.isArray(d.noRecipients) ? (d.noRecipients as WarningChannel[]) : [];
  for (const c of none) parts.push({ zh: `${WARNING_CHANNEL_LABELS[c]?.zh ?? c} 无接收对象`, en: `${WARNING_CHANNEL_LABELS[c]?.en ?? c} no recipients` });
  return { zh: parts.map((p) => p.zh).join('，'), en: parts.map((p) => p.en).join(', ') };
}

/**
 * A drill inject as participants would see the real thing: a field report as that team's 现场情况,
 * a sensor reading as an alarm, a public call as a 12345/110 transfer, a phone message as an SMS.
 */
function injectSentence(d: Data): Sentence {
  const content = d.content && typeof d.content === 'object' ? (d.content as Bilingual) : { zh: '', en: '' };
  const from = (d.from && typeof d.from === 'object' ? d.from : {}) as Data;
  const name = from.name && typeof from.name === 'object' ? (from.name as Bilingual) : null;
  switch (d.form) {
    case 'field-report': {
      const who = from.teamName && typeof from.teamName === 'object' ? (from.teamName as Bilingual) : { zh: text(from.teamId) || '现场', en: text(from.teamId) || 'field' };
      return { zh: `现场情况（${who.zh}）：${content.zh}`, en: `Field report (${who.en}): ${content.en}` };
    }
    case 'sensor':
      return { zh: `监测报警（${name?.zh ?? '监测点'}）：${content.zh}`, en: `Sensor alarm (${name?.en ?? 'monitoring point'}): ${content.en}` };
    case 'public-call':
      return { zh: `${name?.zh ?? `${text(from.phone) || '12345/110'}`}转警：${content.zh}`, en: `${name?.en ?? `${text(from.phone) || '12345/110'} transfer`}: ${content.en}` };
    case 'phone-message':
      return { zh: `短信${name ? `（${name.zh}）` : ''}：${content.zh}`, en: `Text message${name ? ` (${name.en})` : ''}: ${content.en}` };
    default:
      return { zh: `${name?.zh ?? '指挥部消息'}：${content.zh}`, en: `${name?.en ?? 'Message'}: ${content.en}` };
  }
}

/** The sentence for one event-log entry, in both languages. Every type the server writes has one. */
export function eventSentence(e: Pick<IncidentEvent, 'type' | 'data'>): Sentence {
  const d = e.data as Data;
  switch (e.type) {
    case 'incident.activated': {
      const l = level(d.level);
      return d.mode === 'exercise'
        ? { zh: `启动${l.zh}（演练）`, en: `Activated ${l.en} (exercise)` }
        : { zh: `启动${l.zh}`, en: `Activated ${l.en}` };
    }
    case 'incident.level_changed': {
      const [from, to] = [level(d.from), level(d.to)];
      const up = d.direction === 'escalate';
      const reason = d.reason ? { zh: `：${text(d.reason)}`, en: `: ${text(d.reason)}` } : { zh: '', en: '' };
      return { zh: `响应${up ? '升级' : '降级'}：${from.zh} → ${to.zh}${reason.zh}`, en: `${up ? 'Escalated' : 'De-escalated'} from ${from.en} to ${to.en}${reason.en}` };
    }
    case 'incident.closed':
      return d.summary ? { zh: `响应终止：${text(d.summary)}`, en: `Response closed: ${text(d.summary)}` } : { zh: '响应终止', en: 'Response closed' };
    case 'checklist.item_status': {
      const [from, to] = [label(ITEM_STATUS_LABELS, d.from ?? 'todo'), label(ITEM_STATUS_LABELS, d.to)];
      const late = typeof d.minutesLate === 'number' && d.minutesLate > 0 && d.to === 'done' ? { zh: `（超时 ${Math.round(d.minutesLate)} 分钟）`, en: ` (${Math.round(d.minutesLate)} min late)` } : { zh: '', en: '' };
      return { zh: `检查单「${text(d.text)}」：${from.zh} → ${to.zh}${late.zh}`, en: `Checklist "${text(d.text)}": ${from.en} → ${to.en}${late.en}` };
    }
    case 'dispatch.created': {
      const tm = team(d);
      return { zh: `调派${tm.zh}：${text(d.task)}`, en: `Dispatched ${tm.en}: ${text(d.task)}` };
    }
    case 'dispatch.status_changed': {
      const [tm, to] = [team(d), label(DISPATCH_STATUS_LABELS, d.to as DispatchStatus)];
      const note = d.note ? { zh: `（${text(d.note)}）`, en: ` (${text(d.note)})` } : { zh: '', en: '' };
      return { zh: `${tm.zh}：${to.zh}${note.zh}`, en: `${tm.en}: ${to.en.toLowerCase()}${note.en}` };
    }
    case 'allocation.created':
    case 'allocation.issued':
    case 'allocation.delivered':
    case 'allocation.returned':
    case 'allocation.cancelled': {
      const [verb, m] = [ALLOCATION_VERBS[e.type]!, material(d)];
      return { zh: `${verb.zh} ${m.zh}`, en: `${verb.en} ${m.en}` };
    }
    case 'stock.alert': {
      const alerts = Array.isArray(d.alerts) ? (d.alerts as { message?: Bilingual }[]) : [];
      const first = alerts[0]?.message;
      const more = Number(d.count) > 1 ? { zh: ` 等 ${text(d.count)} 项`, en: ` and ${Number(d.count) - 1} more` } : { zh: '', en: '' };
      return { zh: `库存预警：${first?.zh ?? ''}${more.zh}`, en: `Stock alert: ${first?.en ?? ''}${more.en}` };
    }
    case 'warning.drafted': {
      const h = (d.headline as Bilingual | undefined) ?? { zh: '', en: '' };
      return { zh: `拟稿预警：${h.zh}`, en: `Warning drafted: ${h.en}` };
    }
    case 'warning.edited': {
      const changed = (Array.isArray(d.changed) ? (d.changed as string[]) : []).map((f) => WARNING_FIELD_NAMES[f] ?? { zh: f, en: f });
      return { zh: `修改预警草稿（${changed.map((c) => c.zh).join('、')}）`, en: `Warning draft edited (${changed.map((c) => c.en).join(', ')})` };
    }
    case 'warning.approved': {
      const c = label(WARNING_COLOUR_LABELS, d.colour as WarningColour);
      const queued = d.queued && typeof d.queued === 'object' ? Object.values(d.queued as Record<string, number>).reduce((a, n) => a + Number(n || 0), 0) : null;
      const kind = d.msgType === 'Cancel' ? { zh: '解除', en: 'Cancelled' } : d.msgType === 'Update' ? { zh: '更新', en: 'Updated' } : { zh: '签发', en: 'Approved' };
      const count = queued === null ? { zh: '', en: '' } : { zh: `，待发送 ${queued} 条`, en: `, ${queued} messages queued` };
      return { zh: `${kind.zh}${c.zh}${count.zh}`, en: `${kind.en} ${c.en.toLowerCase()} warning${count.en}` };
    }
    case 'warning.delivery_progress': {
      const pct = Math.round(Number(d.coveragePercent ?? 0));
      const s = deliverySummary(d);
      return d.final
        ? { zh: `预警发送完成，覆盖 ${pct}%（${s.zh}）`, en: `Warning delivery finished, ${pct}% reached (${s.en})` }
        : { zh: `预警发送中，已覆盖 ${pct}%（${s.zh}）`, en: `Warning delivering, ${pct}% reached (${s.en})` };
    }
    case 'checklist.overdue_escalated': {
      if (d.step === 'board') return { zh: `检查单超时未完成：${text(d.text)}，请指挥长督办`, en: `Checklist item still open past its grace period: ${text(d.text)} — commander, please follow up` };
      return { zh: `检查单到期提醒已发送 ${text(d.to)}：${text(d.text)}`, en: `Due-time reminder sent to ${text(d.to)}: ${text(d.text)}` };
    }
    case 'dispatch.ack_escalated': {
      const tm = (d.teamName as Bilingual | undefined) ?? { zh: text(d.teamId), en: text(d.teamId) };
      if (d.step === 'board') return { zh: `任务单未接令：${tm.zh} 仍未确认，请指挥长处置`, en: `Dispatch order not acknowledged: ${tm.en} has still not confirmed — commander, please act` };
      const who = d.step === 'leader' ? { zh: '队长', en: 'team leader' } : { zh: '副队长', en: 'deputy leader' };
      return { zh: `任务单未接令：已通知${tm.zh}${who.zh} ${text(d.to)}`, en: `Dispatch order not acknowledged: ${tm.en} ${who.en} ${text(d.to)} alerted` };
    }
    case 'warning.ack_received': {
      const via = d.via === 'sms' ? { zh: '短信回复', en: 'SMS reply' } : d.via === 'push' ? { zh: '推送确认', en: 'push' } : { zh: '确认链接', en: 'link' };
      return { zh: `叫应：${text(d.name)} 已确认收到预警（${via.zh}）`, en: `Acknowledged: ${text(d.name)} confirmed the warning (${via.en})` };
    }
    case 'warning.ack_escalated': {
      const step =
        d.step === 'resend' ? { zh: '未应答，已重发预警', en: 'no answer, warning sent again' }
        : d.step === 'call' ? { zh: '未应答，已语音呼叫', en: 'no answer, voice call placed' }
        : { zh: `未应答，已通知上级 ${text(d.to)}`, en: `no answer, superior ${text(d.to)} alerted` };
      return { zh: `叫应：${text(d.name)} ${step.zh}`, en: `Acknowledgement: ${text(d.name)} — ${step.en}` };
    }
    case 'field.report': {
      const who = d.teamId ? team(d) : { zh: '现场', en: 'field' };
      return { zh: `现场情况（${who.zh}）：${text(d.text)}`, en: `Field report (${who.en}): ${text(d.text)}` };
    }
    case 'drill.inject_released':
      return injectSentence(d);
    case 'drill.started':
      return { zh: `演练开始（脚本 ${text(d.scenarioId)}）`, en: `Drill started (scenario ${text(d.scenarioId)})` };
    case 'drill.paused':
      return { zh: '演练暂停', en: 'Drill paused' };
    case 'drill.resumed':
      return { zh: '演练继续', en: 'Drill resumed' };
    case 'drill.ended':
      return { zh: '演练结束', en: 'Drill ended' };
    case 'drill.observation':
      return { zh: `评估记录：${text(d.text)}`, en: `Evaluator note: ${text(d.text)}` };
    default:
      // A type this client does not know yet (a newer server): say so plainly, never dump JSON.
      return { zh: `其他记录（${e.type}）`, en: `Other entry (${e.type})` };
  }
}

/** One line of the timeline for an event-log entry, in the current language. */
export function describeEvent(e: IncidentEvent): string {
  const s = eventSentence(e);
  return t(s.zh, s.en);
}
