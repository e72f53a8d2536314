import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { Api } from './helpers/api.js';
import { createTestDatabase } from './helpers/database.js';
import { ADMIN_PASSWORD, spawnServer, tempDir, testEnv, type SpawnedServer } from './helpers/server.js';
import { until } from './helpers/wait.js';
import type { IncidentEvent } from '../shared/events.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const N = 20;

describe('drills: SIGKILL in the middle of a schedule', () => {
  it('after restart every inject is released exactly once and the chain holds', async () => {
    const dataDir = await tempDir();
    const database = await createTestDatabase();
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }), () => database.drop());
    const env = testEnv(dataDir, database.url, { DRILL_POLL_MS: '50' });
    let server: SpawnedServer = await spawnServer(env);
    cleanups.push(() => server.kill());
    let admin = await new Api(server.url).login('admin', ADMIN_PASSWORD);
    expect((await admin.post('/api/users', { username: 'crash.controller', password: 'password-123', role: 'controller' })).status).toBe(201);
    let controller = await new Api(server.url).login('crash.controller', 'password-123');

    // Injects every 150 ms for 3 s: the kill lands while releases are being written.
    const injects = Array.from({ length: N }, (_, i) => ({
      id: `inj-${String(i + 1).padStart(2, '0')}`,
      at: 0,
      audience: { kind: 'all' },
      form: 'sensor',
      content: { zh: `第${i + 1}条监测报警`, en: `Alarm ${i + 1}` },
    }));
    // Offsets are whole seconds: spread them over 0..3 s.
    injects.forEach((inj, i) => (inj.at = Math.floor((i * 3) / N)));
    const scenario = { id: 'crash-drill', title: { zh: '断电推演', en: 'Crash drill' }, planId: 'waterlogging-underpass', level: 'III', objectives: [{ zh: '检验恢复', en: 'Recovery' }], injects };
    expect((await controller.post('/api/scenarios', scenario)).status).toBe(201);
    const drillId = (await controller.post('/api/drills', { kind: 'tabletop', scenarioId: 'crash-drill' })).body.drill.id as string;
    const started = await controller.post(`/api/drills/${drillId}/start`);
    expect(started.status).toBe(200);
    const incidentId = started.body.drill.incidentId as string;

    await until(async () => {
      const released = (await controller.get(`/api/drills/${drillId}`)).body.drill.injects.filter((i: any) => i.status === 'released').length;
      expect(released).toBeGreaterThan(0);
      expect(released).toBeLessThan(N);
    }, 20_000);
    expect(await server.kill('SIGKILL')).toBe('SIGKILL');

    server = await spawnServer(env);
    admin = await new Api(server.url).login('admin', ADMIN_PASSWORD);
    controller = await new Api(server.url).login('crash.controller', 'password-123');
    await until(async () => {
      const drill = (await controller.get(`/api/drills/${drillId}`)).body.drill;
      expect(drill.injects.filter((i: any) => i.status === 'released').length).toBe(N);
    }, 30_000);
    const events = (await controller.get(`/api/incidents/${incidentId}/events?type=drill.inject_released`)).body.events as IncidentEvent[];
    expect(events.length).toBe(N);
    expect(new Set(events.map((e) => e.data.injectId)).size).toBe(N);
    // Each release row names the event that released it.
    const drill = (await controller.get(`/api/drills/${drillId}`)).body.drill;
    for (const inj of drill.injects) expect(events.some((e) => e.data.injectId === inj.id && e.at === inj.releasedAt)).toBe(true);
    expect((await controller.get(`/api/incidents/${incidentId}/events/verify`)).body.ok).toBe(true);
  });
});
