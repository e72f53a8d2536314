import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, tempDir, type TestServer } from './helpers/server.js';
import { FakeTwilio } from './fakes/twilio-api.js';
import { FakePushService } from './fakes/push-service.js';
import { FakeHeadEnd } from './fakes/broadcast-head-end.js';
import { waitFor } from './helpers/wait.js';

/** mulberry32: a small seeded generator, so a failing case can be replayed from its seed. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    bool: (p = 0.5) => next() < p,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]!,
  };
}

const SECRET = 'broadcast-secret-for-tests-0123';
const EXERCISE_NUMBERS = ['+8613900000091', '+8613900000092'];
let t: TestServer;
const twilioFake = new FakeTwilio();
const push = new FakePushService();
const realHeadEnd = new FakeHeadEnd(SECRET);
const drillHeadEnd = new FakeHeadEnd(SECRET);

beforeAll(async () => {
  await Promise.all([twilioFake.start(), push.start(), realHeadEnd.start(), drillHeadEnd.start()]);
  const caFile = path.join(await tempDir('yingji-ca-'), 'push-ca.pem');
  await writeFile(caFile, push.cert);
  t = await startTestServer({
    TWILIO_ACCOUNT_SID: twilioFake.accountSid,
    TWILIO_AUTH_TOKEN: twilioFake.authToken,
    TWILIO_FROM: '+15005550006',
    TWILIO_API_BASE_URL: twilioFake.url,
    BROADCAST_ENDPOINTS: realHeadEnd.url,
    BROADCAST_SECRET: SECRET,
    EXERCISE_BROADCAST_ENDPOINTS: drillHeadEnd.url,
    EXERCISE_SMS_NUMBERS: EXERCISE_NUMBERS.join(','),
    WEB_PUSH_CA_FILE: caFile,
    PUSH_ENDPOINT_ALLOWLIST: push.allowlistEntry,
    PUSH_SUBSCRIBE_LIMIT_PER_IP: '100000',
    PUSH_SUBSCRIBE_LIMIT_TOTAL: '100000',
    WARNING_RETRY_BASE_MS: '20',
    WARNING_POLL_MS: '30',
    WARNING_PROGRESS_INTERVAL_MS: '500',
  });
  push.vapidPublicKey = (await t.admin.get('/api/push/vapid-public-key')).body.publicKey;
});

afterAll(async () => {
  await t?.close();
  await Promise.all([twilioFake.stop(), push.stop(), realHeadEnd.stop(), drillHeadEnd.stop()]);
});

const q = (sql: string, params: unknown[] = []) => t.server.context.db.pool.query(sql, params).then((r) => r.rows);

describe('exercise isolation (property over random incidents, recipients and channel configurations)', () => {
  it('no exercise delivery ever reaches a non-drill target, whatever was enqueued', async () => {
    const seed = Number(process.env.WARN_PROPERTY_SEED ?? 20261123);
    const r = rng(seed);
    const staff = await t.user('staff');
    const commander = await t.user('commander');
    const controller = await t.user('controller');
    const phonePool = Array.from({ length: 14 }, (_, i) => `+86137000000${String(i).padStart(2, '0')}`);
    const extraEndpoints: string[] = [];
    let exerciseWarnings = 0;
    let injected = 0;

    for (let round = 0; round < 16; round++) {
      const ctx = `seed ${seed} round ${round}`;
      const mode = r.bool() ? 'exercise' : 'actual';
      const incident = (await (mode === 'exercise' ? controller : t.admin).post('/api/incidents', { planId: 'waterlogging-underpass', level: r.pick(['IV', 'III']), mode })).body.incident;
      const tpl = (await t.admin.get(`/api/incidents/${incident.id}`)).body.plan.warningTemplates[0];
      const [lat0, lon0] = tpl.area.polygon?.[0] ?? [tpl.area.circle.lat, tpl.area.circle.lon];
      const near = () => ({ lat: lat0 + (r.next() - 0.5) * 0.2, lon: lon0 + (r.next() - 0.5) * 0.2 });

      // Random recipients (phones shared across lists, drill flags mixed), subscriptions and endpoints.
      const rows = ['phone,kind,role,lat,lon,drill'];
      const used = new Set<string>();
      for (let i = r.int(1, 6); i > 0; i--) {
        const phone = r.pick(phonePool);
        if (used.has(phone)) continue;
        used.add(phone);
        const p = near();
        const responder = r.bool(0.3);
        rows.push(`${phone},${responder ? 'responder' : 'public'},${responder ? r.pick(['staff', 'field']) : ''},${p.lat},${p.lon},${r.bool(0.4)}`);
      }
      const imported = await t.admin.post('/api/recipients/import', { list: `list-${round % 5}`, csv: rows.join('\n') });
      expect(imported.status, `${ctx} ${JSON.stringify(imported.body)}`).toBe(200);
      for (let i = r.int(0, 2); i > 0; i--) {
        const s = push.subscribe();
        const api = r.bool() ? t.api : t.admin;
        if (api === t.api) await t.api.post('/public/push/subscriptions', { endpoint: s.endpoint, keys: s.keys, location: near() });
        else await t.admin.post('/api/push/subscriptions', { endpoint: s.endpoint, keys: s.keys, location: near(), drill: r.bool() });
      }
      if (r.bool(0.3)) {
        // A drill endpoint points at the drill head-end; a real one at the real head-end.
        const exercise = r.bool();
        const url = `${(exercise ? drillHeadEnd : realHeadEnd).url}?n=${round}`;
        const reg = await t.admin.post('/api/broadcast-endpoints', { name: `screen ${round}`, url, exercise });
        expect(reg.status).toBe(201);
        extraEndpoints.push(url);
      }

      // A random warning, drafted and approved by the right people.
      const channels = (['sms', 'push', 'broadcast'] as const).filter(() => r.bool(0.6));
      if (channels.length === 0) channels.push('sms');
      const audience = { description: tpl.audience.description, public: r.bool(0.8), ...(r.bool(0.4) ? { roles: [r.pick(['staff', 'field', 'commander'])] } : {}) };
      const author = mode === 'exercise' ? controller : staff;
      const approver = mode === 'exercise' ? controller : commander;
      const draft = await author.post(`/api/incidents/${incident.id}/warnings`, { template: tpl.id, channels, audience });
      expect(draft.status, ctx).toBe(201);
      const wid = draft.body.warning.id;
      const approved = await approver.post(`/api/warnings/${wid}/approve`);
      if (approved.status === 422) {
        expect(approved.body.error.code).toBe('empty_audience');
        continue;
      }
      expect(approved.status, `${ctx} ${JSON.stringify(approved.body)}`).toBe(200);

      if (mode === 'exercise') {
        exerciseWarnings++;
        // Whatever the UI or API asked: push real targets straight into the outbox behind the API's back.
        const realPhones = await q(`SELECT DISTINCT phone FROM warning_recipients WHERE NOT drill`);
        const realSubs = await q(`SELECT id::text AS id, endpoint FROM push_subscriptions WHERE NOT drill`);
        const realEndpoints = await q(`SELECT id, url FROM broadcast_endpoints WHERE NOT exercise AND url IS NOT NULL`);
        for (const p of realPhones.slice(0, 2)) injected += (await t.server.context.db.pool.query(`INSERT INTO warning_deliveries (warning_id, channel, target_id, address, exercise, status) VALUES ($1, 'sms', $2, $3, false, 'queued') ON CONFLICT DO NOTHING`, [wid, `tel:${p.phone}`, p.phone])).rowCount ?? 0;
        for (const s of realSubs.slice(0, 2)) injected += (await t.server.context.db.pool.query(`INSERT INTO warning_deliveries (warning_id, channel, target_id, address, exercise, status) VALUES ($1, 'push', $2, $3, false, 'queued') ON CONFLICT DO NOTHING`, [wid, s.id, s.endpoint])).rowCount ?? 0;
        for (const e of realEndpoints.slice(0, 2)) injected += (await t.server.context.db.pool.query(`INSERT INTO warning_deliveries (warning_id, channel, target_id, address, exercise, status) VALUES ($1, 'broadcast', $2, $3, false, 'queued') ON CONFLICT DO NOTHING`, [wid, e.id, e.url])).rowCount ?? 0;
      }

      await waitFor(async () => (await q(`SELECT count(*)::int AS n FROM warning_deliveries WHERE warning_id = $1 AND status IN ('queued', 'sending')`, [wid]))[0].n === 0, `${ctx}: outbox drained`, 60_000);

      // The property, checked against what the fakes actually received.
      const identifier = (await q('SELECT identifier FROM warnings WHERE id = $1', [wid]))[0].identifier as string;
      const drillPhones = new Set([
        ...EXERCISE_NUMBERS,
        ...(await q(`SELECT phone FROM warning_recipients GROUP BY phone HAVING bool_and(drill)`)).map((x) => x.phone as string),
      ]);
      const drillSubs = new Set((await q(`SELECT endpoint FROM push_subscriptions WHERE drill`)).map((x) => x.endpoint as string));
      const drillUrls = new Set([drillHeadEnd.url, ...(await q(`SELECT url FROM broadcast_endpoints WHERE exercise AND url IS NOT NULL`)).map((x) => x.url as string)]);
      const subEndpoint = (id: string) => `${push.url}/push/${id}`;
      if (mode === 'exercise') {
        for (const m of twilioFake.messages.filter((m) => m.body.startsWith('【演练】'))) expect(drillPhones.has(m.to), `${ctx}: exercise SMS to ${m.to}`).toBe(true);
        for (const p of push.received.filter((p) => p.payload.warningId === wid)) expect(drillSubs.has(subEndpoint(p.subscriptionId)), `${ctx}: exercise push`).toBe(true);
        const deliveredUrls = await q(`SELECT address FROM warning_deliveries WHERE warning_id = $1 AND channel = 'broadcast' AND status = 'delivered' AND address IS NOT NULL`, [wid]);
        for (const d of deliveredUrls) expect(drillUrls.has(d.address), `${ctx}: exercise CAP to ${d.address}`).toBe(true);
        expect(realHeadEnd.accepted.filter((m) => m.xml.includes(identifier))).toEqual([]);
        // Every injected real target was refused by the worker, not sent.
        const leaked = await q(`SELECT d.channel, d.address, d.status FROM warning_deliveries d WHERE d.warning_id = $1 AND d.status NOT IN ('blocked')
            AND ((d.channel = 'sms' AND NOT (d.address = ANY($2::text[]))) OR (d.channel = 'push' AND NOT (d.address = ANY($3::text[])))
              OR (d.channel = 'broadcast' AND d.address IS NOT NULL AND NOT (d.address = ANY($4::text[]))))`, [wid, [...drillPhones], [...drillSubs], [...drillUrls]]);
        expect(leaked, ctx).toEqual([]);
      } else {
        expect(twilioFake.messages.filter((m) => m.body.startsWith('【演练】') && !drillPhones.has(m.to))).toEqual([]);
        expect(drillHeadEnd.accepted.filter((m) => m.xml.includes(identifier))).toEqual([]);
      }
    }
    // The generator must actually have produced the interesting cases.
    expect(exerciseWarnings).toBeGreaterThanOrEqual(3);
    expect(injected).toBeGreaterThan(0);
    const blocked = await q(`SELECT count(*)::int AS n FROM warning_deliveries WHERE status = 'blocked'`);
    expect(blocked[0].n).toBe(injected);
    expect(realHeadEnd.accepted.some((m) => m.xml.includes('<status>Exercise</status>'))).toBe(false);
  });
});
