import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io } from 'socket.io-client';
import * as Y from 'yjs';
import { ADMIN_PASSWORD, startTestServer, type TestServer } from './helpers/server.js';
import { waitFor } from './helpers/wait.js';
import { connectClient, synced, type YClient } from './rooms-helpers.js';
import { readStoredDoc } from '../server/checklist/doc-store.js';
import { CHECKLIST_ARRAY } from '../shared/checklist.js';

/**
 * Issue 9 finding 4 / issue 10: a connection lives no longer than its session. Tokens here live
 * 8 seconds (TOKEN_TTL_HOURS may be fractional), so a connection opened with one is closed
 * with 4401 when it expires, and what it sends afterwards is neither stored nor relayed.
 */
const TTL_SECONDS = 8;
let t: TestServer;
const clients: YClient[] = [];

beforeAll(async () => {
  t = await startTestServer({ TOKEN_TTL_HOURS: String(TTL_SECONDS / 3600), SESSION_RECHECK_MS: '1000' });
});
afterAll(async () => {
  for (const c of clients) c.destroy();
  await t?.close();
});

describe('sessions end on time', () => {
  it('a Yjs connection is closed with 4401 when its token expires, and nothing it sent after the expiry is stored', async () => {
    const created = await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual', location: { lat: 41.8, lon: 123.36 } });
    expect(created.status).toBe(201);
    const id = created.body.incident.id as string;
    const login = await t.api.post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD });
    const expiresAt = Date.parse(login.body.expiresAt);
    const c = connectClient(t.url, id, login.body.token);
    clients.push(c);
    await synced(c);
    // Keep writing across the expiry, each edit marked with the moment it was sent.
    await waitFor(() => Date.now() >= expiresAt - 1500, 'shortly before the expiry', (TTL_SECONDS + 5) * 1000);
    const note = () => c.items().get(0)!.get('note') as Y.Text;
    const writer = setInterval(() => c.closes.length === 0 && note().insert(note().length, `|${Date.now()}`), 20);
    try {
      await waitFor(() => c.closes.some((x) => x.code === 4401), `4401 at expiry; saw ${JSON.stringify(c.closes)}`, 10_000);
    } finally {
      clearInterval(writer);
    }
    expect(c.closes[0]).toEqual({ code: 4401, reason: 'session expired' });
    // What the server kept: the edits sent before the expiry, none after.
    await waitFor(async () => (await readStoredDoc(t.server.context.db.pool, id)).getArray<any>(CHECKLIST_ARRAY).get(0).get('note').length > 0, 'edits before the expiry stored');
    const stored = (await readStoredDoc(t.server.context.db.pool, id)).getArray<any>(CHECKLIST_ARRAY).get(0).get('note').toString() as string;
    const marks = stored.split('|').filter(Boolean).map(Number);
    expect(marks.length).toBeGreaterThan(10);
    expect(marks.filter((at) => at >= expiresAt)).toEqual([]);
    expect((await t.api.withToken(login.body.token).get('/api/auth/me')).status).toBe(401);
  });

  it('an account changed behind the API (directly in the database) loses its open connections at the next re-check', async () => {
    // The first test outlived the admin token of the test server: a fresh one (8 s again).
    const admin = await t.api.login('admin', 'admin-password-for-tests');
    const created = await admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'IV', mode: 'actual', location: { lat: 41.8, lon: 123.36 } });
    expect(created.status).toBe(201);
    const id = created.body.incident.id as string;
    const made = await admin.post('/api/users', { username: 'behind.the.api', password: 'password-123', role: 'staff' });
    const staff = await t.api.login('behind.the.api', 'password-123');
    const c = connectClient(t.url, id, staff.token!);
    clients.push(c);
    await synced(c);
    await t.server.context.db.pool.query(`UPDATE users SET role = 'observer' WHERE id = $1`, [made.body.user.id]);
    await waitFor(() => c.closes.some((x) => x.code === 4401), `4401; saw ${JSON.stringify(c.closes)}`, 5_000);
    expect(c.closes[0]).toEqual({ code: 4401, reason: 'session revoked' });
  });

  it('a Socket.IO connection is told and dropped at expiry; an expired token cannot reconnect', async () => {
    const login = await t.api.post('/api/auth/login', { username: 'admin', password: 'admin-password-for-tests' });
    const token = login.body.token as string;
    const socket = io(t.url, { auth: { token }, transports: ['websocket'], reconnection: false });
    const errors: string[] = [];
    socket.on('live:error', (e: { code: string }) => errors.push(e.code));
    await new Promise<void>((resolve, reject) => (socket.once('connect', () => resolve()), socket.once('connect_error', reject)));
    const reason = await new Promise<string>((resolve) => socket.once('disconnect', resolve));
    expect(reason).toBe('io server disconnect');
    expect(errors).toEqual(['unauthorized']);
    const again = io(t.url, { auth: { token }, transports: ['websocket'], reconnection: false });
    await expect(new Promise<void>((resolve, reject) => (again.once('connect', () => resolve()), again.once('connect_error', reject)))).rejects.toThrow('unauthorized');
    again.disconnect();
  });
});
