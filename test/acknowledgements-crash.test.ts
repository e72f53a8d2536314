import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { Api } from './helpers/api.js';
import { createTestDatabase, usingRealPostgres } from './helpers/database.js';
import { ADMIN_PASSWORD, spawnServer, tempDir, testEnv, type SpawnedServer } from './helpers/server.js';
import { FakeTwilio } from './fakes/twilio-api.js';
import { waitFor } from './helpers/wait.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const N = 30;
const phone = (i: number) => `+86136${String(i).padStart(8, '0')}`;
const superior = (i: number) => `+86139${String(100 + i).padStart(8, '0')}`;
const twoNodes = usingRealPostgres();

/**
 * The escalation scheduler under SIGKILL: one node is killed while a round of resends, calls and
 * superior alerts is under way (the fake Twilio answers slowly so the kill lands mid-round). With
 * real PostgreSQL a second node works on the same rows throughout. Afterwards no step is lost
 * (every one is done, or `unknown` when the kill fell between the Twilio call and its record) and
 * none is doubled at Twilio; each done step has exactly one event.
 */
describe('叫应 escalation: SIGKILL during a round', () => {
  it(twoNodes ? 'two nodes share the round; after one is killed and restarted, no step is lost or sent twice' : 'one node (embedded PGlite) killed mid-round and restarted: no step lost or sent twice', async () => {
    const fake = await new FakeTwilio().start();
    fake.callbacks = false;
    const dataDir = await tempDir();
    const database = await createTestDatabase();
    cleanups.push(() => fake.stop(), () => rm(dataDir, { recursive: true, force: true }), () => database.drop());
    const env = testEnv(dataDir, database.url, {
      TWILIO_ACCOUNT_SID: fake.accountSid,
      TWILIO_AUTH_TOKEN: fake.authToken,
      TWILIO_FROM: '+15005550006',
      TWILIO_API_BASE_URL: fake.url,
      WARNING_RATE_SMS: '1000',
      WARNING_POLL_MS: '50',
      WARNING_CLAIM_TIMEOUT_MS: '1500',
      WARNING_BATCH_SIZE: '10',
      ACK_POLL_MS: '50',
      ACK_CLAIM_TIMEOUT_MS: '1500',
    });
    let a: SpawnedServer = await spawnServer(env);
    cleanups.push(() => a.kill());
    let b: SpawnedServer | undefined;
    if (twoNodes) {
      b = await spawnServer(env);
      cleanups.push(() => b!.kill());
    }
    const admin = await new Api(a.url).login('admin', ADMIN_PASSWORD);
    expect((await admin.post('/api/users', { username: 'esc.staff', password: 'password-123', role: 'staff' })).status).toBe(201);
    const staff = await new Api(a.url).login('esc.staff', 'password-123');
    const csv = ['name,phone,kind,role,responsible,escalation_name,escalation_phone', ...Array.from({ length: N }, (_, i) => `责任人${i},${phone(i)},responder,duty,true,上级${i},${superior(i)}`)].join('\n');
    expect((await admin.post('/api/recipients/import', { list: 'duty', csv })).status).toBe(200);
    const incident = (await admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' })).body.incident;
    const draft = await staff.post(`/api/incidents/${incident.id}/warnings`, {
      template: 'wl-iii-yellow',
      audience: { description: { zh: '责任人', en: 'Responsible officials' }, roles: ['duty'] },
      channels: ['sms'],
      acknowledgement: { withinMinutes: 0.03, callAfterMinutes: 0.01, escalateAfterMinutes: 0.01 },
    });
    expect(draft.status, JSON.stringify(draft.body)).toBe(201);
    const id = draft.body.warning.id as string;
    // Nobody answers. The first SMS go out quickly; then the provider slows down for the round.
    expect((await admin.post(`/api/warnings/${id}/approve`)).status).toBe(200);
    await waitFor(() => fake.messages.filter((m) => m.to.startsWith('+86136')).length >= N, 'first SMS');
    fake.delayMs = 150;
    await waitFor(() => fake.messages.filter((m) => m.body.startsWith('【叫应·重发】')).length + fake.calls.length >= 15, 'round under way', 30_000);
    await a.kill('SIGKILL');
    await a.exited;
    const stepMessages = () => fake.messages.filter((m) => m.body.startsWith('【叫应·重发】') || m.body.startsWith('【叫应未应答】')).length + fake.calls.length;
    // The kill landed mid-round: work was left for the restart (and the other node).
    const atKill = stepMessages();
    expect(atKill).toBeLessThan(N * 3);
    fake.delayMs = 0;
    a = await spawnServer(env);
    cleanups.push(() => a.kill());
    const admin2 = await new Api(a.url).login('admin', ADMIN_PASSWORD);

    const detail = await waitFor(async () => {
      const r = (await admin2.get(`/api/warnings/${id}/acknowledgements`)).body;
      return r.steps.length === N * 3 && r.steps.every((s: any) => s.status === 'done' || s.status === 'unknown') ? r : null;
    }, 'every step settled', 60_000);
    const done = detail.steps.filter((s: any) => s.status === 'done');
    const unknown = detail.steps.filter((s: any) => s.status === 'unknown');
    expect(done.length + unknown.length).toBe(N * 3);
    for (let i = 0; i < N; i++) {
      const resends = fake.messages.filter((m) => m.to === phone(i) && m.body.startsWith('【叫应·重发】'));
      const calls = fake.calls.filter((c) => c.to === phone(i));
      const alerts = fake.messages.filter((m) => m.to === superior(i));
      for (const [step, sent] of [['resend', resends.length], ['call', calls.length], ['escalate', alerts.length]] as const) {
        const row = detail.steps.find((s: any) => s.name === `责任人${i}` && s.step === step);
        // Never twice; exactly once when recorded done; at most once when the kill left it unknown.
        expect(sent, `${step} ${i}`).toBeLessThanOrEqual(1);
        if (row.status === 'done') expect(sent, `${step} ${i} done`).toBe(1);
      }
    }
    expect(stepMessages()).toBeGreaterThan(atKill);
    const events = (await admin2.get(`/api/incidents/${incident.id}/events?type=warning.ack_escalated`)).body.events;
    expect(events).toHaveLength(done.length);
    expect(new Set(events.map((e: any) => `${e.data.recipientId}:${e.data.step}`)).size).toBe(done.length);
    expect((await admin2.get(`/api/incidents/${incident.id}/events/verify`)).body.ok).toBe(true);
    if (twoNodes) {
      const { default: pg } = await import('pg');
      const c = new pg.Client({ connectionString: database.url });
      await c.connect();
      const nodes = await c.query(`SELECT count(DISTINCT claimed_by)::int AS n FROM escalation_steps`);
      await c.end();
      expect(nodes.rows[0].n).toBeGreaterThanOrEqual(2);
    }
  }, 240_000);
});
