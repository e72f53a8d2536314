import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io, type Socket } from 'socket.io-client';
import { loadConfig } from '../server/config.js';
import { createLogger } from '../server/log.js';
import { startServer, type RunningServer } from '../server/app.js';
import type { JoinAck } from '../shared/live.js';
import { YJS_CLOSE_CODES } from '../shared/checklist.js';
import { usingRealPostgres } from './helpers/database.js';
import { startTestServer, tempDir, testEnv, type TestServer } from './helpers/server.js';
import { connectClient, synced, waitFor, type YClient } from './rooms-helpers.js';

/**
 * The connection limits other than the per-user Yjs one (in cluster.test.ts) held across two
 * nodes on one PostgreSQL: Socket.IO per user, Socket.IO per incident, Yjs per incident; with
 * REDIS_URL the nodes talk over Redis (the limits are leases in PostgreSQL either way). Embedded
 * PGlite is one node: "A" and "B" are then the same node, counting in memory.
 */
const twoNodes = usingRealPostgres();
describe(twoNodes ? `connection limits across two nodes (${process.env.REDIS_URL ? 'redis' : 'postgres-notify'})` : 'connection limits on the one embedded node', () => {
  let a: TestServer;
  let b: RunningServer | undefined;
  let bUrl: string;
  const sockets: Socket[] = [];
  const ydocs: YClient[] = [];
  const extra: Record<string, string> = {
    LIVE_MAX_CONNECTIONS_PER_USER: '2',
    LIVE_MAX_CONNECTIONS_PER_INCIDENT: '3',
    YJS_MAX_CONNECTIONS_PER_INCIDENT: '3',
    LIVE_NODE_TTL_MS: '3000',
    ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
  };

  beforeAll(async () => {
    a = await startTestServer(extra);
    if (twoNodes) {
      const config = loadConfig(testEnv(await tempDir(), a.database.url, extra));
      b = await startServer(config, createLogger(config.LOG_LEVEL));
    }
    bUrl = b?.url ?? a.url;
  });
  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    for (const y of ydocs) y.destroy();
    await b?.close();
    await a?.close();
  });

  const connect = (url: string, token: string) =>
    new Promise<{ socket: Socket; error: any }>((resolve) => {
      const socket = io(url, { auth: { token }, transports: ['websocket'], reconnection: false });
      sockets.push(socket);
      socket.once('connect', () => resolve({ socket, error: null }));
      socket.once('connect_error', (error: any) => resolve({ socket, error }));
    });
  const activate = async () => {
    const res = await a.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' });
    expect(res.status).toBe(201);
    return res.body.incident.id as string;
  };

  it('Socket.IO per user: one socket on A and one on B fill it; a third is refused on either; a freed slot on A is taken on B', async () => {
    const u = await a.user('staff');
    const onA = await connect(a.url, u.token!);
    const onB = await connect(bUrl, u.token!);
    expect([onA.error, onB.error]).toEqual([null, null]);
    for (const url of [a.url, bUrl]) {
      const third = await connect(url, u.token!);
      expect(third.error?.data?.code, url).toBe('too_many_connections');
    }
    onA.socket.disconnect();
    await waitFor(async () => !(await connect(bUrl, u.token!)).error, 'the slot freed on A taken on B');
  });

  it('Socket.IO per incident: two joins on A and one on B fill the room; a fourth join on B is refused; a leave on A frees a slot for B', async () => {
    const id = await activate();
    const join = (s: Socket) => new Promise<JoinAck>((resolve) => s.emit('incident:join', { incidentId: id }, resolve));
    const users = await Promise.all([a.user('staff'), a.user('staff'), a.user('staff'), a.user('staff')]);
    const socks: Socket[] = [];
    for (const [i, u] of users.entries()) {
      const c = await connect(i < 2 ? a.url : bUrl, u.token!);
      expect(c.error).toBeNull();
      socks.push(c.socket);
    }
    for (const s of socks.slice(0, 3)) expect((await join(s)).ok).toBe(true);
    expect(await join(socks[3]!)).toMatchObject({ ok: false, error: { code: 'too_many_connections' } });
    await new Promise((resolve) => socks[0]!.emit('incident:leave', { incidentId: id }, resolve));
    await waitFor(async () => (await join(socks[3]!)).ok, 'the slot left on A taken on B');
  });

  it('Yjs per incident: two connections on A and one on B fill it; a fourth (another user) on B is closed with 4429', async () => {
    const id = await activate();
    const users = await Promise.all([a.user('staff'), a.user('staff'), a.user('staff'), a.user('staff')]);
    const opened = [connectClient(a.url, id, users[0]!.token!, { awareness: false }), connectClient(a.url, id, users[1]!.token!, { awareness: false }), connectClient(bUrl, id, users[2]!.token!, { awareness: false })];
    ydocs.push(...opened);
    await Promise.all(opened.map(synced));
    const fourth = connectClient(bUrl, id, users[3]!.token!, { awareness: false });
    ydocs.push(fourth);
    await waitFor(() => fourth.closes.length > 0, 'fourth connection refused');
    expect(fourth.closes[0]!.code).toBe(YJS_CLOSE_CODES.tooManyConnections);
  });
});
