import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io, type Socket } from 'socket.io-client';
import { createClient } from 'redis';
import { OwnRedis, redisServerAvailable } from './helpers/own-redis.js';
import { until } from './helpers/wait.js';
import { startTestServer, tempDir, testEnv, type TestServer } from './helpers/server.js';
import { usingRealPostgres } from './helpers/database.js';
import { Api } from './helpers/api.js';
import { loadConfig } from '../server/config.js';
import { createLogger } from '../server/log.js';
import { startServer, type RunningServer } from '../server/app.js';
import { withTransaction } from '../server/db/database.js';
import type { IncidentEvent } from '../shared/events.js';
import type { ClientToServerEvents, JoinAck, LiveError, PresenceUpdate, ServerToClientEvents } from '../shared/live.js';

/**
 * Socket.IO connection-state recovery of the live feed. A real client reaches the server through a
 * TCP proxy on loopback (the outside world's load balancer): destroying the proxy's connections
 * drops the transport ("transport close", a recoverable reason), and repointing it sends the
 * reconnect to another node. One node (the in-memory adapter) always; two nodes on the Redis
 * streams adapter when real PostgreSQL and REDIS_URL are set.
 */
const twoNodes = usingRealPostgres() && Boolean(process.env.REDIS_URL);
const opened: Socket[] = [];
const proxies: Proxy[] = [];

class Proxy {
  private target: string;
  private readonly conns = new Set<net.Socket>();
  private constructor(
    private readonly server: net.Server,
    target: string,
  ) {
    this.target = target;
  }

  static async start(targetUrl: string): Promise<Proxy> {
    const server = net.createServer();
    const proxy = new Proxy(server, targetUrl);
    server.on('connection', (downstream) => {
      const url = new URL(proxy.target);
      const upstream = net.connect(Number(url.port), url.hostname);
      for (const [x, y] of [[downstream, upstream], [upstream, downstream]] as const) {
        x.on('error', () => y.destroy());
        x.on('close', () => y.destroy());
        x.pipe(y);
      }
      proxy.conns.add(downstream);
      downstream.on('close', () => proxy.conns.delete(downstream));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxies.push(proxy);
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  /** New connections go to this node. */
  point(targetUrl: string): void {
    this.target = targetUrl;
  }

  /** Drops every connection through the proxy. */
  cut(): void {
    for (const c of this.conns) c.destroy();
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

interface Client {
  socket: Socket<ServerToClientEvents, ClientToServerEvents>;
  proxy: Proxy;
  events: IncidentEvent[];
  presence: PresenceUpdate[];
  /** Every packet the client decoded, before Socket.IO decides whether to hand it on. */
  packets: { type: number; data?: unknown[] }[];
}

async function connectVia(target: string, token: string): Promise<Client> {
  const proxy = await Proxy.start(target);
  const socket: Client['socket'] = io(proxy.url, { auth: { token }, transports: ['websocket'], reconnection: false });
  opened.push(socket);
  const c: Client = { socket, proxy, events: [], presence: [], packets: [] };
  socket.on('incident:event', (e) => c.events.push(e));
  socket.on('presence:update', (p) => c.presence.push(p));
  socket.io.on('packet', (p) => c.packets.push(p as Client['packets'][number]));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return c;
}

async function join(c: Client, incidentId: string): Promise<JoinAck & { ok: true }> {
  const ack = await c.socket.timeout(20_000).emitWithAck('incident:join', { incidentId });
  if (!ack.ok) throw new Error(JSON.stringify(ack));
  // A room broadcast carries the offset a recovering client sends back; presence is the first one.
  await until(() => expect(c.presence.length).toBeGreaterThan(0));
  return ack;
}

const connections = async (url: string, token: string) => (await new Api(url, token).get('/api/live/status')).body.connections as number;

/** Drops the client's transport and waits until its node has closed the socket (and persisted its session). */
async function drop(c: Client, nodeUrl: string, token: string): Promise<void> {
  const before = await connections(nodeUrl, token);
  const gone = new Promise<string>((resolve) => c.socket.once('disconnect', resolve));
  c.proxy.cut();
  expect(await gone).toBe('transport close');
  await until(async () => expect(await connections(nodeUrl, token)).toBe(before - 1));
}

/** Reconnects through the proxy, now pointing at `nodeUrl`. */
async function reconnect(c: Client, nodeUrl: string): Promise<void> {
  c.proxy.point(nodeUrl);
  const connected = new Promise<void>((resolve, reject) => {
    c.socket.once('connect', () => resolve());
    c.socket.once('connect_error', reject);
  });
  c.socket.connect();
  await connected;
}

/** Commits `count` entries on a node, publishing each on that node's bus as the services do. */
async function commitOn(node: RunningServer, incidentId: string, count: number): Promise<void> {
  const { db, bus } = node.context;
  for (let i = 0; i < count; i++) {
    await withTransaction(db.pool, (tx) => bus.record(tx, { incidentId, type: 'test.tick', actor: null, data: { i } }));
  }
}

const seqs = (events: IncidentEvent[]) => events.map((e) => e.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function activate(admin: Api): Promise<string> {
  const res = await admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' });
  expect(res.status).toBe(201);
  return res.body.incident.id;
}

let scenarioCounter = 0;
/** A running drill whose injects are released by hand only (due in an hour). */
async function drill(controller: Api): Promise<{ drillId: string; incidentId: string }> {
  const id = `tt-recovery-${process.pid}-${++scenarioCounter}`;
  const content = (s: string) => ({ zh: `注入：${s}`, en: `Inject: ${s}` });
  const stored = await controller.post('/api/scenarios', {
    id,
    title: { zh: '恢复测试推演', en: 'Recovery drill' },
    planId: 'waterlogging-underpass',
    level: 'II',
    objectives: [{ zh: '检验恢复', en: 'Test recovery' }],
    injects: [
      { id: 'to-controller', at: 3600, audience: { kind: 'controller' }, form: 'room-message', content: { zh: '导调专用：断线期间', en: 'Controllers only' } },
      { id: 'to-all', at: 3600, audience: { kind: 'all' }, form: 'sensor', content: content('all') },
    ],
  });
  expect(stored.status, JSON.stringify(stored.body)).toBe(201);
  const created = await controller.post('/api/drills', { scenarioId: id, kind: 'tabletop' });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const started = await controller.post(`/api/drills/${created.body.drill.id}/start`);
  expect(started.status, JSON.stringify(started.body)).toBe(200);
  return { drillId: created.body.drill.id, incidentId: started.body.drill.incidentId };
}

const lastSeq = (events: IncidentEvent[]) => events.at(-1)?.seq ?? 0;

/** Node A (a test server, with a database of its own) and node B on the same database, both on the Redis at `redisUrl`. */
async function twoNodesOn(redisUrl: string): Promise<{ a: TestServer; b: RunningServer }> {
  const extra = { REDIS_URL: redisUrl, LIVE_NODE_TTL_MS: '3000' };
  const a = await startTestServer(extra);
  const config = loadConfig(testEnv(await tempDir(), a.database.url, extra));
  return { a, b: await startServer(config, createLogger(config.LOG_LEVEL)) };
}

interface Nodes {
  a: TestServer;
  b: RunningServer;
  bUrl: string;
}

/** The tests, on `from` → `to` (the same node, or two). */
function recoveryTests(nodes: () => Nodes, route: 'same node' | 'another node') {
  const from = () => ({ url: nodes().a.url, server: nodes().a.server });
  const to = () => (route === 'same node' ? from() : { url: nodes().bUrl, server: nodes().b });

  it(`a client dropped from node A and reconnected to ${route === 'same node' ? 'A' : 'node B'} is recovered and gets every missed event once, in seq order, then live ones`, async () => {
    const { a } = nodes();
    const token = a.admin.token!;
    const id = await activate(a.admin);
    const moving = await connectVia(from().url, token);
    const stayOnA = await connectVia(from().url, token);
    const onB = await connectVia(to().url, token);
    for (const c of [moving, stayOnA, onB]) await join(c, id);
    await commitOn(from().server, id, 3);
    await until(() => expect(seqs(moving.events)).toEqual([2, 3, 4]));
    const socketId = moving.socket.id;

    await drop(moving, from().url, token);
    // Missed while away, committed on both nodes.
    await commitOn(from().server, id, 2);
    await commitOn(to().server, id, 2);
    await commitOn(from().server, id, 1);
    // And more while it reconnects, racing the recovery.
    await Promise.all([reconnect(moving, to().url), commitOn(from().server, id, 10), commitOn(to().server, id, 10)]);
    expect(moving.socket.recovered).toBe(true);
    // The server restored the session: same socket id (a fresh socket would have a new one).
    expect(moving.socket.id).toBe(socketId);
    await until(() => expect(seqs(moving.events)).toEqual(range(2, 29)));

    // Live again, from both nodes; then a last marker, after which nothing else is in flight.
    await commitOn(to().server, id, 2);
    await commitOn(from().server, id, 2);
    await commitOn(to().server, id, 1);
    for (const c of [moving, stayOnA, onB]) {
      await until(() => expect(lastSeq(c.events)).toBe(34));
      expect(seqs(c.events)).toEqual(range(2, 34));
    }
    // No incident:join of its own: the client sent none since the first.
    expect(moving.packets.filter((p) => p.type === 3).length).toBe(1); // one ACK packet: the first join's
    // It is in presence on the node it is now on.
    // Presence: in Redis on a Redis cluster (one hash per incident and node, a field per socket), else rows in PostgreSQL.
    const cluster = a.server.context.cluster;
    const presenceOn = async (nodeId: string): Promise<string[]> =>
      cluster.redis
        ? cluster.redis.hKeys(`yingji:${cluster.namespace}:presence:{${id}}:${nodeId}`)
        : (await a.server.context.db.pool.query<{ socket_id: string }>('SELECT socket_id FROM live_presence WHERE node_id = $1 AND incident_id = $2', [nodeId, id])).rows.map((r) => r.socket_id);
    const [toNode, fromNode] = [to().server.context.cluster.nodeId, from().server.context.cluster.nodeId];
    await until(async () => expect(await presenceOn(toNode)).toContain(socketId));
    if (fromNode !== toNode) expect(await presenceOn(fromNode)).not.toContain(socketId);
    const status = (await new Api(to().url, token).get('/api/live/status')).body;
    expect(status.incidentRooms).toBeGreaterThanOrEqual(1);
  });

  it(`a drill inject missed during the drop reaches a recovered controller (${route}), and not a recovered participant`, async () => {
    const { a } = nodes();
    const controller = await a.user('controller');
    const participant = await a.user('observer');
    const { drillId, incidentId } = await drill(controller);
    const ctl = await connectVia(from().url, controller.token!);
    const part = await connectVia(from().url, participant.token!);
    const joinedCtl = await join(ctl, incidentId);
    const joinedPart = await join(part, incidentId);

    await drop(ctl, from().url, controller.token!);
    await drop(part, from().url, participant.token!);
    const releaseOn = new Api(to().url, controller.token);
    expect((await releaseOn.post(`/api/drills/${drillId}/injects/to-controller/release`)).status).toBe(200);
    expect((await new Api(from().url, controller.token).post(`/api/drills/${drillId}/injects/to-all/release`)).status).toBe(200);
    await reconnect(ctl, to().url);
    await reconnect(part, to().url);
    expect(ctl.socket.recovered).toBe(true);
    expect(part.socket.recovered).toBe(true);

    // A marker everyone sees, after which nothing else is in flight.
    expect((await a.admin.post(`/api/incidents/${incidentId}/level`, { level: 'I', reason: '测试' })).status).toBe(200);
    const injects = (c: Client) => c.events.filter((e) => e.type === 'drill.inject_released').map((e) => e.data.injectId);
    for (const c of [ctl, part]) await until(() => expect(c.events.some((e) => e.type === 'incident.level_changed')).toBe(true));
    expect(injects(ctl)).toEqual(['to-controller', 'to-all']);
    expect(injects(part)).toEqual(['to-all']);
    // Exactly what the log shows each of them after their join, once and in order.
    const expected = async (who: Api, after: number) => (await who.get(`/api/incidents/${incidentId}/events?afterSeq=${after}`)).body.events as IncidentEvent[];
    expect(ctl.events).toEqual(await expected(controller, lastSeq(joinedCtl.events)));
    expect(part.events).toEqual(await expected(participant, lastSeq(joinedPart.events)));
    expect(JSON.stringify(part.packets)).not.toContain('导调专用');
  });

  it(`another account reconnecting with the recovery id of a dropped client gets nothing of it (${route})`, async () => {
    const { a } = nodes();
    const owner = await a.user('staff');
    const intruder = await a.user('observer');
    const id = await activate(a.admin);
    const c = await connectVia(from().url, owner.token!);
    await join(c, id);
    await drop(c, from().url, owner.token!);
    await commitOn(from().server, id, 2);
    const packetsBefore = c.packets.length;
    const refused = new Promise<LiveError>((resolve) => c.socket.once('live:error', resolve));
    c.socket.auth = { token: intruder.token };
    await reconnect(c, to().url);
    expect((await refused).code).toBe('forbidden');
    expect((await refused).details?.incidents).toEqual([id]);
    // In no room: a later entry does not reach it either.
    await commitOn(to().server, id, 1);
    await commitOn(from().server, id, 1);
    const other = await connectVia(to().url, a.admin.token!);
    await join(other, id);
    await commitOn(to().server, id, 1);
    await until(() => expect(lastSeq(other.events)).toBe(6));
    expect(c.packets.slice(packetsBefore).filter((p) => p.type === 2 && p.data?.[0] === 'incident:event')).toEqual([]);
    expect(c.events).toEqual([]);
  });

  it(`a client whose session was revoked while it was away is not recovered (${route}), and is sent nothing it missed`, async () => {
    const { a } = nodes();
    const user = await a.user('observer');
    const id = await activate(a.admin);
    const c = await connectVia(from().url, user.token!);
    await join(c, id);
    await commitOn(from().server, id, 1);
    await until(() => expect(seqs(c.events)).toEqual([2]));

    await drop(c, from().url, user.token!);
    await commitOn(from().server, id, 2);
    await commitOn(to().server, id, 1);
    expect((await user.post('/api/auth/logout')).status).toBeLessThan(300);
    const packetsBefore = c.packets.length;
    await expect(reconnect(c, to().url)).rejects.toMatchObject({ message: 'unauthorized' });
    expect(c.socket.recovered).toBe(false);
    // Nothing on the wire but the refusal: no missed event reached the client, not even buffered.
    const after = c.packets.slice(packetsBefore);
    expect(after.map((p) => p.type)).toEqual([4]); // CONNECT_ERROR
    expect(seqs(c.events)).toEqual([2]);
  });
}

describe('connection-state recovery on one node (in-memory adapter)', () => {
  let a: TestServer;
  beforeAll(async () => {
    a = await startTestServer();
  });
  afterAll(async () => {
    for (const s of opened.splice(0)) s.disconnect();
    for (const p of proxies.splice(0)) await p.close();
    await a?.close();
  });
  recoveryTests(() => ({ a, b: a.server, bUrl: a.url }), 'same node');
});

describe('connection-state recovery and the per-incident connection limit', () => {
  let a: TestServer;
  beforeAll(async () => {
    a = await startTestServer({ LIVE_MAX_CONNECTIONS_PER_INCIDENT: '1' });
  });
  afterAll(async () => {
    for (const s of opened.splice(0)) s.disconnect();
    for (const p of proxies.splice(0)) await p.close();
    await a?.close();
  });

  it('a recovered socket takes its incident slot again, and is refused (not put back in the room) when another socket took it meanwhile', async () => {
    const token = a.admin.token!;
    const id = await activate(a.admin);
    const first = await connectVia(a.url, token);
    await join(first, id);
    await drop(first, a.url, token);
    const second = await connectVia(a.url, token);
    await join(second, id); // the slot the drop freed
    const refused = new Promise<LiveError>((resolve) => first.socket.once('live:error', resolve));
    await reconnect(first, a.url);
    expect(first.socket.recovered).toBe(true);
    const error = await refused;
    expect(error).toMatchObject({ code: 'too_many_connections', event: 'incident:join', details: { incidentId: id } });
    await commitOn(a.server, id, 1);
    await until(() => expect(seqs(second.events)).toEqual([2]));
    expect(first.events).toEqual([]);
    // Once the other socket leaves, a join gets the slot (the refusal held none).
    second.socket.disconnect();
    const ack = await first.socket.timeout(20_000).emitWithAck('incident:join', { incidentId: id, afterSeq: 1 });
    expect(ack.ok).toBe(true);
  });
});

// Registered only where two nodes can share a database and a Redis (like the other multi-node tests).
if (twoNodes) describe('connection-state recovery across nodes (Redis streams adapter)', () => {
  let a: TestServer;
  let b: RunningServer;
  beforeAll(async () => {
    ({ a, b } = await twoNodesOn(process.env.REDIS_URL!));
  });
  afterAll(async () => {
    for (const s of opened.splice(0)) s.disconnect();
    for (const p of proxies.splice(0)) await p.close();
    await b?.close();
    await a?.close();
  });

  it('both nodes run on the streams adapter', async () => {
    for (const node of [a.server, b]) {
      expect(node.context.cluster.kind).toBe('redis');
      const r = node.context.cluster.redis!;
      const names = (await r.clientList()).map((c) => c.name);
      // Its own connection for XADD and sessions, plus the adapter's reader and subscriber.
      expect(names.filter((n) => n === `yingji-${node.context.cluster.nodeId}-sio`).length).toBe(3);
    }
  });

  it('the feed survives its stream connections being killed: entries come late, none lost or doubled, and recovery works again', async () => {
    const token = a.admin.token!;
    const id = await activate(a.admin);
    const onA = await connectVia(a.url, token);
    const onB = await connectVia(b.url, token);
    for (const c of [onA, onB]) await join(c, id);
    const killStreams = async () => {
      const r = a.server.context.cluster.redis!;
      const mine = (await r.clientList()).filter((c) => c.name === `yingji-${a.server.context.cluster.nodeId}-sio`);
      expect(mine).toHaveLength(3);
      for (const c of mine) await r.sendCommand(['CLIENT', 'KILL', 'ID', String(c.id)]);
    };
    await Promise.all([killStreams(), commitOn(a.server, id, 10)]);
    await commitOn(a.server, id, 5);
    for (const c of [onA, onB]) {
      await until(() => expect(lastSeq(c.events)).toBe(16));
      expect(seqs(c.events)).toEqual(range(2, 16));
    }
    await drop(onA, a.url, token);
    await commitOn(a.server, id, 2);
    await reconnect(onA, b.url);
    expect(onA.socket.recovered).toBe(true);
    await commitOn(b, id, 1);
    await until(() => expect(lastSeq(onA.events)).toBe(19));
    expect(seqs(onA.events)).toEqual(range(2, 19));
  });

  recoveryTests(() => ({ a, b, bUrl: b.url }), 'another node');
  recoveryTests(() => ({ a, b, bUrl: b.url }), 'same node');

  it('the stream outlives the nodes by the recovery window only (shared Redis is not left with it)', async () => {
    const r = a.server.context.cluster.redis!;
    const stream = `yingji:${a.server.context.cluster.namespace}:sio`;
    expect(await r.xLen(stream)).toBeGreaterThan(0);
    const limit = a.server.context.config.LIVE_RECOVERY_WINDOW_MS + 3000;
    await until(async () => {
      const ttl = await r.pTTL(stream);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(limit);
    });
  });
});

// On a Redis of the test's own (as test/cluster-redis-restart.test.ts), whose connection limit can
// keep one node's stream connections from coming back while the other node and the clients carry on.
if (twoNodes && redisServerAvailable()) describe('recovery after a node delivered entries outside the stream (own Redis)', () => {
  const redis = new OwnRedis(6394);
  let admin: ReturnType<typeof createClient> | undefined;
  let a: TestServer;
  let b: RunningServer;
  beforeAll(async () => {
    await redis.start();
    admin = createClient({ url: redis.url });
    await admin.connect();
    ({ a, b } = await twoNodesOn(redis.url));
  });
  afterAll(async () => {
    for (const s of opened.splice(0)) s.disconnect();
    for (const p of proxies.splice(0)) await p.close();
    await admin?.configSet('maxclients', '10000').catch(() => undefined);
    await b?.close();
    await a?.close();
    await admin?.quit().catch(() => undefined);
    await redis.kill();
  });

  it('entries a client got while its node could not reach the stream, and the ones it missed after dropping, reach it once each when it recovers on another node', async () => {
    const r = admin!;
    const token = a.admin.token!;
    const id = await activate(a.admin);
    const onA = await connectVia(a.url, token);
    const onB = await connectVia(b.url, token);
    for (const c of [onA, onB]) await join(c, id);
    const streamName = `yingji-${a.server.context.cluster.nodeId}-sio`;
    const streamConnections = async () => (await r.clientList()).filter((c) => c.name === streamName);
    // A's stream connections go, and no new connection is let in until the test says so.
    const mine = await streamConnections();
    expect(mine).toHaveLength(3);
    await r.configSet('maxclients', String((await r.clientList()).length - mine.length));
    for (const c of mine) await r.sendCommand(['CLIENT', 'KILL', 'ID', String(c.id)]);

    await commitOn(a.server, id, 5);
    for (const c of [onA, onB]) await until(() => expect(seqs(c.events)).toEqual(range(2, 6)));
    // Each came with an offset that says which entry it brings the client to, stream or not.
    const offsets = onA.packets.filter((p) => p.data?.[0] === 'incident:event').map((p) => p.data!.at(-1));
    expect(offsets).toHaveLength(5);
    offsets.forEach((offset, i) => expect(offset).toMatch(new RegExp(`^\\d+-\\d+~${id}~${i + 2}$`)));

    await drop(onA, a.url, token);
    await commitOn(a.server, id, 2);
    await until(() => expect(lastSeq(onB.events)).toBe(8));
    // A's stream connection comes back, and with it the session A wrote when the client dropped.
    await r.configSet('maxclients', '10000');
    await until(async () => expect(await streamConnections()).toHaveLength(3), 20_000);
    await until(async () => expect((await r.keys('*:sio:session:*')).length).toBeGreaterThan(0));

    await reconnect(onA, b.url);
    expect(onA.socket.recovered).toBe(true);
    await commitOn(b, id, 1);
    for (const c of [onA, onB]) await until(() => expect(lastSeq(c.events)).toBe(9));
    expect(seqs(onA.events)).toEqual(range(2, 9));
    expect(seqs(onB.events)).toEqual(range(2, 9));
  });
});
