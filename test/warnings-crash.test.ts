import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Api } from './helpers/api.js';
import { createTestDatabase } from './helpers/database.js';
import { ADMIN_PASSWORD, spawnServer, tempDir, testEnv, type SpawnedServer } from './helpers/server.js';
import { FakePushService } from './fakes/push-service.js';
import { FakeHeadEnd } from './fakes/broadcast-head-end.js';
import { waitFor } from './helpers/wait.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const N = 1000;
const SECRET = 'broadcast-secret-for-tests-0123';

async function counts(api: Api, id: string) {
  const w = (await api.get(`/api/warnings/${id}`)).body.warning;
  return Object.fromEntries(w.delivery.channels.map((c: any) => [c.channel, c])) as Record<string, any>;
}

describe('warnings: SIGKILL in the middle of a send', () => {
  it('after restart every recipient has exactly one message per channel', async () => {
    const push = await new FakePushService().start();
    const headEnd = await new FakeHeadEnd(SECRET).start();
    const dataDir = await tempDir();
    const database = await createTestDatabase();
    cleanups.push(() => push.stop(), () => headEnd.stop(), () => rm(dataDir, { recursive: true, force: true }), () => database.drop());
    const caFile = path.join(dataDir, 'push-ca.pem');
    await writeFile(caFile, push.cert);
    const env = testEnv(dataDir, database.url, {
      WEB_PUSH_CA_FILE: caFile,
      PUSH_ENDPOINT_ALLOWLIST: push.allowlistEntry,
      PUSH_SUBSCRIBE_LIMIT_PER_IP: '100000',
      PUSH_SUBSCRIBE_LIMIT_TOTAL: '100000',
      BROADCAST_ENDPOINTS: headEnd.url,
      BROADCAST_SECRET: SECRET,
      // Slow enough that the kill lands mid-send; short claim lease so the restart recovers quickly.
      WARNING_RATE_SMS: '150',
      WARNING_RATE_PUSH: '150',
      WARNING_BATCH_SIZE: '25',
      WARNING_CLAIM_TIMEOUT_MS: '1500',
      WARNING_POLL_MS: '50',
    });

    let server: SpawnedServer = await spawnServer(env);
    cleanups.push(() => server.kill());
    let admin = await new Api(server.url).login('admin', ADMIN_PASSWORD);
    push.vapidPublicKey = (await admin.get('/api/push/vapid-public-key')).body.publicKey;
    const staffRes = await admin.post('/api/users', { username: 'crash.staff', password: 'password-123', role: 'staff' });
    expect(staffRes.status).toBe(201);
    const staff = await new Api(server.url).login('crash.staff', 'password-123');

    const incident = (await admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' })).body.incident;
    const tpl = (await admin.get(`/api/incidents/${incident.id}`)).body.plan.warningTemplates[0];
    const circle = { lat: 41.80, lon: 123.36, radiusKm: 5 };
    const rows = ['phone,kind,lat,lon'];
    for (let i = 0; i < N; i++) rows.push(`+86135${String(i).padStart(8, '0')},public,${circle.lat + ((i % 40) - 20) * 0.0005},${circle.lon + (Math.floor(i / 40) - 12) * 0.0005}`);
    expect((await admin.post('/api/recipients/import', { list: 'crash', csv: rows.join('\n') })).body.imported).toBe(N);
    const subs = Array.from({ length: N }, () => push.subscribe());
    for (let i = 0; i < N; i += 50) {
      await Promise.all(subs.slice(i, i + 50).map(async (s) => {
        const r = await admin.post('/public/push/subscriptions', { endpoint: s.endpoint, keys: s.keys, location: { lat: circle.lat, lon: circle.lon } });
        expect(r.status).toBe(201);
      }));
    }

    const draft = await staff.post(`/api/incidents/${incident.id}/warnings`, { template: tpl.id, area: { description: tpl.area.description, circle } });
    expect(draft.status).toBe(201);
    const wid = draft.body.warning.id;
    const approved = await admin.post(`/api/warnings/${wid}/approve`);
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    const queued = Object.fromEntries(approved.body.warning.delivery.channels.map((c: any) => [c.channel, c.total]));
    expect(queued).toEqual({ sms: N, push: N, broadcast: 1 });

    // Kill once some, but not all, have gone out.
    await waitFor(async () => {
      const c = await counts(admin, wid);
      return c.sms.delivered >= 100 && c.push.delivered >= 50;
    }, 'sending under way', 60_000, 20);
    expect(await server.kill('SIGKILL')).toBe('SIGKILL');
    const atKill = push.received.length;
    expect(atKill).toBeLessThan(N);

    server = await spawnServer(env);
    admin = await new Api(server.url).login('admin', ADMIN_PASSWORD);
    const final = await waitFor(async () => {
      const c = await counts(admin, wid);
      return Object.values(c).every((x: any) => x.queued === 0 && x.sending === 0) ? c : null;
    }, 'all deliveries settled after restart', 120_000, 200);
    expect(final.sms).toMatchObject({ delivered: N, failed: 0, unknown: 0 });
    expect(final.push).toMatchObject({ delivered: N, failed: 0 });
    expect(final.broadcast).toMatchObject({ delivered: 1 });

    // SMS went to the built-in sink: exactly one message per number.
    const sink: any[] = [];
    for (let after = 0; ; ) {
      const page = (await admin.get(`/api/warnings/${wid}/sink?afterId=${after}&limit=5000`)).body.messages;
      sink.push(...page);
      if (page.length < 5000) break;
      after = page[page.length - 1].id;
    }
    const sms = sink.filter((m) => m.channel === 'sms');
    expect(sms).toHaveLength(N);
    expect(new Set(sms.map((m) => m.address)).size).toBe(N);

    // Push: every subscriber shows exactly one notification (redeliveries of in-flight pushes carry
    // the same tag and replace it, as a service worker's showNotification({tag}) does).
    const perSub = new Map<string, Set<string>>();
    for (const p of push.received.filter((p) => p.payload.warningId === wid)) {
      perSub.set(p.subscriptionId, (perSub.get(p.subscriptionId) ?? new Set()).add(p.payload.tag));
    }
    expect(perSub.size).toBe(N);
    expect([...perSub.values()].every((tags) => tags.size === 1)).toBe(true);
    const redelivered = push.received.length - N;
    expect(redelivered).toBeLessThanOrEqual(25 * 2);

    // Broadcast: the head-end accepted the CAP exactly once (duplicates, if any, deduped by key).
    expect(headEnd.accepted).toHaveLength(1);
    expect((await admin.get(`/api/incidents/${incident.id}/events/verify`)).body.ok).toBe(true);
    console.log(`crash test: push redeliveries after SIGKILL ${redelivered}, head-end duplicates ${headEnd.duplicates.length}, pushes before kill ${atKill}`);
    expect(await server.kill('SIGTERM')).toBe(0);
  }, 300_000);
});
