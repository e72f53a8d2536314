import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { tempDir, testEnv, ADMIN_PASSWORD } from './helpers/server.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { Api } from './helpers/api.js';
import { waitFor } from './helpers/wait.js';
import { loadConfig } from '../server/config.js';
import { createLogger } from '../server/log.js';
import { startServer, type RunningServer } from '../server/app.js';

/**
 * Issue 10: `?token=` stays accepted on WebSocket URLs for existing integrations, but no log line
 * ever holds a token, ticket or password; lockouts are logged. The server's own logger runs at
 * debug level into a buffer here.
 */
let lines: string[] = [];
let server: RunningServer;
let database: TestDatabase;
let admin: Api;

beforeAll(async () => {
  database = await createTestDatabase();
  const config = loadConfig(testEnv(await tempDir(), database.url, { LOG_LEVEL: 'debug', LOGIN_MAX_FAILURES_PER_USER_IP: '2' }));
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  server = await startServer(config, createLogger('debug', sink));
  admin = await new Api(server.url).login('admin', ADMIN_PASSWORD);
});
afterAll(async () => {
  await server?.close();
  await database?.drop();
});

const output = () => lines.join('\n');

describe('no secret in the logs', () => {
  it('a token in a query string is redacted from the request log', async () => {
    lines = [];
    const token = admin.token!;
    const res = await fetch(`${server.url}/api/auth/me?token=${token}`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    await fetch(`${server.url}/api/nowhere?access_token=${token}`);
    const ticket = (await admin.post('/api/live/ticket')).body.ticket as string;
    await fetch(`${server.url}/api/auth/me?ticket=${ticket}`);
    await waitFor(() => lines.filter((l) => l.includes('"msg":"request"')).length >= 4, 'request lines');
    expect(output()).toContain('token=[redacted]');
    expect(output()).toContain('ticket=[redacted]');
    expect(output()).not.toContain(token);
    expect(output()).not.toContain(token.split('.')[2]!);
    expect(output()).not.toContain(ticket);
  });

  it('a Yjs connection with ?token= works and leaves no token in the log', async () => {
    lines = [];
    const created = await admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual', location: { lat: 41.8, lon: 123.36 } });
    const id = created.body.incident.id as string;
    const wsUrl = `${server.url.replace('http', 'ws')}/yjs/${id}?token=${admin.token}`;
    const ws = new WebSocket(wsUrl);
    await new Promise<void>((resolve, reject) => (ws.once('message', () => resolve()), ws.once('error', reject)));
    ws.close();
    const refused = new WebSocket(`${server.url.replace('http', 'ws')}/yjs/${id}?token=${admin.token}x`);
    const code = await new Promise<number>((resolve) => refused.once('close', (c) => resolve(c)));
    expect(code).toBe(4401);
    // Anything that logs a URL goes through the same censor.
    server.context.log.warn({ url: wsUrl, nested: { url: wsUrl, token: admin.token } }, 'a line with a url');
    await waitFor(() => output().includes('a line with a url'), 'the line');
    expect(output()).not.toContain(admin.token!);
  });

  it('a lockout is logged, without the password', async () => {
    lines = [];
    for (const password of ['wrong-password-1', 'wrong-password-2']) {
      expect((await new Api(server.url).post('/api/auth/login', { username: 'admin', password })).status).toBe(401);
    }
    expect((await new Api(server.url).post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })).status).toBe(429);
    await waitFor(() => lines.some((l) => l.includes('login locked')), 'the lockout line');
    const lockout = JSON.parse(lines.find((l) => l.includes('login locked'))!);
    expect(lockout).toMatchObject({ level: 40, username: 'admin', seconds: expect.any(Number) });
    expect(output()).not.toContain('wrong-password');
    expect(output()).not.toContain(ADMIN_PASSWORD);
  });

  it('a request on one incident logs a line carrying its incidentId; other requests carry none', async () => {
    const created = await admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'IV', mode: 'actual', location: { lat: 41.8, lon: 123.36 } });
    const id = created.body.incident.id as string;
    lines = [];
    expect((await admin.get(`/api/incidents/${id.toUpperCase()}`)).status).toBe(200);
    expect((await admin.get('/api/teams')).status).toBe(200);
    const requests = () => lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request');
    await waitFor(() => requests().length >= 2, 'request lines');
    const [incidentLine, teamsLine] = [requests().find((l) => l.url.startsWith('/api/incidents/')), requests().find((l) => l.url === '/api/teams')];
    expect(incidentLine).toMatchObject({ incidentId: id, status: 200, method: 'GET' });
    expect(teamsLine).toBeDefined();
    expect(teamsLine).not.toHaveProperty('incidentId');
  });
});
