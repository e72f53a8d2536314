import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ STOCK_WATCH_CRON: 'off' });
});
afterAll(async () => {
  await t?.close();
});

const stock = async (warehouseId: string, item: string) =>
  (await t.admin.get(`/api/warehouses/${warehouseId}/stock`)).body.stock.find((s: any) => s.item === item);

describe('allocations committed together', () => {
  it('requests that share a transaction each get their own answer; refusals never affect the grants', async () => {
    const open = (await t.admin.post('/api/incidents', { planId: 'heavy-snow', level: 'II', mode: 'actual' })).body.incident.id;
    const closed = (await t.admin.post('/api/incidents', { planId: 'heavy-snow', level: 'IV', mode: 'actual' })).body.incident.id;
    await t.admin.post(`/api/incidents/${closed}/close`, {});
    const exercise = (await t.admin.post('/api/incidents', { planId: 'heavy-snow', level: 'IV', mode: 'exercise' })).body.incident.id;
    const controller = await t.user('controller');
    const blankets = await stock('W-01', 'quilt');
    const salt = await stock('W-01', 'de-icing-salt');
    const before = { blankets: blankets.quantity, salt: salt.quantity };

    // Fired at once, so the server commits them in shared transactions.
    const [ok1, fraction, unknownLine, onClosed, tooMuch, ok2, saltOk, controllerOnActual, controllerOnExercise] = await Promise.all([
      t.admin.post(`/api/incidents/${open}/allocations`, { stockLineId: blankets.id, quantity: 10 }),
      t.admin.post(`/api/incidents/${open}/allocations`, { stockLineId: blankets.id, quantity: 1.5 }),
      t.admin.post(`/api/incidents/${open}/allocations`, { stockLineId: '6b1d9a52-4a7e-4c1e-9d7a-000000000000', quantity: 1 }),
      t.admin.post(`/api/incidents/${closed}/allocations`, { stockLineId: blankets.id, quantity: 1 }),
      t.admin.post(`/api/incidents/${open}/allocations`, { stockLineId: blankets.id, quantity: 1_000_000 }),
      t.admin.post(`/api/incidents/${open}/allocations`, { stockLineId: blankets.id, quantity: 20 }),
      t.admin.post(`/api/incidents/${open}/allocations`, { stockLineId: salt.id, quantity: 2.5 }),
      controller.post(`/api/incidents/${open}/allocations`, { stockLineId: blankets.id, quantity: 1 }),
      controller.post(`/api/incidents/${exercise}/allocations`, { stockLineId: blankets.id, quantity: 3 }),
    ]);
    expect([ok1.status, ok2.status, saltOk.status, controllerOnExercise.status]).toEqual([201, 201, 201, 201]);
    expect(fraction.status).toBe(400);
    expect(fraction.body.error.details.issues[0].path).toBe('quantity');
    expect(unknownLine.status).toBe(404);
    expect(onClosed.body.error.code).toBe('incident_closed');
    expect(tooMuch.status).toBe(409);
    expect(tooMuch.body.error).toMatchObject({ code: 'insufficient_stock', details: { available: expect.any(Number), requested: 1_000_000 } });
    expect(controllerOnActual.status).toBe(404); // controllers do not see actual incidents
    expect(saltOk.body.allocation).toMatchObject({ item: 'de-icing-salt', quantity: 2.5 });

    expect((await stock('W-01', 'quilt')).quantity).toBe(before.blankets - 33);
    expect((await stock('W-01', 'de-icing-salt')).quantity).toBeCloseTo(before.salt - 2.5, 3);
    // One event per grant, chained without gaps, with what was left after each grant.
    const events = (await t.admin.get(`/api/incidents/${open}/events?type=allocation.created`)).body.events;
    expect(events).toHaveLength(3);
    // The quilt grants (10 and 20 here, 3 on the exercise) each record what was left after them:
    // in the order they were granted, every remaining is the previous one minus that grant.
    const exerciseEvents = (await t.admin.get(`/api/incidents/${exercise}/events?type=allocation.created`)).body.events;
    const quilts = [...events, ...exerciseEvents].filter((e: any) => e.data.item === 'quilt').sort((a: any, b: any) => b.data.remaining - a.data.remaining);
    expect(quilts.map((e: any) => e.data.quantity).sort((a: number, b: number) => a - b)).toEqual([3, 10, 20]);
    let left = before.blankets;
    for (const e of quilts) {
      left -= e.data.quantity;
      expect(e.data.remaining).toBe(left);
    }
    expect((await t.admin.get(`/api/incidents/${open}/events/verify`)).body.ok).toBe(true);
    expect((await t.admin.get(`/api/incidents/${exercise}/events/verify`)).body.ok).toBe(true);
    const allocations = (await t.admin.get(`/api/incidents/${open}/allocations`)).body.allocations;
    expect(allocations.map((a: any) => a.id).sort()).toEqual([ok1, ok2, saltOk].map((r) => r.body.allocation.id).sort());
  });
});
