import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { Api } from './helpers/api.js';
import { createTestDatabase } from './helpers/database.js';
import { ADMIN_PASSWORD, spawnServer, tempDir, testEnv, type SpawnedServer } from './helpers/server.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('resources across a crash', () => {
  it('a server killed while allocating leaves stock exactly consistent; the cron stock watch runs on its own', async () => {
    const dataDir = await tempDir();
    const database = await createTestDatabase();
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }), () => database.drop());
    // Every 2 seconds, so the scheduled path (not the on-demand route) is what raises alerts here.
    const env = testEnv(dataDir, database.url, { STOCK_WATCH_CRON: '*/2 * * * * *' });

    let server: SpawnedServer = await spawnServer(env);
    cleanups.push(() => server.kill());
    let admin = await new Api(server.url).login('admin', ADMIN_PASSWORD);
    const incident = (await admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'II', mode: 'actual' })).body.incident.id;
    const line = (await admin.get('/api/warehouses/W-02/stock')).body.stock.find((s: any) => s.item === 'sandbag');
    const initial = line.quantity;
    expect(initial).toBe(30000);

    const alerts = await until('the scheduled stock watch', async () => {
      const res = await admin.get('/api/stock-alerts');
      return res.body.alerts.length > 0 ? res.body.alerts : undefined;
    });
    expect(alerts.some((a: any) => a.item === 'de-icing-salt' && a.warehouseId === 'W-01' && a.kind === 'low')).toBe(true);

    // 16 clients allocate in a loop; the process dies under them.
    const granted: string[] = [];
    let failures = 0;
    const clients = Array.from({ length: 16 }, async () => {
      for (;;) {
        try {
          const res = await admin.post(`/api/incidents/${incident}/allocations`, { stockLineId: line.id, quantity: 7 });
          if (res.status === 201) granted.push(res.body.allocation.id);
          else throw new Error(`unexpected ${res.status}`);
        } catch {
          failures++;
          return;
        }
      }
    });
    await until('allocations under way', async () => (granted.length >= 40 ? true : undefined));
    expect(await server.kill('SIGKILL')).toBe('SIGKILL');
    await Promise.all(clients);
    expect(failures).toBe(16);

    server = await spawnServer(env);
    admin = await new Api(server.url).login('admin', ADMIN_PASSWORD);
    const allocations = (await admin.get(`/api/incidents/${incident}/allocations`)).body.allocations;
    const remaining = (await admin.get('/api/warehouses/W-02/stock')).body.stock.find((s: any) => s.id === line.id).quantity;
    const allocated = allocations.reduce((s: number, a: any) => s + a.quantity - a.returnedQuantity, 0);
    expect(allocated + remaining).toBe(initial);
    expect(remaining).toBeGreaterThanOrEqual(0);
    // Every answer a client got is in the database; a request cut off may or may not have committed, but whole.
    const stored = new Set(allocations.map((a: any) => a.id));
    for (const id of granted) expect(stored.has(id)).toBe(true);
    expect(allocations.length).toBeGreaterThanOrEqual(granted.length);
    const events = (await admin.get(`/api/incidents/${incident}/events?type=allocation.created&limit=5000`)).body.events;
    expect(events.map((e: any) => e.data.allocationId).sort()).toEqual([...stored].sort());
    expect((await admin.get(`/api/incidents/${incident}/events/verify`)).body.ok).toBe(true);

    // And it keeps working after the restart.
    const after = await admin.post(`/api/incidents/${incident}/allocations`, { stockLineId: line.id, quantity: 1 });
    expect(after.status).toBe(201);
    expect(await server.kill('SIGTERM')).toBe(0);
  });
});
