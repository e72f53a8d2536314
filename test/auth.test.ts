import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

describe('accounts and tokens', () => {
  it('health needs no token and reports the database', async () => {
    const res = await t.api.get('/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ok', database: { status: 'ok' } });
  });

  it('admin logs in with ADMIN_PASSWORD; a wrong password or unknown user gets 401', async () => {
    const ok = await t.api.post('/api/auth/login', { username: 'admin', password: 'admin-password-for-tests' });
    expect(ok.status).toBe(200);
    expect(ok.body.user).toMatchObject({ username: 'admin', role: 'commander' });
    expect(ok.body.user.passwordHash).toBeUndefined();
    expect(typeof ok.body.token).toBe('string');
    for (const body of [{ username: 'admin', password: 'nope-nope' }, { username: 'ghost', password: 'whatever' }]) {
      const bad = await t.api.post('/api/auth/login', body);
      expect(bad.status).toBe(401);
      expect(bad.body.error.code).toBe('invalid_credentials');
    }
  });

  it('every route but /healthz and login needs a valid token', async () => {
    for (const path of ['/api/incidents', '/api/plans', '/api/teams', '/api/users', '/api/auth/me']) {
      const none = await t.api.get(path);
      expect(none.status, path).toBe(401);
      expect(none.body.error.code).toBe('unauthorized');
      const forged = await t.api.withToken('eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl').get(path);
      expect(forged.status, path).toBe(401);
    }
  });

  it('an expired token is refused', async () => {
    const { rows } = await t.server.context.db.pool.query(`SELECT id FROM users WHERE username = 'admin'`);
    const admin = { id: rows[0].id, username: 'admin', role: 'commander' as const, teamId: null };
    const { sessionId } = await t.server.context.sessions.create(admin);
    const token = await t.server.context.tokens.issue({ userId: admin.id, username: 'admin', role: 'commander', teamId: null }, sessionId, Date.now() - 1000);
    const res = await t.api.withToken(token).get('/api/incidents');
    expect(res.status).toBe(401);
  });

  it('commanders create users; passwords are stored hashed; usernames are unique', async () => {
    const res = await t.admin.post('/api/users', { username: 'zhang.wei', password: 'secret-pass-1', role: 'staff', displayName: '张伟' });
    expect(res.status).toBe(201);
    expect(res.body.user).toMatchObject({ username: 'zhang.wei', role: 'staff', displayName: '张伟', teamId: null });
    const { rows } = await t.server.context.db.pool.query(`SELECT password_hash FROM users WHERE username = 'zhang.wei'`);
    expect(rows[0].password_hash).toMatch(/^scrypt\$/);
    expect(rows[0].password_hash).not.toContain('secret-pass-1');
    const dup = await t.admin.post('/api/users', { username: 'zhang.wei', password: 'secret-pass-2', role: 'staff' });
    expect(dup.status).toBe(409);
    const list = await t.admin.get('/api/users');
    expect(list.body.users.map((u: any) => u.username)).toEqual(expect.arrayContaining(['admin', 'zhang.wei']));
    expect(JSON.stringify(list.body)).not.toContain('scrypt');
  });

  it('field users must be bound to an existing team; others must not be', async () => {
    const noTeam = await t.admin.post('/api/users', { username: 'field.a', password: 'password-1', role: 'field' });
    expect(noTeam.status).toBe(400);
    expect(noTeam.body.error.details.issues[0].path).toBe('teamId');
    const ghostTeam = await t.admin.post('/api/users', { username: 'field.b', password: 'password-1', role: 'field', teamId: 'T-NOPE' });
    expect(ghostTeam.status).toBe(422);
    const staffWithTeam = await t.admin.post('/api/users', { username: 'staff.c', password: 'password-1', role: 'staff', teamId: 'T-D01' });
    expect(staffWithTeam.status).toBe(400);
    const ok = await t.admin.post('/api/users', { username: 'field.d', password: 'password-1', role: 'field', teamId: 'T-D01' });
    expect(ok.status).toBe(201);
    const users = await t.admin.get('/api/users');
    expect(users.body.users.map((u: any) => u.username)).not.toContain('field.a');
  });

  it('invalid user bodies get 400 with field details', async () => {
    const res = await t.admin.post('/api/users', { username: 'x', password: 'short', role: 'king', extra: 1 });
    expect(res.status).toBe(400);
    const paths = res.body.error.details.issues.map((i: any) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['username', 'password', 'role']));
  });

  it('only commanders manage users', async () => {
    for (const role of ['staff', 'field', 'controller', 'observer'] as const) {
      const client = await t.user(role);
      const create = await client.post('/api/users', { username: `by_${role}`, password: 'password-1', role: 'staff' });
      expect(create.status, role).toBe(403);
      expect(create.body.error.code).toBe('forbidden');
      expect((await client.get('/api/users')).status, role).toBe(403);
    }
  });
});
