import type { IncidentEvent } from '../../../shared/events.js';
import type { Bilingual } from '../../../shared/labels.js';
import { eventSentence } from '../common/events.js';

/** Something the duty officer must notice and acknowledge. */
export interface BoardAlert {
  /** Stable across reloads, so an acknowledged alert stays acknowledged. */
  key: string;
  kind: 'report' | 'overdue' | 'stock' | 'delivery-failed' | 'inject' | 'unacknowledged';
  text: Bilingual;
  at: string;
}

const failedOf = (e: IncidentEvent) =>
  (Array.isArray(e.data.channels) ? (e.data.channels as { failed?: number; blocked?: number }[]) : []).reduce((n, c) => n + (c.failed ?? 0), 0);

/**
 * The alerts a new log entry raises: a situation report, a stock alert, a warning whose failed
 * deliveries grew since its previous progress entry, a drill inject.
 */
export function alertsForEvent(e: IncidentEvent, previousFailed: Map<string, number>): BoardAlert[] {
  const text = eventSentence(e);
  switch (e.type) {
    case 'field.report':
      return [{ key: `event:${e.seq}`, kind: 'report', text, at: e.at }];
    case 'stock.alert':
      return [{ key: `event:${e.seq}`, kind: 'stock', text, at: e.at }];
    case 'drill.inject_released':
      return [{ key: `event:${e.seq}`, kind: 'inject', text, at: e.at }];
    case 'checklist.overdue_escalated':
      return e.data.step === 'board' ? [{ key: `overdue-board:${String(e.data.itemId)}`, kind: 'overdue', text, at: e.at }] : [];
    case 'dispatch.ack_escalated':
      return e.data.step === 'board' ? [{ key: `event:${e.seq}`, kind: 'unacknowledged', text, at: e.at }] : [];
    case 'warning.ack_escalated':
      // 叫应: resend and call are routine; a superior alerted is something the commander must see.
      return e.data.step === 'escalate' ? [{ key: `event:${e.seq}`, kind: 'unacknowledged', text, at: e.at }] : [];
    case 'warning.delivery_progress': {
      const warningId = String(e.data.warningId);
      const failed = failedOf(e);
      const before = previousFailed.get(warningId) ?? 0;
      previousFailed.set(warningId, failed);
      if (failed <= before) return [];
      return [{ key: `failed:${warningId}:${failed}`, kind: 'delivery-failed', text: { zh: `预警投递失败 ${failed} 条：${text.zh}`, en: `${failed} warning deliveries failed: ${text.en}` }, at: e.at }];
    }
    default:
      return [];
  }
}

export function overdueAlert(item: { id: string; text: string; dueAt: string }, now: number): BoardAlert {
  const late = Math.max(1, Math.round((now - new Date(item.dueAt).getTime()) / 60000));
  return { key: `overdue:${item.id}`, kind: 'overdue', text: { zh: `检查单超时 ${late} 分钟：${item.text}`, en: `Checklist item ${late} min overdue: ${item.text}` }, at: new Date(now).toISOString() };
}
