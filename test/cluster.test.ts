import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io, type Socket } from 'socket.io-client';
import pg from 'pg';
import { createClient } from 'redis';
import { loadConfig } from '../server/config.js';
import { createLogger } from '../server/log.js';
import { startServer, type RunningServer } from '../server/app.js';
import { withTransaction } from '../server/db/database.js';
import { appendEvent } from '../server/incidents/event-log.js';
import { ClusterMessageType, parseClusterMessage } from '../server/cluster/messages.js';
import { CLUSTER_NOTIFY_CHANNEL } from '../server/cluster/transports.js';
import { clusterThrottle } from '../server/cluster/rate.js';
import type { IncidentEvent } from '../shared/events.js';
import type { ClientToServerEvents, JoinAck, PresenceUpdate, ServerToClientEvents } from '../shared/live.js';
import { Api } from './helpers/api.js';
import { usingRealPostgres } from './helpers/database.js';
import { startTestServer, tempDir, testEnv, type TestServer } from './helpers/server.js';
import { until } from './helpers/wait.js';
import { connectClient, synced, waitFor, type YClient } from './rooms-helpers.js';
import { YJS_CLOSE_CODES } from '../shared/checklist.js';

const NODE = '00000000-0000-4000-8000-00000000000a';
const INCIDENT = '00000000-0000-4000-8000-00000000000b';

describe('cluster messages', () => {
  it('parses each typed message and refuses anything else (no string parsing, zod on receipt)', () => {
    expect(parseClusterMessage(JSON.stringify({ type: 'incident.event', from: NODE, incidentId: INCIDENT, seq: 3 }))).toEqual({ type: ClusterMessageType.IncidentEvent, from: NODE, incidentId: INCIDENT, seq: 3 });
    expect(parseClusterMessage(JSON.stringify({ type: 'checklist.updates', from: NODE, incidentId: INCIDENT, ids: null }))?.type).toBe(ClusterMessageType.ChecklistUpdates);
    for (const bad of [
      'not json',
      `${INCIDENT}:3`,
      JSON.stringify({ type: 'incident.event', from: NODE, incidentId: INCIDENT, seq: -1 }),
      JSON.stringify({ type: 'incident.event', from: 'node-1', incidentId: INCIDENT, seq: 1 }),
      JSON.stringify({ type: 'incident.event', from: NODE, incidentId: INCIDENT, seq: 1, extra: true }),
      JSON.stringify({ type: 'checklist.awareness', from: NODE, incidentId: INCIDENT, userId: NODE, update: '%%%' }),
      JSON.stringify({ type: 'nope', from: NODE }),
    ]) {
      expect(parseClusterMessage(bad)).toBeNull();
    }
  });
});

describe('cluster on one node', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('registers this node with a heartbeat; embedded PGlite is one node (loopback)', async () => {
    const { cluster } = t.server.context;
    const nodes = await cluster.nodes();
    expect(nodes.map((n) => n.nodeId)).toContain(cluster.nodeId);
    expect(nodes.find((n) => n.nodeId === cluster.nodeId)!.pid).toBe(process.pid);
    expect(cluster.kind).toBe(usingRealPostgres() ? 'postgres-notify' : 'single-node');
  });
});

type Transport = 'postgres-notify' | 'redis';
const transports: Transport[] = usingRealPostgres() ? ['postgres-notify', ...(process.env.REDIS_URL ? (['redis'] as const) : [])] : [];

for (const transport of transports) {
  describe(`two nodes through the cluster seam (${transport})`, () => {
    let a: TestServer;
    let b: RunningServer;
    const sockets: Socket[] = [];
    const ydocs: YClient[] = [];
    const extra: Record<string, string> = { YJS_MAX_CONNECTIONS_PER_USER: '3', LIVE_NODE_TTL_MS: '3000', ...(transport === 'redis' ? { REDIS_URL: process.env.REDIS_URL! } : {}) };

    beforeAll(async () => {
      a = await startTestServer(extra);
      const config = loadConfig(testEnv(await tempDir(), a.database.url, extra));
      b = await startServer(config, createLogger(config.LOG_LEVEL));
    });
    afterAll(async () => {
      for (const s of sockets) s.disconnect();
      for (const y of ydocs) y.destroy();
      await b?.close();
      await a?.close();
    });

    async function feed(url: string, token: string): Promise<{ socket: Socket<ServerToClientEvents, ClientToServerEvents>; events: IncidentEvent[] }> {
      const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(url, { auth: { token }, transports: ['websocket'], reconnection: false });
      sockets.push(socket);
      const events: IncidentEvent[] = [];
      socket.on('incident:event', (e) => events.push(e));
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', reject);
      });
      return { socket, events };
    }

    async function activate(): Promise<string> {
      const res = await a.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' });
      expect(res.status).toBe(201);
      return res.body.incident.id;
    }

    it('both nodes see each other, over the configured transport', async () => {
      expect(a.server.context.cluster.kind).toBe(transport);
      expect(b.context.cluster.kind).toBe(transport);
      expect(a.server.context.cluster.nodeId).not.toBe(b.context.cluster.nodeId);
      const seen = (await a.server.context.cluster.nodes()).map((n) => n.nodeId);
      expect(seen).toEqual(expect.arrayContaining([a.server.context.cluster.nodeId, b.context.cluster.nodeId]));
      const status = (await new Api(b.url, a.admin.token).get('/api/live/status')).body;
      expect(status).toMatchObject({ nodeId: b.context.cluster.nodeId, crossNode: transport, listening: true });
    });

    it('events committed on A reach a live-feed client on B, once each, in order; a checklist edit on B reaches a client on A', async () => {
      const id = await activate();
      const onB = await feed(b.url, a.admin.token!);
      const ack: JoinAck = await onB.socket.timeout(20_000).emitWithAck('incident:join', { incidentId: id });
      expect(ack.ok).toBe(true);
      for (let i = 0; i < 20; i++) await withTransaction(a.server.context.db.pool, (tx) => a.server.context.bus.record(tx, { incidentId: id, type: 'test.tick', actor: null, data: { i } }));
      await until(() => expect(onB.events.map((e) => e.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 2)));

      const staff = await a.user('staff');
      const ya = connectClient(a.url, id, staff.token, { awareness: false });
      const yb = connectClient(b.url, id, staff.token, { awareness: false });
      ydocs.push(ya, yb);
      await Promise.all([synced(ya), synced(yb)]);
      await waitFor(() => ya.items().length > 0 && yb.items().length > 0, 'seeded');
      yb.items().get(0).get('note').insert(0, '跨节点');
      await waitFor(() => ya.items().get(0).get('note').toString() === '跨节点', 'edit on B relayed to A');
    });

    it('a revocation on A closes the same session on B', async () => {
      const field = await a.user('field');
      const onB = await feed(b.url, field.token!);
      const closed = new Promise<string>((resolve) => onB.socket.on('disconnect', (reason) => resolve(reason)));
      const res = await a.admin.patch(`/api/users/${field.userId}`, { disabled: true });
      expect(res.status).toBe(200);
      expect(await closed).toBe('io server disconnect');
    });

    it('a send rate holds across both nodes, not per node', async () => {
      // 10 sends/s shared: 25 takes on each node need at least four more one-second windows after
      // the first (per node they would need two). A lower bound: load can only make it slower.
      const name = `test-${Date.now()}`;
      const ta = clusterThrottle(a.server.context.cluster, a.server.context.db.pool, name, 10, a.server.context.log);
      const tb = clusterThrottle(b.context.cluster, b.context.db.pool, name, 10, b.context.log);
      const started = Date.now();
      await Promise.all([...Array.from({ length: 25 }, () => ta.take()), ...Array.from({ length: 25 }, () => tb.take())]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(3500);
    });

    it('the per-user connection limit holds across nodes: two on A and one on B fill it, the fourth is refused anywhere', async () => {
      const id = await activate();
      const user = await a.user('staff');
      const opened = [connectClient(a.url, id, user.token, { awareness: false }), connectClient(a.url, id, user.token, { awareness: false }), connectClient(b.url, id, user.token, { awareness: false })];
      ydocs.push(...opened);
      await Promise.all(opened.map(synced));
      const fourth = connectClient(b.url, id, user.token, { awareness: false });
      ydocs.push(fourth);
      await waitFor(() => fourth.closes.length > 0, 'fourth connection refused');
      expect(fourth.closes[0]!.code).toBe(YJS_CLOSE_CODES.tooManyConnections);
      // a freed slot on A can be taken on B
      opened[0]!.destroy();
      await until(async () => {
        const { rows } = await a.server.context.db.pool.query('SELECT count(*)::int AS n FROM connection_leases WHERE user_id = $1', [user.userId]);
        expect(rows[0].n).toBe(2);
      });
      const again = connectClient(b.url, id, user.token, { awareness: false });
      ydocs.push(again);
      await synced(again);
      expect(again.closes).toEqual([]);
    });

    if (transport === 'redis') {
      it('presence lives in Redis with the node TTL: people on both nodes are listed, nothing in PostgreSQL, and a node that falls silent vanishes by itself', async () => {
        const id = await activate();
        const observer = await a.user('observer');
        const field = await a.user('field', { teamId: 'T-D03' });
        const onA = await feed(a.url, a.admin.token!);
        const onB = await feed(b.url, observer.token!);
        let last: PresenceUpdate | undefined;
        onB.socket.on('presence:update', (p) => void (last = p));
        for (const c of [onA, onB]) expect((await c.socket.timeout(20_000).emitWithAck('incident:join', { incidentId: id })).ok).toBe(true);
        const names = () => (last?.members.map((m) => m.username) ?? []).sort();
        await until(() => expect(names()).toEqual(['admin', observer.username].sort()));
        expect(last!.members.find((m) => m.username === 'admin')).toMatchObject({ role: 'commander', connections: 1, displayName: expect.any(String), since: expect.any(String) });
        const rows = await a.server.context.db.pool.query('SELECT count(*)::int AS n FROM live_presence WHERE incident_id = $1', [id]);
        expect(rows.rows[0].n).toBe(0);

        // a third node as Redis holds it, whose heartbeat has stopped: nothing refreshes its TTL
        const ns = a.server.context.cluster.namespace;
        const prefix = `yingji:${ns}:presence:{${id}}`;
        const ghost = randomUUID();
        const r = createClient({ url: process.env.REDIS_URL });
        await r.connect();
        try {
          // this node's own hash carries the node TTL (3000 ms here), refreshed by its heartbeat
          const ttl = await r.pTTL(`${prefix}:${a.server.context.cluster.nodeId}`);
          expect(ttl).toBeGreaterThan(0);
          expect(ttl).toBeLessThanOrEqual(3000);
          const entry = { u: field.userId, n: field.username, d: '幽灵', r: 'field', t: 'T-D03', s: Date.now() };
          await r.multi().hSet(`${prefix}:${ghost}`, 'ghost-socket', JSON.stringify(entry)).pExpire(`${prefix}:${ghost}`, 1500).sAdd(`${prefix}:nodes`, ghost).exec();
          await r.publish(`yingji:${ns}:cluster`, JSON.stringify({ type: 'presence.changed', from: ghost, incidentId: id }));
          await until(() => expect(last?.members.find((m) => m.userId === field.userId)).toMatchObject({ displayName: '幽灵', role: 'field', teamId: 'T-D03', connections: 1 }));
          // no sweeper: the hash expires, and a survivor drops the node from the incident's set and tells its room
          await until(() => expect(names()).toEqual(['admin', observer.username].sort()), 15_000);
          expect(await r.exists(`${prefix}:${ghost}`)).toBe(0);
          await until(async () => expect(await r.sIsMember(`${prefix}:nodes`, ghost)).toBeFalsy(), 15_000);
        } finally {
          await r.close();
        }
      });

      it('an event whose notice never went out (its node died between commit and publish) reaches the other node by its next heartbeat', async () => {
        const id = await activate();
        const onB = await feed(b.url, a.admin.token!);
        expect((await onB.socket.timeout(20_000).emitWithAck('incident:join', { incidentId: id })).ok).toBe(true);
        // committed on A without record(): no notice at all, as if A had died right after COMMIT
        await withTransaction(a.server.context.db.pool, (tx) => appendEvent(tx, { incidentId: id, type: 'test.unannounced', actor: null, data: {} }));
        await until(() => expect(onB.events.map((e) => e.seq)).toEqual([2]), 15_000);
      });
    }

    it('a foreign or malformed message is dropped and counted, and nothing else breaks', async () => {
      const cb = b.context.cluster;
      const before = cb.stats.dropped;
      const garbage = [`${INCIDENT}:7`, JSON.stringify({ type: 'incident.event', from: NODE, incidentId: 'x', seq: 1 })];
      if (transport === 'redis') {
        const r = createClient({ url: process.env.REDIS_URL });
        await r.connect();
        for (const g of garbage) await r.publish(`yingji:${cb.namespace}:cluster`, g);
        await r.close();
      } else {
        for (const g of garbage) await a.server.context.db.pool.query('SELECT pg_notify($1, $2)', [CLUSTER_NOTIFY_CHANNEL, g]);
      }
      await until(() => expect(cb.stats.dropped).toBe(before + 2));
    });

    it('messages lost while B is cut off from the transport are caught up from the database after it reconnects', async () => {
      const id = await activate();
      const onB = await feed(b.url, a.admin.token!);
      expect((await onB.socket.timeout(20_000).emitWithAck('incident:join', { incidentId: id })).ok).toBe(true);
      const resyncs = b.context.cluster.stats.resyncs;
      if (transport === 'redis') {
        const r = createClient({ url: process.env.REDIS_URL });
        await r.connect();
        const list = await r.clientList();
        const mine = list.filter((c) => c.name === `yingji-${b.context.cluster.nodeId}-sub`);
        expect(mine).toHaveLength(1);
        await r.sendCommand(['CLIENT', 'KILL', 'ID', String(mine[0]!.id)]);
        await r.close();
      } else {
        const admin = new pg.Client({ connectionString: a.database.url });
        await admin.connect();
        // B's one listening connection; A's stays
        const killed = await admin.query(
          `SELECT pg_terminate_backend(pid) FROM (SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'yingji-cluster-listener' ORDER BY backend_start DESC LIMIT 1) newest`,
        );
        expect(killed.rowCount).toBe(1);
        await admin.end();
      }
      for (let i = 0; i < 5; i++) await withTransaction(a.server.context.db.pool, (tx) => a.server.context.bus.record(tx, { incidentId: id, type: 'test.tick', actor: null, data: { i } }));
      await until(() => expect(onB.events.map((e) => e.seq)).toEqual([2, 3, 4, 5, 6]), 30_000);
      await until(() => expect(a.server.context.cluster.stats.resyncs + b.context.cluster.stats.resyncs).toBeGreaterThan(resyncs), 30_000);
    });
  });
}
