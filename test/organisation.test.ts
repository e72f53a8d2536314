import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe('demo organisation', () => {
  it('has the bureau plan numbers: 30 district teams (2,363), 17 street teams (563), 1 social team (40)', async () => {
    const teams = (await t.admin.get('/api/teams')).body.teams;
    const tier = (name: string) => teams.filter((team: any) => team.tier === name);
    expect(tier('district')).toHaveLength(30);
    expect(sum(tier('district').map((x: any) => x.headcount))).toBe(2363);
    expect(tier('street')).toHaveLength(17);
    expect(sum(tier('street').map((x: any) => x.headcount))).toBe(563);
    expect(tier('social')).toHaveLength(1);
    expect(tier('social')[0].headcount).toBe(40);
    expect(teams.every((x: any) => x.status === 'available')).toBe(true);
    const one = await t.admin.get(`/api/teams/${teams[0].id}`);
    expect(one.body.team).toEqual(teams[0]);
    expect((await t.admin.get('/api/teams/T-NOPE')).status).toBe(404);
  });

  it('has two district warehouses of 630 m² and 1,000 m² stocked for 1,300 relocated people', async () => {
    const warehouses = (await t.admin.get('/api/warehouses')).body.warehouses;
    const district = warehouses.filter((w: any) => w.tier === 'district');
    expect(district.map((w: any) => w.areaM2).sort((a: number, b: number) => a - b)).toEqual([630, 1000]);
    let quilts = 0;
    for (const w of district) {
      const stock = (await t.admin.get(`/api/warehouses/${w.id}/stock`)).body.stock;
      expect(stock[0]).toMatchObject({ id: expect.any(String), item: expect.any(String), quantity: expect.any(Number), unit: expect.any(String) });
      quilts += sum(stock.filter((s: any) => s.item === 'quilt').map((s: any) => s.quantity));
    }
    expect(quilts).toBeGreaterThanOrEqual(1300);
    expect((await t.admin.get('/api/warehouses/W-NOPE/stock')).status).toBe(404);
  });

  it('has 30 shelters, 3 agreement-reserve partners and a district inside which everything lies', async () => {
    expect((await t.admin.get('/api/shelters')).body.shelters).toHaveLength(30);
    expect((await t.admin.get('/api/reserve-partners')).body.reservePartners).toHaveLength(3);
    const org = (await t.admin.get('/api/organisation')).body;
    expect(org.district.code).toBe('210106');
    const lats = org.district.boundary.map((p: number[]) => p[0]);
    const lons = org.district.boundary.map((p: number[]) => p[1]);
    const teams = (await t.admin.get('/api/teams')).body.teams;
    for (const team of teams) {
      expect(team.base.lat).toBeGreaterThanOrEqual(Math.min(...lats));
      expect(team.base.lat).toBeLessThanOrEqual(Math.max(...lats));
      expect(team.base.lon).toBeGreaterThanOrEqual(Math.min(...lons));
      expect(team.base.lon).toBeLessThanOrEqual(Math.max(...lons));
    }
  });
});
