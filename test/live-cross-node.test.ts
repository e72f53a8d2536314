import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from './helpers/wait.js';
import { io, type Socket } from 'socket.io-client';
import pg from 'pg';
import { startTestServer, tempDir, testEnv, type TestServer } from './helpers/server.js';
import { usingRealPostgres } from './helpers/database.js';
import { Api } from './helpers/api.js';
import { loadConfig } from '../server/config.js';
import { createLogger } from '../server/log.js';
import { startServer, type RunningServer } from '../server/app.js';
import { withTransaction } from '../server/db/database.js';
import type { IncidentEvent } from '../shared/events.js';
import type { ClientToServerEvents, JoinAck, PresenceUpdate, ServerToClientEvents } from '../shared/live.js';

/**
 * Several server nodes on one real PostgreSQL: a client on node B gets what node A commits.
 * With embedded PGlite there is one node; the same tests then check the single-node path.
 */
const realPostgres = usingRealPostgres();
let a: TestServer;
let b: RunningServer | undefined;
/** Node B when there is one, else node A again. */
let other: { url: string; server: RunningServer };
const opened: Socket[] = [];

beforeAll(async () => {
  a = await startTestServer();
  if (realPostgres) {
    const config = loadConfig(testEnv(await tempDir(), a.database.url));
    b = await startServer(config, createLogger(config.LOG_LEVEL));
  }
  other = b ? { url: b.url, server: b } : { url: a.url, server: a.server };
});
afterAll(async () => {
  for (const s of opened) s.disconnect();
  await b?.close();
  await a?.close();
});

interface Client {
  socket: Socket<ServerToClientEvents, ClientToServerEvents>;
  events: IncidentEvent[];
  presence: PresenceUpdate[];
}

async function connect(url: string, token: string): Promise<Client> {
  const socket: Client['socket'] = io(url, { auth: { token }, transports: ['websocket'], reconnection: false });
  opened.push(socket);
  const c: Client = { socket, events: [], presence: [] };
  socket.on('incident:event', (e) => c.events.push(e));
  socket.on('presence:update', (p) => c.presence.push(p));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return c;
}

async function join(c: Client, incidentId: string): Promise<JoinAck> {
  const ack = await c.socket.timeout(20_000).emitWithAck('incident:join', { incidentId });
  if (!ack.ok) throw new Error(JSON.stringify(ack));
  return ack;
}


const seqs = (events: IncidentEvent[]) => events.map((e) => e.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function activate(): Promise<string> {
  const res = await a.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' });
  expect(res.status).toBe(201);
  return res.body.incident.id;
}

/** Commits `count` entries on a node, publishing each on that node's bus as the services do. */
async function commitOn(node: RunningServer, incidentId: string, count: number): Promise<void> {
  const { db, bus } = node.context;
  for (let i = 0; i < count; i++) {
    await withTransaction(db.pool, (tx) => bus.record(tx, { incidentId, type: 'test.tick', actor: null, data: { i } }));
  }
}

describe('live feed across server nodes', () => {
  it('reports how events reach this node', async () => {
    for (const url of [a.url, other.url]) {
      const status = (await new Api(url, a.admin.token).get('/api/live/status')).body;
      expect(status.crossNode).toBe(realPostgres ? 'postgres-notify' : 'single-node');
      expect(status.listening).toBe(realPostgres);
    }
  });

  it(realPostgres ? 'a client on node B gets what node A commits, and the reverse, once each and in order' : 'one node (embedded PGlite): each committed event reaches the room once, in order', async () => {
    const id = await activate();
    const onA = await connect(a.url, a.admin.token!);
    const onB = await connect(other.url, a.admin.token!);
    await join(onA, id);
    await join(onB, id);
    expect((await a.admin.post(`/api/incidents/${id}/level`, { level: 'II' })).status).toBe(200);
    expect((await new Api(other.url, a.admin.token).post(`/api/incidents/${id}/level`, { level: 'I' })).status).toBe(200);
    expect((await a.admin.post(`/api/incidents/${id}/close`, {})).status).toBe(200);
    const rest = (await a.admin.get(`/api/incidents/${id}/events?afterSeq=1`)).body.events;
    for (const c of [onA, onB]) {
      await until(() => expect(seqs(c.events)).toEqual([2, 3, 4]));
      expect(c.events).toEqual(rest);
    }
  });

  it(realPostgres ? 'presence lists the people on every node, and updates each node when someone leaves' : 'one node (embedded PGlite): presence lists everyone in the room', async () => {
    const id = await activate();
    const observer = await a.user('observer');
    const onA = await connect(a.url, a.admin.token!);
    const onB = await connect(other.url, observer.token!);
    await join(onA, id);
    await join(onB, id);
    const names = (c: Client) => (c.presence.at(-1)?.members.map((m) => m.username) ?? []).sort();
    const both = ['admin', observer.username].sort();
    await until(() => expect(names(onA)).toEqual(both));
    await until(() => expect(names(onB)).toEqual(both));
    onB.socket.disconnect();
    await until(() => expect(names(onA)).toEqual(['admin']));
  });

  it('both nodes committing at once: every client sees one gap-free sequence', async () => {
    const id = await activate();
    const clients = [await connect(a.url, a.admin.token!), await connect(other.url, a.admin.token!), await connect(other.url, a.admin.token!)];
    for (const c of clients) await join(c, id);
    await Promise.all([commitOn(a.server, id, 60), commitOn(other.server, id, 60)]);
    for (const c of clients) {
      await until(() => expect(c.events.at(-1)?.seq).toBe(121));
      expect(seqs(c.events)).toEqual(range(2, 121));
    }
  });

  it(realPostgres ? 'events committed while the notification connection is down arrive after it reconnects' : 'one node (embedded PGlite): no notification connection is needed', async () => {
    const id = await activate();
    const onB = await connect(other.url, a.admin.token!);
    await join(onB, id);
    if (!realPostgres) {
      await commitOn(a.server, id, 3);
      await until(() => expect(seqs(onB.events)).toEqual([2, 3, 4]));
      return;
    }
    const admin = new pg.Client({ connectionString: a.database.url });
    await admin.connect();
    try {
      const killed = await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'yingji-cluster-listener'`,
      );
      expect(killed.rowCount).toBe(2); // one listening connection per node (the cluster seam's), not one per feature
    } finally {
      await admin.end();
    }
    await commitOn(a.server, id, 3); // node B hears nothing of these until its listener is back
    await until(() => expect(seqs(onB.events)).toEqual([2, 3, 4]));
    await until(async () => expect((await new Api(other.url, a.admin.token).get('/api/live/status')).body.listening).toBe(true));
    await commitOn(a.server, id, 1);
    await until(() => expect(seqs(onB.events)).toEqual([2, 3, 4, 5]));
  });
});
