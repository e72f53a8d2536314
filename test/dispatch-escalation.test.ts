import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';
import { FakeTwilio } from './fakes/twilio-api.js';
import { waitFor } from './helpers/wait.js';
import { alertsForEvent } from '../client/src/command/alerts.js';

let t: TestServer;
const twilioFake = new FakeTwilio();

beforeAll(async () => {
  await twilioFake.start();
  t = await startTestServer({
    TWILIO_ACCOUNT_SID: twilioFake.accountSid,
    TWILIO_AUTH_TOKEN: twilioFake.authToken,
    TWILIO_FROM: '+15005550006',
    TWILIO_API_BASE_URL: twilioFake.url,
    // Configured in minutes; the test uses seconds: leader after 3 s, deputy 2 s later, board 2 s after that.
    DISPATCH_ACK_MINUTES: '0.05',
    DISPATCH_DEPUTY_AFTER_MINUTES: '0.033',
    DISPATCH_BOARD_AFTER_MINUTES: '0.033',
    // A minute: the dispatch wakes the scheduler and each step is taken when due, not at a poll.
    ACK_POLL_MS: '60000',
  });
});

afterAll(async () => {
  await t?.close();
  await twilioFake.stop();
});

async function team(id: string) {
  const { rows } = await t.server.context.db.pool.query('SELECT leader_name, leader_phone, deputy_name, deputy_phone FROM teams WHERE id = $1', [id]);
  return rows[0] as { leader_name: string; leader_phone: string; deputy_name: string; deputy_phone: string };
}

describe('叫应 of dispatch orders', () => {
  it('teams have a leader and a deputy from the organisation data, exported and imported with the teams CSV', async () => {
    const csv = (await t.admin.get('/api/csv/teams')).body as string;
    const header = csv.replace(/^\ufeff/, '').split('\n')[0]!;
    expect(header.endsWith(',leader_name,leader_phone,deputy_name,deputy_phone,plan_units')).toBe(true);
    const d01 = await team('T-D01');
    expect(d01.leader_phone).toMatch(/^\+86138\d{8}$/);
    expect(d01.deputy_phone).not.toBe(d01.leader_phone);
    const row = (leader: string) => `${header}\nT-L01,新队,New team,district,professional,flood-rescue,20,41.8,123.3,地址,张三,13800000000,赵队长,${leader},,,`;
    const bad = await t.admin.post('/api/csv/teams', { csv: row('024-1234') });
    expect(bad.status).toBe(422);
    expect(bad.body.error.details.line).toBe(2);
    expect((await t.admin.post('/api/csv/teams', { csv: row('+8613800009999') })).status).toBe(200);
    expect(await team('T-L01')).toEqual({ leader_name: '赵队长', leader_phone: '+8613800009999', deputy_name: null, deputy_phone: null });
  }, 120_000);

  it('an order nobody acknowledges: team leader, then deputy by SMS, then an alert for the commander — in order, at the configured times; an acknowledged order stops its chase', async () => {
    const inc = (await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' })).body.incident;
    const before = Date.now();
    const silent = await t.admin.post(`/api/incidents/${inc.id}/dispatches`, { teamId: 'T-D05', task: '赶赴建设大路下穿桥排涝' });
    expect(silent.status, JSON.stringify(silent.body)).toBe(201);
    const answered = await t.admin.post(`/api/incidents/${inc.id}/dispatches`, { teamId: 'T-D06' });
    expect(answered.status).toBe(201);
    const field = await t.user('field', { teamId: 'T-D06' });
    expect((await field.post(`/api/dispatches/${answered.body.dispatch.id}/status`, { status: 'acknowledged' })).status).toBe(200);

    const events = await waitFor(async () => {
      const ev = (await t.admin.get(`/api/incidents/${inc.id}/events?type=dispatch.ack_escalated`)).body.events;
      return ev.length >= 3 ? ev : null;
    }, 'three escalation steps', 30_000);
    expect(events.map((e: any) => [e.data.dispatchId, e.data.step])).toEqual([
      [silent.body.dispatch.id, 'leader'],
      [silent.body.dispatch.id, 'deputy'],
      [silent.body.dispatch.id, 'board'],
    ]);
    const at = events.map((e: any) => Date.parse(e.at));
    expect(at[0]).toBeGreaterThanOrEqual(before + 3000 - 50);
    expect(at[1]).toBeGreaterThanOrEqual(before + 5000 - 50);
    expect(at[2]).toBeGreaterThanOrEqual(before + 7000 - 50);
    const d05 = await team('T-D05');
    const toLeader = twilioFake.messages.filter((m) => m.to === d05.leader_phone);
    const toDeputy = twilioFake.messages.filter((m) => m.to === d05.deputy_phone);
    expect(toLeader).toHaveLength(1);
    expect(toDeputy).toHaveLength(1);
    expect(toLeader[0]!.body).toContain('【任务单未接令】');
    expect(toLeader[0]!.body).toContain('赶赴建设大路下穿桥排涝');
    expect(events[0].data.to).toBe(d05.leader_name);
    // The board raises the commander's alert from the last one only.
    const alerts = events.flatMap((e: any) => alertsForEvent(e, new Map()));
    expect(alerts.map((a: { kind: string }) => a.kind)).toEqual(['unacknowledged']);
    expect(alerts[0]!.text.zh).toContain('仍未确认');
    // The acknowledged order's chase was withdrawn: nobody of T-D06 was alerted.
    const d06 = await team('T-D06');
    expect(twilioFake.messages.filter((m) => m.to === d06.leader_phone || m.to === d06.deputy_phone)).toHaveLength(0);
    const { rows } = await t.server.context.db.pool.query(`SELECT status FROM escalation_steps WHERE subject = 'dispatch' AND subject_id = $1`, [answered.body.dispatch.id]);
    expect(rows.map((r: any) => r.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    expect((await t.admin.get(`/api/incidents/${inc.id}/events/verify`)).body.ok).toBe(true);
  }, 120_000);

  it('in an exercise the chase reaches only drill targets: the real leader and deputy are never texted, the board still shows it', async () => {
    const inc = (await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'exercise' })).body.incident;
    const order = await t.admin.post(`/api/incidents/${inc.id}/dispatches`, { teamId: 'T-D07' });
    expect(order.status, JSON.stringify(order.body)).toBe(201);
    const steps = await waitFor(async () => {
      const { rows } = await t.server.context.db.pool.query(`SELECT step, status FROM escalation_steps WHERE subject = 'dispatch' AND subject_id = $1 ORDER BY due_at`, [order.body.dispatch.id]);
      return rows.every((r: any) => r.status !== 'queued' && r.status !== 'sending') ? rows : null;
    }, 'exercise steps settled', 30_000);
    expect(steps.map((r: any) => [r.step, r.status])).toEqual([['leader', 'blocked'], ['deputy', 'blocked'], ['board', 'done']]);
    const d07 = await team('T-D07');
    expect(twilioFake.messages.filter((m) => m.to === d07.leader_phone || m.to === d07.deputy_phone)).toHaveLength(0);
    const events = (await t.admin.get(`/api/incidents/${inc.id}/events?type=dispatch.ack_escalated`)).body.events;
    expect(events.map((e: any) => e.data.step)).toEqual(['board']);
  }, 120_000);
});
