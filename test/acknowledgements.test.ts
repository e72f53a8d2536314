import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, tempDir, type TestServer } from './helpers/server.js';
import { FakeTwilio } from './fakes/twilio-api.js';
import { FakePushService } from './fakes/push-service.js';
import { waitFor } from './helpers/wait.js';

let t: TestServer;
const twilioFake = new FakeTwilio();
const push = new FakePushService();
let staff: Awaited<ReturnType<TestServer['user']>>;

const N = 50;
const phone = (i: number) => `+86137${String(i).padStart(8, '0')}`;
const superior = (i: number) => `+86139${String(Math.floor(i / 10)).padStart(8, '0')}`;
// Configured intervals (tests use seconds): answer within 15 s (room for a loaded machine), call 3 s later, superior 3 s after that.
const ACK = { withinMinutes: 0.25, callAfterMinutes: 0.05, escalateAfterMinutes: 0.05 };
const AT = { resend: 15_000, call: 18_000, escalate: 21_000 };

beforeAll(async () => {
  await Promise.all([twilioFake.start(), push.start()]);
  const caFile = path.join(await tempDir('yingji-ca-'), 'push-ca.pem');
  await writeFile(caFile, push.cert);
  t = await startTestServer({
    TWILIO_ACCOUNT_SID: twilioFake.accountSid,
    TWILIO_AUTH_TOKEN: twilioFake.authToken,
    TWILIO_FROM: '+15005550006',
    TWILIO_API_BASE_URL: twilioFake.url,
    WEB_PUSH_CA_FILE: caFile,
    PUSH_ENDPOINT_ALLOWLIST: push.allowlistEntry,
    WARNING_POLL_MS: '50',
    WARNING_RETRY_BASE_MS: '50',
    WARNING_RATE_SMS: '1000',
    // A minute: the approval wakes the scheduler and each step is taken when due, not at a poll.
    ACK_POLL_MS: '60000',
  });
  push.vapidPublicKey = (await t.admin.get('/api/push/vapid-public-key')).body.publicKey;
  staff = await t.user('staff');
});

afterAll(async () => {
  await t?.close();
  await Promise.all([twilioFake.stop(), push.stop()]);
});

async function importPeople(list: string, rows: string[], drill = false) {
  const csv = ['name,phone,kind,role,team,lat,lon,drill,responsible,escalation_name,escalation_phone,account', ...rows].join('\n');
  const res = await t.admin.post('/api/recipients/import', { list, csv, drill });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.imported as number;
}

async function draftAndApprove(mode: 'actual' | 'exercise', roles: string[], channels: string[], ack = ACK) {
  const inc = await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode });
  expect(inc.status).toBe(201);
  const incidentId = inc.body.incident.id as string;
  const draft = await staff.post(`/api/incidents/${incidentId}/warnings`, {
    template: 'wl-iii-yellow',
    audience: { description: { zh: '各社区网格员及责任人', en: 'Grid workers and responsible officials' }, roles },
    channels,
    acknowledgement: ack,
  });
  expect(draft.status, JSON.stringify(draft.body)).toBe(201);
  const approved = await t.admin.post(`/api/warnings/${draft.body.warning.id}/approve`);
  expect(approved.status, JSON.stringify(approved.body)).toBe(200);
  return { incidentId, id: draft.body.warning.id as string, approvedAt: Date.parse(approved.body.warning.approvedAt) };
}

describe('recipients: responsible persons and their superiors', () => {
  it('import and export round-trip through CSV; a bad escalation number fails the whole import', async () => {
    const rows = ['王网格,+8613600000001,responder,grid,,,,,true,李主任,+8613600000009,', '=cmd(),+8613600000002,responder,grid,,,,,false,,,'];
    expect(await importPeople('csv-roundtrip', rows)).toBe(2);
    const exported = await t.admin.get('/api/recipients/export?list=csv-roundtrip');
    expect(exported.status).toBe(200);
    expect(exported.headers.get('content-type')).toContain('text/csv');
    const lines = (exported.body as string).trim().split('\n');
    expect(lines[0]).toBe('name,phone,kind,role,team,lat,lon,drill,responsible,escalation_name,escalation_phone,account');
    expect(lines[1]).toBe('王网格,+8613600000001,responder,grid,,,,false,true,李主任,+8613600000009,');
    expect(lines[2]!.startsWith("'=cmd()")).toBe(true); // formula neutralised
    const bad = await t.admin.post('/api/recipients/import', { list: 'csv-bad', csv: 'name,phone,responsible,escalation_name,escalation_phone\n甲,+8613600000003,true,乙,0123' });
    expect(bad.status).toBe(422);
    expect(bad.body.error.code).toBe('invalid_csv');
    expect(bad.body.error.details.line).toBe(2);
    const count = await t.server.context.db.pool.query(`SELECT count(*)::int AS n FROM warning_recipients WHERE list = 'csv-bad'`);
    expect(count.rows[0].n).toBe(0);
    expect((await t.admin.get('/api/recipients/export?list=')).status).toBe(400);
  }, 120_000);
});

describe('叫应: a warning that must be acknowledged by 50 responsible persons', () => {
  let w: { incidentId: string; id: string; approvedAt: number };
  const accounts: Awaited<ReturnType<TestServer['user']>>[] = [];
  let feed: Socket;
  const live: any[] = [];

  it('approval asks 50 people; each SMS says how to answer and carries a personal link, push carries the acknowledge action', async () => {
    // 10 of them (40–49) have their own account, whose phone subscribed to push.
    for (let i = 40; i < N; i++) {
      const u = await t.user('field', { teamId: 'T-D01', username: `grid${i}_${process.pid}` });
      const sub = push.subscribe();
      const r = await u.post('/api/push/subscriptions', { endpoint: sub.endpoint, keys: sub.keys });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      accounts.push(u);
    }
    const rows = Array.from({ length: N }, (_, i) => `网格员${i},${phone(i)},responder,field,,,,,true,社区主任${Math.floor(i / 10)},${superior(i)},${i >= 40 ? accounts[i - 40]!.username : ''}`);
    expect(await importPeople('grid', rows)).toBe(N);

    w = await draftAndApprove('actual', ['field'], ['sms', 'push']);
    feed = io(t.url, { auth: { token: t.admin.token }, transports: ['websocket'], reconnection: false });
    feed.on('incident:event', (e: any) => live.push(e));
    await new Promise<void>((resolve, reject) => {
      feed.once('connect', () => resolve());
      feed.once('connect_error', reject);
    });
    await feed.timeout(20_000).emitWithAck('incident:join', { incidentId: w.incidentId });

    const view = (await t.admin.get(`/api/warnings/${w.id}`)).body.warning;
    expect(view.acks).toMatchObject({ required: N, acknowledged: 0, ratePercent: 0 });
    expect(view.acks.pending).toHaveLength(N);
    const sms = await waitFor(() => {
      const mine = twilioFake.messages.filter((m) => m.to.startsWith('+86137') && !m.body.startsWith('【叫应·重发】'));
      return mine.length >= N ? mine : null;
    }, '50 SMS at Twilio');
    const tokens = new Set<string>();
    for (const m of sms) {
      expect(m.body).toContain('回复1确认');
      const link = /\/a\/([A-Za-z0-9_-]{43})/.exec(m.body);
      expect(link, m.body).not.toBeNull();
      tokens.add(link![1]!);
    }
    expect(tokens.size).toBe(N);
    expect(new Set(sms.map((m) => m.to)).size).toBe(N);
    const pushed = await waitFor(() => {
      const p = push.received.filter((x) => x.payload.warningId === w.id);
      return p.length >= 10 ? p : null;
    }, '10 pushes');
    for (const p of pushed) {
      expect(p.payload.actions).toEqual([{ action: 'ack', title: '收到 / Acknowledge' }]);
      expect(p.payload.ack.url).toMatch(/\/public\/ack\/[A-Za-z0-9_-]{43}$/);
    }
  }, 120_000);

  it("40 answer — 30 by signed SMS reply, 10 by the push action — a forged reply is refused and changes nothing; the board's 叫应率 is 80 %", async () => {
    const inbound = `${t.url}/webhooks/twilio/inbound`;
    const forged = await twilioFake.inbound(inbound, phone(45), '1', { forge: true });
    expect(forged.status).toBe(403);
    expect(JSON.parse(forged.text).error.code).toBe('invalid_signature');
    const unrelated = await twilioFake.inbound(inbound, phone(46), '今天几点开会？');
    expect(unrelated.status).toBe(200);
    expect(unrelated.text).not.toContain('<Message>');
    for (let i = 0; i < 30; i++) {
      const r = await twilioFake.inbound(inbound, phone(i), i % 3 === 0 ? ' 1 ' : i % 3 === 1 ? '确认' : '１');
      expect(r.status).toBe(200);
      expect(r.text).toContain('<Message>已确认收到');
    }
    const pushed = push.received.filter((x) => x.payload.warningId === w.id);
    for (const p of pushed) {
      const r = await t.api.post(new URL(p.payload.ack.url).pathname, p.payload.ack.body);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body).toMatchObject({ acknowledged: true, already: false, warningId: w.id });
    }
    // Answering twice changes nothing.
    const again = await t.api.post(new URL(pushed[0]!.payload.ack.url).pathname, { via: 'push' });
    expect(again.body.already).toBe(true);

    const view = (await t.admin.get(`/api/warnings/${w.id}`)).body.warning;
    expect(view.acks).toMatchObject({ required: N, acknowledged: 40, ratePercent: 80 });
    expect(view.acks.pending.map((p: any) => p.name).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `网格员${30 + i}`).sort());

    const events = (await t.admin.get(`/api/incidents/${w.incidentId}/events?type=warning.ack_received`)).body.events;
    expect(events).toHaveLength(40);
    expect(events.filter((e: any) => e.data.via === 'sms')).toHaveLength(30);
    expect(events.filter((e: any) => e.data.via === 'push')).toHaveLength(10);
    expect(events[0].data).toEqual({ warningId: w.id, recipientId: expect.any(String), name: expect.stringMatching(/^网格员/), via: 'sms', at: expect.any(String) });
    // Live: the same entries reached the board's Socket.IO feed.
    await waitFor(() => live.filter((e) => e.type === 'warning.ack_received').length === 40, 'live ack events');
  }, 120_000);

  it('the 10 who did not answer are sent it again, then called (TwiML <Say> of the headline), then their superiors are alerted — in that order, at the configured times', async () => {
    const silent = Array.from({ length: 10 }, (_, i) => 30 + i);
    const steps = await waitFor(async () => {
      const r = (await t.admin.get(`/api/warnings/${w.id}/acknowledgements`)).body;
      return r.steps.filter((s: any) => s.status === 'done').length === 30 ? r : null;
    }, 'all 30 escalation steps', 60_000);
    expect(steps.steps.filter((s: any) => s.status === 'cancelled')).toHaveLength(40 * 3);
    for (const i of silent) {
      const resend = twilioFake.messages.filter((m) => m.to === phone(i));
      expect(resend).toHaveLength(2);
      expect(resend[1]!.body.startsWith('【叫应·重发】')).toBe(true);
      const calls = twilioFake.calls.filter((c) => c.to === phone(i));
      expect(calls).toHaveLength(1);
      expect(calls[0]!.twiml).toContain('<Say language="zh-CN">铁西区防指发布城市内涝黄色预警');
    }
    for (let i = 0; i < 30; i++) expect(twilioFake.messages.filter((m) => m.to === phone(i))).toHaveLength(1);
    expect(twilioFake.calls.filter((c) => !silent.map(phone).includes(c.to))).toHaveLength(0);
    // Superiors 3 (网格员30–39): one alert per silent person, naming them.
    const toSuperior = twilioFake.messages.filter((m) => m.to === superior(30));
    expect(toSuperior).toHaveLength(10);
    expect(toSuperior.every((m) => m.body.includes('【叫应未应答】'))).toBe(true);
    expect(twilioFake.messages.filter((m) => m.to === superior(0) || m.to === superior(10))).toHaveLength(0);

    const events = (await t.admin.get(`/api/incidents/${w.incidentId}/events?type=warning.ack_escalated`)).body.events;
    expect(events).toHaveLength(30);
    for (const i of silent) {
      const mine = events.filter((e: any) => e.data.name === `网格员${i}`);
      expect(mine.map((e: any) => e.data.step)).toEqual(['resend', 'call', 'escalate']);
      const at = mine.map((e: any) => Date.parse(e.createdAt ?? e.at));
      // Each step no earlier than configured after approval.
      expect(at[0]).toBeGreaterThanOrEqual(w.approvedAt + AT.resend - 50);
      expect(at[1]).toBeGreaterThanOrEqual(w.approvedAt + AT.call - 50);
      expect(at[2]).toBeGreaterThanOrEqual(w.approvedAt + AT.escalate - 50);
    }
    const view = (await t.admin.get(`/api/warnings/${w.id}`)).body.warning;
    expect(view.acks.pending.every((p: any) => p.steps.join(',') === 'resend,call,escalate')).toBe(true);
    expect((await t.admin.get(`/api/incidents/${w.incidentId}/events/verify`)).body.ok).toBe(true);
    feed.close();
  }, 120_000);

  it('the one-tap link: GET only shows the question, POST answers; unknown tokens are 404; the review gets time to acknowledge per person', async () => {
    const token = /\/a\/([A-Za-z0-9_-]{43})/.exec(twilioFake.messages.find((m) => m.to === phone(35))!.body)![1]!;
    const pageRes = await fetch(`${t.url}/a/${token}`);
    expect(pageRes.status).toBe(200);
    const html = await pageRes.text();
    expect(html).toContain('<form method="post"');
    expect((await t.admin.get(`/api/warnings/${w.id}`)).body.warning.acks.acknowledged).toBe(40);
    const form = await fetch(`${t.url}/public/ack/${token}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'via=link' });
    expect(form.status).toBe(200);
    expect(await form.text()).toContain('已确认收到');
    expect((await t.api.post(`/public/ack/${'x'.repeat(43)}`, {})).status).toBe(404);
    expect((await t.api.post('/public/ack/short', {})).status).toBe(404);
    const detail = (await t.admin.get(`/api/warnings/${w.id}/acknowledgements`)).body;
    expect(detail.summary).toMatchObject({ required: N, acknowledged: 41 });
    const p35 = detail.people.find((p: any) => p.name === '网格员35');
    expect(p35).toMatchObject({ via: 'link', ackMs: expect.any(Number) });
    expect(p35.ackMs).toBeGreaterThan(AT.escalate - 100);
    expect((await accounts[0]!.get(`/api/warnings/${w.id}/acknowledgements`)).status).toBe(403);
  }, 120_000);
});

describe('叫应 with an automated responder', () => {
  it('approval → 95 % acknowledged, measured (every person answers as soon as their SMS arrives)', async () => {
    const rows = Array.from({ length: N }, (_, i) => `自动${i},+86138${String(i).padStart(8, '0')},responder,auto,,,,,true,,,`);
    await importPeople('auto', rows);
    const seen = new Set<string>();
    let stop = false;
    const inbound = `${t.url}/webhooks/twilio/inbound`;
    const responder = (async () => {
      while (!stop) {
        const fresh = twilioFake.messages.filter((m) => m.to.startsWith('+86138') && !seen.has(m.sid));
        for (const m of fresh) seen.add(m.sid);
        await Promise.all(fresh.map((m) => twilioFake.inbound(inbound, m.to, '1')));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const w = await draftAndApprove('actual', ['auto'], ['sms'], { withinMinutes: 10, callAfterMinutes: 10, escalateAfterMinutes: 10 });
    const acks = await waitFor(async () => {
      const v = (await t.admin.get(`/api/warnings/${w.id}`)).body.warning.acks;
      return v.p95AckMs !== null ? v : null;
    }, '95 % acknowledged', 30_000);
    stop = true;
    await responder;
    expect(acks.acknowledged).toBeGreaterThanOrEqual(48);
    expect(acks.p95AckMs).toBeGreaterThan(0);
    const sent = (await t.admin.get(`/api/warnings/${w.id}`)).body.warning.delivery;
    console.log(`[叫应] approval → first SMS accepted by Twilio ${sent.firstDeliveryMs ?? '—'} ms; → 95 % acknowledged: ${acks.p95AckMs} ms (${N} responsible persons, automated responder, ${process.env.TEST_DATABASE_URL ? 'PostgreSQL' : 'PGlite'})`);
  }, 120_000);
});

describe('叫应 in an exercise', () => {
  it('escalates only to drill targets: the drill person is sent it again, a real superior is never alerted', async () => {
    await importPeople('drill-grid', ['演练网格员,+8613500000001,responder,drillgrid,,,,,true,真实主任,+8613500000099,'], true);
    const w = await draftAndApprove('exercise', ['drillgrid'], ['sms'], { withinMinutes: 0.02, callAfterMinutes: 0.02, escalateAfterMinutes: 0.02 });
    const steps = await waitFor(async () => {
      const r = (await t.admin.get(`/api/warnings/${w.id}/acknowledgements`)).body.steps;
      return r.every((s: any) => s.status !== 'queued' && s.status !== 'sending') ? r : null;
    }, 'exercise steps settled', 20_000);
    expect(steps.map((s: any) => [s.step, s.status])).toEqual([['resend', 'done'], ['call', 'done'], ['escalate', 'blocked']]);
    expect(twilioFake.messages.filter((m) => m.to === '+8613500000099')).toHaveLength(0);
    const resend = twilioFake.messages.filter((m) => m.to === '+8613500000001');
    expect(resend).toHaveLength(2);
    expect(resend[1]!.body).toContain('【演练】');
  }, 120_000);
});
