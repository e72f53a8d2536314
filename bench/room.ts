/**
 * npm run bench:room [-- --quick]
 *
 * N stock y-websocket clients (in a worker thread) in one incident: one edit → time until all N
 * have it, p50/p99, for our server (auth, every update stored in the database before it is
 * relayed) and, in the same process with the same harness, the reference @y/websocket-server
 * 0.1.1 (no auth, no persistence). Then server heap per connection and a reconnect storm:
 * 500 clients, server restart, time until every client is re-synced.
 */
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { setupWSConnection, docs as referenceDocs } from '@y/websocket-server/utils';
import { loadConfig } from '../server/config.js';
import { createLogger } from '../server/log.js';
import { startServer, type RunningServer } from '../server/app.js';
import { roomsOf } from '../server/rooms/module.js';
import type { Command } from './room-clients.js';

const quick = process.argv.includes('--quick');
const SIZES = quick ? [20, 50] : [50, 200, 1000];
/** Edits per size: enough that p99 is not simply the single slowest edit. */
const trialsFor = (n: number) => (quick ? 30 : n >= 1000 ? 100 : 300);
const STORM_CLIENTS = quick ? 100 : 500;
const ROOT = path.resolve(import.meta.dirname, '..');

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
function heapUsed(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

// ---- the client worker -------------------------------------------------------------------
const clientsModule = new URL('./room-clients.ts', import.meta.url).href;
const worker = new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(clientsModule)}); })`, { eval: true });
let replies: ((m: { ok: boolean; result?: any; error?: string }) => void)[] = [];
worker.on('message', (m) => replies.shift()?.(m));
function ask<T = any>(cmd: Command): Promise<T> {
  return new Promise((resolve, reject) => {
    replies.push((m) => (m.ok ? resolve(m.result as T) : reject(new Error(m.error))));
    worker.postMessage(cmd);
  });
}

// ---- the two servers ---------------------------------------------------------------------
interface Target {
  name: string;
  origin: string;
  room: string;
  token?: string;
  restart(): Promise<number>;
  openRooms(): number;
  writes(): { statements: number; updates: number; commitMs: number };
  close(): Promise<void>;
}

async function ours(): Promise<Target> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'yingji-bench-'));
  const env = (port: number) => ({
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
    ADMIN_PASSWORD: 'bench-admin-password',
    LOG_LEVEL: 'silent',
    PLANS_DIR: path.join(ROOT, 'plans'),
    ORGANISATION_FILE: path.join(ROOT, 'seed/demo-organisation.yaml'),
    // Every benchmark client uses the one admin token.
    YJS_MAX_CONNECTIONS_PER_USER: '100000',
    YJS_MAX_CONNECTIONS_PER_INCIDENT: '100000',
  });
  const start = (port: number) => startServer(loadConfig(env(port)), createLogger('silent'));
  let server: RunningServer = await start(0);
  const login = await (await fetch(`${server.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'bench-admin-password' }) })).json();
  const token = login.token as string;
  const activated = await (
    await fetch(`${server.url}/api/incidents`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ planId: 'waterlogging-underpass', level: 'II', mode: 'exercise', title: 'bench' }) })
  ).json();
  return {
    name: 'yingji',
    origin: server.url.replace(/^http/, 'ws') + '/yjs',
    room: activated.incident.id,
    token,
    async restart() {
      const port = server.port;
      await server.close();
      server = await start(port);
      return performance.timeOrigin + performance.now();
    },
    openRooms: () => roomsOf(server.context).stats().rooms,
    writes: () => roomsOf(server.context).stats().writes,
    async close() {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function reference(): Promise<Target> {
  const listen = async (port: number) => {
    const wss = new WebSocketServer({ noServer: true });
    wss.on('connection', (ws, req) => setupWSConnection(ws, req));
    const server = http.createServer();
    server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)));
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    return { server, wss };
  };
  let current = await listen(0);
  const port = (current.server.address() as AddressInfo).port;
  const stop = async () => {
    for (const ws of current.wss.clients) ws.close(1001);
    await new Promise<void>((r) => current.server.close(() => r()));
    current.server.closeAllConnections();
  };
  return {
    name: '@y/websocket-server 0.1.1',
    origin: `ws://127.0.0.1:${port}/yjs`,
    room: 'bench',
    async restart() {
      await stop();
      // A restarted reference process starts empty; its clients bring the state back.
      for (const doc of referenceDocs.values()) doc.destroy();
      referenceDocs.clear();
      current = await listen(port);
      return performance.timeOrigin + performance.now();
    },
    openRooms: () => referenceDocs.size,
    writes: () => ({ statements: 0, updates: 0, commitMs: 0 }),
    close: stop,
  };
}

// ---- measurements ------------------------------------------------------------------------
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
let editValue = 0;

/** Both servers' clients connected at once and trials alternated, so load on the machine hits both alike. */
async function fanOut(targets: Target[], n: number) {
  const results = [];
  for (const target of targets) {
    const before = heapUsed();
    const { ms: connectMs } = await ask<{ ms: number }>({ type: 'connect', group: target.name, origin: target.origin, room: target.room, token: target.token, n });
    results.push({ target, connectMs, perConnection: (heapUsed() - before) / n, times: [] as number[] });
  }
  for (let i = 0; i < trialsFor(n) + 5; i++) {
    for (const r of results) {
      const { ms } = await ask<{ ms: number }>({ type: 'trial', group: r.target.name, value: ++editValue });
      if (i >= 5) r.times.push(ms); // the first five warm up
    }
  }
  for (const r of results) await ask({ type: 'disconnect', group: r.target.name });
  return results.map((r) => ({ connectMs: r.connectMs, perConnection: r.perConnection, p50: pct(r.times, 50), p99: pct(r.times, 99) }));
}

async function storm(target: Target) {
  const baseline = heapUsed();
  const group = target.name;
  await ask({ type: 'connect', group, origin: target.origin, room: target.room, token: target.token, n: STORM_CLIENTS });
  await ask({ type: 'trial', group, value: ++editValue });
  const connected = heapUsed();
  const restarting = ask({ type: 'awaitDisconnected', group });
  const listening = await target.restart();
  await restarting;
  const { at, attempts } = await ask<{ at: number; attempts: number }>({ type: 'awaitResynced', group, value: editValue });
  const recoveryMs = at - listening;
  await ask({ type: 'disconnect', group });
  const deadline = Date.now() + 10_000;
  while (target.openRooms() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const after = heapUsed();
  return { recoveryMs, attempts, roomsLeft: target.openRooms(), baselineMb: baseline / 2 ** 20, connectedMb: connected / 2 ** 20, afterMb: after / 2 ** 20 };
}

/** Gives the reference server's room the same content as ours (the seeded checklist), so both sync the same bytes. */
async function copyDoc(from: Target, to: Target): Promise<number> {
  const sync = async (target: Target, doc: Y.Doc) => {
    const provider = new WebsocketProvider(target.origin, target.room, doc, { params: target.token ? { token: target.token } : {}, WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket, disableBc: true });
    while (!provider.synced) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 200)); // let our sync step 2 reach the server
    provider.destroy();
  };
  const doc = new Y.Doc();
  await sync(from, doc);
  const copy = new Y.Doc();
  Y.applyUpdate(copy, Y.encodeStateAsUpdate(doc));
  await sync(to, copy);
  return Y.encodeStateAsUpdate(doc).byteLength;
}

const fmt = (ms: number) => `${ms.toFixed(1)} ms`;
async function main() {
  console.log(`bench:room — ${quick ? 'quick' : 'full'} run, ${SIZES.map((n) => `${trialsFor(n)} edits at N=${n}`).join(', ')}, database: ${process.env.DATABASE_URL ? 'PostgreSQL' : 'embedded PGlite'}\n`);
  const yingji = await ours();
  const ref = await reference();
  const docBytes = await copyDoc(yingji, ref);
  console.log(`Both rooms hold the seeded checklist (${docBytes} bytes of Yjs state).\n`);
  const rows: string[] = [];
  let worstRatio = 0;
  for (const n of SIZES) {
    const [a, b] = (await fanOut([yingji, ref], n)) as [Awaited<ReturnType<typeof fanOut>>[number], Awaited<ReturnType<typeof fanOut>>[number]];
    const ratio = a.p99 / b.p99;
    worstRatio = Math.max(worstRatio, ratio);
    rows.push(
      `N=${String(n).padEnd(5)} yingji p50 ${fmt(a.p50)} p99 ${fmt(a.p99)} | reference p50 ${fmt(b.p50)} p99 ${fmt(b.p99)} | p99 ratio ${ratio.toFixed(2)}× | heap/conn yingji ${(a.perConnection / 1024).toFixed(1)} KiB, reference ${(b.perConnection / 1024).toFixed(1)} KiB | connect+sync all ${fmt(a.connectMs)} vs ${fmt(b.connectMs)}`,
    );
    console.log(rows.at(-1));
  }
  const w = yingji.writes();
  console.log(`yingji writes: ${w.updates} updates in ${w.statements} statements, mean commit ${(w.commitMs / Math.max(1, w.statements)).toFixed(2)} ms`);
  console.log(`\nReconnect storm: ${STORM_CLIENTS} clients connected, server restarted`);
  for (const target of [yingji, ref]) {
    const s = await storm(target);
    console.log(
      `  ${target.name.padEnd(26)} all re-synced ${fmt(s.recoveryMs)} after the restart (${s.recoveryMs <= 5000 ? 'within' : 'OVER'} 5 s), ${s.attempts} connection attempts; rooms left after all left: ${s.roomsLeft}; server heap ${s.baselineMb.toFixed(1)} MiB before → ${s.connectedMb.toFixed(1)} MiB with clients → ${s.afterMb.toFixed(1)} MiB after`,
    );
  }
  console.log(`\nWorst p99 ratio yingji/reference: ${worstRatio.toFixed(2)}× (target ≤ 1.5×)`);
  await worker.terminate();
  await yingji.close();
  await ref.close();
  process.exit(0);
}

main().catch(async (err) => {
  console.error(err);
  await worker.terminate();
  process.exit(1);
});
