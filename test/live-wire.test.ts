import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io } from 'socket.io-client';
import { startTestServer, type TestServer } from './helpers/server.js';
import { waitFor } from './helpers/wait.js';

/** What a client written from docs/API.md in another language actually receives. */
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ STOCK_WATCH_CRON: 'off' });
});
afterAll(async () => {
  await t?.close();
});

describe('the live feed on the wire', () => {
  it('room broadcasts carry the connection-state-recovery offset as a second argument, as docs/API.md says', async () => {
    const incident = (await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' })).body.incident;
    const socket = io(t.url, { auth: { token: t.admin.token }, transports: ['websocket'], reconnection: false });
    const received: unknown[][] = [];
    socket.on('incident:event', (...args: unknown[]) => received.push(args));
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', reject);
      });
      const ack = await socket.timeout(20_000).emitWithAck('incident:join', { incidentId: incident.id });
      expect(ack.ok).toBe(true);
      expect((await t.admin.post(`/api/incidents/${incident.id}/level`, { level: 'II' })).status).toBe(200);
      await waitFor(() => received.length > 0, 'the level change to arrive');
      const [payload, offset, ...rest] = received[0]!;
      expect(payload).toMatchObject({ incidentId: incident.id, type: 'incident.level_changed' });
      expect(typeof offset).toBe('string');
      expect(rest).toEqual([]);
    } finally {
      socket.disconnect();
    }
  });
});
