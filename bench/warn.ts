/**
 * npm run bench:warn — the warning outbox under load.
 *
 * 1. Enqueue: approve one warning whose area holds 100,000 public SMS recipients (target ≤ 5 s
 *    into the outbox: CAP + one INSERT … SELECT + event, one transaction). Reference: a raw
 *    INSERT … SELECT of the same 100,000 outbox rows from generate_series.
 * 2. Web Push: the outbox worker pushing to a local fake push service (HTTPS, VAPID checked,
 *    aes128gcm decrypted; in a process of its own, as a real push service is not on the
 *    sender's machine) — pushes/s and per CPU core of the sending process. Reference: raw
 *    web-push sendNotification to the same service at the same concurrency, without the outbox.
 * 3. SMS: the worker sending through the real twilio client to a local fake Twilio at the
 *    configured rate limit — measured rate / configured rate.
 *
 * `npm run bench:warn -- --only enqueue` runs part 1 alone (`--only push`, `--only sms` likewise;
 * a comma-separated list picks several).
 *
 * BENCH_DATABASE_URL (or TEST_DATABASE_URL) names an admin connection (default
 * postgresql://postgres@127.0.0.1:5432/test; the bench makes and drops its own database);
 * BENCH_EMBEDDED=1 uses embedded PGlite instead.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import https from 'node:https';
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import webpush from 'web-push';
import { loadConfig, type Config } from '../server/config.js';
import { createLogger } from '../server/log.js';
import { startServer } from '../server/app.js';
import { OutboxWorker } from '../server/warnings/worker.js';
import { SmsChannel } from '../server/warnings/channels/sms.js';
import { PushChannel } from '../server/warnings/channels/push.js';
import { BroadcastChannel } from '../server/warnings/channels/broadcast.js';
import { ExerciseSinks } from '../server/warnings/exercise-sinks.js';
import { ProgressReporter } from '../server/warnings/progress-reporter.js';
import { loadVapidKeys } from '../server/warnings/vapid.js';
import type { PushServiceRequest, PushServiceStats } from './push-service-process.js';
import { FakeTwilio } from '../test/fakes/twilio-api.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const RECIPIENTS = Number(process.env.BENCH_RECIPIENTS ?? 100_000);
const PUSHES = Number(process.env.BENCH_PUSHES ?? 3000);
const SMS = Number(process.env.BENCH_SMS ?? 300);
const SMS_RATE = Number(process.env.BENCH_SMS_RATE ?? 100);
const embedded = process.env.BENCH_EMBEDDED === '1';
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

const onlyArg = process.argv.indexOf('--only');
const PARTS = new Set(onlyArg >= 0 ? (process.argv[onlyArg + 1] ?? '').split(',') : ['enqueue', 'push', 'sms']);
for (const p of PARTS) if (!['enqueue', 'push', 'sms'].includes(p)) throw new Error(`--only: unknown part ${p} (enqueue, push, sms)`);

type Subscription = { id: string; endpoint: string; keys: { p256dh: string; auth: string } };
type Distribute<T> = T extends unknown ? Omit<T, 'id'> : never;

/** The fake push service, running in bench/push-service-process.ts. */
class PushServiceProcess {
  url = '';
  cert = '';
  allowlistEntry = '';
  private child?: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, (result: unknown) => void>();

  async start(): Promise<this> {
    this.child = fork(path.join(import.meta.dirname, 'push-service-process.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const ready = await new Promise<{ url: string; cert: string; allowlistEntry: string }>((resolve, reject) => {
      this.child!.once('message', resolve);
      this.child!.once('exit', (code) => reject(new Error(`push service process exited (${code})`)));
    });
    Object.assign(this, { url: ready.url, cert: ready.cert, allowlistEntry: ready.allowlistEntry });
    this.child.on('message', (m: { id: number; result: unknown }) => this.pending.get(m.id)?.(m.result));
    return this;
  }

  private call<T>(request: Distribute<PushServiceRequest>): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve) => {
      this.pending.set(id, (r) => { this.pending.delete(id); resolve(r as T); });
      this.child!.send({ ...request, id });
    });
  }

  subscribe(count: number): Promise<Subscription[]> { return this.call({ op: 'subscribe', count }); }
  expectVapid(publicKey: string): Promise<null> { return this.call({ op: 'expectVapid', publicKey }); }
  stats(): Promise<PushServiceStats> { return this.call({ op: 'stats' }); }

  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child!.once('exit', r));
    this.child.disconnect();
    await exited;
  }
}

const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const fmt = (n: number, d = 1) => n.toFixed(d);

async function main() {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'yingji-bench-warn-'));
  let dbName: string | undefined;
  let databaseUrl: string | undefined;
  if (!embedded) {
    dbName = `yingji_bench_warn_${randomBytes(4).toString('hex')}`;
    const c = new pg.Client({ connectionString: ADMIN_URL });
    await c.connect();
    await c.query(`CREATE DATABASE ${dbName}`);
    await c.end();
    const u = new URL(ADMIN_URL);
    u.pathname = `/${dbName}`;
    databaseUrl = u.toString();
  }
  const push = await new PushServiceProcess().start();
  const twilioFake = await new FakeTwilio().start();
  twilioFake.callbacks = false;
  const caFile = path.join(dataDir, 'ca.pem');
  await writeFile(caFile, push.cert);
  const env: Record<string, string> = {
    PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, ADMIN_PASSWORD: 'bench-password-123', LOG_LEVEL: 'warn',
    PLANS_DIR: path.join(ROOT, 'plans'), ORGANISATION_FILE: path.join(ROOT, 'seed/demo-organisation.yaml'),
    WARNING_WORKERS: 'false', WEB_PUSH_CA_FILE: caFile, PUSH_ENDPOINT_ALLOWLIST: push.allowlistEntry,
    TWILIO_ACCOUNT_SID: twilioFake.accountSid, TWILIO_AUTH_TOKEN: twilioFake.authToken, TWILIO_FROM: '+15005550006', TWILIO_API_BASE_URL: twilioFake.url,
    WARNING_RATE_PUSH: '100000', WARNING_RATE_SMS: String(SMS_RATE), WARNING_BATCH_SIZE: '200', WARNING_POLL_MS: '20', WARNING_PROGRESS_INTERVAL_MS: '2000',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  };
  const config: Config = loadConfig(env);
  const log = createLogger('warn');
  const server = await startServer(config, log);
  const { db } = server.context;
  const pool = db.pool;
  console.log(`bench:warn on ${db.embedded ? 'embedded PGlite' : 'PostgreSQL'}; ${os.cpus().length} CPU cores`);
  try {
    const login = await fetch(`${server.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'bench-password-123' }) });
    const token = ((await login.json()) as { token: string }).token;
    const api = async (method: string, p: string, body?: unknown) => {
      const res = await fetch(`${server.url}${p}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      const json = (await res.json()) as any;
      if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    const staffUser = await api('POST', '/api/users', { username: 'bench.staff', password: 'password-123', role: 'staff' });
    const incident = (await api('POST', '/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' })).incident;
    const circle = { lat: 41.8, lon: 123.36, radiusKm: 3 };

    // ---- 1. Enqueue 100,000 -------------------------------------------------------------
    // The recipients and the warning's draft are set up for every part (push and SMS drafts use the same area).
    await pool.query(
      `INSERT INTO warning_recipients (id, list, kind, phone, lat, lon)
       SELECT gen_random_uuid(), 'bench', 'public', '+86136' || lpad(i::text, 8, '0'), 41.8 + (random() - 0.5) * 0.04, 123.36 + (random() - 0.5) * 0.05
         FROM generate_series(1, $1::int) i`,
      [RECIPIENTS],
    );
    await pool.query('ANALYZE warning_recipients');
    const draftFields = { template: 'wl-iii-yellow', channels: ['sms'], area: { description: { zh: '基准测试区域', en: 'Bench area' }, circle } };
    // Draft as staff (two-person rule), approve as admin.
    const staffLogin = await fetch(`${server.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'bench.staff', password: 'password-123' }) });
    const staffToken = ((await staffLogin.json()) as { token: string }).token;
    const draftRes = await fetch(`${server.url}/api/incidents/${incident.id}/warnings`, { method: 'POST', headers: { authorization: `Bearer ${staffToken}`, 'content-type': 'application/json' }, body: JSON.stringify(draftFields) });
    const draft = ((await draftRes.json()) as any).warning;
    void staffUser;
    let t0 = process.hrtime.bigint();
    if (PARTS.has('enqueue')) {
      const approved = (await api('POST', `/api/warnings/${draft.id}/approve`, {})).warning;
      const enqueueMs = ms(t0);
      const enqueued = approved.delivery.channels.find((c: any) => c.channel === 'sms').total;

      // Reference: the same number of outbox rows by a raw INSERT … SELECT (same table, same indexes).
      const refWarning = randomUUID();
      await pool.query(`INSERT INTO warnings (id, incident_id, mode, status, msg_type, fields, author_id) SELECT $1, $2, 'actual', 'draft', 'Alert', '{}'::jsonb, author_id FROM warnings WHERE id = $3`, [refWarning, incident.id, draft.id]);
      t0 = process.hrtime.bigint();
      await pool.query(
        `INSERT INTO warning_deliveries (warning_id, channel, target_id, address, exercise, status)
         SELECT $1, 'sms', 'tel:+86136' || lpad(i::text, 8, '0'), '+86136' || lpad(i::text, 8, '0'), false, 'queued' FROM generate_series(1, $2::int) i`,
        [refWarning, enqueued],
      );
      const rawMs = ms(t0);
      await pool.query(`UPDATE warning_deliveries SET status = 'cancelled' WHERE warning_id = ANY($1::uuid[])`, [[draft.id, refWarning]]);
      console.log(`enqueue: ${enqueued} deliveries approved and enqueued in ${fmt(enqueueMs)} ms (HTTP approve, one transaction: CAP + INSERT…SELECT with area test + event) — target ≤ 5000 ms: ${enqueueMs <= 5000 ? 'OK' : 'MISSED'}`);
      console.log(`enqueue reference: raw INSERT…SELECT of ${enqueued} rows ${fmt(rawMs)} ms; ratio approve/raw = ${fmt(enqueueMs / rawMs, 2)}`);
    }

    // Shared by the push and SMS parts.
    const vapid = await loadVapidKeys(pool);
    await push.expectVapid(vapid.publicKey);
    const sinks = new ExerciseSinks(config);
    const progress = new ProgressReporter(db, server.context.bus, config.WARNING_PROGRESS_INTERVAL_MS, log);
    const senders = {
      sms: new SmsChannel(config, () => null),
      push: new PushChannel(config, pool, () => vapid, config.VAPID_SUBJECT),
      broadcast: new BroadcastChannel(pool, undefined),
    };
    const drained = async (id: string, channel: string) => {
      for (;;) {
        const { rows } = await pool.query(`SELECT count(*)::int AS n FROM warning_deliveries WHERE warning_id = $1 AND channel = $2 AND status IN ('queued', 'sending')`, [id, channel]);
        if (rows[0].n === 0) return;
        await new Promise((r) => setTimeout(r, 50));
      }
    };

    // ---- 2. Web Push throughput ----------------------------------------------------------
    if (PARTS.has('push')) {
      const subs = await push.subscribe(PUSHES);
      await pool.query(
        `INSERT INTO push_subscriptions (id, endpoint, p256dh, auth, lat, lon) SELECT gen_random_uuid(), e, p, a, 41.8, 123.36 FROM unnest($1::text[], $2::text[], $3::text[]) AS t(e, p, a)`,
        [subs.map((s) => s.endpoint), subs.map((s) => s.keys.p256dh), subs.map((s) => s.keys.auth)],
      );
      const pushDraftRes = await fetch(`${server.url}/api/incidents/${incident.id}/warnings`, { method: 'POST', headers: { authorization: `Bearer ${staffToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ ...draftFields, channels: ['push'] }) });
      const pushDraft = ((await pushDraftRes.json()) as any).warning;
      await api('POST', `/api/warnings/${pushDraft.id}/approve`, {});
      const worker = new OutboxWorker(db, config, senders, sinks, progress, log);
      const service0 = await push.stats();
      let cpu0 = process.cpuUsage();
      t0 = process.hrtime.bigint();
      worker.start();
      await drained(pushDraft.id, 'push');
      const pushMs = ms(t0);
      let cpu = process.cpuUsage(cpu0);
      await worker.stop();
      const pushDelivered = (await pool.query(`SELECT count(*)::int AS n FROM warning_deliveries WHERE warning_id = $1 AND status = 'delivered'`, [pushDraft.id])).rows[0].n;
      const pushRate = pushDelivered / (pushMs / 1000);
      const cores = (cpu.user + cpu.system) / 1000 / pushMs;
      const service1 = await push.stats();
      const received = service1.received - service0.received;
      if (received < pushDelivered) throw new Error(`the push service received ${received} pushes, the outbox says ${pushDelivered} delivered`);
      console.log(`push via outbox: ${pushDelivered}/${PUSHES} delivered in ${fmt(pushMs)} ms = ${fmt(pushRate)} pushes/s, ${fmt(cores, 2)} cores busy in the sending process (server, database${db.embedded ? ' (PGlite, in process)' : ''}, worker) → ${fmt(pushRate / Math.max(cores, 0.01))} pushes/s per core; the push service (own process) received ${received}, rejected ${service1.rejected - service0.rejected}, ${fmt((service1.cpuMs - service0.cpuMs) / pushMs, 2)} cores`);

      // Reference: raw web-push at the same concurrency (32), no outbox, no database.
      const agent = new https.Agent({ keepAlive: true, ca: push.cert });
      const refSubs = await push.subscribe(PUSHES);
      const payload = JSON.stringify({ title: '基准', body: 'x'.repeat(300) });
      cpu0 = process.cpuUsage();
      t0 = process.hrtime.bigint();
      let next = 0;
      await Promise.all(Array.from({ length: 32 }, async () => {
        while (next < refSubs.length) {
          const s = refSubs[next++]!;
          await webpush.sendNotification({ endpoint: s.endpoint, keys: s.keys }, payload, { TTL: 3600, urgency: 'normal', vapidDetails: { subject: config.VAPID_SUBJECT, publicKey: vapid.publicKey, privateKey: vapid.privateKey }, agent });
        }
      }));
      const refMs = ms(t0);
      cpu = process.cpuUsage(cpu0);
      const refRate = PUSHES / (refMs / 1000);
      const refCores = (cpu.user + cpu.system) / 1000 / refMs;
      const service2 = await push.stats();
      if (service2.received - service1.received < PUSHES) throw new Error(`reference: the push service received ${service2.received - service1.received} of ${PUSHES}`);
      console.log(`push reference (raw web-push, same concurrency): ${fmt(refRate)} pushes/s, ${fmt(refCores, 2)} cores → ${fmt(refRate / Math.max(refCores, 0.01))} pushes/s per core; ratio outbox/raw = ${fmt(pushRate / refRate, 2)} (pushes/s), ${fmt((pushRate / Math.max(cores, 0.01)) / (refRate / Math.max(refCores, 0.01)), 2)} (per core)`);

    }

    // ---- 3. SMS at the configured rate limit -------------------------------------------
    if (PARTS.has('sms')) {
      await pool.query(`INSERT INTO warning_recipients (id, list, kind, phone, role) SELECT gen_random_uuid(), 'bench-sms', 'responder', '+86137' || lpad(i::text, 8, '0'), 'field' FROM generate_series(1, $1::int) i`, [SMS]);
      const smsDraftRes = await fetch(`${server.url}/api/incidents/${incident.id}/warnings`, { method: 'POST', headers: { authorization: `Bearer ${staffToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ ...draftFields, channels: ['sms'], audience: { description: { zh: '现场队员', en: 'Field' }, roles: ['field'] } }) });
      const smsDraft = ((await smsDraftRes.json()) as any).warning;
      await api('POST', `/api/warnings/${smsDraft.id}/approve`, {});
      const smsWorker = new OutboxWorker(db, config, senders, sinks, progress, log);
      t0 = process.hrtime.bigint();
      smsWorker.start();
      await drained(smsDraft.id, 'sms');
      const smsMs = ms(t0);
      await smsWorker.stop();
      const smsSent = (await pool.query(`SELECT count(*)::int AS n FROM warning_deliveries WHERE warning_id = $1 AND status = 'sent'`, [smsDraft.id])).rows[0].n;
      const smsRate = smsSent / (smsMs / 1000);
      // A token bucket starts full (one second of burst), so the expected time is (n - rate) / rate.
      const expected = Math.max(0, (SMS - SMS_RATE) / SMS_RATE) * 1000;
      console.log(`sms via twilio client → fake Twilio: ${smsSent}/${SMS} in ${fmt(smsMs)} ms = ${fmt(smsRate)} SMS/s at WARNING_RATE_SMS=${SMS_RATE}; ratio measured/limit = ${fmt(smsRate / SMS_RATE, 2)} (bucket burst included; expected ≥ ${fmt(expected)} ms)`);
    }
    progress.stop();
  } finally {
    await server.close();
    await push.stop();
    await twilioFake.stop();
    await rm(dataDir, { recursive: true, force: true });
    if (dbName) {
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await c.end();
    }
  }
}

await main();
