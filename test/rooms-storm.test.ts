import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../server/config.js';
import { createLogger } from '../server/log.js';
import { startServer, type RunningServer } from '../server/app.js';
import { checklistOf } from '../server/checklist/module.js';
import { Api } from './helpers/api.js';
import { createTestDatabase } from './helpers/database.js';
import { ADMIN_PASSWORD, tempDir, testEnv } from './helpers/server.js';
import { connectClient, waitFor, type YClient } from './rooms-helpers.js';
import { traceTimers } from './helpers/timer-trace.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

// Timers the server's connection handling created (rooms, sessions, limits, the ws server's sockets);
// the clients' own timers (y-websocket, their ws sockets), the server's pollers and the login limiters'
// unref'd hourly cleanup are not the subject.
const timers = traceTimers();
afterAll(() => timers.stop());
const byServerConnections = (stack: string) =>
  !/y-websocket|rate-limiter-flexible/.test(stack) && /\/server\/(checklist|auth|connection-limiter)|node_modules\/ws\//.test(stack);

describe('reconnect storm', () => {
  it('after a restart every client re-syncs, and refused or dropped connections leak no doc, room or timer', async () => {
    const dataDir = await tempDir();
    const database = await createTestDatabase();
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }), () => database.drop());
    // One token opens all 120 clients: over the default per-user limit, which is not what this test is about.
    const env = testEnv(dataDir, database.url, { YJS_MAX_CONNECTIONS_PER_USER: '1000' });
    const start = (port: number) => {
      const config = loadConfig({ ...env, PORT: String(port) });
      return startServer(config, createLogger(config.LOG_LEVEL));
    };
    let server: RunningServer = await start(0);
    cleanups.push(() => server.close());
    const admin = await new Api(server.url).login('admin', ADMIN_PASSWORD);
    const { body } = await admin.post('/api/incidents', { planId: 'highrise-complex-fire', level: 'II', mode: 'actual' });
    const id = body.incident.id as string;
    const timersBefore = timers.count(byServerConnections);

    const good: YClient[] = Array.from({ length: 120 }, () => connectClient(server.url, id, admin.token));
    // Clients that are refused again and again while the storm goes on.
    const refused: YClient[] = [
      ...Array.from({ length: 20 }, () => connectClient(server.url, id, 'bad-token')),
      ...Array.from({ length: 20 }, () => connectClient(server.url, '0b1d9a52-4a7e-4c1e-9d7a-000000000000', admin.token)),
    ];
    cleanups.push(async () => [...good, ...refused].forEach((c) => c.destroy()));
    await waitFor(() => good.every((c) => c.provider.synced && c.items().length > 0), 'all connected', 60_000);
    // The tracer sees what it is meant to: every open connection holds its session-expiry timer.
    expect(timers.count(byServerConnections)).toBeGreaterThanOrEqual(timersBefore + good.length);
    good[0]!.items().get(0).set('status', 'doing');
    await waitFor(() => good.every((c) => c.items().get(0).get('status') === 'doing'), 'edit everywhere', 60_000);

    const port = server.port;
    await server.close();
    await waitFor(() => good.every((c) => !c.provider.wsconnected), 'all dropped');
    server = await start(port);
    // Edits made while the server was down are not lost either.
    good[1]!.items().get(1).set('status', 'doing');
    await waitFor(
      () => good.every((c) => c.provider.synced && c.items().get(0).get('status') === 'doing' && c.items().get(1).get('status') === 'doing'),
      'every client re-synced after the restart',
      60_000,
    );
    const rooms = checklistOf(server.context);
    // Refused clients were refused again after the restart and then gave up (44xx is permanent), having received nothing.
    await waitFor(() => refused.every((c) => !c.provider.shouldConnect), 'refused clients gave up', 60_000);
    // Counted once they have: a refused client's attempt still in flight holds a load entry for its
    // (unknown) incident until its refusal, which is not a leak; one left after that would be.
    await waitFor(() => rooms.stats().loading === 0, 'no load in flight', 10_000);
    expect(rooms.stats()).toMatchObject({ rooms: 1, connections: good.length, loading: 0 });
    // Mid-restart a refused client may also see a retryable close (1006, or 1001/1011 while the server
    // shuts down); what made it give up is always the last, permanent one.
    expect(refused.every((c) => c.items().length === 0 && [4401, 4404].includes(c.closes.at(-1)!.code))).toBe(true);
    expect(refused.every((c) => c.closes.every((e) => [4401, 4404, 1006, 1001, 1011].includes(e.code)))).toBe(true);

    const room = (rooms as any).entries.get(id).room;
    for (const c of [...good, ...refused]) c.destroy();
    await waitFor(() => rooms.stats().rooms === 0, 'room unloaded after the last client left');
    // The unloaded room freed its doc and stopped its awareness timer.
    expect(room.doc.isDestroyed).toBe(true);
    expect(room.awareness._checkInterval._destroyed).toBe(true);
    expect(rooms.stats().connections).toBe(0);
    // Nothing the connections made is left pending (ws keeps a close-handshake timer of up to 30 s per socket).
    await waitFor(() => timers.count(byServerConnections) <= timersBefore, 'connection timers gone', 90_000).catch((err) => {
      throw new Error(`${err.message}: ${timers.count(byServerConnections)} left, ${timersBefore} before\n${timers.report(byServerConnections)}`);
    });
  }, 240_000);
});
