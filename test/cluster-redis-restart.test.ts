import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { createClient } from 'redis';
import * as Y from 'yjs';
import { usingRealPostgres, createTestDatabase, type TestDatabase } from './helpers/database.js';
import { DocClient, FeedClient } from './helpers/cluster-drill.js';
import { OwnRedis, redisServerAvailable } from './helpers/own-redis.js';
import { Api } from './helpers/api.js';
import { ADMIN_PASSWORD, spawnServer, startTestServer, tempDir, testEnv, type SpawnedServer } from './helpers/server.js';
import { io } from 'socket.io-client';
import type { PresenceUpdate } from '../shared/live.js';
import { waitFor } from './helpers/wait.js';

/**
 * Redis restarted in the middle of a multi-node run (issue 14, item 6). Three spawned nodes on one
 * real PostgreSQL and a Redis of the test's own (port 6392, no persistence, so the restart loses
 * everything in it); live-feed and checklist clients spread over the nodes edit and stream while
 * that Redis is SIGKILLed and, seconds later, started again on the same port. Registered only with
 * TEST_DATABASE_URL (several nodes share one PostgreSQL) and a redis-server binary on PATH.
 */
const REDIS_PORT = 6392;
const ITEMS_TO_EDIT = 4;
const PASSWORD = 'password-123';

if (usingRealPostgres() && redisServerAvailable()) {
  describe('a Redis restart in the middle of a three-node run', () => {
    const redis = new OwnRedis(REDIS_PORT);
    let database: TestDatabase | undefined;
    const dirs: string[] = [];
    const nodes: SpawnedServer[] = [];
    const feeds: FeedClient[] = [];
    const docs: DocClient[] = [];

    afterAll(async () => {
      feeds.forEach((f) => f.stop());
      docs.forEach((d) => d.stop());
      await Promise.all(nodes.map((n) => n.kill('SIGTERM').catch(() => undefined)));
      await redis.kill();
      await database?.drop().catch(() => undefined);
      await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
    });

    it('degraded while Redis is away, nothing lost: every edit and event reaches every client once, presence is right again, no node restarted', async () => {
      await redis.start();
      database = await createTestDatabase();
      for (let i = 0; i < 3; i++) {
        const dir = await tempDir('yingji-redis-restart-');
        dirs.push(dir);
        const env = testEnv(dir, database.url, { REDIS_URL: redis.url, LIVE_NODE_TTL_MS: '3000', LIVE_MAX_CONNECTIONS_PER_USER: '100', YJS_MAX_CONNECTIONS_PER_USER: '100' });
        nodes.push(await spawnServer({ ...env, LOG_LEVEL: 'warn' })); // one at a time: the first migrates
      }
      const urls = () => nodes.map((n) => n.url);
      const admin = await new Api(nodes[0]!.url).login('admin', ADMIN_PASSWORD);
      const nodeIds: string[] = [];
      for (const url of urls()) {
        const status = (await new Api(url, admin.token).get('/api/live/status')).body;
        expect(status.crossNode).toBe('redis');
        nodeIds.push(status.nodeId);
      }
      for (const [username, role] of [['rr.staff1', 'staff'], ['rr.staff2', 'staff'], ['rr.observer', 'observer'], ['rr.late', 'staff'], ['rr.field', 'field']] as const) {
        const r = await admin.post('/api/users', { username, password: PASSWORD, role, ...(role === 'field' ? { teamId: 'T-D01' } : {}) });
        expect(r.status).toBe(201);
      }
      const tokenOf = async (username: string) => (await new Api(nodes[0]!.url).login(username, PASSWORD)).token!;
      const users = ['rr.staff1', 'rr.staff2', 'rr.observer'];
      const tokens = new Map<string, string>();
      for (const u of [...users, 'rr.late']) tokens.set(u, await tokenOf(u));
      const id = (await admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' })).body.incident.id as string;

      // six feed clients (two per node, three users), three checklist clients (one per node)
      const feedUser = new Map<FeedClient, string>();
      const addFeed = (index: number, user: string) => {
        const f = new FeedClient(urls, index, tokens.get(user)!, id);
        feeds.push(f);
        feedUser.set(f, user);
        f.connect();
        return f;
      };
      for (let i = 0; i < 6; i++) addFeed(i, users[i % 3]!);
      for (let i = 0; i < 3; i++) docs.push(new DocClient(urls, i, tokens.get('rr.staff1')!, id));
      docs.forEach((d) => d.connect());
      await waitFor(() => feeds.every((f) => f.joined) && docs.every((d) => d.synced && d.items().length >= ITEMS_TO_EDIT), 'clients joined and synced', 60_000);

      const live = () => feeds.filter((f) => f.socket?.connected && f.joined);
      /** What every board should show: each user's open feed connections, by username. */
      const expectedPresence = () => {
        const m = new Map<string, number>();
        for (const f of live()) m.set(feedUser.get(f)!, (m.get(feedUser.get(f)!) ?? 0) + 1);
        return JSON.stringify([...m].sort());
      };
      const shown = (f: FeedClient) => JSON.stringify((f.presence?.members ?? []).map((m) => [m.username, m.connections] as [string, number]).sort());
      const presenceRight = () => live().every((f) => shown(f) === expectedPresence());
      await waitFor(presenceRight, 'presence before the restart', 30_000);

      const made: string[] = [];
      const edit = (round: number) =>
        docs.forEach((d, i) => {
          const token = `[${i}.${round}]`;
          const note = d.items().get(i % ITEMS_TO_EDIT).get('note') as Y.Text;
          note.insert(note.length, token);
          made.push(token);
        });
      const reporters = await Promise.all(urls().map((u) => new Api(u).login('rr.field', PASSWORD)));
      let reports = 0;
      const report = async (node: number) => {
        const r = await reporters[node]!.post(`/api/incidents/${id}/reports`, { text: `现场报告 ${reports}` });
        expect(r.status).toBe(201);
        reports++;
        return r.body;
      };
      const head = async () => (await admin.get(`/api/incidents/${id}`)).body.incident.lastSeq as number;
      const readyz = async (url: string) => {
        const r = await fetch(`${url}/readyz`);
        return { status: r.status, body: (await r.json()) as { cluster: { status: string } } };
      };

      let round = 0;
      for (; round < 5; round++) {
        edit(round);
        await report(round % 3);
      }

      // Redis goes away with everything in it
      await redis.kill();
      console.log('redis-restart: redis SIGKILLed');
      // decided: while Redis is down every node stays ready (it serves from PostgreSQL), reported as degraded
      for (const url of urls()) await waitFor(async () => (await readyz(url)).body.cluster.status === 'degraded', `${url} /readyz degraded`, 20_000);
      for (const url of urls()) expect(await readyz(url)).toMatchObject({ status: 200, body: { status: 'ready', cluster: { status: 'degraded' } } });

      // presence changes while Redis cannot record them: one client leaves, another user joins
      const leaving = feeds[1]!;
      leaving.stop();
      const late = addFeed(2, 'rr.late');

      // degraded, not stopped: an event committed on node 0 reaches a feed on node 2, an edit on node 0 a checklist on node 1
      const before = await head();
      await report(0);
      const onNode2 = feeds.find((f) => f.url === nodes[2]!.url && f !== late && f.socket?.connected)!;
      await waitFor(() => onNode2.lastSeq > before, 'an event across nodes while redis is down', 20_000);
      const probe = '[probe]';
      const n0 = docs[0]!.items().get(0).get('note') as Y.Text;
      n0.insert(n0.length, probe);
      made.push(probe);
      await waitFor(() => (docs[1]!.items().get(0).get('note') as Y.Text).toString().includes(probe), 'a checklist edit across nodes while redis is down', 20_000);
      console.log('redis-restart: events and checklist edits crossed nodes while redis was down (read from the database)');

      const outageUntil = Date.now() + 3000;
      for (; Date.now() < outageUntil; round++) {
        edit(round);
        await report(round % 3);
        await new Promise((r) => setTimeout(r, 100));
      }

      // Redis back on the same port, empty
      await redis.start();
      const backAt = Date.now();
      console.log('redis-restart: redis started again');
      const probeClient = createClient({ url: redis.url });
      await probeClient.connect();
      let behind = '';
      try {
        await waitFor(
          async () => {
            const seq = await head();
            const texts = docs.map((d) => d.items().toArray().slice(0, ITEMS_TO_EDIT).map((m) => (m.get('note') as Y.Text).toString()).join('|'));
            const names = (await probeClient.clientList()).map((c) => c.name);
            const ready = await Promise.all(urls().map(async (u) => (await readyz(u)).body.cluster.status));
            const state = {
              feedsBehind: live().filter((f) => f.lastSeq !== seq).length,
              docsMissing: texts.map((t) => made.filter((tok) => !t.includes(tok)).length),
              presence: live().filter((f) => shown(f) !== expectedPresence()).map(shown),
              expected: expectedPresence(),
              clients: nodeIds.map((n) => names.includes(`yingji-${n}-pub`) && names.includes(`yingji-${n}-sub`)),
              ready,
            };
            behind = JSON.stringify(state);
            return (
              live().length === 6 &&
              state.feedsBehind === 0 &&
              state.docsMissing.every((n) => n === 0) &&
              texts.every((t) => t === texts[0]) &&
              state.presence.length === 0 &&
              state.clients.every(Boolean) &&
              ready.every((s) => s === 'ok')
            );
          },
          'full convergence after redis came back',
          60_000,
          50,
        );
      } catch (err) {
        throw new Error(`${(err as Error).message}; state: ${behind}`);
      }
      const convergenceMs = Date.now() - backAt;
      console.log(`redis-restart: full convergence ${convergenceMs} ms after redis was back (feeds, checklists, presence, redis clients, /readyz)`);

      // presence is in the new Redis again, one hash per node with sockets in the room
      const keys = await probeClient.keys(`yingji:*:presence:{${id}}:*`);
      await probeClient.close();
      expect(keys.map((k) => k.split(':').at(-1)).sort()).toEqual([...nodeIds, 'nodes'].sort());
      expect(shown(late)).toBe(expectedPresence());
      expect(expectedPresence()).toContain('rr.late');

      // every event exactly once, in order, in every feed that stayed
      const seq = await head();
      expect(seq).toBe(1 + reports);
      for (const f of feeds.filter((x) => x !== leaving && x !== late)) {
        expect(f.events.map((e) => e.seq)).toEqual(Array.from({ length: seq }, (_, i) => i + 1));
        expect(f.duplicates).toBe(0);
        expect(f.failovers).toBe(0); // nobody had to move: no node went down
      }
      expect(late.events.at(-1)?.seq).toBe(seq);
      expect(late.duplicates).toBe(0);

      // what is stored: a fresh client reads every edit exactly once
      const fresh = new DocClient(urls, 0, tokens.get('rr.staff1')!, id);
      docs.push(fresh);
      fresh.connect();
      await waitFor(() => fresh.synced && fresh.items().length >= ITEMS_TO_EDIT, 'fresh client synced', 30_000);
      const stored = fresh.items().toArray().slice(0, ITEMS_TO_EDIT).map((m) => (m.get('note') as Y.Text).toString()).join('|');
      for (const tok of made) expect(stored.split(tok).length - 1, tok).toBe(1);

      // the nodes were never restarted
      for (const n of nodes) expect(n.child.exitCode).toBeNull();
      console.log(`redis-restart: ${JSON.stringify({ edits: made.length, events: seq, convergenceMs })}`);
    }, 300_000);
  });
}
else if (!usingRealPostgres()) {
  describe('REDIS_URL on the embedded database', () => {
    it('is ignored: one node, loopback cluster, presence in the embedded PostgreSQL, ready without any Redis', async () => {
      // Nothing listens on this port: a node that tried to use it could not start or would not be ready.
      const t = await startTestServer({ REDIS_URL: `redis://127.0.0.1:${REDIS_PORT}` });
      const socket = io(t.url, { auth: { token: t.admin.token }, transports: ['websocket'], reconnection: false });
      const connected = new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', reject);
      });
      try {
        expect(t.server.context.cluster.kind).toBe('single-node');
        expect(t.server.context.cluster.redis).toBeUndefined();
        const id = (await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' })).body.incident.id as string;
        let last: PresenceUpdate | undefined;
        socket.on('presence:update', (p: PresenceUpdate) => void (last = p));
        await connected;
        expect((await socket.timeout(20_000).emitWithAck('incident:join', { incidentId: id })).ok).toBe(true);
        await waitFor(() => last?.members.some((m) => m.username === 'admin'), 'presence shows admin');
        const rows = await t.server.context.db.pool.query('SELECT count(*)::int AS n FROM live_presence WHERE incident_id = $1', [id]);
        expect(rows.rows[0].n).toBe(1);
        const ready = await fetch(`${t.url}/readyz`);
        expect(ready.status).toBe(200);
        expect(await ready.json()).toMatchObject({ status: 'ready', cluster: { status: 'ok' } });
      } finally {
        socket.disconnect();
        await t.close();
      }
    }, 120_000);
  });
}
