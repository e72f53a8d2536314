/**
 * One server of bench/room.ts, in its own process (forked with an IPC channel), so its CPU per
 * edit is its own: `process.cpuUsage()` of this process alone.
 *
 *   yingji          our server: auth, every update stored (synchronous commit) before it is relayed
 *   bare            @y/websocket-server 0.1.1: no auth, no persistence
 *   hocuspocus      @hocuspocus/server 4.x, no persistence
 *   hocuspocus-db   @hocuspocus/server 4.x + @hocuspocus/extension-database storing the document
 *                   into the same kind of database we use (PostgreSQL through `pg` when
 *                   DATABASE_URL is set, else an embedded PGlite in its own data directory).
 *                   Hocuspocus relays first and stores on its debounce (2 s, at most 10 s).
 *
 * Messages from the parent: { id, type: 'seed' | 'cpu' | 'stats' | 'restart' | 'close', ... };
 * replies { id, ok, result | error }. On start it sends { type: 'ready', origin, room, token, protocol, durability }.
 */
import http from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import inspector from 'node:inspector/promises';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import * as Y from 'yjs';
import pg from 'pg';

const kind = process.argv[2] as 'yingji' | 'bare' | 'hocuspocus' | 'hocuspocus-db';
const ROOT = path.resolve(import.meta.dirname, '..');

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
function heapUsed(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

interface Served {
  origin: string;
  room: string;
  token?: string;
  protocol: 'y-websocket' | 'hocuspocus';
  durability: string;
  seed(update: Uint8Array): Promise<void>;
  restart?(): Promise<void>;
  openRooms(): number;
  writes(): { statements: number; updates: number; commitMs: number };
  close(): Promise<void>;
}

type Query = (sql: string) => Promise<{ rows: Record<string, unknown>[] }>;
async function durabilityOf(query: Query, what: string): Promise<string> {
  const sc = (await query('SHOW synchronous_commit')).rows[0]!.synchronous_commit;
  const fsync = (await query('SHOW fsync')).rows[0]!.fsync;
  return `${what}: synchronous_commit=${sc}, fsync=${fsync}`;
}

async function yingji(): Promise<Served> {
  const { loadConfig } = await import('../server/config.js');
  const { createLogger } = await import('../server/log.js');
  const { startServer } = await import('../server/app.js');
  const { checklistOf } = await import('../server/checklist/module.js');
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'yingji-bench-'));
  const env = (port: number) => ({
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
    ...(process.env.EMBEDDED_SHARED_BUFFERS ? { EMBEDDED_SHARED_BUFFERS: process.env.EMBEDDED_SHARED_BUFFERS } : {}),
    // The background schedulers' poll intervals, to see what their idle polling adds per edit.
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(WARNING|DRILL|ACK)_POLL_MS$/.test(k))),
    ADMIN_PASSWORD: 'bench-admin-password',
    LOG_LEVEL: 'silent',
    PLANS_DIR: path.join(ROOT, 'plans'),
    ORGANISATION_FILE: path.join(ROOT, 'seed/demo-organisation.yaml'),
    // Every benchmark client uses the one admin token.
    YJS_MAX_CONNECTIONS_PER_USER: '100000',
    YJS_MAX_CONNECTIONS_PER_INCIDENT: '100000',
  });
  const start = (port: number) => startServer(loadConfig(env(port)), createLogger('silent'));
  let server = await start(0);
  const login = await (await fetch(`${server.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'bench-admin-password' }) })).json();
  const token = login.token as string;
  const activated = await (
    await fetch(`${server.url}/api/incidents`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ planId: 'waterlogging-underpass', level: 'II', mode: 'exercise', title: 'bench' }) })
  ).json();
  const db = server.context.db as unknown as { pool: { query: Query } };
  return {
    origin: server.url.replace(/^http/, 'ws') + '/yjs',
    room: activated.incident.id,
    token,
    protocol: 'y-websocket',
    durability: await durabilityOf((sql) => db.pool.query(sql), `yingji (${process.env.DATABASE_URL ? 'PostgreSQL' : 'embedded PGlite'}, persist-before-relay)`),
    async seed() {
      // Our room is seeded by the activation itself (the plan's checklist); the others copy it.
    },
    async restart() {
      const port = server.port;
      await server.close();
      server = await start(port);
    },
    openRooms: () => checklistOf(server.context).stats().rooms,
    writes: () => checklistOf(server.context).stats().writes,
    async close() {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function bare(): Promise<Served> {
  const { setupWSConnection, docs, getYDoc } = await import('@y/websocket-server/utils');
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
    origin: `ws://127.0.0.1:${port}`, // the document is the path: "bench"
    room: 'bench',
    protocol: 'y-websocket',
    durability: '@y/websocket-server: no persistence',
    async seed(update) {
      Y.applyUpdate(getYDoc('bench'), update);
    },
    async restart() {
      await stop();
      // A restarted reference process starts empty; its clients bring the state back.
      for (const doc of docs.values()) doc.destroy();
      docs.clear();
      current = await listen(port);
    },
    openRooms: () => docs.size,
    writes: () => ({ statements: 0, updates: 0, commitMs: 0 }),
    close: stop,
  };
}

/** The document store of hocuspocus-db: one row per document, the whole state (what extension-database stores). */
async function hocuspocusStore(): Promise<{ query: (sql: string, params?: unknown[]) => Promise<{ rows: any[] }>; durability: string; close(): Promise<void> }> {
  const table = 'CREATE TABLE IF NOT EXISTS bench_hocuspocus_documents (name text PRIMARY KEY, data bytea NOT NULL)';
  if (process.env.DATABASE_URL) {
    const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 });
    await pool.query(table);
    await pool.query('DELETE FROM bench_hocuspocus_documents');
    return {
      query: (sql, params) => pool.query(sql, params as unknown[]),
      durability: await durabilityOf((sql) => pool.query(sql), 'hocuspocus-db (PostgreSQL via pg, stores on debounce after relay)'),
      async close() {
        await pool.query('DROP TABLE IF EXISTS bench_hocuspocus_documents');
        await pool.end();
      },
    };
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'hocuspocus-bench-'));
  const db = await PGlite.create(dataDir);
  await db.query(table);
  return {
    query: (sql, params) => db.query(sql, params as unknown[]),
    durability: await durabilityOf((sql) => db.query(sql) as Promise<{ rows: Record<string, unknown>[] }>, 'hocuspocus-db (embedded PGlite, stores on debounce after relay)'),
    async close() {
      await db.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function hocuspocus(persist: boolean): Promise<Served> {
  const { Server } = await import('@hocuspocus/server');
  const { Database } = await import('@hocuspocus/extension-database');
  const store = persist ? await hocuspocusStore() : undefined;
  let stores = 0;
  let storeMs = 0;
  const server = new Server({
    port: 0,
    address: '127.0.0.1',
    quiet: true,
    stopOnSignals: false,
    extensions: store
      ? [
          new Database({
            fetch: async ({ documentName }) => (await store.query('SELECT data FROM bench_hocuspocus_documents WHERE name = $1', [documentName])).rows[0]?.data ?? null,
            store: async ({ documentName, state }) => {
              const t = performance.now();
              await store.query('INSERT INTO bench_hocuspocus_documents (name, data) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET data = EXCLUDED.data', [documentName, state]);
              stores++;
              storeMs += performance.now() - t;
            },
          }),
        ]
      : [],
  });
  await server.listen();
  const port = (server.httpServer.address() as AddressInfo).port;
  return {
    origin: `ws://127.0.0.1:${port}`,
    room: 'bench',
    protocol: 'hocuspocus',
    durability: store ? store.durability : '@hocuspocus/server: no persistence',
    async seed(update) {
      const connection = await server.hocuspocus.openDirectConnection('bench');
      await connection.transact((doc) => Y.applyUpdate(doc, update));
      // Kept open: Hocuspocus unloads a document its last connection leaves, and without
      // persistence the seeded checklist would go with it.
    },
    openRooms: () => server.hocuspocus.getDocumentsCount(),
    writes: () => ({ statements: stores, updates: stores, commitMs: storeMs }),
    async close() {
      await server.destroy();
      await store?.close();
    },
  };
}

/** BENCH_COUNT_WRITES=1: counts socket writes (write and writev calls into libuv), reported by 'stats'. */
const socketWrites = { write: 0, writev: 0 };
if (process.env.BENCH_COUNT_WRITES) {
  const net = await import('node:net');
  const proto = net.Socket.prototype as unknown as { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
  const write = proto._write;
  const writev = proto._writev;
  proto._write = function (this: unknown, ...a: unknown[]) {
    socketWrites.write++;
    return write.apply(this, a);
  };
  proto._writev = function (this: unknown, ...a: unknown[]) {
    socketWrites.writev++;
    return writev.apply(this, a);
  };
}

/** Profiles only the timed edits (bench/room.ts --cpu-prof), not the start or the connecting. */
let profiler: inspector.Session | undefined;

async function main() {
  const served = kind === 'yingji' ? await yingji() : kind === 'bare' ? await bare() : await hocuspocus(kind === 'hocuspocus-db');
  process.on('message', async (m: { id: number; type: string; update?: string; file?: string }) => {
    try {
      let result: unknown = {};
      if (m.type === 'seed') await served.seed(Buffer.from(m.update!, 'base64'));
      else if (m.type === 'cpu') result = process.cpuUsage();
      else if (m.type === 'profile-start') {
        profiler ??= new inspector.Session();
        profiler.connect();
        await profiler.post('Profiler.enable');
        await profiler.post('Profiler.start');
      } else if (m.type === 'profile-stop') {
        const { profile } = await profiler!.post('Profiler.stop');
        await writeFile(m.file!, JSON.stringify(profile));
        profiler!.disconnect();
      }
      else if (m.type === 'stats') result = { heapUsed: heapUsed(), openRooms: served.openRooms(), writes: served.writes(), socketWrites };
      else if (m.type === 'restart') {
        if (!served.restart) throw new Error(`${kind} cannot restart`);
        await served.restart();
        result = { listening: performance.timeOrigin + performance.now() };
      } else if (m.type === 'close') {
        await served.close();
        process.send!({ id: m.id, ok: true, result });
        process.exit(0);
      }
      process.send!({ id: m.id, ok: true, result });
    } catch (err) {
      process.send!({ id: m.id, ok: false, error: String(err) });
    }
  });
  // The harness gone (killed, crashed): go too, no orphan servers.
  process.on('disconnect', () => process.exit(0));
  process.send!({ type: 'ready', origin: served.origin, room: served.room, token: served.token, protocol: served.protocol, durability: served.durability });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
