import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from './helpers/wait.js';
import { randomUUID } from 'node:crypto';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { startTestServer, type TestServer } from './helpers/server.js';
import { withTransaction } from '../server/db/database.js';
import { appendEvent } from '../server/incidents/event-log.js';
import type { IncidentEvent } from '../shared/events.js';
import type { ClientToServerEvents, JoinAck, LiveError, PresenceUpdate, ServerToClientEvents } from '../shared/live.js';

type LiveSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

const MAX_BAD = 6;
const NODE_TTL_MS = 5000;
let t: TestServer;
const opened: LiveSocket[] = [];

beforeAll(async () => {
  // Most tests here connect as admin and keep their sockets open to the end: over the default per-user limit.
  t = await startTestServer({ LIVE_MAX_BAD_MESSAGES: String(MAX_BAD), LIVE_MAX_MESSAGE_BYTES: '16384', LIVE_NODE_TTL_MS: String(NODE_TTL_MS), LIVE_MAX_CONNECTIONS_PER_USER: '1000' });
});
afterAll(async () => {
  for (const s of opened) s.disconnect();
  await t?.close();
});

/** A socket.io-client that records everything the server sends it. */
interface Client {
  socket: LiveSocket;
  events: IncidentEvent[];
  presence: PresenceUpdate[];
  errors: (LiveError & { event?: string })[];
}

function client(token: string | undefined, opts: { reconnection?: boolean } = {}): Client {
  const socket: LiveSocket = io(t.url, { auth: token === undefined ? {} : { token }, transports: ['websocket'], reconnection: opts.reconnection ?? false });
  opened.push(socket);
  const c: Client = { socket, events: [], presence: [], errors: [] };
  socket.on('incident:event', (e) => c.events.push(e));
  socket.on('presence:update', (p) => c.presence.push(p));
  socket.on('live:error', (e) => c.errors.push(e));
  return c;
}

async function connected(token: string, opts: { reconnection?: boolean } = {}): Promise<Client> {
  const c = client(token, opts);
  await new Promise<void>((resolve, reject) => {
    c.socket.once('connect', () => resolve());
    c.socket.once('connect_error', reject);
  });
  return c;
}

async function join(c: Client, incidentId: string, afterSeq?: number): Promise<JoinAck> {
  return c.socket.timeout(20_000).emitWithAck('incident:join', afterSeq === undefined ? { incidentId } : { incidentId, afterSeq });
}


const activation = { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' };

async function activate(mode: 'actual' | 'exercise' = 'actual'): Promise<string> {
  const res = await t.admin.post('/api/incidents', { ...activation, mode });
  expect(res.status).toBe(201);
  return res.body.incident.id;
}

async function restEvents(incidentId: string, afterSeq = 0): Promise<IncidentEvent[]> {
  return (await t.admin.get(`/api/incidents/${incidentId}/events?afterSeq=${afterSeq}&limit=5000`)).body.events;
}

const seqs = (events: IncidentEvent[]) => events.map((e) => e.seq);

describe('live feed: authentication', () => {
  it('refuses a connection without a token, or with a bad one, with connect_error "unauthorized"', async () => {
    for (const token of [undefined, 'not-a-token', '']) {
      const c = client(token);
      const err = await new Promise<Error & { data?: { code: string; message: string } }>((resolve) => c.socket.once('connect_error', resolve));
      expect(err.message).toBe('unauthorized');
      expect(err.data?.code).toBe('unauthorized');
      expect(err.data?.message).toMatch(/token/);
      expect(c.socket.connected).toBe(false);
    }
  });
});

describe('live feed: incident rooms', () => {
  it('join acks with the incident and its log; REST changes arrive in order with the shape of GET /events', async () => {
    const id = await activate();
    const c = await connected(t.admin.token!);
    const ack = await join(c, id);
    if (!ack.ok) throw new Error(JSON.stringify(ack));
    expect(ack.incident).toMatchObject({ id, status: 'active', level: 'III' });
    expect(ack.incident).not.toHaveProperty('plan');
    expect(ack.hasMore).toBe(false);
    expect(ack.events).toEqual(await restEvents(id));
    expect(seqs(ack.events)).toEqual([1]);

    expect((await t.admin.post(`/api/incidents/${id}/level`, { level: 'II', reason: '水位上涨' })).status).toBe(200);
    expect((await t.admin.post(`/api/incidents/${id}/level`, { level: 'I' })).status).toBe(200);
    expect((await t.admin.post(`/api/incidents/${id}/close`, { summary: '排水完毕' })).status).toBe(200);
    await until(() => expect(c.events).toHaveLength(3));
    expect(c.events).toEqual(await restEvents(id, 1));
    expect(c.events.map((e) => e.type)).toEqual(['incident.level_changed', 'incident.level_changed', 'incident.closed']);
  });

  it('a client in another incident gets nothing from the first', async () => {
    const first = await activate();
    const second = await activate();
    const a = await connected(t.admin.token!);
    const b = await connected(t.admin.token!);
    expect((await join(a, first)).ok).toBe(true);
    expect((await join(b, second)).ok).toBe(true);
    await t.admin.post(`/api/incidents/${first}/level`, { level: 'II' });
    await t.admin.post(`/api/incidents/${second}/level`, { level: 'IV' });
    await until(() => expect(a.events).toHaveLength(1));
    await until(() => expect(b.events).toHaveLength(1));
    // b's own event came after a's, on the same server: had a's leaked to b it would be here by now.
    expect(a.events.every((e) => e.incidentId === first)).toBe(true);
    expect(b.events.every((e) => e.incidentId === second)).toBe(true);
  });

  it('an incident the user may not see, an unknown id and a garbage id all ack ok:false not_found', async () => {
    const actual = await activate('actual');
    const controller = await t.user('controller');
    const c = await connected(controller.token!);
    const denied = await join(c, actual);
    expect(denied).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect((await join(c, '6b1d9a52-4a7e-4c1e-9d7a-000000000000')).ok).toBe(false);
    expect(await join(c, 'not-a-uuid')).toMatchObject({ ok: false, error: { code: 'not_found' } });
    await t.admin.post(`/api/incidents/${actual}/level`, { level: 'II' });
    // the controller's own exercise is visible, and its events arrive; the actual incident's never do
    const drill = await activate('exercise');
    expect((await join(c, drill)).ok).toBe(true);
    await t.admin.post(`/api/incidents/${drill}/level`, { level: 'II' });
    await until(() => expect(c.events).toHaveLength(1));
    expect(c.events[0]!.incidentId).toBe(drill);
  });

  it('observers and field users may join (read-only feed)', async () => {
    const id = await activate();
    for (const role of ['observer', 'field', 'staff'] as const) {
      const user = await t.user(role);
      const c = await connected(user.token!);
      expect((await join(c, id)).ok).toBe(true);
    }
  });

  it('leave stops the feed for that incident', async () => {
    const id = await activate();
    const c = await connected(t.admin.token!);
    const watcher = await connected(t.admin.token!);
    await join(c, id);
    await join(watcher, id);
    expect(await c.socket.timeout(10_000).emitWithAck('incident:leave', { incidentId: id })).toEqual({ ok: true });
    await t.admin.post(`/api/incidents/${id}/level`, { level: 'II' });
    await until(() => expect(watcher.events).toHaveLength(1));
    expect(c.events).toHaveLength(0);
  });
});

describe('live feed: catching up', () => {
  it('afterSeq replays what a client missed while away, then continues live', async () => {
    const id = await activate();
    const first = await connected(t.admin.token!);
    await join(first, id);
    await t.admin.post(`/api/incidents/${id}/level`, { level: 'II' });
    await until(() => expect(seqs(first.events)).toEqual([2]));
    first.socket.disconnect(); // a long disconnect: a new session must resume from the log
    await t.admin.post(`/api/incidents/${id}/level`, { level: 'I' });
    await t.admin.post(`/api/incidents/${id}/level`, { level: 'IV' });
    const again = await connected(t.admin.token!);
    const ack = await join(again, id, 2);
    if (!ack.ok) throw new Error(JSON.stringify(ack));
    expect(seqs(ack.events)).toEqual([3, 4]);
    expect(ack.incident.level).toBe('IV');
    await t.admin.post(`/api/incidents/${id}/close`, {});
    await until(() => expect(seqs(again.events)).toEqual([5]));
  });

  it('connection-state recovery: a short disconnect misses nothing, and nothing is doubled', async () => {
    const id = await activate();
    const a = await connected(t.admin.token!);
    const watcher = await connected((await t.user('observer')).token!);
    await join(a, id);
    await join(watcher, id);
    await t.admin.post(`/api/incidents/${id}/level`, { level: 'II' });
    await until(() => expect(seqs(a.events)).toEqual([2]));

    a.socket.io.engine.close(); // the transport drops; reconnection is off, so we choose when it comes back
    // once presence shows a gone, the server has processed the disconnect
    await until(() => expect(watcher.presence.at(-1)?.members.some((m) => m.username === 'admin')).toBe(false));
    await t.admin.post(`/api/incidents/${id}/level`, { level: 'I' });
    await t.admin.post(`/api/incidents/${id}/level`, { level: 'III' });
    await until(() => expect(seqs(watcher.events)).toEqual([2, 3, 4]));

    a.socket.connect();
    await new Promise<void>((resolve) => a.socket.once('connect', () => resolve()));
    expect(a.socket.recovered).toBe(true);
    await until(() => expect(seqs(a.events)).toEqual([2, 3, 4]));
    // still in the room after recovery, and back in presence
    await until(() => expect(watcher.presence.at(-1)?.members.some((m) => m.username === 'admin')).toBe(true));
    await t.admin.post(`/api/incidents/${id}/close`, {});
    await until(() => expect(seqs(a.events)).toEqual([2, 3, 4, 5]));
  });

  it('a long log comes in pages; the room is entered with the last page, and gaps are read from the log', async () => {
    const id = await activate();
    // 600 entries committed without the bus (as if another node's notifications had been lost)
    await withTransaction(t.server.context.db.pool, async (tx) => {
      for (let i = 0; i < 600; i++) await appendEvent(tx, { incidentId: id, type: 'test.filler', actor: null, data: { i } });
    });
    const c = await connected(t.admin.token!);
    const page1 = await join(c, id);
    if (!page1.ok) throw new Error(JSON.stringify(page1));
    expect(page1.hasMore).toBe(true);
    expect(page1.events).toHaveLength(500);
    expect(page1.events[0]!.seq).toBe(1);
    const page2 = await join(c, id, page1.events.at(-1)!.seq);
    if (!page2.ok) throw new Error(JSON.stringify(page2));
    expect(page2.hasMore).toBe(false);
    expect(seqs(page2.events)).toEqual(Array.from({ length: 101 }, (_, i) => 501 + i));

    // one more entry without the bus, then one through the API: the room gets both, in order
    await withTransaction(t.server.context.db.pool, (tx) => appendEvent(tx, { incidentId: id, type: 'test.filler', actor: null, data: { i: 600 } }));
    await t.admin.post(`/api/incidents/${id}/level`, { level: 'II' });
    await until(() => expect(seqs(c.events)).toEqual([602, 603]));
    expect(c.events[1]!.type).toBe('incident.level_changed');
  });
});

describe('live feed: joins racing commits', () => {
  it('every client sees each entry exactly once, in order, whenever it joins while events are committed', async () => {
    const id = await activate();
    const { db, bus } = t.server.context;
    const TOTAL = 120;
    let written = 1;
    const writer = (async () => {
      for (let i = 0; i < TOTAL; i++) {
        await withTransaction(db.pool, (tx) => bus.record(tx, { incidentId: id, type: 'test.tick', actor: null, data: { i } }));
        written++;
      }
    })();
    const clients: { c: Client; ack: JoinAck }[] = [];
    for (let k = 0; k < 6; k++) {
      await until(() => expect(written).toBeGreaterThanOrEqual(1 + k * 20));
      const c = await connected(t.admin.token!);
      clients.push({ c, ack: await join(c, id, k % 2 === 0 ? undefined : Math.max(0, written - 5)) });
    }
    await writer;
    const last = 1 + TOTAL;
    for (const { c, ack } of clients) {
      if (!ack.ok) throw new Error(JSON.stringify(ack));
      // a late joiner may have had everything in its acknowledgement
      await until(() => expect([...ack.events, ...c.events].at(-1)?.seq).toBe(last));
      const seen = [...seqs(ack.events), ...seqs(c.events)];
      const from = seen[0]!;
      expect(seen).toEqual(Array.from({ length: last - from + 1 }, (_, i) => from + i));
    }
  });
});

describe('live feed: presence', () => {
  it('lists who is in the room, one entry per user with a connection count', async () => {
    const id = await activate();
    const field = await t.user('field', { teamId: 'T-D02' });
    const watcher = await connected(t.admin.token!);
    await join(watcher, id);
    await until(() => expect(watcher.presence.at(-1)?.members).toHaveLength(1));
    expect(watcher.presence.at(-1)!.members[0]).toMatchObject({ username: 'admin', role: 'commander', connections: 1, since: expect.any(String) });

    const tab1 = await connected(field.token!);
    const tab2 = await connected(field.token!);
    await join(tab1, id);
    await join(tab2, id);
    const fieldMember = () => watcher.presence.at(-1)!.members.find((m) => m.userId === field.userId);
    await until(() => expect(fieldMember()).toMatchObject({ connections: 2, role: 'field', teamId: 'T-D02', username: field.username }));
    expect(watcher.presence.at(-1)!.members).toHaveLength(2);
    expect(watcher.presence.at(-1)!.incidentId).toBe(id);

    await tab1.socket.timeout(10_000).emitWithAck('incident:leave', { incidentId: id });
    await until(() => expect(fieldMember()?.connections).toBe(1));
    tab2.socket.disconnect();
    await until(() => expect(fieldMember()).toBeUndefined());
    expect(watcher.presence.at(-1)!.members.map((m) => m.username)).toEqual(['admin']);
  });
});

describe('live feed: presence of other nodes', () => {
  it("shows people connected to another node, and drops them once that node stops heartbeating", async () => {
    const id = await activate();
    const pool = t.server.context.db.pool;
    const watcher = await connected(t.admin.token!);
    await join(watcher, id);
    // another node, as its rows look in PostgreSQL: alive, with one field user in the room
    const node = randomUUID();
    const remote = await t.user('field', { teamId: 'T-D03' });
    await pool.query('INSERT INTO cluster_nodes (node_id) VALUES ($1)', [node]);
    await pool.query(
      `INSERT INTO live_presence (node_id, socket_id, incident_id, user_id, username, role, team_id) VALUES ($1, 'remote-socket', $2, $3, $4, 'field', 'T-D03')`,
      [node, id, remote.userId, remote.username],
    );
    // what that node would send through the cluster seam (heard on real PostgreSQL only)
    await pool.query(`SELECT pg_notify('yingji_cluster', $1)`, [JSON.stringify({ type: 'presence.changed', from: node, incidentId: id })]);
    const tab = await connected(t.admin.token!); // a local change refreshes the list on either database
    await join(tab, id);
    const names = () => watcher.presence.at(-1)?.members.map((m) => m.username) ?? [];
    await until(() => {
      expect(names()).toContain(remote.username);
      expect(watcher.presence.at(-1)!.members.find((m) => m.username === 'admin')!.connections).toBe(2);
    });
    // the remote node falls silent: after the TTL this node sweeps it and tells its room
    await until(() => expect(names()).not.toContain(remote.username), NODE_TTL_MS * 5);
    expect(names()).toEqual(['admin']);
    const rows = await pool.query('SELECT 1 FROM live_presence WHERE node_id = $1 UNION ALL SELECT 1 FROM cluster_nodes WHERE node_id = $1', [node]);
    expect(rows.rowCount).toBe(0);
  });
});

describe('live feed: bad input', () => {
  it('garbage payloads and unknown events get errors; other clients carry on', async () => {
    const id = await activate();
    const good = await connected(t.admin.token!);
    await join(good, id);
    const bad = await connected(t.admin.token!);
    const raw = bad.socket as unknown as Socket; // untyped: send what a broken client would
    const garbage: unknown[] = ['just a string', 42, null, [1, 2], { incidentId: 7 }, { incidentId: id, afterSeq: -1 }, { incidentId: id, afterSeq: 'x' }, { incidentId: id, extra: true }];
    const answers: unknown[] = [];
    for (const payload of garbage.slice(0, MAX_BAD - 1)) answers.push(await raw.timeout(10_000).emitWithAck('incident:join', payload));
    for (const a of answers) expect(a).toMatchObject({ ok: false, error: { code: 'validation_failed', message: expect.any(String) } });
    expect(bad.socket.connected).toBe(true);

    // an unknown incident is not abuse, just not found
    expect(await join(bad, '6b1d9a52-4a7e-4c1e-9d7a-000000000001')).toMatchObject({ ok: false, error: { code: 'not_found' } });
    // an unknown event with an ack is answered through it
    expect(await raw.timeout(10_000).emitWithAck('incident:delete', { incidentId: id })).toMatchObject({ ok: false, error: { code: 'unknown_event' } });
    expect(bad.socket.connected).toBe(true);
    // one more refusal goes over the limit (no ack: answered with live:error), and the connection is closed
    const closed = new Promise<string>((resolve) => bad.socket.once('disconnect', (reason) => resolve(reason)));
    raw.emit('incident:join', { incidentId: id });
    expect(await closed).toBe('io server disconnect');
    expect(bad.errors.map((e) => e.code)).toEqual(['validation_failed', 'too_many_bad_messages']);

    await t.admin.post(`/api/incidents/${id}/level`, { level: 'II' });
    await until(() => expect(seqs(good.events)).toEqual([2]));
    expect(good.socket.connected).toBe(true);
  });

  it('an oversized message closes only that connection', async () => {
    const id = await activate();
    const good = await connected(t.admin.token!);
    await join(good, id);
    const big = await connected(t.admin.token!);
    const closed = new Promise<string>((resolve) => big.socket.once('disconnect', (reason) => resolve(reason)));
    (big.socket as unknown as Socket).emit('incident:join', { incidentId: 'x'.repeat(64 * 1024) });
    expect(await closed).toMatch(/transport (close|error)/);
    await t.admin.post(`/api/incidents/${id}/level`, { level: 'II' });
    await until(() => expect(seqs(good.events)).toEqual([2]));
  });

  it('malformed Socket.IO frames close only that connection', async () => {
    const id = await activate();
    const good = await connected(t.admin.token!);
    await join(good, id);
    const ws = new WebSocket(t.url.replace('http', 'ws') + '/socket.io/?EIO=4&transport=websocket');
    const frames: string[] = [];
    ws.on('message', (data) => frames.push(data.toString()));
    await new Promise((resolve) => ws.once('open', resolve));
    await until(() => expect(frames[0]).toMatch(/^0\{/)); // engine.io open
    ws.send(`40${JSON.stringify({ token: t.admin.token })}`);
    await until(() => expect(frames.some((f) => f.startsWith('40{'))).toBe(true)); // socket.io connected
    const gone = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send('42["incident:join",{"incidentId":'); // truncated JSON
    await gone;
    await t.admin.post(`/api/incidents/${id}/level`, { level: 'II' });
    await until(() => expect(seqs(good.events)).toEqual([2]));
    expect((await t.api.get('/healthz')).status).toBe(200);
  });
});

describe('live feed: token expiry', () => {
  it('closes a connection when its token expires', async () => {
    const pool = t.server.context.db.pool;
    const { rows } = await pool.query(`SELECT id FROM users WHERE username = 'admin'`);
    const { token } = await t.server.context.sessions.create({ id: rows[0].id, username: 'admin', role: 'commander', teamId: null }, { ttlMs: 8000 });
    const c = await connected(token);
    const reason = await new Promise<string>((resolve) => c.socket.once('disconnect', resolve));
    expect(reason).toBe('io server disconnect');
    expect(c.errors.map((e) => e.code)).toEqual(['unauthorized']);
  });
});

describe('live feed: status', () => {
  it('reports the node and its fan-out mode', async () => {
    const res = await t.admin.get('/api/live/status');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ nodeId: expect.any(String), connections: expect.any(Number) });
    expect(res.body.crossNode).toBe(process.env.TEST_DATABASE_URL ? 'postgres-notify' : 'single-node');
    expect((await t.api.get('/api/live/status')).status).toBe(401);
  });
});
