import { describe, expect, it } from 'vitest';
import { alertsForEvent, overdueAlert } from '../client/src/command/alerts.js';
import type { IncidentEvent } from '../shared/events.js';

const event = (seq: number, type: string, data: Record<string, unknown>): IncidentEvent => ({ incidentId: 'i', seq, type, at: '2026-12-01T10:00:00Z', actor: null, data, prevHash: '', hash: '' });

describe('board alerts', () => {
  it('a report, a stock alert and an inject each raise one alert; routine entries raise none', () => {
    const failed = new Map<string, number>();
    expect(alertsForEvent(event(1, 'field.report', { text: '积水', teamId: 'T-D07', teamName: { zh: '排涝一队', en: 'Drainage 1' } }), failed)).toEqual([
      { key: 'event:1', kind: 'report', text: { zh: '现场情况（排涝一队）：积水', en: 'Field report (Drainage 1): 积水' }, at: '2026-12-01T10:00:00Z' },
    ]);
    expect(alertsForEvent(event(2, 'stock.alert', { count: 1, alerts: [] }), failed).map((a) => a.kind)).toEqual(['stock']);
    expect(alertsForEvent(event(3, 'drill.inject_released', {}), failed).map((a) => a.kind)).toEqual(['inject']);
    for (const type of ['incident.level_changed', 'dispatch.created', 'checklist.item_status', 'warning.approved']) expect(alertsForEvent(event(4, type, {}), failed)).toEqual([]);
  });

  it('failed deliveries alert only when their number grows', () => {
    const failed = new Map<string, number>();
    const progress = (seq: number, n: number) => event(seq, 'warning.delivery_progress', { warningId: 'w', coveragePercent: 50, channels: [{ channel: 'sms', delivered: 1, total: 4, failed: n }] });
    expect(alertsForEvent(progress(1, 0), failed)).toEqual([]);
    expect(alertsForEvent(progress(2, 2), failed).map((a) => a.key)).toEqual(['failed:w:2']);
    expect(alertsForEvent(progress(3, 2), failed)).toEqual([]);
    expect(alertsForEvent(progress(4, 3), failed).map((a) => a.text.zh)).toEqual([expect.stringMatching(/^预警投递失败 3 条/)]);
  });

  it("叫应: a superior alerted raises an alert for the commander; a resend or a call does not", () => {
    const failed = new Map<string, number>();
    const step = (seq: number, s: string) => event(seq, 'warning.ack_escalated', { warningId: 'w', recipientId: 'r', name: '网格员7', step: s, to: s === 'escalate' ? '社区主任' : '网格员7' });
    expect(alertsForEvent(step(1, 'resend'), failed)).toEqual([]);
    expect(alertsForEvent(step(2, 'call'), failed)).toEqual([]);
    expect(alertsForEvent(step(3, 'escalate'), failed)).toEqual([
      { key: 'event:3', kind: 'unacknowledged', text: { zh: '叫应：网格员7 未应答，已通知上级 社区主任', en: 'Acknowledgement: 网格员7 — no answer, superior 社区主任 alerted' }, at: '2026-12-01T10:00:00Z' },
    ]);
  });

  it('an overdue item says how late it is, under a key that survives reloads', () => {
    const a = overdueAlert({ id: 'wl-ii-close', text: '封闭下穿桥', dueAt: '2026-12-01T10:00:00Z' }, Date.parse('2026-12-01T10:17:20Z'));
    expect(a).toMatchObject({ key: 'overdue:wl-ii-close', kind: 'overdue', text: { zh: '检查单超时 17 分钟：封闭下穿桥' } });
  });
});
