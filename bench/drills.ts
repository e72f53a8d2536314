/**
 * npm run bench:drills — inject release lag (scheduled → released) of the drill scheduler.
 *
 * Starts one server node (two by default on PostgreSQL: BENCH_NODES), stores a scenario of 50
 * injects spread over BENCH_SECONDS seconds (several due in the same second), starts BENCH_DRILLS
 * tabletop drills of it at once (200 injects by default) and waits until every inject is released; prints p50 / p95 / p99 / max of
 * (event time − scheduled time) and checks each inject was released exactly once.
 *
 * BENCH_DATABASE_URL (or TEST_DATABASE_URL) selects PostgreSQL (the bench creates and drops its own
 * database); without it the server runs on embedded PGlite (one node). DRILL_POLL_MS defaults to 100.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadConfig } from '../server/config.js';
import { createLogger } from '../server/log.js';
import { startServer, type RunningServer } from '../server/app.js';

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
const NODES = ADMIN_URL ? Number(process.env.BENCH_NODES ?? 2) : 1;
const PER_DRILL = 50;
const DRILLS = Number(process.env.BENCH_DRILLS ?? 4);
const INJECTS = PER_DRILL * DRILLS;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const POLL = process.env.DRILL_POLL_MS ?? '100';
const ROOT = path.resolve(import.meta.dirname, '..');
const PASSWORD = 'bench-admin-password';

let dbUrl: string | undefined;
let dbName: string | undefined;
if (ADMIN_URL) {
  dbName = `yingji_bench_drills_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();
  const u = new URL(ADMIN_URL);
  u.pathname = `/${dbName}`;
  dbUrl = u.toString();
}
const dirs: string[] = [];
const nodes: RunningServer[] = [];
try {
  for (let n = 0; n < NODES; n++) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'yingji-bench-drills-'));
    dirs.push(dir);
    const config = loadConfig({
      PORT: '0', HOST: '127.0.0.1', DATA_DIR: dir, ...(dbUrl ? { DATABASE_URL: dbUrl } : {}), ADMIN_PASSWORD: PASSWORD, LOG_LEVEL: 'warn',
      PLANS_DIR: path.join(ROOT, 'plans'), DRILLS_DIR: path.join(ROOT, 'drills'), ORGANISATION_FILE: path.join(ROOT, 'seed/demo-organisation.yaml'), DRILL_POLL_MS: POLL,
    });
    nodes.push(await startServer(config, createLogger(config.LOG_LEVEL)));
  }
  const url = nodes[0]!.url;
  const call = async (method: string, p: string, token?: string, body?: unknown) => {
    const res = await fetch(url + p, { method, headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) });
    const json = (await res.json()) as any;
    if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const admin = (await call('POST', '/api/auth/login', undefined, { username: 'admin', password: PASSWORD })).token;
  await call('POST', '/api/users', admin, { username: 'bench.controller', password: 'password-123', role: 'controller' });
  const token = (await call('POST', '/api/auth/login', undefined, { username: 'bench.controller', password: 'password-123' })).token;
  const injects = Array.from({ length: PER_DRILL }, (_, i) => ({
    id: `inj-${i + 1}`, at: Math.floor((i * SECONDS) / PER_DRILL), audience: { kind: 'all' }, form: 'sensor', content: { zh: `监测报警${i + 1}`, en: `Alarm ${i + 1}` },
  }));
  await call('POST', '/api/scenarios', token, { id: 'bench-drill', title: { zh: '压测推演', en: 'Bench drill' }, planId: 'waterlogging-underpass', level: 'III', objectives: [{ zh: '延迟', en: 'Lag' }], injects });
  const drillIds: string[] = [];
  for (let d = 0; d < DRILLS; d++) drillIds.push((await call('POST', '/api/drills', token, { kind: 'tabletop', scenarioId: 'bench-drill' })).drill.id);
  const started = await Promise.all(drillIds.map(async (id) => (await call('POST', `/api/drills/${id}/start`, token)).drill));
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    const views = await Promise.all(drillIds.map(async (id) => (await call('GET', `/api/drills/${id}`, token)).drill));
    if (views.every((d) => d.injects.every((i: any) => i.status === 'released'))) break;
  }
  await new Promise((r) => setTimeout(r, 1000));
  const events = (
    await Promise.all(started.map(async (d) => ((await call('GET', `/api/incidents/${d.incidentId}/events?type=drill.inject_released&limit=5000`, token)).events as any[]).map((e) => ({ ...e, key: `${d.id}/${e.data.injectId}` }))))
  ).flat();
  const lags = events.map((e) => Date.parse(e.at) - Date.parse(e.data.scheduledAt)).sort((a, b) => a - b);
  const pct = (p: number) => lags[Math.min(lags.length - 1, Math.floor(lags.length * p))]!;
  const distinct = new Set(events.map((e) => e.key)).size;
  const once = distinct === INJECTS && events.length === INJECTS;
  console.log(`drill scheduler: ${NODES} node(s), ${dbUrl ? 'PostgreSQL' : 'PGlite'}, DRILL_POLL_MS=${POLL}, ${DRILLS} drills × ${PER_DRILL} injects over ${SECONDS} s`);
  console.log(`release lag (scheduled → released): p50 ${pct(0.5)} ms, p95 ${pct(0.95)} ms, p99 ${pct(0.99)} ms, max ${lags[lags.length - 1]} ms`);
  console.log(`released exactly once: ${once ? 'yes' : 'NO'} (${events.length} events, ${distinct} distinct)`);
  if (!once) process.exitCode = 1;
} finally {
  for (const n of nodes.reverse()) await n.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
  if (ADMIN_URL && dbName) {
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
  }
}
