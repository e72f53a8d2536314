import { createECDH, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../server/config.js';
import { ExerciseSinks } from '../server/warnings/exercise-sinks.js';
import { PushEndpointPolicy } from '../server/warnings/push-endpoint.js';
import { createHttpApp } from '../server/http/app.js';
import { startTestServer, tempDir, testEnv, type TestServer } from './helpers/server.js';
import { startServer } from '../server/app.js';
import { createLogger } from '../server/log.js';
import { Api } from './helpers/api.js';
import { usingRealPostgres } from './helpers/database.js';
import { FakePushService } from './fakes/push-service.js';
import { FakeHeadEnd } from './fakes/broadcast-head-end.js';
import { waitFor } from './helpers/wait.js';

/**
 * Replays the findings of issue 10 on the public and input surfaces (H3, L7, M6, M7, L1, L2, L5):
 * each test fails if the finding comes back. Runs on PGlite and, with TEST_DATABASE_URL, on PostgreSQL.
 */
const SECRET = 'security-surfaces-broadcast-secret';
const push = new FakePushService();
const headEnd = new FakeHeadEnd(SECRET);
let t: TestServer;
const PER_IP = 3;
const TOTAL = 8;

const b64u = (b: Buffer) => b.toString('base64url');
const count = async (sql: string, params: unknown[] = []) => (await t.server.context.db.pool.query(sql, params)).rows[0].n as number;
/** A different client address per call, through X-Forwarded-For (the server trusts its proxy here). */
let ipCounter = 0;
const fromIp = (ip = `198.51.100.${++ipCounter}`) => ({ 'x-forwarded-for': ip });
/** Rate-limit counters are rows in PostgreSQL (shared by every node); tests start each case afresh. */
const resetRateLimits = async () => {
  const { rows } = await t.server.context.db.pool.query(`SELECT to_regclass('rate_limits') IS NOT NULL AS present`);
  if (rows[0].present) await t.server.context.db.pool.query('DELETE FROM rate_limits');
};
const publicSubscribe = (body: unknown, ip?: string) => t.api.request('POST', '/public/push/subscriptions', body, { headers: fromIp(ip) });

beforeAll(async () => {
  await Promise.all([push.start(), headEnd.start()]);
  const caFile = path.join(await tempDir('yingji-ca-'), 'push-ca.pem');
  await writeFile(caFile, push.cert);
  t = await startTestServer({
    TRUST_PROXY: 'true',
    WEB_PUSH_CA_FILE: caFile,
    PUSH_ENDPOINT_ALLOWLIST: push.allowlistEntry,
    PUSH_SUBSCRIBE_LIMIT_PER_IP: String(PER_IP),
    PUSH_SUBSCRIBE_LIMIT_TOTAL: String(TOTAL),
    BROADCAST_ENDPOINTS: headEnd.url,
    BROADCAST_SECRET: SECRET,
    WARNING_RETRY_BASE_MS: '20',
    WARNING_POLL_MS: '50',
  });
  push.vapidPublicKey = (await t.admin.get('/api/push/vapid-public-key')).body.publicKey;
});

afterAll(async () => {
  await t?.close();
  await Promise.all([push.stop(), headEnd.stop()]);
});

describe('H3 public push subscriptions', () => {
  beforeEach(resetRateLimits);

  it('refuses endpoints on IP literals, loopback / private names after DNS, odd ports and unresolvable hosts', async () => {
    const s = push.subscribe();
    const before = await count('SELECT count(*)::int AS n FROM push_subscriptions');
    const port = new URL(push.url).port;
    const bad = [
      'https://127.0.0.1/push/1',
      `https://127.0.0.1:${port}/push/1`,
      'https://[::1]/push/1',
      'https://10.0.0.5/push/1',
      'https://169.254.169.254/latest/meta-data',
      'https://[::ffff:127.0.0.1]/push/1',
      'https://localhost/push/1', // resolves to 127.0.0.1
      'https://vm/push/1', // this machine's host name: loopback
      `https://localhost:${Number(port) + 1}/push/1`, // allowlisted host, other port
      'https://fcm.googleapis.com:8443/fcm/send/x', // odd port
      'https://push.example.invalid/push/1', // does not resolve
      'http://fcm.googleapis.com/fcm/send/x',
    ];
    for (const endpoint of bad) {
      const res = await publicSubscribe({ endpoint, keys: s.keys });
      expect(res.status, `${endpoint}: ${JSON.stringify(res.body)}`).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
      await resetRateLimits();
    }
    expect(await count('SELECT count(*)::int AS n FROM push_subscriptions')).toBe(before);
    // The fake push service is reachable only because the test put it on PUSH_ENDPOINT_ALLOWLIST.
    expect((await publicSubscribe({ endpoint: s.endpoint, keys: s.keys })).status).toBe(201);
  });

  it('checks p256dh as a P-256 point and auth as 16 bytes when subscribing', async () => {
    const s = push.subscribe();
    const offCurve = b64u(Buffer.concat([Buffer.from([4]), randomBytes(64)]));
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const compressed = b64u(ecdh.getPublicKey(null, 'compressed'));
    for (const keys of [
      { p256dh: offCurve, auth: s.keys.auth },
      { p256dh: compressed, auth: s.keys.auth },
      { p256dh: s.keys.p256dh, auth: b64u(randomBytes(24)) },
      { p256dh: s.keys.p256dh, auth: b64u(randomBytes(12)) },
    ]) {
      const res = await publicSubscribe({ endpoint: s.endpoint, keys });
      expect(res.status, JSON.stringify(keys)).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
    }
    expect(await count('SELECT count(*)::int AS n FROM push_subscriptions WHERE endpoint = $1', [s.endpoint])).toBe(0);
  });

  it('rate-limits per IP and overall with 429 + Retry-After, counted in PostgreSQL', async () => {
    const ip = '203.0.113.7';
    for (let i = 0; i < PER_IP; i++) {
      const s = push.subscribe();
      expect((await publicSubscribe({ endpoint: s.endpoint, keys: s.keys }, ip)).status).toBe(201);
    }
    const s = push.subscribe();
    const limited = await publicSubscribe({ endpoint: s.endpoint, keys: s.keys }, ip);
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    // Other addresses go on until the overall budget is spent.
    const statuses: number[] = [];
    for (let i = 0; i < TOTAL; i++) {
      const x = push.subscribe();
      statuses.push((await publicSubscribe({ endpoint: x.endpoint, keys: x.keys })).status);
    }
    expect(statuses.filter((c) => c === 201)).toHaveLength(TOTAL - PER_IP);
    expect(statuses.slice(TOTAL - PER_IP).every((c) => c === 429)).toBe(true);
    expect(await count(`SELECT count(*)::int AS n FROM rate_limits`)).toBeGreaterThan(0);
  });

  it(`the limits hold across server nodes on one database (${usingRealPostgres() ? 'two nodes' : 'one embedded node'})`, async () => {
    let second: Awaited<ReturnType<typeof startServer>> | undefined;
    if (usingRealPostgres()) {
      const env = {
        TRUST_PROXY: 'true',
        PUSH_ENDPOINT_ALLOWLIST: push.allowlistEntry,
        PUSH_SUBSCRIBE_LIMIT_PER_IP: String(PER_IP),
        PUSH_SUBSCRIBE_LIMIT_TOTAL: String(TOTAL),
        BROADCAST_ENDPOINTS: headEnd.url,
        BROADCAST_SECRET: SECRET,
      };
      const config = loadConfig(testEnv(await tempDir(), t.database.url, env));
      second = await startServer(config, createLogger(config.LOG_LEVEL));
    }
    try {
      const other = second ? new Api(second.url) : t.api;
      const statuses: number[] = [];
      for (const api of [t.api, other, t.api, other]) {
        const s = push.subscribe();
        statuses.push((await api.request('POST', '/public/push/subscriptions', { endpoint: s.endpoint, keys: s.keys }, { headers: fromIp('203.0.113.99') })).status);
      }
      expect(statuses).toEqual([201, 201, 201, 429]);
    } finally {
      await second?.close();
    }
  });

  it('L7: an endpoint bound to an account cannot be re-pointed by an anonymous caller or another user', async () => {
    const s = push.subscribe();
    const mine = await t.admin.post('/api/push/subscriptions', { endpoint: s.endpoint, keys: s.keys, location: { lat: 41.8, lon: 123.35 } });
    expect(mine.status, JSON.stringify(mine.body)).toBe(201);
    const attacker = push.subscribe();
    const anonymous = await publicSubscribe({ endpoint: s.endpoint, keys: attacker.keys, location: { lat: 0, lon: 0 } });
    expect(anonymous.status).toBe(409);
    expect(anonymous.body.error.code).toBe('conflict');
    const other = await t.user('staff');
    const byOther = await other.post('/api/push/subscriptions', { endpoint: s.endpoint, keys: attacker.keys });
    expect(byOther.status).toBe(409);
    const { rows } = await t.server.context.db.pool.query('SELECT user_id::text AS "userId", p256dh, lat FROM push_subscriptions WHERE endpoint = $1', [s.endpoint]);
    const adminId = (await t.admin.get('/api/auth/me')).body.user.userId;
    expect(rows).toEqual([{ userId: adminId, p256dh: s.keys.p256dh, lat: 41.8 }]);
    // The owner may still update it.
    expect((await t.admin.post('/api/push/subscriptions', { endpoint: s.endpoint, keys: s.keys, location: { lat: 41.81, lon: 123.35 } })).status).toBe(201);
    // An anonymous subscription can be refreshed by whoever holds its keys, not re-keyed by someone else.
    const anon = push.subscribe();
    expect((await publicSubscribe({ endpoint: anon.endpoint, keys: anon.keys })).status).toBe(201);
    expect((await publicSubscribe({ endpoint: anon.endpoint, keys: anon.keys, location: { lat: 41.8, lon: 123.35 } })).status).toBe(201);
    expect((await publicSubscribe({ endpoint: anon.endpoint, keys: attacker.keys })).status).toBe(409);
  });

  it('a push that cannot be encrypted, or that the push service refuses with 4xx, fails at once instead of retrying', async () => {
    const incident = await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual', title: 'push failures' });
    expect(incident.status).toBe(201);
    await t.server.context.db.pool.query('DELETE FROM push_subscriptions');
    const refused = push.subscribe([400]);
    expect((await publicSubscribe({ endpoint: refused.endpoint, keys: refused.keys })).status).toBe(201);
    // A row written before subscribe-time key checks existed: its key is no P-256 point.
    const legacy = push.subscribe();
    await t.server.context.db.pool.query(`INSERT INTO push_subscriptions (id, endpoint, p256dh, auth) VALUES (gen_random_uuid(), $1, $2, $3)`, [
      legacy.endpoint,
      b64u(Buffer.concat([Buffer.from([4]), randomBytes(64)])),
      legacy.keys.auth,
    ]);
    // A host that resolved to a public address when it subscribed and now points at this machine.
    const rebound = push.subscribe();
    await t.server.context.db.pool.query(`INSERT INTO push_subscriptions (id, endpoint, p256dh, auth) VALUES (gen_random_uuid(), $1, $2, $3)`, [
      rebound.endpoint.replace('://localhost:', '://vm:'),
      rebound.keys.p256dh,
      rebound.keys.auth,
    ]);
    const draft = await t.admin.post(`/api/incidents/${incident.body.incident.id}/warnings`, { template: 'wl-iii-yellow', channels: ['push'] });
    expect(draft.status, JSON.stringify(draft.body)).toBe(201);
    const approver = await t.user('commander');
    expect((await approver.post(`/api/warnings/${draft.body.warning.id}/approve`)).status).toBe(200);
    const deliveries = await waitFor(async () => {
      const d = (await t.admin.get(`/api/warnings/${draft.body.warning.id}/deliveries`)).body.deliveries as { status: string; attempts: number }[];
      return d.length === 3 && d.every((x) => x.status === 'failed' || x.status === 'delivered') ? d : null;
    }, 'push deliveries to settle');
    expect(deliveries.map((d) => [d.status, d.attempts])).toEqual([
      ['failed', 1],
      ['failed', 1],
      ['failed', 1],
    ]);
    expect(push.received.filter((p) => p.subscriptionId === rebound.id)).toEqual([]);
  });
});

describe('H3 push endpoint allowlist', () => {
  it('matches host, *.domain and port exactly, and a malformed entry is a config error', async () => {
    const policy = new PushEndpointPolicy('fcm.googleapis.com,*.notify.windows.com,push.example.org:8443', async () => ['127.0.0.1']);
    expect(await policy.refusal('https://fcm.googleapis.com/fcm/send/abc')).toBeNull();
    expect(await policy.refusal('https://wns2-par02p.notify.windows.com/w/?token=x')).toBeNull();
    expect(await policy.refusal('https://push.example.org:8443/p/1')).toBeNull();
    // Not on the list, so checked as any other host (here resolving to loopback) and refused.
    for (const u of ['https://notify.windows.com.evil.example/w', 'https://fcm.googleapis.com.evil.example/x', 'https://push.example.org/p/1', 'https://evilnotify.windows.com/w']) {
      expect(await policy.refusal(u), u).toMatch(/not on the public internet|port 443/);
    }
    expect((() => { try { loadConfig({ PUSH_ENDPOINT_ALLOWLIST: 'fcm.googleapis.com,https://x.example/path' }); return []; } catch (e) { return (e as ConfigError).problems; } })()).toEqual([
      expect.stringMatching(/^PUSH_ENDPOINT_ALLOWLIST: "https:\/\/x\.example\/path"/),
    ]);
  });
});

describe('M7 security headers', () => {
  it('the CSP lets map tiles come from MAP_TILE_URL\'s origin, and HSTS is sent when PUBLIC_URL is https', async () => {
    const app = createHttpApp({ log: t.server.context.log, trustProxy: false, routers: [], tileUrl: 'https://tiles.example.local/{z}/{x}/{y}.png', publicUrl: 'https://yingji.example.org' });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}/nothing`);
      expect(res.headers.get('content-security-policy')).toMatch(/img-src 'self' data: blob: https:\/\/tiles\.example\.local(;|$)/);
      expect(res.headers.get('content-security-policy')).toMatch(/connect-src 'self' ws:\/\/127\.0\.0\.1:\d+ wss:\/\/127\.0\.0\.1:\d+ ws:\/\/yingji\.example\.org wss:\/\/yingji\.example\.org/);
      expect(res.headers.get('strict-transport-security')).toMatch(/max-age=/);
      expect(res.status).toBe(404);
    } finally {
      server.close();
    }
  });


  it('pages and API answers carry a strict CSP, nosniff, frame denial and a referrer policy; HSTS only over https', async () => {
    for (const p of ['/', '/field', '/api/auth/me', '/healthz']) {
      const res = await fetch(t.url + p);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, p).toMatch(/script-src 'self'(;|$)/);
      expect(csp).toMatch(/object-src 'none'/);
      expect(csp).toMatch(/frame-ancestors 'none'/);
      expect(csp).toMatch(/base-uri 'none'/);
      expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('strict-transport-security')).toBeNull();
      await res.arrayBuffer();
    }
    const tls = await fetch(t.url + '/healthz', { headers: { 'x-forwarded-proto': 'https' } });
    expect(tls.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
  });
});

describe('L1 input hygiene', () => {
  it('control characters and whitespace-only required text are refused with 400, and nothing is written', async () => {
    const incidents = await count('SELECT count(*)::int AS n FROM incidents');
    for (const title of ['\u0000', 'flood\u0000', 'flood\u0007alarm', 'line\nbreak', 'del\u007f', '   ', '\u200b\u3000']) {
      const res = await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'IV', mode: 'exercise', title });
      expect(res.status, JSON.stringify(title)).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
    }
    expect(await count('SELECT count(*)::int AS n FROM incidents')).toBe(incidents);

    const ok = await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'exercise', title: 'hygiene' });
    const id = ok.body.incident.id as string;
    const events = await count('SELECT count(*)::int AS n FROM incident_events WHERE incident_id = $1', [id]);
    const field = await t.user('field', { teamId: 'T-D01' });
    for (const text of ['\u0000', 'water\u0000level', 'esc\u001b[31m', '  \n\t ', '\u200b']) {
      const res = await field.post(`/api/incidents/${id}/reports`, { text });
      expect(res.status, JSON.stringify(text)).toBe(400);
    }
    // Multi-line text keeps its newlines and tabs.
    expect((await field.post(`/api/incidents/${id}/reports`, { text: '积水\n\t60厘米\r\n已封闭' })).status).toBe(201);
    expect(await count('SELECT count(*)::int AS n FROM incident_events WHERE incident_id = $1', [id])).toBe(events + 1);

    const userRes = await t.admin.post('/api/users', { username: 'nul.user', password: 'password-123', role: 'observer', displayName: 'Eve\u0000' });
    expect(userRes.status).toBe(400);
    const draft = await t.admin.post(`/api/incidents/${id}/warnings`, { template: 'wl-iii-yellow' });
    expect(draft.status).toBe(201);
    for (const headline of [{ zh: '预警\u0000', en: 'warning' }, { zh: '预警', en: ' \u200b ' }]) {
      expect((await t.admin.patch(`/api/warnings/${draft.body.warning.id}`, { headline })).status, JSON.stringify(headline)).toBe(400);
    }
    expect((await t.admin.post(`/api/incidents/${id}/warnings`, { template: 'wl-iii-yellow', text: { zh: '<script>\u0000', en: 'x' } })).status).toBe(400);
    const dispatch = await t.admin.post(`/api/incidents/${id}/dispatches`, { teamId: 'T-D02', task: 'pump\u0000' });
    expect(dispatch.status).toBe(400);
    const csv = `${TEAM_HEADER}\nT-X01,救援\u0001队,Rescue,district,fire-rescue,firefighting,10,41.8,123.3,地址,张,+8613800000001`;
    const imported = await t.admin.post('/api/csv/teams', { csv });
    expect(imported.status).toBe(422);
    expect(imported.body.error.code).toBe('invalid_csv');
  });
});

const TEAM_HEADER = 'id,name_zh,name_en,tier,kind,specialties,headcount,base_lat,base_lon,base_address,contact_name,contact_phone';

describe('M6 CSV export', () => {
  it('neutralises cells that a spreadsheet would run as formulas, and the export imports back to the same values', async () => {
    const formula = "=cmd|' /C calc'!A0";
    const teams = [
      `${TEAM_HEADER}`,
      `T-X02,"${formula.replace(/"/g, '""')}",+SUM(A1),district,fire-rescue,firefighting,10,41.8,123.3,-2+3,@SUM(A1),+8613800000001`,
    ].join('\n');
    expect((await t.admin.post('/api/csv/teams', { csv: teams })).status).toBe(200);
    const stock = 'warehouse_id,item,batch,quantity\nW-01,de-icing-salt,=1+2,5';
    expect((await t.admin.post('/api/csv/stock', { csv: stock })).status).toBe(200);

    const teamsCsv = (await t.admin.get('/api/csv/teams')).body as string;
    const team = (parse(teamsCsv, { columns: true, bom: true }) as Record<string, string>[]).find((r) => r.id === 'T-X02')!;
    expect(team).toMatchObject({ name_zh: `'${formula}`, name_en: "'+SUM(A1)", base_address: "'-2+3", contact_name: "'@SUM(A1)", contact_phone: "'+8613800000001" });
    for (const row of parse(teamsCsv, { bom: true }) as string[][]) for (const cell of row) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
    const stockCsv = (await t.admin.get('/api/csv/stock?warehouseId=W-01')).body as string;
    const line = (parse(stockCsv, { columns: true, bom: true }) as Record<string, string>[]).find((r) => r.batch?.includes('1+2'))!;
    expect(line.batch).toBe("'=1+2");

    // Round trip: importing the exported files changes nothing.
    expect((await t.admin.post('/api/csv/teams', { csv: teamsCsv })).status).toBe(200);
    expect((await t.admin.post('/api/csv/stock', { csv: stockCsv })).status).toBe(200);
    const { rows } = await t.server.context.db.pool.query(`SELECT name_zh, name_en, base_address, contact_name, contact_phone FROM teams WHERE id = 'T-X02'`);
    expect(rows[0]).toEqual({ name_zh: formula, name_en: '+SUM(A1)', base_address: '-2+3', contact_name: '@SUM(A1)', contact_phone: '+8613800000001' });
    expect(await count(`SELECT count(*)::int AS n FROM stock_lines WHERE batch = '=1+2'`)).toBe(1);
    expect(await count(`SELECT count(*)::int AS n FROM stock_lines WHERE batch LIKE '''%'`)).toBe(0);
  });

  it('a cell that starts with a tab or a carriage return (which some spreadsheets strip before a formula) is refused at import, so none is ever exported', async () => {
    for (const lead of ['\t', '\r']) {
      const teams = `${TEAM_HEADER}\nT-X03,"${lead}=1+2",Tab team,district,fire-rescue,firefighting,10,41.8,123.3,addr,contact,+8613800000002`;
      const res = await t.admin.post('/api/csv/teams', { csv: teams });
      expect(res.status, JSON.stringify(lead)).toBe(422);
      expect(res.body.error.message).toMatch(/control characters/);
      const stock = `warehouse_id,item,batch,quantity\nW-01,de-icing-salt,"${lead}=3+4",5`;
      expect((await t.admin.post('/api/csv/stock', { csv: stock })).status, JSON.stringify(lead)).toBe(422);
    }
    expect(await count(`SELECT count(*)::int AS n FROM teams WHERE id = 'T-X03'`)).toBe(0);
    expect(await count(`SELECT count(*)::int AS n FROM stock_lines WHERE batch LIKE '%3+4'`)).toBe(0);
  });
});

describe('L5 drill targets', () => {
  const base = { BROADCAST_SECRET: SECRET };
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig(env);
      return [];
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).problems;
    }
  };

  it('an address that is both a real and a drill target is refused at start, however it is written', () => {
    for (const [real, drill] of [
      ['https://he.example.org/cap', 'https://HE.example.org:443/cap/'],
      ['http://10.1.2.3:80/cap/', 'HTTP://10.1.2.3/cap'],
      ['https://screens.example.org/a,https://he.example.org/cap', 'https://he.example.org/cap#x'],
    ]) {
      const p = problems({ ...base, BROADCAST_ENDPOINTS: real!, EXERCISE_BROADCAST_ENDPOINTS: drill! });
      expect(p, `${real} / ${drill}`).toHaveLength(1);
      expect(p[0]).toMatch(/^EXERCISE_BROADCAST_ENDPOINTS: \S+ is both a real and a drill target/);
    }
    expect(problems({ ...base, BROADCAST_ENDPOINTS: 'https://he.example.org/cap', EXERCISE_BROADCAST_ENDPOINTS: 'https://he.example.org/drill' })).toEqual([]);
  });

  it('drill SMS numbers are compared in E.164, and one that is not a phone number is a config error', () => {
    const sinks = new ExerciseSinks(loadConfig({ EXERCISE_SMS_NUMBERS: '+86 138-0000-0005, +8613900000099' }));
    expect(sinks.smsNumbers).toEqual(['+8613800000005', '+8613900000099']);
    expect(problems({ EXERCISE_SMS_NUMBERS: '+8613800000005,not-a-number' })).toEqual([expect.stringMatching(/^EXERCISE_SMS_NUMBERS: /)]);
  });

  it('broadcast targets without a signing secret are refused unless BROADCAST_ALLOW_UNSIGNED=true', () => {
    expect(problems({ BROADCAST_ENDPOINTS: 'https://he.example.org/cap' })).toEqual([expect.stringMatching(/^BROADCAST_SECRET: /)]);
    expect(problems({ EXERCISE_BROADCAST_ENDPOINTS: 'https://he.example.org/cap' })).toEqual([expect.stringMatching(/^BROADCAST_SECRET: /)]);
    expect(problems({ BROADCAST_ENDPOINTS: 'https://he.example.org/cap', BROADCAST_ALLOW_UNSIGNED: 'true' })).toEqual([]);
  });

  it('an endpoint registered through the API is stored normalised, so a drill copy of a real endpoint is a conflict', async () => {
    const { rows } = await t.server.context.db.pool.query(`SELECT url FROM broadcast_endpoints WHERE source = 'env'`);
    expect(rows.map((r) => r.url)).toEqual([headEnd.url]);
    const u = new URL(headEnd.url);
    for (const url of [`${headEnd.url}/`, `HTTP://${u.host}${u.pathname}`, `${headEnd.url}#drill`]) {
      const res = await t.admin.post('/api/broadcast-endpoints', { name: 'drill copy', url, exercise: true });
      expect(res.status, url).toBe(409);
    }
    expect(await count(`SELECT count(*)::int AS n FROM broadcast_endpoints WHERE exercise`)).toBe(0);
  });
});

describe('L5 unsigned broadcasts', () => {
  let u: TestServer;
  const plainHeadEnd = new FakeHeadEnd(SECRET);
  beforeAll(async () => {
    await plainHeadEnd.start();
    u = await startTestServer({ WARNING_RETRY_BASE_MS: '20', WARNING_POLL_MS: '50' }); // no BROADCAST_SECRET
  });
  afterAll(async () => {
    await u?.close();
    await plainHeadEnd.stop();
  });

  it('without a signing secret an endpoint cannot be registered, and one left from before is never sent to unsigned', async () => {
    const res = await u.admin.post('/api/broadcast-endpoints', { name: 'screen', url: plainHeadEnd.url });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('validation_failed');
    expect((await u.admin.post('/api/broadcast-endpoints', { name: 'screen', url: plainHeadEnd.url, secret: SECRET })).status).toBe(201);
    // A row registered before secrets were required.
    await u.server.context.db.pool.query(`INSERT INTO broadcast_endpoints (id, name, url, exercise, source) VALUES ('legacy-1', 'old screen', $1, false, 'api')`, [`${plainHeadEnd.url}/legacy`]);
    const incident = await u.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' });
    const draft = await u.admin.post(`/api/incidents/${incident.body.incident.id}/warnings`, { template: 'wl-iii-yellow', channels: ['broadcast'] });
    expect(draft.status, JSON.stringify(draft.body)).toBe(201);
    expect((await (await u.user('commander')).post(`/api/warnings/${draft.body.warning.id}/approve`)).status).toBe(200);
    const deliveries = await waitFor(async () => {
      const d = (await u.admin.get(`/api/warnings/${draft.body.warning.id}/deliveries`)).body.deliveries as { targetId: string; status: string; attempts: number; lastError: string | null }[];
      return d.length === 2 && d.every((x) => x.status === 'failed' || x.status === 'delivered') ? d : null;
    }, 'broadcast deliveries to settle');
    const legacy = deliveries.find((d) => d.targetId === 'legacy-1')!;
    expect(legacy).toMatchObject({ status: 'failed', attempts: 1, lastError: expect.stringMatching(/unsigned|secret/) });
    expect(deliveries.find((d) => d.targetId !== 'legacy-1')).toMatchObject({ status: 'delivered' });
    expect(plainHeadEnd.accepted).toHaveLength(1);
    expect(plainHeadEnd.rejected).toEqual([]);
  });
});

// Last: takes the database away under the running server, then gives it back.
describe('L2 database outage', () => {
  it('answers 503 unavailable with Retry-After, /healthz says down without driver text, and recovers', async () => {
    const db = t.server.context.db;
    const restore = usingRealPostgres() ? await blockRealDatabase(t.database.url!) : await unplugPool(db.pool);
    try {
      for (const p of ['/api/incidents', '/api/teams']) {
        const res = await t.admin.get(p);
        expect(res.status, `${p}: ${JSON.stringify(res.body)}`).toBe(503);
        expect(res.body.error.code).toBe('unavailable');
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(JSON.stringify(res.body)).not.toMatch(/ECONNREFUSED|terminat|postgres|pglite|yingji_t_|accepting connections/i);
      }
      const subscribe = await publicSubscribe({ endpoint: push.subscribe().endpoint, keys: push.subscribe().keys });
      expect(subscribe.status).toBe(503);
      const health = await t.api.get('/healthz');
      expect(health.status).toBe(503);
      expect(health.headers.get('retry-after')).not.toBeNull();
      expect(health.body).toEqual({ status: 'unavailable', database: { status: 'down' } });
    } finally {
      await restore();
    }
    await waitFor(async () => (await t.admin.get('/api/incidents')).status === 200, 'the server to use the database again');
    expect((await t.api.get('/healthz')).body).toEqual({ status: 'ok', database: { status: 'ok' } });
  });
});

/** Real PostgreSQL: refuse new connections to the server's database and end the ones it has. */
async function blockRealDatabase(url: string): Promise<() => Promise<void>> {
  const name = new URL(url).pathname.slice(1);
  const adminClient = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
  await adminClient.connect();
  await adminClient.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
  await adminClient.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
  return async () => {
    await adminClient.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
    await adminClient.end();
  };
}

/** Embedded PGlite (one connection): the pool's connection is dropped and new ones go to a closed port. */
async function unplugPool(pool: pg.Pool): Promise<() => Promise<void>> {
  const options = (pool as unknown as { options: { connectionString: string } }).options;
  const original = options.connectionString;
  const closed = await import('node:net').then(
    (net) =>
      new Promise<number>((resolve) => {
        const s = net.createServer().listen(0, '127.0.0.1', () => {
          const port = (s.address() as import('node:net').AddressInfo).port;
          s.close(() => resolve(port));
        });
      }),
  );
  const u = new URL(original);
  u.port = String(closed);
  options.connectionString = u.toString();
  const client = await pool.connect();
  client.release(new Error('simulated outage: connection dropped'));
  return async () => {
    options.connectionString = original;
  };
}
