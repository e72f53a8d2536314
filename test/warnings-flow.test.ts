import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, tempDir, type TestServer } from './helpers/server.js';
import { FakeTwilio } from './fakes/twilio-api.js';
import { FakePushService } from './fakes/push-service.js';
import { FakeHeadEnd } from './fakes/broadcast-head-end.js';
import { validateCap } from './fakes/cap-schema.js';
import { waitFor } from './helpers/wait.js';
import { smsSegments } from '../server/warnings/messages.js';
import { OutboxWorker } from '../server/warnings/worker.js';
import { SmsChannel } from '../server/warnings/channels/sms.js';
import { PushChannel } from '../server/warnings/channels/push.js';
import { BroadcastChannel } from '../server/warnings/channels/broadcast.js';
import { ExerciseSinks } from '../server/warnings/exercise-sinks.js';
import { ProgressReporter } from '../server/warnings/progress-reporter.js';
import { loadVapidKeys } from '../server/warnings/vapid.js';

const SECRET = 'broadcast-secret-for-tests-0123';
let t: TestServer;
const twilioFake = new FakeTwilio();
const push = new FakePushService();
const headEnd = new FakeHeadEnd(SECRET);
const drillHeadEnd = new FakeHeadEnd(SECRET);
let staff: Awaited<ReturnType<TestServer['user']>>;
let commander2: Awaited<ReturnType<TestServer['user']>>;
let controller: Awaited<ReturnType<TestServer['user']>>;

// Inside the wl-iii-yellow polygon of the plan and well outside it.
const IN = { lat: 41.80, lon: 123.35 };
const OUT = { lat: 41.70, lon: 123.20 };

beforeAll(async () => {
  await Promise.all([twilioFake.start(), push.start(), headEnd.start(), drillHeadEnd.start()]);
  const caFile = path.join(await tempDir('yingji-ca-'), 'push-ca.pem');
  await writeFile(caFile, push.cert);
  t = await startTestServer({
    TWILIO_ACCOUNT_SID: twilioFake.accountSid,
    TWILIO_AUTH_TOKEN: twilioFake.authToken,
    TWILIO_FROM: '+15005550006',
    TWILIO_API_BASE_URL: twilioFake.url,
    BROADCAST_ENDPOINTS: headEnd.url,
    BROADCAST_SECRET: SECRET,
    EXERCISE_BROADCAST_ENDPOINTS: drillHeadEnd.url,
    EXERCISE_SMS_NUMBERS: '+8613900000099',
    WEB_PUSH_CA_FILE: caFile,
    PUSH_ENDPOINT_ALLOWLIST: push.allowlistEntry,
    WARNING_RETRY_BASE_MS: '50',
    // A minute: approval wakes the workers and a retry is picked up when due, so nothing here may
    // wait for a poll (it would time out).
    WARNING_POLL_MS: '60000',
    WARNING_PROGRESS_INTERVAL_MS: '200',
    WARNING_RATE_SMS: '500',
    WARNING_BATCH_SIZE: '10',
  });
  push.vapidPublicKey = (await t.admin.get('/api/push/vapid-public-key')).body.publicKey;
  staff = await t.user('staff');
  commander2 = await t.user('commander');
  controller = await t.user('controller');
  const csv = [
    'name,phone,kind,role,team,lat,lon,drill',
    `张三,+8613800000001,public,,,${IN.lat},${IN.lon},`,
    `李四,+8613800000002,public,,,${IN.lat + 0.01},${IN.lon + 0.01},`,
    `王五,+8613800000003,public,,,${OUT.lat},${OUT.lon},`,
    '赵六,+8613800000004,responder,staff,T-D01,,,',
    '演练员,+8613800000005,public,,,41.81,123.36,true',
  ].join('\n');
  const imported = await t.admin.post('/api/recipients/import', { list: 'tiexi-public', csv });
  expect(imported.status, JSON.stringify(imported.body)).toBe(200);
  expect(imported.body.imported).toBe(5);
});

afterAll(async () => {
  await t?.close();
  await Promise.all([twilioFake.stop(), push.stop(), headEnd.stop(), drillHeadEnd.stop()]);
});

async function activate(mode: 'actual' | 'exercise', api = t.admin) {
  const res = await api.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode });
  expect(res.status).toBe(201);
  return res.body.incident.id as string;
}

async function settled(api: typeof t.admin, id: string) {
  return waitFor(async () => {
    const w = (await api.get(`/api/warnings/${id}`)).body.warning;
    const busy = w.delivery.channels.some((c: any) => c.queued + c.sending > 0 || (c.channel === 'sms' && c.sent > 0));
    return busy ? null : w;
  }, `warning ${id} to settle`);
}

const parser = new XMLParser({ ignoreAttributes: false, parseTagValue: false, isArray: (name) => name === 'info' });

describe('warnings: compose → approve → send', () => {
  let warningId: string;
  let incidentId: string;

  it('staff draft from the plan template, edit it; the author cannot approve their own (two-person rule)', async () => {
    incidentId = await activate('actual');
    const draft = await staff.post(`/api/incidents/${incidentId}/warnings`, { template: 'wl-iii-yellow', audience: { description: { zh: '北部城区居民及指挥部人员', en: 'Northern residents and command staff' }, public: true, roles: ['staff'] } });
    expect(draft.status, JSON.stringify(draft.body)).toBe(201);
    warningId = draft.body.warning.id;
    expect(draft.body.warning).toMatchObject({ status: 'draft', msgType: 'Alert', colour: 'yellow', templateId: 'wl-iii-yellow', channels: ['sms', 'push', 'broadcast'], delivery: null });
    const edited = await staff.patch(`/api/warnings/${warningId}`, { headline: { zh: '铁西区防指发布城市内涝黄色预警（更新口径）', en: 'Tiexi Flood HQ: yellow urban waterlogging warning' } });
    expect(edited.status).toBe(200);
    expect(edited.body.warning.headline.zh).toContain('更新口径');
    expect((await staff.post(`/api/warnings/${warningId}/approve`)).status).toBe(403); // staff may not approve

    // A commander who authored a draft may not approve it.
    const own = await t.admin.post(`/api/incidents/${incidentId}/warnings`, { template: 'wl-iii-yellow' });
    const self = await t.admin.post(`/api/warnings/${own.body.warning.id}/approve`);
    expect(self.status).toBe(403);
    expect(self.body.error.code).toBe('two_person_rule');
    const still = await t.server.context.db.pool.query('SELECT count(*)::int AS n FROM warning_deliveries WHERE warning_id = $1', [own.body.warning.id]);
    expect(still.rows[0].n).toBe(0);
  });

  it('a commander approves: CAP valid against the XSD, one delivery per recipient × channel, all delivered', async () => {
    const sub = push.subscribe();
    const gone = push.subscribe([410]);
    const throttled = push.subscribe([429, 429]);
    const outside = push.subscribe();
    for (const [s, loc] of [[sub, IN], [gone, IN], [throttled, IN], [outside, OUT]] as const) {
      const r = await t.api.post('/public/push/subscriptions', { endpoint: s.endpoint, keys: s.keys, location: loc });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
    twilioFake.failNext.set('+8613800000002', 2); // two 500s, then success (retry with backoff)
    headEnd.failNext = 1;

    const approved = await t.admin.post(`/api/warnings/${warningId}/approve`);
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    const w = approved.body.warning;
    expect(w).toMatchObject({ status: 'sent', approverId: expect.any(String), identifier: expect.stringMatching(/^210106-yingji-\d{14}-[0-9a-f]{12}$/) });
    const byChannel = Object.fromEntries(w.delivery.channels.map((c: any) => [c.channel, c.total]));
    // SMS: 2 public in the area + 1 staff responder (the one outside the area and the drill-only number are not targeted… the drill one is public and inside: it is a real recipient too).
    expect(byChannel).toEqual({ sms: 4, push: 3, broadcast: 1 });

    const cap = await t.admin.get(`/api/warnings/${warningId}/cap.xml`);
    expect(cap.status).toBe(200);
    expect(cap.headers.get('content-type')).toContain('application/cap+xml');
    const check = await validateCap(cap.body);
    expect(check.errors).toEqual([]);
    expect(check.valid).toBe(true);
    const alert = parser.parse(cap.body).alert;
    expect(alert.sent).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$/);
    expect(alert.status).toBe('Actual');
    expect(alert.msgType).toBe('Alert');
    expect(alert.identifier).not.toMatch(/[\s,<&]/);
    expect(alert.info.map((i: any) => i.language)).toEqual(['zh-CN', 'en-US']);
    expect(alert.info[0]).toMatchObject({ severity: 'Moderate', urgency: 'Expected', certainty: 'Likely', category: 'Met' });
    const template = (await t.admin.get(`/api/incidents/${incidentId}`)).body.plan.warningTemplates.find((x: any) => x.id === 'wl-iii-yellow');
    expect(alert.info[0].area.polygon).toBe(template.area.polygon.map(([lat, lon]: number[]) => `${lat},${lon}`).join(' '));
    expect(alert.info[1].area.areaDesc).toBe(template.area.description.en);

    const done = await settled(t.admin, warningId);
    const counts = Object.fromEntries(done.delivery.channels.map((c: any) => [c.channel, c]));
    expect(counts.sms).toMatchObject({ total: 4, delivered: 4, failed: 0 });
    expect(counts.push).toMatchObject({ total: 3, delivered: 2, failed: 1 });
    expect(counts.broadcast).toMatchObject({ total: 1, delivered: 1 });
    expect(done.delivery.firstDeliveryMs).toBeGreaterThanOrEqual(0);
    expect(done.delivery.coveragePercent).toBeCloseTo(87.5, 1);

    // SMS: each number exactly once at Twilio, Chinese body, status moved by signed callbacks.
    const smsTo = twilioFake.messages.filter((m) => m.body.includes('更新口径') || m.body.includes('黄色预警')).map((m) => m.to).sort();
    expect(smsTo).toEqual(['+8613800000001', '+8613800000002', '+8613800000004', '+8613800000005']);
    const body = twilioFake.messages[0]!.body;
    expect(smsSegments(body)).toMatchObject({ encoding: 'UCS-2', segments: Math.ceil(body.length / 67) });
    const deliveries = (await t.admin.get(`/api/warnings/${warningId}/deliveries`)).body.deliveries;
    const retried = deliveries.find((d: any) => d.address === '+8613800000002');
    expect(retried).toMatchObject({ status: 'delivered', attempts: 3, providerId: expect.stringMatching(/^SM/) });
    expect(deliveries.find((d: any) => d.channel === 'sms').segments).toBeGreaterThan(1);

    // Push: decrypted by the fake, TTL/Urgency from the colour; 410 removed the subscription.
    const pushed = push.received.filter((p) => p.payload.warningId === warningId);
    expect(pushed.map((p) => p.subscriptionId).sort()).toEqual([sub.id, throttled.id].sort());
    expect(pushed[0]).toMatchObject({ ttl: 24 * 3600, urgency: 'normal', payload: { status: 'Actual', colour: 'yellow', msgType: 'Alert' } });
    // One VAPID JWT (verified above by the fake) served every push to this push service: it is reused, not signed per message.
    expect(new Set(push.received.map((p) => p.vapidJwt)).size).toBe(1);
    const subs = await t.server.context.db.pool.query('SELECT endpoint FROM push_subscriptions');
    expect(subs.rows.map((r: any) => r.endpoint)).not.toContain(gone.endpoint);

    // Broadcast: one accepted CAP (signed, schema-valid) despite a 503 first; receipt recorded.
    const cast = headEnd.accepted.filter((m) => m.xml.includes(done.identifier));
    expect(cast).toHaveLength(1);
    const receipt = deliveries.find((d: any) => d.channel === 'broadcast');
    expect(receipt).toMatchObject({ status: 'delivered', attempts: 2, receipt: { status: 202 } });

    // Timeline: drafted, edited, approved, progress summaries with a final one.
    const events = (await t.admin.get(`/api/incidents/${incidentId}/events?type=warning.drafted&type=warning.edited&type=warning.approved&type=warning.delivery_progress`)).body.events;
    const mine = events.filter((e: any) => e.data.warningId === warningId);
    expect(mine.map((e: any) => e.type).slice(0, 3)).toEqual(['warning.drafted', 'warning.edited', 'warning.approved']);
    const progress = await waitFor(async () => {
      const ev = (await t.admin.get(`/api/incidents/${incidentId}/events?type=warning.delivery_progress`)).body.events.filter((e: any) => e.data.warningId === warningId);
      return ev.some((e: any) => e.data.final) ? ev : null;
    }, 'final progress event');
    expect(progress.length).toBeLessThan(20);
    expect((await t.admin.get(`/api/incidents/${incidentId}/events/verify`)).body.ok).toBe(true);
  });

  it('update and cancel reference the original; the Atom feed lists current actual alerts, publicly', async () => {
    const feed1 = await t.api.get('/cap/feed.atom');
    expect(feed1.status).toBe(200);
    const original = (await t.admin.get(`/api/warnings/${warningId}`)).body.warning;
    expect(feed1.body).toContain(original.identifier);

    const upd = await staff.post(`/api/warnings/${warningId}/update`, { colour: 'orange' });
    expect(upd.status, JSON.stringify(upd.body)).toBe(201);
    expect(upd.body.warning).toMatchObject({ msgType: 'Update', status: 'draft', colour: 'orange' });
    const sent = await commander2.post(`/api/warnings/${upd.body.warning.id}/approve`);
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expect(sent.body.warning.references).toBe(original.identifier);
    const cap = (await t.admin.get(`/api/warnings/${upd.body.warning.id}/cap.xml`)).body;
    expect((await validateCap(cap)).valid).toBe(true);
    const alert = parser.parse(cap).alert;
    expect(alert.msgType).toBe('Update');
    expect(alert.references).toBe(`yingji@210106.tiexi.shenyang.gov.cn,${original.identifier},${parser.parse((await t.admin.get(`/api/warnings/${warningId}/cap.xml`)).body).alert.sent}`);
    expect((await t.admin.get(`/api/warnings/${warningId}`)).body.warning.status).toBe('superseded');
    expect((await staff.post(`/api/warnings/${warningId}/cancel`, {})).body.error.code).toBe('warning_not_sent');

    const cancel = await staff.post(`/api/warnings/${upd.body.warning.id}/cancel`, {});
    expect(cancel.status).toBe(201);
    expect((await commander2.post(`/api/warnings/${cancel.body.warning.id}/approve`)).status).toBe(200);
    const cancelCap = (await t.admin.get(`/api/warnings/${cancel.body.warning.id}/cap.xml`)).body;
    expect((await validateCap(cancelCap)).errors).toEqual([]);
    expect(parser.parse(cancelCap).alert.msgType).toBe('Cancel');
    const feed2 = (await t.api.get('/cap/feed.atom')).body as string;
    expect(feed2).not.toContain(original.identifier);
    expect(feed2).toContain(cancel.body.warning.id);
    const publicCap = await t.api.get(`/cap/alerts/${cancel.body.warning.id}.xml`);
    expect(publicCap.status).toBe(200);
    await settled(t.admin, cancel.body.warning.id);
  });

  it('exercise: 【演练】 texts, CAP status Exercise, drill targets only, never in the public feed', async () => {
    const id = await activate('exercise', controller);
    const draft = await controller.post(`/api/incidents/${id}/warnings`, { template: 'wl-iii-yellow' });
    expect(draft.status).toBe(201);
    // In an exercise the controller drafts and approves (no two-person rule for drills).
    const approved = await controller.post(`/api/warnings/${draft.body.warning.id}/approve`);
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    const wid = draft.body.warning.id;
    const done = await settled(controller, wid);
    const totals = Object.fromEntries(done.delivery.channels.map((c: any) => [c.channel, c.total]));
    // Drill recipient +8613800000005 and EXERCISE_SMS_NUMBERS; no drill push subscriptions; the drill head-end.
    expect(totals).toEqual({ sms: 2, broadcast: 1 });
    const sms = twilioFake.messages.filter((m) => m.body.startsWith('【演练】'));
    expect(sms.map((m) => m.to).sort()).toEqual(['+8613800000005', '+8613900000099']);
    expect(headEnd.accepted.some((m) => m.xml.includes('<status>Exercise</status>'))).toBe(false);
    const drill = drillHeadEnd.accepted.filter((m) => m.xml.includes(done.identifier));
    expect(drill).toHaveLength(1);
    expect(drill[0]!.xml).toContain('<status>Exercise</status>');
    expect(drill[0]!.xml).toContain('<headline>【演练】');
    expect((await t.api.get('/cap/feed.atom')).body).not.toContain(done.identifier);
    expect((await t.api.get(`/cap/alerts/${wid}.xml`)).status).toBe(404);
    expect(push.received.some((p) => p.payload.warningId === wid)).toBe(false);
  });
});

describe('warnings: bad input is refused and leaves nothing behind', () => {
  let incidentId: string;
  beforeAll(async () => {
    incidentId = await activate('actual');
  });

  it('invalid polygon, unknown channel, unknown template, text over limits', async () => {
    const base = { template: 'wl-iii-yellow' };
    const open = await staff.post(`/api/incidents/${incidentId}/warnings`, { ...base, area: { description: { zh: '区', en: 'a' }, polygon: [[41.8, 123.3], [41.9, 123.3], [41.9, 123.4], [41.8, 123.4]] } });
    expect(open.status).toBe(400);
    expect(JSON.stringify(open.body.error.details)).toContain('not closed');
    const channel = await staff.post(`/api/incidents/${incidentId}/warnings`, { ...base, channels: ['sms', 'fax'] });
    expect(channel.status).toBe(400);
    expect(channel.body.error.code).toBe('validation_failed');
    const tpl = await staff.post(`/api/incidents/${incidentId}/warnings`, { template: 'no-such-template' });
    expect(tpl.status).toBe(422);
    expect(tpl.body.error.code).toBe('unknown_template');
    const long = await staff.post(`/api/incidents/${incidentId}/warnings`, { ...base, text: { zh: '暴雨'.repeat(400), en: 'rain' } });
    expect(long.status).toBe(422);
    expect(long.body.error).toMatchObject({ code: 'text_too_long', details: { channel: 'sms' } });
    const { rows } = await t.server.context.db.pool.query('SELECT count(*)::int AS n FROM warnings WHERE incident_id = $1', [incidentId]);
    expect(rows[0].n).toBe(0);
  });

  it('empty audience: refused at approval, nothing enqueued', async () => {
    const none = await staff.post(`/api/incidents/${incidentId}/warnings`, { template: 'wl-iii-yellow', audience: { description: { zh: '无人', en: 'nobody' } } });
    expect(none.status).toBe(201);
    const res = await t.admin.post(`/api/warnings/${none.body.warning.id}/approve`);
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('empty_audience');
    // An area with no recipients and no broadcast channel.
    const far = await staff.post(`/api/incidents/${incidentId}/warnings`, {
      template: 'wl-iii-yellow', channels: ['sms', 'push'],
      area: { description: { zh: '远处', en: 'far away' }, circle: { lat: 30, lon: 100, radiusKm: 1 } },
    });
    const res2 = await t.admin.post(`/api/warnings/${far.body.warning.id}/approve`);
    expect(res2.status).toBe(422);
    expect(res2.body.error.code).toBe('empty_audience');
    const { rows } = await t.server.context.db.pool.query('SELECT count(*)::int AS n FROM warning_deliveries WHERE warning_id = ANY($1::uuid[])', [[none.body.warning.id, far.body.warning.id]]);
    expect(rows[0].n).toBe(0);
    expect((await t.admin.get(`/api/warnings/${far.body.warning.id}`)).body.warning.status).toBe('draft');
  });

  it('a forged or unsigned Twilio status callback is refused; a bad CSV row names its line and imports nothing', async () => {
    const url = `${t.url}/webhooks/twilio/status?delivery=1`;
    expect(await twilioFake.callback(url, 'SM1', '+8613800000001', 'failed', { forge: true })).toBe(403);
    const unsigned = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'MessageSid=SM1&MessageStatus=failed' });
    expect(unsigned.status).toBe(403);
    expect((await unsigned.json()).error.code).toBe('invalid_signature');

    const before = (await t.server.context.db.pool.query('SELECT count(*)::int AS n FROM warning_recipients')).rows[0].n;
    const bad = await t.admin.post('/api/recipients/import', { list: 'bad', csv: 'name,phone,kind,lat,lon\nA,+8613811111111,public,41.8,123.3\nB,13811111112,public,41.8,123.3\n' });
    expect(bad.status).toBe(422);
    expect(bad.body.error).toMatchObject({ code: 'invalid_csv', details: { line: 3 } });
    const after = (await t.server.context.db.pool.query('SELECT count(*)::int AS n FROM warning_recipients')).rows[0].n;
    expect(after).toBe(before);
    expect((await staff.post('/api/recipients/import', { list: 'x', csv: 'phone\n+8613811111113' })).status).toBe(422); // public needs a location
    const observer = await t.user('observer');
    expect((await observer.post('/api/recipients/import', { list: 'x', csv: 'phone\n+8613811111113' })).status).toBe(403);
    expect((await t.api.get('/api/push/vapid-public-key')).status).toBe(401);
    expect((await t.api.post('/public/push/subscriptions', { endpoint: 'http://insecure', keys: { p256dh: 'x', auth: 'y' } })).status).toBe(400);
  });
});

describe('warnings: the outbox under concurrency and crashes', () => {
  it('a double-clicked approve sends once; a second node drains the same outbox without doubling anything', async () => {
    const incidentId = await activate('actual');
    const rows = ['phone,kind,role'];
    for (let i = 0; i < 120; i++) rows.push(`+86134${String(i).padStart(8, '0')},responder,field`);
    expect((await t.admin.post('/api/recipients/import', { list: 'field-crews', csv: rows.join('\n') })).body.imported).toBe(120);
    const draft = await staff.post(`/api/incidents/${incidentId}/warnings`, {
      template: 'wl-iii-yellow', channels: ['sms'], audience: { description: { zh: '现场队员', en: 'Field crews' }, roles: ['field'] },
    });
    // A second node: its own worker (own node id, own rate limiter) on the same database.
    const { config, db, bus, log } = t.server.context;
    const vapid = await loadVapidKeys(db.pool);
    const progress = new ProgressReporter(db, bus, 10_000, log);
    const node2 = new OutboxWorker(db, config, {
      sms: new SmsChannel(config, () => t.url),
      push: new PushChannel(config, db.pool, () => vapid, config.VAPID_SUBJECT),
      broadcast: new BroadcastChannel(db.pool, config.BROADCAST_SECRET),
    }, new ExerciseSinks(config), progress, log);
    node2.start();
    try {
      const [a, b] = await Promise.all([t.admin.post(`/api/warnings/${draft.body.warning.id}/approve`), commander2.post(`/api/warnings/${draft.body.warning.id}/approve`)]);
      expect([a.status, b.status].sort()).toEqual([200, 409]);
      expect([a, b].find((r) => r.status === 409)!.body.error.code).toBe('warning_not_draft');
      const done = await settled(t.admin, draft.body.warning.id);
      expect(done.delivery.channels).toEqual([expect.objectContaining({ channel: 'sms', total: 120, delivered: 120 })]);
    } finally {
      await node2.stop();
      progress.stop();
    }
    const sent = twilioFake.messages.filter((m) => m.to.startsWith('+86134'));
    expect(sent).toHaveLength(120);
    expect(new Set(sent.map((m) => m.to)).size).toBe(120);
    const nodes = await t.server.context.db.pool.query('SELECT DISTINCT claimed_by FROM warning_deliveries WHERE warning_id = $1', [draft.body.warning.id]);
    expect(nodes.rows.length).toBeGreaterThanOrEqual(1);
  });

  it('a claim left by a crashed node: broadcast is resent under its idempotency key, a Twilio SMS becomes unknown, not resent', async () => {
    const incidentId = await activate('actual');
    const draft = await staff.post(`/api/incidents/${incidentId}/warnings`, { template: 'wl-iii-yellow', channels: ['sms', 'broadcast'] });
    const wid = draft.body.warning.id;
    expect((await t.admin.post(`/api/warnings/${wid}/approve`)).status).toBe(200);
    await settled(t.admin, wid);
    // Two deliveries a node claimed and then died on (status sending, claim long expired).
    const screen = await t.admin.post('/api/broadcast-endpoints', { name: '广场大屏', url: `${headEnd.url}?screen=crash` });
    expect(screen.status).toBe(201);
    const pool = t.server.context.db.pool;
    const orphan = await pool.query(
      `INSERT INTO warning_deliveries (warning_id, channel, target_id, address, exercise, status, attempts, claimed_by, claimed_at)
       VALUES ($1, 'sms', 'tel:+8613800000077', '+8613800000077', false, 'sending', 1, 'node-dead', now() - interval '10 minutes'),
              ($1, 'broadcast', $2, $3, false, 'sending', 1, 'node-dead', now() - interval '10 minutes')
       RETURNING id, channel`,
      [wid, screen.body.endpoint.id, screen.body.endpoint.url],
    );
    const ids = orphan.rows.map((r: any) => r.id);
    const rows = await waitFor(async () => {
      const r = (await pool.query(`SELECT id, channel, status, attempts FROM warning_deliveries WHERE id = ANY($1::bigint[])`, [ids])).rows;
      return r.every((x: any) => !['sending', 'queued'].includes(x.status)) ? r : null;
    }, 'expired claims recovered', 30_000);
    expect(rows.find((r: any) => r.channel === 'sms').status).toBe('unknown');
    expect(twilioFake.messages.filter((m) => m.to === '+8613800000077')).toEqual([]);
    expect(rows.find((r: any) => r.channel === 'broadcast')).toMatchObject({ status: 'delivered', attempts: 2 });
    const broadcastId = String(orphan.rows.find((r: any) => r.channel === 'broadcast').id);
    expect(headEnd.accepted.filter((m) => m.deliveryId === broadcastId)).toHaveLength(1);
    const w = (await t.admin.get(`/api/warnings/${wid}`)).body.warning;
    expect(w.delivery.channels.find((c: any) => c.channel === 'sms').unknown).toBe(1);
  });
});
