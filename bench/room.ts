/**
 * npm run bench:room [-- --quick] [--client-workers=K] [--servers=bare,hocuspocus,hocuspocus-db] [--cpu-prof=DIR] [--sizes=50,200]
 *
 * N stock clients in one room: one edit → time until all N have it, p50/p99, and the server's CPU
 * per edit, for four servers, each in its OWN process (bench/room-server.ts), with the same seeded
 * checklist and the same edit, trials alternating between the servers so machine load hits all alike:
 *   - yingji: auth, every update stored in the database (synchronous commit) before it is relayed;
 *   - @y/websocket-server 0.1.1: the bare relay, no auth, no persistence;
 *   - @hocuspocus/server 4.x without persistence;
 *   - @hocuspocus/server 4.x + @hocuspocus/extension-database into the same kind of database
 *     (PostgreSQL via pg with DATABASE_URL, else embedded PGlite), which relays first and stores on
 *     a 2–10 s debounce.
 * Clients run in K worker threads (default 4), every room's clients spread over all of them.
 * Then server heap per connection and a reconnect storm (yingji and the bare relay): clients
 * connected, server restarted in its process, time until every client is re-synced.
 * Prints the load average at start and end and the durability settings the databases report.
 * Ours runs with npm start's environment (its malloc thresholds, scripts/server-build.ts START_ENV;
 * BENCH_GLIBC_DEFAULTS=1 leaves them out); the references with the environment as it comes.
 * `--servers=none` runs ours alone (the references' clients would need as many sockets again, e.g.
 * at --sizes=10000); `--cpu-prof=DIR` writes each server's CPU profile of the timed edits.
 */
import os from 'node:os';
import path from 'node:path';
import { fork, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import type { Command } from './room-clients.js';
import { START_ENV } from '../scripts/server-build.js';

const quick = process.argv.includes('--quick');
const sizesArg = process.argv.find((a) => a.startsWith('--sizes='))?.split('=')[1];
const SIZES = sizesArg ? sizesArg.split(',').map(Number) : quick ? [20, 50] : [50, 200, 1000];
/** Edits per size: enough that p99 is not simply the single slowest edit. */
const trialsFor = (n: number) => (quick ? 30 : n >= 1000 ? 100 : 300);
const STORM_CLIENTS = quick ? 100 : 500;
const CLIENT_WORKERS = Number(process.argv.find((a) => a.startsWith('--client-workers='))?.split('=')[1] ?? 4);
const only = process.argv.find((a) => a.startsWith('--servers='))?.split('=')[1]?.split(',');
/** --cpu-prof=DIR: each server writes a V8 CPU profile of the timed edits at each N, DIR/<server>-N<n>.cpuprofile. */
const cpuProfDir = process.argv.find((a) => a.startsWith('--cpu-prof='))?.split('=')[1];
const loadavg = () => os.loadavg().map((l) => l.toFixed(2)).join(' / ');

// ---- the client workers ------------------------------------------------------------------
const clientsModule = new URL('./room-clients.ts', import.meta.url).href;
let nextId = 0;
class ClientWorker {
  worker = new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(clientsModule)}); })`, { eval: true });
  waiting = new Map<number, (m: { ok: boolean; result?: any; error?: string }) => void>();
  constructor() {
    this.worker.on('message', (m) => {
      this.waiting.get(m.id)?.(m);
      this.waiting.delete(m.id);
    });
  }
  ask<T = any>(cmd: Command): Promise<T> {
    return new Promise((resolve, reject) => {
      const id = nextId++;
      this.waiting.set(id, (m) => (m.ok ? resolve(m.result as T) : reject(new Error(m.error))));
      this.worker.postMessage({ id, cmd });
    });
  }
}
const workers = Array.from({ length: CLIENT_WORKERS }, () => new ClientWorker());
/** Client i of a room lives in worker i mod K; client 0 (the writer) in worker 0. */
const share = (n: number, w: number) => Math.floor(n / CLIENT_WORKERS) + (w < n % CLIENT_WORKERS ? 1 : 0);
const all = <T = any>(cmd: (w: number) => Command | undefined) => Promise.all(workers.map((wk, w) => (cmd(w) ? wk.ask<T>(cmd(w)!) : Promise.resolve(undefined as T))));

// ---- the servers, one process each ------------------------------------------------------
interface Target {
  name: string;
  kind: string;
  origin: string;
  room: string;
  token?: string;
  protocol: 'y-websocket' | 'hocuspocus';
  durability: string;
  child: ChildProcess;
  call<T = any>(type: string, extra?: object): Promise<T>;
}

async function spawn(kind: string, name: string): Promise<Target> {
  // Ours with the environment npm start gives it (its malloc thresholds); the references as they come.
  const env = kind === 'yingji' && !process.env.BENCH_GLIBC_DEFAULTS ? { ...process.env, ...START_ENV } : process.env;
  const child = fork(path.join(import.meta.dirname, 'room-server.ts'), [kind], { execArgv: ['--import', 'tsx'], env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = new Map<number, (m: any) => void>();
  const ready = new Promise<any>((resolve, reject) => {
    child.on('message', (m: any) => {
      if (m.type === 'ready') return resolve(m);
      waiting.get(m.id)?.(m);
      waiting.delete(m.id);
    });
    child.on('exit', (code) => reject(new Error(`${kind} server exited (${code})`)));
  });
  const r = await ready;
  return {
    name,
    kind,
    origin: r.origin,
    room: r.room,
    token: r.token,
    protocol: r.protocol,
    durability: r.durability,
    child,
    call: (type, extra = {}) =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        waiting.set(id, (m) => (m.ok ? resolve(m.result) : reject(new Error(m.error))));
        child.send({ id, type, ...extra });
      }),
  };
}
const cpuMicros = async (t: Target) => {
  const u = await t.call<{ user: number; system: number }>('cpu');
  return u.user + u.system;
};

// ---- measurements ------------------------------------------------------------------------
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
let editValue = 0;

async function trial(target: Target, value: number): Promise<number> {
  await all((w) => ({ type: 'arm', group: target.name, value, skipFirst: w === 0 }));
  const { at: start } = await workers[0]!.ask<{ at: number }>({ type: 'write', group: target.name, value }).catch((err) => {
    throw new Error(`${target.name}: ${err.message}`);
  });
  const ends = await all<{ at: number }>(() => ({ type: 'collect', group: target.name }));
  return Math.max(...ends.map((e) => e.at)) - start;
}

/** Every server's clients connected at once and trials alternated, so load on the machine hits all alike. */
async function fanOut(targets: Target[], n: number) {
  const results = [];
  for (const target of targets) {
    const before = (await target.call<{ heapUsed: number }>('stats')).heapUsed;
    const start = performance.now();
    await all((w) => (share(n, w) > 0 ? { type: 'connect', group: target.name, protocol: target.protocol, origin: target.origin, room: target.room, token: target.token, n: share(n, w) } : undefined));
    const connectMs = performance.now() - start;
    const after = (await target.call<{ heapUsed: number }>('stats')).heapUsed;
    results.push({ target, connectMs, perConnection: (after - before) / n, times: [] as number[], cpu: 0 });
  }
  for (let i = 0; i < 5; i++) for (const r of results) await trial(r.target, ++editValue); // warm up
  const writesOf = async (t: Target) => (await t.call<{ socketWrites: { write: number; writev: number } }>('stats')).socketWrites;
  const writesStart = process.env.BENCH_COUNT_WRITES ? await Promise.all(results.map((r) => writesOf(r.target))) : [];
  if (cpuProfDir) await Promise.all(results.map((r) => r.target.call('profile-start')));
  const cpuStart = await Promise.all(results.map((r) => cpuMicros(r.target)));
  for (let i = 0; i < trialsFor(n); i++) {
    for (const r of results) r.times.push(await trial(r.target, ++editValue));
  }
  const cpuEnd = await Promise.all(results.map((r) => cpuMicros(r.target)));
  if (cpuProfDir) await Promise.all(results.map((r) => r.target.call('profile-stop', { file: path.resolve(cpuProfDir, `${r.target.name.split(' ')[0]!.replace(/[^a-z0-9-]+/gi, '_')}-N${n}.cpuprofile`) })));
  results.forEach((r, i) => (r.cpu = (cpuEnd[i]! - cpuStart[i]!) / 1000 / trialsFor(n)));
  if (process.env.BENCH_COUNT_WRITES) {
    const writesEnd = await Promise.all(results.map((r) => writesOf(r.target)));
    results.forEach((r, i) => console.log(`  ${r.target.name}: socket write() ${((writesEnd[i]!.write - writesStart[i]!.write) / trialsFor(n)).toFixed(1)} and writev() ${((writesEnd[i]!.writev - writesStart[i]!.writev) / trialsFor(n)).toFixed(1)} per edit`));
  }
  for (const r of results) await all(() => ({ type: 'disconnect', group: r.target.name }));
  return results.map((r) => ({ name: r.target.name, connectMs: r.connectMs, perConnection: r.perConnection, p50: pct(r.times, 50), p99: pct(r.times, 99), cpuMs: r.cpu }));
}

async function storm(target: Target) {
  const group = target.name + ':storm';
  const baseline = (await target.call<{ heapUsed: number }>('stats')).heapUsed;
  await all((w) => ({ type: 'connect', group, protocol: target.protocol, origin: target.origin, room: target.room, token: target.token, n: share(STORM_CLIENTS, w) }));
  const value = ++editValue;
  await all((w) => ({ type: 'arm', group, value, skipFirst: w === 0 }));
  await workers[0]!.ask({ type: 'write', group, value });
  await all(() => ({ type: 'collect', group }));
  const connected = (await target.call<{ heapUsed: number }>('stats')).heapUsed;
  const restarting = all(() => ({ type: 'awaitDisconnected', group }));
  const { listening } = await target.call<{ listening: number }>('restart');
  await restarting;
  const resynced = await all<{ at: number; attempts: number }>(() => ({ type: 'awaitResynced', group, value }));
  const recoveryMs = Math.max(...resynced.map((r) => r.at)) - listening;
  const attempts = resynced.reduce((s, r) => s + r.attempts, 0);
  await all(() => ({ type: 'disconnect', group }));
  const deadline = Date.now() + 10_000;
  let stats = await target.call<{ heapUsed: number; openRooms: number }>('stats');
  while (stats.openRooms > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    stats = await target.call('stats');
  }
  return { recoveryMs, attempts, roomsLeft: stats.openRooms, baselineMb: baseline / 2 ** 20, connectedMb: connected / 2 ** 20, afterMb: stats.heapUsed / 2 ** 20 };
}

/** The seeded checklist of our room (the plan's, made at activation), as one Yjs update. */
async function stateOf(target: Target): Promise<Uint8Array> {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(target.origin, target.room, doc, { params: target.token ? { token: target.token } : {}, WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket, disableBc: true });
  while (!provider.synced) await new Promise((r) => setTimeout(r, 10));
  provider.destroy();
  return Y.encodeStateAsUpdate(doc);
}

const fmt = (ms: number) => `${ms.toFixed(1)} ms`;
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
async function main() {
  const database = process.env.DATABASE_URL ? 'PostgreSQL' : 'embedded PGlite';
  console.log(`bench:room — ${quick ? 'quick' : 'full'} run, ${SIZES.map((n) => `${trialsFor(n)} edits at N=${n}`).join(', ')}, database: ${database}, ${CLIENT_WORKERS} client worker threads, ${os.availableParallelism()} cores`);
  console.log(`load average at start (1/5/15 min): ${loadavg()}\n`);
  const kinds: [string, string][] = [
    ['yingji', 'yingji'],
    ['bare', '@y/websocket-server 0.1.1'],
    ['hocuspocus', 'hocuspocus (no persistence)'],
    ['hocuspocus-db', `hocuspocus + extension-database (${database})`],
  ];
  const targets: Target[] = [];
  for (const [kind, name] of kinds.filter(([k]) => k === 'yingji' || !only || only.includes(k))) targets.push(await spawn(kind, name));
  const [yingji] = targets as [Target];
  const byKind = (k: string) => targets.find((t) => t.kind === k);
  console.log('Durability in force:');
  for (const t of targets) console.log(`  ${t.durability}`);
  const seed = await stateOf(yingji);
  for (const t of targets.slice(1)) await t.call('seed', { update: Buffer.from(seed).toString('base64') });
  console.log(`\nEvery room holds the seeded checklist (${seed.byteLength} bytes of Yjs state). Server CPU per edit = the server process's user+system CPU over the timed edits ÷ edits.\n`);
  const summary: string[] = [];
  for (const n of SIZES) {
    const rows = await fanOut(targets, n);
    const ours = rows[0]!;
    console.log(`N=${n}`);
    for (const r of rows) {
      console.log(`  ${r.name.padEnd(48)} p50 ${fmt(r.p50).padStart(9)}  p99 ${fmt(r.p99).padStart(9)}  CPU/edit ${r.cpuMs.toFixed(2).padStart(6)} ms  heap/conn ${(r.perConnection / 1024).toFixed(1).padStart(6)} KiB  connect+sync all ${fmt(r.connectMs)}`);
    }
    for (const [k, label] of [['bare', 'bare relay'], ['hocuspocus', 'hocuspocus'], ['hocuspocus-db', 'hocuspocus+db']] as const) {
      const i = targets.findIndex((t) => t.kind === k);
      if (i < 0) continue;
      const r = rows[i]!;
      const line = `N=${String(n).padEnd(5)} yingji / ${label.padEnd(14)} p50 ${ratio(ours.p50, r.p50)}  p99 ${ratio(ours.p99, r.p99)}  CPU/edit ${ratio(ours.cpuMs, r.cpuMs)}`;
      console.log(`  ${line}`);
      summary.push(line);
    }
    console.log('');
  }
  const w = (await yingji.call<{ writes: { statements: number; updates: number; commitMs: number } }>('stats')).writes;
  console.log(`yingji writes: ${w.updates} updates in ${w.statements} statements, mean commit ${(w.commitMs / Math.max(1, w.statements)).toFixed(2)} ms`);
  const hw = byKind('hocuspocus-db') && (await byKind('hocuspocus-db')!.call<{ writes: { statements: number; commitMs: number } }>('stats')).writes;
  if (hw) console.log(`hocuspocus-db stores (debounced, after relay): ${hw.statements}, mean ${(hw.commitMs / Math.max(1, hw.statements)).toFixed(2)} ms`);
  console.log(`\nReconnect storm: ${STORM_CLIENTS} clients connected, server restarted`);
  for (const target of [yingji, byKind('bare')].filter((t): t is Target => !!t)) {
    const s = await storm(target);
    console.log(
      `  ${target.name.padEnd(26)} all re-synced ${fmt(s.recoveryMs)} after the restart (${s.recoveryMs <= 5000 ? 'within' : 'OVER'} 5 s), ${s.attempts} connection attempts; rooms left after all left: ${s.roomsLeft}; server heap ${s.baselineMb.toFixed(1)} MiB before → ${s.connectedMb.toFixed(1)} MiB with clients → ${s.afterMb.toFixed(1)} MiB after`,
    );
  }
  console.log(`\nRatios (yingji / reference), ${database}:`);
  for (const line of summary) console.log(`  ${line}`);
  console.log(`load average at end (1/5/15 min): ${loadavg()}`);
  await Promise.all(workers.map((w) => w.worker.terminate()));
  // Hocuspocus's destroy() can wait for ever (its direct connection); what has not exited 5 s after
  // 'close' is killed.
  const exited = (t: Target) => new Promise<void>((resolve) => (t.child.exitCode !== null ? resolve() : t.child.once('exit', () => resolve())));
  await Promise.race([Promise.all(targets.map((t) => t.call('close').catch(() => {}).then(() => exited(t)))), new Promise((r) => setTimeout(r, 5000))]);
  for (const t of targets) if (t.child.exitCode === null) t.child.kill('SIGKILL');
  process.exit(0);
}

main().catch(async (err) => {
  console.error(err);
  await Promise.all(workers.map((w) => w.worker.terminate()));
  process.exit(1);
});
