import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { Api } from './helpers/api.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { ADMIN_PASSWORD, spawnServer, tempDir, testEnv, type SpawnedServer } from './helpers/server.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe('crash and restart', () => {
  it('state committed before a SIGKILL is all there after restart, and the chain still verifies', async () => {
    const dataDir = await tempDir();
    const database: TestDatabase = await createTestDatabase();
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }), () => database.drop());
    const env = testEnv(dataDir, database.url);

    let server: SpawnedServer = await spawnServer(env);
    cleanups.push(() => server.kill());
    let admin = await new Api(server.url).login('admin', ADMIN_PASSWORD);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await admin.post('/api/incidents', { planId: 'hazchem-leak', level: 'III', mode: 'exercise', title: `重启测试 ${i}` });
      expect(res.status).toBe(201);
      ids.push(res.body.incident.id);
    }
    await admin.post(`/api/incidents/${ids[0]}/level`, { level: 'I' });
    await admin.post(`/api/incidents/${ids[1]}/close`, {});
    const staff = await admin.post('/api/users', { username: 'li.na', password: 'password-123', role: 'staff' });
    expect(staff.status).toBe(201);
    // Writes in flight at the moment of the kill: each either committed whole or not at all.
    const inFlight = Array.from({ length: 10 }, (_, i) => admin.post('/api/incidents', { planId: 'heavy-snow', level: 'IV', mode: 'actual', title: `飞行中 ${i}` }).catch(() => null));
    await new Promise((r) => setTimeout(r, 30));
    expect(await server.kill('SIGKILL')).toBe('SIGKILL');
    await Promise.all(inFlight);

    server = await spawnServer(env);
    admin = await new Api(server.url).login('admin', ADMIN_PASSWORD);
    const incidents = (await admin.get('/api/incidents')).body.incidents;
    for (const id of ids) expect(incidents.map((i: any) => i.id)).toContain(id);
    expect((await admin.get(`/api/incidents/${ids[0]}`)).body.incident.level).toBe('I');
    expect((await admin.get(`/api/incidents/${ids[1]}`)).body.incident.status).toBe('closed');
    for (const incident of incidents) {
      const verify = (await admin.get(`/api/incidents/${incident.id}/events/verify`)).body;
      expect(verify.ok, incident.title).toBe(true);
      expect(verify.checked).toBeGreaterThanOrEqual(1);
    }
    // The staff account and the token secret survived: old credentials still log in.
    await new Api(server.url).login('li.na', 'password-123');
    // The demo organisation was not loaded twice.
    expect((await admin.get('/api/teams')).body.teams).toHaveLength(48);
    expect(await server.kill('SIGTERM')).toBe(0);
  });

  it('two nodes starting at once against one database migrate and seed exactly once', async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    if (!database.url) {
      // Embedded PGlite belongs to one process; the same guarantee is checked in-process
      // by running the migrator concurrently on one pool (test/migrations.test.ts).
      expect(database.url).toBeUndefined();
      return;
    }
    const dirs = [await tempDir(), await tempDir()];
    const [a, b] = await Promise.all(dirs.map((d) => spawnServer(testEnv(d, database.url))));
    cleanups.push(() => a!.kill(), () => b!.kill());
    const adminA = await new Api(a!.url).login('admin', ADMIN_PASSWORD);
    const adminB = await new Api(b!.url).login('admin', ADMIN_PASSWORD);
    expect((await adminA.get('/api/teams')).body.teams).toHaveLength(48);
    const created = await adminA.post('/api/incidents', { planId: 'heavy-snow', level: 'II', mode: 'actual' });
    // A token issued by node A is accepted by node B (shared secret in the database).
    expect((await adminB.withToken(adminA.token!).get(`/api/incidents/${created.body.incident.id}`)).status).toBe(200);
    const users = (await adminB.get('/api/users')).body.users.filter((u: any) => u.username === 'admin');
    expect(users).toHaveLength(1);
  });
});
