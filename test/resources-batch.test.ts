import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ STOCK_WATCH_CRON: 'off' });
});
afterAll(async () => {
  await t?.close();
});

const AT = { lat: 41.8001, lon: 123.3803 };
const activate = async (level = 'II') => (await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level, mode: 'actual', location: AT })).body.incident.id as string;

describe('dispatch all proposed', () => {
  it('sends the whole proposal after one confirmation; each team succeeds or fails on its own', async () => {
    const id = await activate();
    const rec = (await t.admin.get(`/api/incidents/${id}/recommendations`)).body.recommendations;
    const proposed = rec.teams.flatMap((r: any) => r.candidates.filter((c: any) => c.proposed).map((c: any) => c.teamId as string));
    expect(proposed.length).toBeGreaterThan(10);
    // One proposed team is taken by another incident meanwhile; one id is unknown.
    const busy = proposed[0];
    const elsewhere = await activate('IV');
    expect((await t.admin.post(`/api/incidents/${elsewhere}/dispatches`, { teamId: busy })).status).toBe(201);
    const teams = [...proposed, 'T-X99'].map((teamId) => ({ teamId }));

    const res = await t.admin.post(`/api/incidents/${id}/dispatches/batch`, { teams });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const results = res.body.results as any[];
    expect(results.map((r) => r.teamId)).toEqual(teams.map((x) => x.teamId));
    expect(results.find((r) => r.teamId === busy)).toMatchObject({ ok: false, error: { code: 'team_unavailable' } });
    expect(results.find((r) => r.teamId === 'T-X99')).toMatchObject({ ok: false, error: { code: 'not_found' } });
    const ok = results.filter((r) => r.ok);
    expect(ok).toHaveLength(proposed.length - 1);
    for (const r of ok) expect(r.dispatch).toMatchObject({ incidentId: id, teamId: r.teamId, status: 'dispatched' });

    const dispatches = (await t.admin.get(`/api/incidents/${id}/dispatches`)).body.dispatches;
    expect(dispatches.map((d: any) => d.teamId).sort()).toEqual(ok.map((r) => r.teamId).sort());
    const events = (await t.admin.get(`/api/incidents/${id}/events?type=dispatch.created`)).body.events;
    expect(events).toHaveLength(ok.length);

    // Again: every team is now busy here, nothing is sent twice.
    const again = (await t.admin.post(`/api/incidents/${id}/dispatches/batch`, { teams: ok.map((r) => ({ teamId: r.teamId })) })).body.results as any[];
    expect(again.every((r) => !r.ok && r.error.code === 'team_unavailable')).toBe(true);
    expect((await t.admin.get(`/api/incidents/${id}/dispatches`)).body.dispatches).toHaveLength(ok.length);
  });

  it('refuses a list naming a team twice, an empty list, a role that may not dispatch and an invisible incident, changing nothing', async () => {
    const id = await activate();
    const dup = await t.admin.post(`/api/incidents/${id}/dispatches/batch`, { teams: [{ teamId: 'T-D01' }, { teamId: 'T-D01' }] });
    expect(dup.status).toBe(400);
    expect(dup.body.error.code).toBe('validation_failed');
    expect((await t.admin.post(`/api/incidents/${id}/dispatches/batch`, { teams: [] })).status).toBe(400);
    const observer = await t.user('observer');
    const denied = await observer.post(`/api/incidents/${id}/dispatches/batch`, { teams: [{ teamId: 'T-D01' }] });
    expect(denied.status).toBe(403);
    const controller = await t.user('controller');
    expect((await controller.post(`/api/incidents/${id}/dispatches/batch`, { teams: [{ teamId: 'T-D01' }] })).status).toBe(404);
    expect((await t.admin.get(`/api/incidents/${id}/dispatches`)).body.dispatches).toEqual([]);
  });
});

describe('allocate all proposed', () => {
  it('allocates the proposal in one confirmation; a line without enough stock fails alone and stock never goes negative', async () => {
    const id = await activate();
    const rec = (await t.admin.get(`/api/incidents/${id}/recommendations`)).body.recommendations;
    const fromWarehouses = rec.materials.flatMap((m: any) => m.sources.filter((s: any) => s.kind === 'warehouse').map((s: any) => ({ stockLineId: s.stockLineId, quantity: s.proposedQuantity, available: s.available })));
    expect(fromWarehouses.length).toBeGreaterThan(2);
    const [first, ...rest] = fromWarehouses;
    const list = [{ stockLineId: first.stockLineId, quantity: first.available + 1 }, ...rest.map((s: any) => ({ stockLineId: s.stockLineId, quantity: s.quantity }))];
    const res = await t.admin.post(`/api/incidents/${id}/allocations/batch`, { allocations: list });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const results = res.body.results as any[];
    expect(results[0]).toMatchObject({ stockLineId: first.stockLineId, ok: false, error: { code: 'insufficient_stock' } });
    for (const r of results.slice(1)) expect(r, JSON.stringify(r)).toMatchObject({ ok: true, allocation: { incidentId: id, status: 'reserved' } });
    const allocations = (await t.admin.get(`/api/incidents/${id}/allocations`)).body.allocations;
    expect(allocations).toHaveLength(rest.length);
    const { rows } = await t.server.context.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM stock_lines WHERE quantity < 0');
    expect(rows[0]!.n).toBe(0);
    const dup = await t.admin.post(`/api/incidents/${id}/allocations/batch`, { allocations: [list[1], list[1]] });
    expect(dup.status).toBe(400);
  });
});
