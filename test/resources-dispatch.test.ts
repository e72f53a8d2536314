import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';
import type { IncidentEvent } from '../shared/events.js';
import { DISPATCH_STATUSES, DISPATCH_TRANSITIONS, type DispatchStatus } from '../shared/resources.js';
import { recommend } from '../server/resources/recommendation.js';

let t: TestServer;
const published: IncidentEvent[] = [];
beforeAll(async () => {
  t = await startTestServer({ STOCK_WATCH_CRON: 'off' });
  t.server.context.bus.on('event', (e) => published.push(e));
});
afterAll(async () => {
  await t?.close();
});

/** T-D07's base (drainage first): the incident sits on its doorstep. */
const AT_TD07 = { lat: 41.8001, lon: 123.3803 };

async function incident(location: { lat: number; lon: number } | null = AT_TD07, level = 'IV'): Promise<string> {
  const res = await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level, mode: 'actual', ...(location ? { location } : {}) });
  expect(res.status).toBe(201);
  return res.body.incident.id;
}

async function walk(dispatchId: string, statuses: DispatchStatus[]) {
  for (const status of statuses) {
    const res = await t.admin.post(`/api/dispatches/${dispatchId}/status`, { status });
    expect(res.status, `${status}: ${JSON.stringify(res.body)}`).toBe(200);
  }
}

describe('teams', () => {
  it('lists and filters teams; a team shows its members and current order', async () => {
    const all = (await t.admin.get('/api/teams')).body.teams;
    expect(all).toHaveLength(48);
    expect(all[0]).toMatchObject({ id: 'T-D01', status: 'available', statusLabel: { zh: '待命' }, currentDispatchId: null });
    const drainage = (await t.admin.get('/api/teams?specialty=drainage')).body.teams;
    expect(drainage.length).toBeGreaterThan(3);
    expect(drainage.every((x: any) => x.specialties.includes('drainage'))).toBe(true);
    expect((await t.admin.get('/api/teams?status=nonsense')).status).toBe(400);
    const member = await t.user('field', { teamId: 'T-D14' });
    const detail = (await t.admin.get('/api/teams/T-D14')).body;
    expect(detail.members.map((m: any) => m.username)).toContain(member.username);
    expect(detail.currentDispatch).toBeNull();
    expect((await t.admin.get('/api/teams/T-X99')).status).toBe(404);
  });
});

describe('recommendations', () => {
  it('ranks teams by availability, specialty match, distance and headcount, and proposes as many as the level needs', async () => {
    const id = await incident();
    const rec = (await t.admin.get(`/api/incidents/${id}/recommendations`)).body.recommendations;
    expect(rec).toMatchObject({ incidentId: id, level: 'IV', location: AT_TD07, locationSource: 'incident' });
    expect(rec.teams.map((r: any) => [r.specialty, r.count])).toEqual([['flood-rescue', 2], ['drainage', 3], ['traffic-control', 1]]);
    for (const req of rec.teams) {
      const c = req.candidates;
      expect(c.length).toBeGreaterThan(0);
      for (let i = 1; i < c.length; i++) {
        const a = c[i - 1];
        const b = c[i];
        const key = (x: any) => [x.available ? 0 : 1, x.primarySpecialty ? 0 : 1, x.distanceKm, -x.headcount];
        const [ka, kb] = [key(a), key(b)];
        const cmp = ka.findIndex((v, j) => v !== kb[j]);
        if (cmp >= 0) expect(ka[cmp]! <= kb[cmp]!, `${req.specialty}: ${a.teamId} before ${b.teamId}`).toBe(true);
      }
      expect(c.filter((x: any) => x.proposed)).toHaveLength(Math.min(req.count, c.length));
      expect(c[0].reason.zh).toContain('公里');
      expect(c[0].reason.en).toContain('km from the incident');
    }
    const drainage = rec.teams.find((r: any) => r.specialty === 'drainage');
    expect(drainage.candidates[0]).toMatchObject({ teamId: 'T-D07', primarySpecialty: true, distanceKm: 0, proposed: true });
    expect(drainage.candidates[0].reason.zh).toContain('主专业为排涝');
    // A team is proposed once, even if it matches two requirements.
    const proposed = rec.teams.flatMap((r: any) => r.candidates.filter((x: any) => x.proposed).map((x: any) => x.teamId));
    expect(new Set(proposed).size).toBe(proposed.length);

    // Materials: nearest warehouse with stock first, filled greedily.
    const pumps = rec.materials.find((m: any) => m.item === 'pump-mobile');
    expect(pumps).toMatchObject({ quantity: 10, alreadyAllocated: 0, stillNeeded: 10, shortfall: 0 });
    expect(pumps.sources[0].kind).toBe('warehouse');
    const stock = (await t.admin.get('/api/stock?item=pump-mobile')).body.stock;
    const warehouses = (await t.admin.get('/api/warehouses')).body.warehouses;
    const km = (w: any) => Math.hypot(w.location.lat - AT_TD07.lat, (w.location.lon - AT_TD07.lon) * Math.cos((AT_TD07.lat * Math.PI) / 180));
    const nearestWithPumps = warehouses.filter((w: any) => stock.some((s: any) => s.warehouseId === w.id && s.quantity > 0)).sort((a: any, b: any) => km(a) - km(b))[0];
    expect(pumps.sources[0].warehouseId).toBe(nearestWithPumps.id);
    expect(pumps.sources.reduce((s: number, x: any) => s + x.proposedQuantity, 0)).toBe(10);

    // Once T-D07 is dispatched here it counts toward the need; elsewhere it ranks last as busy.
    expect((await t.admin.post(`/api/incidents/${id}/dispatches`, { teamId: 'T-D07' })).status).toBe(201);
    const after = (await t.admin.get(`/api/incidents/${id}/recommendations`)).body.recommendations;
    const d2 = after.teams.find((r: any) => r.specialty === 'drainage');
    expect(d2.alreadyDispatched).toEqual(['T-D07']);
    expect(d2.stillNeeded).toBe(2);
    expect(d2.candidates.map((c: any) => c.teamId)).not.toContain('T-D07');
    const other = await incident();
    const elsewhere = (await t.admin.get(`/api/incidents/${other}/recommendations`)).body.recommendations.teams.find((r: any) => r.specialty === 'drainage');
    const busy = elsewhere.candidates.find((c: any) => c.teamId === 'T-D07');
    expect(busy).toMatchObject({ available: false, proposed: false, status: 'dispatched' });
    expect(elsewhere.candidates.at(-1).available).toBe(false);
    expect(busy.reason.en).toContain('not available');
  });

  it('falls back to the district centre and to agreement reserves when warehouses fall short', async () => {
    const id = await incident(null);
    const rec = (await t.admin.get(`/api/incidents/${id}/recommendations`)).body.recommendations;
    expect(rec.locationSource).toBe('district-centre');
    expect(rec.location).toEqual({ lat: 41.79, lon: 123.35 });
    // Same incident, but a level that asks for more bottled water than the warehouses hold.
    const record = await t.server.context.incidents.get({ userId: 'x', username: 'admin', role: 'commander', teamId: null }, id);
    const level = record.plan.levels[record.level]!;
    const thirsty = { ...record, plan: { ...record.plan, levels: { ...record.plan.levels, [record.level]: { ...level, teams: [], materials: [{ item: 'drinking-water', quantity: 3000, unit: '箱' }] } } } };
    const water = (await recommend(t.server.context.db.pool, thirsty as typeof record)).materials[0]!;
    const inWarehouses = (await t.admin.get('/api/stock?item=drinking-water')).body.stock.reduce((s: number, l: any) => s + l.quantity, 0);
    const fromWarehouses = water.sources.filter((s) => s.kind === 'warehouse');
    const fromPartners = water.sources.filter((s) => s.kind === 'reserve-partner');
    expect(fromWarehouses.reduce((s, x) => s + x.proposedQuantity!, 0)).toBe(inWarehouses);
    expect(water.sources.findIndex((s) => s.kind === 'reserve-partner')).toBe(fromWarehouses.length);
    // Item agreements first (P-01 promises 2000 cases within 90 min), not the logistics firm's category agreement.
    expect(fromPartners[0]).toMatchObject({ partnerId: 'P-01', leadTimeMinutes: 90, proposedQuantity: 3000 - inWarehouses });
    expect(fromPartners[0]!.reason.zh).toContain('协议储备');
    expect(water.shortfall).toBe(0);
  });
});

describe('dispatch orders', () => {
  it('dispatch issues an order, logs it, moves the team, and the team cannot go elsewhere until released', async () => {
    const a = await incident();
    const b = await incident();
    const res = await t.admin.post(`/api/incidents/${a}/dispatches`, { teamId: 'T-D06', task: '建设大路下穿桥排水' });
    expect(res.status).toBe(201);
    const d = res.body.dispatch;
    expect(d).toMatchObject({ incidentId: a, teamId: 'T-D06', task: '建设大路下穿桥排水', status: 'dispatched', location: { lat: AT_TD07.lat, lon: AT_TD07.lon } });
    expect(d.contact.phone).toBe('024-25870110');
    expect((await t.admin.get('/api/teams/T-D06')).body).toMatchObject({ team: { status: 'dispatched', currentDispatchId: d.id }, currentDispatch: { incidentId: a } });
    const busy = await t.admin.post(`/api/incidents/${b}/dispatches`, { teamId: 'T-D06' });
    expect(busy.status).toBe(409);
    expect(busy.body.error).toMatchObject({ code: 'team_unavailable', details: { teamId: 'T-D06', status: 'dispatched', incidentId: a, dispatchId: d.id } });
    await walk(d.id, ['acknowledged', 'en_route', 'on_scene']);
    expect((await t.admin.post(`/api/incidents/${b}/dispatches`, { teamId: 'T-D06' })).status).toBe(409);
    await walk(d.id, ['released']);
    expect((await t.admin.get('/api/teams/T-D06')).body.team.status).toBe('released');
    // Released: may be re-tasked on the way back; the old order then no longer drives the team.
    const again = await t.admin.post(`/api/incidents/${b}/dispatches`, { teamId: 'T-D06' });
    expect(again.status).toBe(201);
    await walk(d.id, ['returned']);
    expect((await t.admin.get('/api/teams/T-D06')).body.team).toMatchObject({ status: 'dispatched', currentDispatchId: again.body.dispatch.id });
    await walk(again.body.dispatch.id, ['cancelled']);
    expect((await t.admin.get('/api/teams/T-D06')).body.team.status).toBe('available');

    const full = (await t.admin.get(`/api/dispatches/${d.id}`)).body.dispatch;
    for (const k of ['acknowledgedAt', 'enRouteAt', 'onSceneAt', 'releasedAt', 'returnedAt']) expect(full[k], k).toEqual(expect.any(String));
    const events = (await t.admin.get(`/api/incidents/${a}/events?type=dispatch.created&type=dispatch.status_changed`)).body.events;
    expect(events.map((e: any) => e.data.to ?? 'created')).toEqual(['created', 'acknowledged', 'en_route', 'on_scene', 'released', 'returned']);
    expect(events[0].data).toMatchObject({ dispatchId: d.id, teamId: 'T-D06' });
    expect(published.filter((e) => e.incidentId === a && e.type.startsWith('dispatch.')).map((e) => e.seq)).toEqual(events.map((e: any) => e.seq));
    expect((await t.admin.get(`/api/incidents/${a}/events/verify`)).body.ok).toBe(true);
    expect((await t.admin.get(`/api/incidents/${a}/dispatches`)).body.dispatches.map((x: any) => x.id)).toEqual([d.id]);
  });

  it('the same team dispatched to two incidents at once: exactly one wins', async () => {
    const teams = ['T-D08', 'T-D09', 'T-D28', 'T-D29', 'T-S01'];
    for (const teamId of teams) {
      const [a, b] = [await incident(), await incident()];
      const results = await Promise.all([a, b, a, b].map((id) => t.admin.post(`/api/incidents/${id}/dispatches`, { teamId })));
      const won = results.filter((r) => r.status === 201);
      expect(won, teamId).toHaveLength(1);
      expect(results.filter((r) => r.status === 409 && r.body.error.code === 'team_unavailable')).toHaveLength(3);
      const { rows } = await t.server.context.db.pool.query(`SELECT count(*)::int AS n FROM dispatches WHERE team_id = $1 AND status = 'dispatched'`, [teamId]);
      expect(rows[0].n).toBe(1);
    }
  });

  it('many teams dispatched to one incident at once all succeed (no lock-order deadlock)', async () => {
    const id = await incident();
    const teams = ['T-D17', 'T-D18', 'T-D19', 'T-D20', 'T-D21', 'T-D23', 'T-D24', 'T-D25', 'T-D26', 'T-D27', 'T-S02', 'T-S03'];
    const results = await Promise.all(teams.map((teamId) => t.admin.post(`/api/incidents/${id}/dispatches`, { teamId })));
    expect(results.map((r) => r.status)).toEqual(teams.map(() => 201));
    const order = (await t.admin.get(`/api/incidents/${id}/dispatches`)).body.dispatches;
    await Promise.all(order.map((d: any) => t.admin.post(`/api/dispatches/${d.id}/status`, { status: 'cancelled' })));
    expect((await t.admin.get('/api/teams?status=available')).body.teams.map((x: any) => x.id)).toEqual(expect.arrayContaining(teams));
  });

  it('every illegal lifecycle transition is rejected with 409 and changes nothing', async () => {
    const id = await incident();
    const tryAllIllegal = async (dispatchId: string, from: DispatchStatus) => {
      for (const to of DISPATCH_STATUSES.filter((s) => !DISPATCH_TRANSITIONS[from].includes(s))) {
        const res = await t.admin.post(`/api/dispatches/${dispatchId}/status`, { status: to });
        expect(res.status, `${from} → ${to}`).toBe(409);
        expect(res.body.error).toMatchObject({ code: 'illegal_transition', details: { from, to, allowed: DISPATCH_TRANSITIONS[from] } });
      }
      expect((await t.admin.get(`/api/dispatches/${dispatchId}`)).body.dispatch.status).toBe(from);
    };
    const main = (await t.admin.post(`/api/incidents/${id}/dispatches`, { teamId: 'T-D22' })).body.dispatch.id;
    const path: DispatchStatus[] = ['acknowledged', 'en_route', 'on_scene', 'released', 'returned'];
    await tryAllIllegal(main, 'dispatched');
    for (const status of path) {
      await walk(main, [status]);
      await tryAllIllegal(main, status);
    }
    const cancelled = (await t.admin.post(`/api/incidents/${id}/dispatches`, { teamId: 'T-D22' })).body.dispatch.id;
    await walk(cancelled, ['acknowledged', 'cancelled']);
    await tryAllIllegal(cancelled, 'cancelled');
    expect((await t.admin.post(`/api/dispatches/${main}/status`, { status: 'flying' })).status).toBe(400);
  });

  it('field users see and move only their own team’s orders', async () => {
    const id = await incident();
    const mine = await t.user('field', { teamId: 'T-D15' });
    const other = await t.user('field', { teamId: 'T-D12' });
    const observer = await t.user('observer');
    const staff = await t.user('staff');
    const d = (await staff.post(`/api/incidents/${id}/dispatches`, { teamId: 'T-D15', task: '燃气管线巡查' })).body.dispatch;
    expect(d.createdBy).toBe(staff.userId);

    const my = (await mine.get('/api/my/dispatches')).body;
    expect(my.teamId).toBe('T-D15');
    expect(my.dispatches.map((x: any) => x.id)).toEqual([d.id]);
    expect((await other.get('/api/my/dispatches')).body.dispatches).toEqual([]);
    expect((await t.admin.get('/api/my/dispatches')).status).toBe(403);
    // Field users still see the incident their team is sent to.
    expect((await mine.get(`/api/incidents/${id}`)).status).toBe(200);

    expect((await other.get(`/api/dispatches/${d.id}`)).status).toBe(403);
    const foreign = await other.post(`/api/dispatches/${d.id}/status`, { status: 'acknowledged' });
    expect(foreign.status).toBe(403);
    expect(foreign.body.error.code).toBe('forbidden');
    expect((await observer.post(`/api/dispatches/${d.id}/status`, { status: 'acknowledged' })).status).toBe(403);
    expect((await mine.post(`/api/incidents/${id}/dispatches`, { teamId: 'T-D17' })).status).toBe(403);

    const ack = await mine.post(`/api/dispatches/${d.id}/status`, { status: 'acknowledged', note: '收到，10分钟出发' });
    expect(ack.status).toBe(200);
    expect(ack.body.dispatch.status).toBe('acknowledged');
    await expect(mine.post(`/api/dispatches/${d.id}/status`, { status: 'en_route' })).resolves.toMatchObject({ status: 200 });
    await expect(mine.post(`/api/dispatches/${d.id}/status`, { status: 'on_scene' })).resolves.toMatchObject({ status: 200 });
    // Release is HQ's decision.
    expect((await mine.post(`/api/dispatches/${d.id}/status`, { status: 'released' })).status).toBe(403);
    expect((await staff.post(`/api/dispatches/${d.id}/status`, { status: 'released' })).status).toBe(200);
    expect((await mine.post(`/api/dispatches/${d.id}/status`, { status: 'returned' })).status).toBe(200);
    expect((await mine.get('/api/my/dispatches?active=true')).body.dispatches).toEqual([]);

    const events = (await t.admin.get(`/api/incidents/${id}/events?type=dispatch.status_changed`)).body.events;
    expect(events[0]).toMatchObject({ actor: { id: mine.userId }, data: { to: 'acknowledged', note: '收到，10分钟出发', byRole: 'field' } });
  });

  it('bad input: unknown team, incident or dispatch; invalid bodies; closed incidents', async () => {
    const id = await incident();
    const unknownTeam = await t.admin.post(`/api/incidents/${id}/dispatches`, { teamId: 'T-NOPE' });
    expect(unknownTeam.status).toBe(404);
    expect(unknownTeam.body.error.details).toEqual({ teamId: 'T-NOPE' });
    expect((await t.admin.post('/api/incidents/6b1d9a52-4a7e-4c1e-9d7a-000000000000/dispatches', { teamId: 'T-D16' })).status).toBe(404);
    expect((await t.admin.post('/api/dispatches/6b1d9a52-4a7e-4c1e-9d7a-000000000000/status', { status: 'acknowledged' })).status).toBe(404);
    expect((await t.admin.get('/api/dispatches/nope')).status).toBe(404);
    expect((await t.admin.get('/api/incidents/nope/recommendations')).status).toBe(404);
    const bad = await t.admin.post(`/api/incidents/${id}/dispatches`, { teamId: 'T-D16', location: { lat: 100, lon: 0 }, extra: 1 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.issues.map((i: any) => i.path)).toEqual(expect.arrayContaining(['location.lat']));
    expect((await t.admin.get('/api/teams/T-D16')).body.team.status).toBe('available');

    const d = (await t.admin.post(`/api/incidents/${id}/dispatches`, { teamId: 'T-D16' })).body.dispatch;
    await walk(d.id, ['acknowledged', 'en_route', 'on_scene']);
    await t.admin.post(`/api/incidents/${id}/close`, {});
    const late = await t.admin.post(`/api/incidents/${id}/dispatches`, { teamId: 'T-D13' });
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('incident_closed');
    // Demobilising still works on a closed incident.
    await walk(d.id, ['released', 'returned']);
    expect((await t.admin.get('/api/teams/T-D16')).body.team.status).toBe('available');
  });
});
