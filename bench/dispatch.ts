/**
 * npm run bench:dispatch — material allocation under load against real PostgreSQL.
 *
 * 50 concurrent HTTP clients (in a worker thread, bench/http-load.ts) POST /api/incidents/:id/allocations (1 unit each) spread over
 * 10 incidents (BENCH_INCIDENTS) and 10 stock lines (BENCH_LINES) that together hold fewer units than are requested, so the
 * lines run dry under contention. Prints allocations/s and latency percentiles, checks zero
 * oversell (every line at 0, sum of grants = initial stock, no line negative), then runs the
 * same harness against a read-only request (GET /api/teams/:id: one SELECT) as the reference
 * and prints the ratio; then that GET against a bare node:http server running the same SQL, rounds
 * alternating, and prints the throughput ratio yingji / bare (target ≥ 0.75).
 *
 * BENCH_DATABASE_URL (or TEST_DATABASE_URL) names an admin connection, default
 * postgresql://postgres@127.0.0.1:5432/test; the bench creates and drops its own database.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { loadConfig } from '../server/config.js';
import { createLogger } from '../server/log.js';
import { startServer } from '../server/app.js';
import { AllocationService } from '../server/resources/allocations.js';
import { AppError } from '../server/http/errors.js';
import { runLoad, type LoadRequest } from './http-load.js';

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 50);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 12_000);
const LINES = Number(process.env.BENCH_LINES ?? 10);
const INCIDENTS = Number(process.env.BENCH_INCIDENTS ?? 10);
/** Stock is 5/6 of the requests: the last sixth meet empty lines (409), which is the contended case. */
const UNITS_PER_LINE = Math.floor((REQUESTS * 5) / 6 / LINES);
const ROOT = path.resolve(import.meta.dirname, '..');

interface RunResult {
  seconds: number;
  latencies: number[];
  statuses: Map<number, number>;
}

async function harness(total: number, request: (i: number) => Promise<Response>): Promise<RunResult> {
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      for (let i = next++; i < total; i = next++) {
        const t0 = performance.now();
        const res = await request(i);
        await res.arrayBuffer();
        latencies.push(performance.now() - t0);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    }),
  );
  return { seconds: (performance.now() - started) / 1000, latencies, statuses };
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function report(name: string, r: RunResult, countedStatus: number[]): number {
  const sorted = [...r.latencies].sort((a, b) => a - b);
  const counted = countedStatus.reduce((s, c) => s + (r.statuses.get(c) ?? 0), 0);
  const perSecond = r.latencies.length / r.seconds;
  console.log(
    `${name.padEnd(34)} ${r.latencies.length} requests in ${r.seconds.toFixed(2)} s = ${perSecond.toFixed(0)} req/s` +
      ` (${(counted / r.seconds).toFixed(0)}/s answered ${countedStatus.join('/')})` +
      `  p50 ${pct(sorted, 50).toFixed(1)} ms  p99 ${pct(sorted, 99).toFixed(1)} ms  max ${sorted.at(-1)!.toFixed(1)} ms` +
      `  statuses ${JSON.stringify(Object.fromEntries(r.statuses))}`,
  );
  return perSecond;
}

async function main() {
  const dbName = `yingji_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${dbName}`;
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'yingji-bench-'));
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    DATABASE_URL: url.toString(),
    ADMIN_PASSWORD: 'bench-password-123',
    LOG_LEVEL: 'silent',
    PLANS_DIR: path.join(ROOT, 'plans'),
    ORGANISATION_FILE: path.join(ROOT, 'seed/demo-organisation.yaml'),
    STOCK_WATCH_CRON: 'off',
    DB_POOL_SIZE: process.env.BENCH_POOL_SIZE ?? '20',
  });
  const server = await startServer(config, createLogger('silent'));
  const pool = server.context.db.pool;
  try {
    const login = await fetch(`${server.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: 'bench-password-123' }),
    });
    const { token } = (await login.json()) as { token: string };
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

    const incidents: string[] = [];
    for (let i = 0; i < INCIDENTS; i++) {
      const res = await fetch(`${server.url}/api/incidents`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ planId: 'waterlogging-underpass', level: 'II', mode: 'exercise', title: `bench ${i}` }),
      });
      incidents.push(((await res.json()) as { incident: { id: string } }).incident.id);
    }
    const csv = ['warehouse_id,item,batch,quantity', ...Array.from({ length: LINES }, (_, i) => `W-0${1 + (i % 2)},generator,BENCH-${i},${UNITS_PER_LINE}`)].join('\n');
    const imported = await fetch(`${server.url}/api/csv/stock`, { method: 'POST', headers, body: JSON.stringify({ csv }) });
    if (!imported.ok) throw new Error(`stock import failed: ${await imported.text()}`);
    const { rows: lines } = await pool.query<{ id: string }>(`SELECT id FROM stock_lines WHERE batch LIKE 'BENCH-%' ORDER BY batch`);
    const initial = lines.length * UNITS_PER_LINE;

    console.log(`load average at start (1/5/15 min): ${os.loadavg().map((l) => l.toFixed(2)).join(' / ')}`);
    const { rows: durability } = await pool.query<{ sc: string; fsync: string }>(`SELECT current_setting('synchronous_commit') AS sc, current_setting('fsync') AS fsync`);
    console.log(`durability in force: synchronous_commit=${durability[0]!.sc}, fsync=${durability[0]!.fsync}`);
    console.log(`Yingji dispatch bench: ${CLIENTS} clients, ${REQUESTS} allocation requests over ${INCIDENTS} incidents and ${LINES} stock lines of ${UNITS_PER_LINE} units, PostgreSQL ${dbName}, pool ${config.DB_POOL_SIZE}`);
    // HTTP load comes from a worker thread (bench/http-load.ts), as it would from other machines.
    const teamRead = (): LoadRequest => ({ method: 'GET', url: `${server.url}/api/teams/T-D01`, headers });
    // Warm-up: connections, JIT, plan caches.
    await runLoad(Array.from({ length: 500 }, teamRead), CLIENTS);

    const alloc = await runLoad(
      Array.from({ length: REQUESTS }, (_, i) => ({
        method: 'POST',
        url: `${server.url}/api/incidents/${incidents[i % INCIDENTS]}/allocations`,
        headers,
        body: JSON.stringify({ stockLineId: lines[i % LINES]!.id, quantity: 1 }),
      })),
      CLIENTS,
    );
    const allocRate = report('allocations (POST, 201 or 409)', alloc, [201, 409]);
    const grantedPerSecond = (alloc.statuses.get(201) ?? 0) / alloc.seconds;

    const ref = await runLoad(Array.from({ length: REQUESTS }, teamRead), CLIENTS);
    const refRate = report('reference (GET one team, 1 SELECT)', ref, [200]);

    // The same GET against a bare node:http server running the same SQL on its own pool of the
    // same size (no router, no middleware, no session check): what the request path costs on top.
    // Rounds alternate between the two under the same load generator, so machine load hits both.
    const barePool = new pg.Pool({ connectionString: url.toString(), max: Number(config.DB_POOL_SIZE) });
    const bare = http.createServer(async (req, res) => {
      const id = decodeURIComponent(req.url!.slice('/api/teams/'.length));
      const team = await barePool.query(`SELECT t.*, i.mode AS dispatch_incident_mode, i.status AS dispatch_incident_status
        FROM teams t LEFT JOIN dispatches d ON d.id = t.current_dispatch_id LEFT JOIN incidents i ON i.id = d.incident_id WHERE t.id = $1`, [id]);
      const members = await barePool.query(`SELECT id, username, display_name FROM users WHERE team_id = $1 ORDER BY username`, [id]);
      const body = JSON.stringify({ team: team.rows[0], members: members.rows });
      res.writeHead(team.rows[0] ? 200 : 404, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
    const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/api/teams/T-D01`;
    const bareRead = (): LoadRequest => ({ method: 'GET', url: bareUrl, headers });
    await runLoad(Array.from({ length: 500 }, bareRead), CLIENTS);
    const ROUNDS = 3;
    const per = Math.ceil(REQUESTS / ROUNDS);
    const ratios: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const a = report(`  round ${round}: yingji GET /api/teams/:id`, await runLoad(Array.from({ length: per }, teamRead), CLIENTS), [200]);
      const b = report(`  round ${round}: bare node:http, same SQL`, await runLoad(Array.from({ length: per }, bareRead), CLIENTS), [200]);
      ratios.push(a / b);
    }
    await new Promise<void>((r) => bare.close(() => r()));
    await barePool.end();
    console.log(`GET /api/teams/:id throughput yingji / bare node:http: ${ratios.map((r) => r.toFixed(2)).join(', ')} per round (target ≥ 0.75)`);

    // The same allocation transactions without HTTP (service called in-process): how much is the database's share.
    const service = new AllocationService(server.context.db, server.context.incidents, server.context.bus);
    const csv2 = ['warehouse_id,item,batch,quantity', ...Array.from({ length: LINES }, (_, i) => `W-0${1 + (i % 2)},generator,DIRECT-${i},${UNITS_PER_LINE}`)].join('\n');
    if (!(await fetch(`${server.url}/api/csv/stock`, { method: 'POST', headers, body: JSON.stringify({ csv: csv2 }) })).ok) throw new Error('stock import failed');
    const { rows: direct } = await pool.query<{ id: string }>(`SELECT id FROM stock_lines WHERE batch LIKE 'DIRECT-%' ORDER BY batch`);
    const { rows: adminRow } = await pool.query<{ id: string }>(`SELECT id FROM users WHERE username = 'admin'`);
    const actor = { userId: adminRow[0]!.id, username: 'admin', role: 'commander' as const, teamId: null };
    const svc = await harness(REQUESTS, async (i) => {
      try {
        await service.allocate(actor, incidents[i % INCIDENTS]!, { stockLineId: direct[i % LINES]!.id, quantity: 1 });
        return new Response(null, { status: 201 });
      } catch (err) {
        if (err instanceof AppError) return new Response(null, { status: err.status });
        throw err;
      }
    });
    report('same allocations, no HTTP', svc, [201, 409]);

    // Zero oversell.
    const { rows: check } = await pool.query<{ left: number; negative: number; granted: number }>(
      `SELECT (SELECT coalesce(sum(quantity), 0) FROM stock_lines WHERE batch LIKE 'BENCH-%')::int AS left,
              (SELECT count(*) FROM stock_lines WHERE quantity < 0)::int AS negative,
              (SELECT coalesce(sum(a.quantity), 0) FROM allocations a JOIN stock_lines s ON s.id = a.stock_line_id WHERE s.batch LIKE 'BENCH-%')::int AS granted`,
    );
    const c = check[0]!;
    const ok201 = alloc.statuses.get(201) ?? 0;
    const { rows: directCheck } = await pool.query<{ left: number; granted: number }>(
      `SELECT (SELECT coalesce(sum(quantity), 0) FROM stock_lines WHERE batch LIKE 'DIRECT-%')::int AS left,
              (SELECT coalesce(sum(a.quantity), 0) FROM allocations a JOIN stock_lines s ON s.id = a.stock_line_id WHERE s.batch LIKE 'DIRECT-%')::int AS granted`,
    );
    const directOversold = directCheck[0]!.left + directCheck[0]!.granted !== initial || directCheck[0]!.granted !== (svc.statuses.get(201) ?? 0);
    const oversold = directOversold || c.granted + c.left !== initial || c.negative > 0 || ok201 !== c.granted || c.granted > initial;
    console.log(`stock: initial ${initial}, granted ${c.granted} (201 answers ${ok201}), left ${c.left}, negative lines ${c.negative} → ${oversold ? 'OVERSELL!' : 'zero oversell'}`);
    console.log(`granted allocations/s: ${grantedPerSecond.toFixed(0)}; ratio allocation/reference throughput: ${(allocRate / refRate).toFixed(2)} (target, issue 16: ≥ 2,000 granted allocations/s over HTTP)`);
    console.log(`load average at end (1/5/15 min): ${os.loadavg().map((l) => l.toFixed(2)).join(' / ')}`);
    if (oversold || alloc.statuses.size > 2 || [...alloc.statuses.keys()].some((s) => s !== 201 && s !== 409)) process.exitCode = 1;
  } finally {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
    const drop = new pg.Client({ connectionString: ADMIN_URL });
    await drop.connect();
    await drop.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await drop.end();
  }
}

await main();
