/**
 * Awareness belongs to its connection (issue 9, finding 6): the server stamps `user` from the
 * authenticated account and refuses updates for client ids another user's connection owns.
 */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../server/config.js';
import { createLogger } from '../server/log.js';
import { startServer, type RunningServer } from '../server/app.js';
import { checklistOf } from '../server/checklist/module.js';
import { startTestServer, tempDir, testEnv, type TestServer } from './helpers/server.js';
import { usingRealPostgres } from './helpers/database.js';
import { connectClient, synced, waitFor, type YClient } from './rooms-helpers.js';
import { rawClient, type RawClient } from './rooms-raw.js';

let t: TestServer;
const yClients: YClient[] = [];
const raws: RawClient[] = [];

/** Two nodes on one PostgreSQL per cluster transport: NOTIFY always, Redis when REDIS_URL is set. */
type Transport = 'postgres-notify' | 'redis';
const transports: Transport[] = usingRealPostgres() ? ['postgres-notify', ...(process.env.REDIS_URL ? (['redis'] as const) : [])] : [];
const pairs = new Map<Transport, { first: TestServer; second: RunningServer }>();
const dirs: string[] = [];

beforeAll(async () => {
  t = await startTestServer();
  for (const transport of transports) {
    const extra: Record<string, string> = transport === 'redis' ? { REDIS_URL: process.env.REDIS_URL! } : {};
    const first = transport === 'postgres-notify' ? t : await startTestServer(extra);
    const dir = await tempDir();
    dirs.push(dir);
    // A second node against the same PostgreSQL database.
    const config = loadConfig(testEnv(dir, first.database.url, extra));
    pairs.set(transport, { first, second: await startServer(config, createLogger(config.LOG_LEVEL)) });
  }
});
afterAll(async () => {
  for (const c of yClients) c.destroy();
  for (const r of raws) r.ws.terminate();
  for (const { first, second } of pairs.values()) {
    await second.close();
    if (first !== t) await first.close();
  }
  for (const d of dirs) await rm(d, { recursive: true, force: true });
  await t?.close();
});

async function activate(server: TestServer = t): Promise<string> {
  const res = await server.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' });
  expect(res.status).toBe(201);
  return res.body.incident.id;
}

let n = 0;
async function userWithName(role: string, displayName: string, server: TestServer = t) {
  const username = `aw${++n}_${process.pid}`;
  const res = await server.admin.post('/api/users', { username, password: 'password-123', role, displayName, ...(role === 'field' ? { teamId: 'T-D01' } : {}) });
  expect(res.status).toBe(201);
  const api = await server.api.login(username, 'password-123');
  return { token: api.token!, id: res.body.user.id as string, username };
}

const raw = async (incidentId: string, token: string, clientId: number, url = t.url) => {
  const r = await rawClient(url, incidentId, token, { clientId });
  raws.push(r);
  return r;
};

describe('awareness', () => {
  it('the stock client’s state reaches others with `user` stamped from the account, whatever the client claimed', async () => {
    const id = await activate();
    const observer = await userWithName('observer', '观察员 李');
    const staff = await userWithName('staff', '值班员 王');
    const o = connectClient(t.url, id, observer.token);
    const s = connectClient(t.url, id, staff.token);
    yClients.push(o, s);
    await Promise.all([synced(o), synced(s)]);
    o.provider.awareness.setLocalState({ user: { name: 'admin', role: 'commander' }, cursor: { item: 3 } });
    const seen = await waitFor(() => s.provider.awareness.getStates().get(o.doc.clientID), 'observer state at the staff client');
    expect(seen).toEqual({ user: { id: observer.id, name: '观察员 李', role: 'observer' }, cursor: { item: 3 } });
  });

  it('a connection cannot overwrite or remove another user’s awareness client id; the same user may take its id over (reconnect)', async () => {
    const id = await activate();
    const alice = await userWithName('staff', 'Alice');
    const mallory = await userWithName('field', 'Mallory');
    const watcher = await userWithName('staff', 'Watcher');
    const w = await raw(id, watcher.token, 30_003);
    const a = await raw(id, alice.token, 10_001);
    a.sendAwareness([{ clientId: 10_001, clock: 1, state: { cursor: 1 } }]);
    await waitFor(() => (w.awareness.get(10_001) as any)?.cursor === 1, 'alice visible');

    const m = await raw(id, mallory.token, 20_002);
    m.sendAwareness([{ clientId: 10_001, clock: 5, state: { user: { name: 'Alice' }, cursor: 99 } }]);
    m.sendAwareness([{ clientId: 10_001, clock: 6, state: null }]);
    await waitFor(() => m.denied.length >= 2, 'mallory told twice');
    expect(m.denied[0]).toMatch(/belongs to another connection/);
    // Mallory's own id is fine, and is ordered after her refused messages: once it shows, they were handled.
    m.sendAwareness([{ clientId: 20_002, clock: 1, state: { cursor: 7 } }]);
    await waitFor(() => (w.awareness.get(20_002) as any)?.cursor === 7, 'mallory’s own state');
    expect(w.awareness.get(10_001)).toEqual({ cursor: 1, user: { id: alice.id, name: 'Alice', role: 'staff' } });
    expect(w.awareness.get(20_002)).toEqual({ cursor: 7, user: { id: mallory.id, name: 'Mallory', role: 'field' } });

    // Alice reconnects before the old socket is gone: the new connection takes over her id.
    const a2 = await raw(id, alice.token, 10_001);
    a2.sendAwareness([{ clientId: 10_001, clock: 2, state: { cursor: 2 } }]);
    await waitFor(() => (w.awareness.get(10_001) as any)?.cursor === 2, 'alice’s new connection');
    // The old socket closing does not remove the state the new one owns now.
    a.ws.close();
    await a.closed;
    m.sendAwareness([{ clientId: 20_002, clock: 2, state: { cursor: 8 } }]);
    await waitFor(() => (w.awareness.get(20_002) as any)?.cursor === 8, 'a later update');
    expect((w.awareness.get(10_001) as any)?.cursor).toBe(2);
    // When the owning connection closes, its states are removed for everyone.
    a2.ws.close();
    await waitFor(() => w.awareness.get(10_001) === null, 'alice removed');
    expect(m.closeCode).toBeNull();
  });

  it('a connection may not collect awareness ids without end', async () => {
    const id = await activate();
    const user = await userWithName('staff', 'Many');
    const watcher = await userWithName('staff', 'Watcher2');
    const w = await raw(id, watcher.token, 40_000);
    const r = await raw(id, user.token, 50_000);
    r.sendAwareness(Array.from({ length: 50 }, (_, i) => ({ clientId: 50_000 + i, clock: 1, state: { i } })));
    r.sendAwareness([{ clientId: 50_000, clock: 2, state: { i: 'own' } }]);
    await waitFor(() => (w.awareness.get(50_000) as any)?.i === 'own', 'its own id');
    expect(r.denied[0]).toMatch(/at most/);
    expect(w.awareness.has(50_001)).toBe(false);
  });
});

describe('awareness on several nodes', () => {
  if (transports.length === 0) {
    it('embedded PGlite belongs to one process: there is exactly one node and nothing to relay', () => {
      expect(checklistOf(t.server.context).crossNode).toBe(false);
    });
  }
  for (const transport of transports) it(`is relayed to the other node, stamped; ownership holds across nodes; a leave is seen there (${transport})`, async () => {
    const { first, second } = pairs.get(transport)!;
    const id = await activate(first);
    const alice = await userWithName('staff', 'Alice on node 1', first);
    const bob = await userWithName('staff', 'Bob on node 2', first);
    const onFirst = await raw(id, alice.token, 61_001, first.url);
    const onSecond = await raw(id, bob.token, 62_002, second.url);
    onFirst.sendAwareness([{ clientId: 61_001, clock: 1, state: { user: { name: 'admin' }, cursor: 1 } }]);
    await waitFor(() => (onSecond.awareness.get(61_001) as any)?.cursor === 1, 'node 1 awareness on node 2');
    expect(onSecond.awareness.get(61_001)).toEqual({ cursor: 1, user: { id: alice.id, name: 'Alice on node 1', role: 'staff' } });

    onSecond.sendAwareness([{ clientId: 61_001, clock: 9, state: { cursor: 666 } }]);
    await waitFor(() => onSecond.denied.length > 0, 'bob told');
    expect(onSecond.denied[0]).toMatch(/belongs to another connection/);
    onSecond.sendAwareness([{ clientId: 62_002, clock: 1, state: { cursor: 2 } }]);
    await waitFor(() => (onFirst.awareness.get(62_002) as any)?.cursor === 2, 'node 2 awareness on node 1');
    expect((onSecond.awareness.get(61_001) as any)?.cursor).toBe(1);

    onFirst.ws.close();
    await waitFor(() => onSecond.awareness.get(61_001) === null, 'alice’s leave seen on node 2');
  });
});
