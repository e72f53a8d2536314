import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../server/config.js';
import { createLogger } from '../server/log.js';
import { startServer, type RunningServer } from '../server/app.js';
import { Api } from './helpers/api.js';
import { usingRealPostgres } from './helpers/database.js';
import { startTestServer, tempDir, testEnv, type TestServer } from './helpers/server.js';

let t: TestServer;
let second: { server: RunningServer; dataDir: string } | undefined;
beforeAll(async () => {
  t = await startTestServer({ STOCK_WATCH_CRON: 'off' });
});
afterAll(async () => {
  if (second) {
    await second.server.close();
    await rm(second.dataDir, { recursive: true, force: true });
  }
  await t?.close();
});

async function incident(): Promise<string> {
  const res = await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual', location: { lat: 41.79, lon: 123.33 } });
  expect(res.status).toBe(201);
  return res.body.incident.id;
}

async function stockLine(warehouseId: string, item: string, batch?: string): Promise<any> {
  const res = await t.admin.get(`/api/warehouses/${warehouseId}/stock`);
  expect(res.status).toBe(200);
  const line = res.body.stock.find((s: any) => s.item === item && (batch === undefined || s.batch === batch));
  expect(line, `${warehouseId} ${item} ${batch ?? ''}`).toBeDefined();
  return line;
}

const importStock = (csv: string, as: Api = t.admin) => as.post('/api/csv/stock', { csv });

describe('allocation', () => {
  it('reserves, issues, delivers and returns stock, logging each step', async () => {
    const id = await incident();
    const line = await stockLine('W-02', 'pump-mobile');
    expect(line).toMatchObject({ id: expect.any(String), item: 'pump-mobile', quantity: 60, unit: '台' });
    const res = await t.admin.post(`/api/incidents/${id}/allocations`, { stockLineId: line.id, quantity: 12, note: '下穿桥排水' });
    expect(res.status).toBe(201);
    const a = res.body.allocation;
    expect(a).toMatchObject({ incidentId: id, stockLineId: line.id, warehouseId: 'W-02', item: 'pump-mobile', quantity: 12, returnedQuantity: 0, unit: '台', status: 'reserved' });
    expect((await stockLine('W-02', 'pump-mobile')).quantity).toBe(48);

    expect((await t.admin.post(`/api/allocations/${a.id}/deliver`, {})).body.error.code).toBe('illegal_transition');
    expect((await t.admin.post(`/api/allocations/${a.id}/issue`, {})).body.allocation.status).toBe('issued');
    expect((await t.admin.post(`/api/allocations/${a.id}/cancel`, {})).body.error).toMatchObject({ code: 'illegal_transition', details: { from: 'issued' } });
    expect((await t.admin.post(`/api/allocations/${a.id}/deliver`, {})).body.allocation.status).toBe('delivered');
    const partial = await t.admin.post(`/api/allocations/${a.id}/return`, { quantity: 5 });
    expect(partial.body.allocation).toMatchObject({ status: 'delivered', returnedQuantity: 5 });
    expect((await stockLine('W-02', 'pump-mobile')).quantity).toBe(53);
    const tooMuch = await t.admin.post(`/api/allocations/${a.id}/return`, { quantity: 8 });
    expect(tooMuch.status).toBe(409);
    expect(tooMuch.body.error.details).toMatchObject({ returnable: 7 });
    const rest = await t.admin.post(`/api/allocations/${a.id}/return`, {});
    expect(rest.body.allocation).toMatchObject({ status: 'returned', returnedQuantity: 12, closedAt: expect.any(String) });
    expect((await stockLine('W-02', 'pump-mobile')).quantity).toBe(60);
    expect((await t.admin.post(`/api/allocations/${a.id}/return`, { quantity: 1 })).body.error.code).toBe('illegal_transition');

    // A reservation cancelled before issue goes straight back.
    const b = (await t.admin.post(`/api/incidents/${id}/allocations`, { stockLineId: line.id, quantity: 3 })).body.allocation;
    expect((await t.admin.post(`/api/allocations/${b.id}/cancel`, { reason: '改由街道储备点调拨' })).body.allocation.status).toBe('cancelled');
    expect((await stockLine('W-02', 'pump-mobile')).quantity).toBe(60);

    const events = (await t.admin.get(`/api/incidents/${id}/events?afterSeq=1`)).body.events;
    expect(events.map((e: any) => e.type)).toEqual([
      'allocation.created',
      'allocation.issued',
      'allocation.delivered',
      'allocation.returned',
      'allocation.returned',
      'allocation.created',
      'allocation.cancelled',
    ]);
    expect(events[0].data).toMatchObject({ allocationId: a.id, item: 'pump-mobile', quantity: 12, remaining: 48, warehouseId: 'W-02' });
    expect(events[6].data).toMatchObject({ quantity: 3, remaining: 60, reason: '改由街道储备点调拨' });
    expect((await t.admin.get(`/api/incidents/${id}/allocations`)).body.allocations.map((x: any) => x.status)).toEqual(['returned', 'cancelled']);
  });

  it('bad input: ≤ 0, fractions of countable items, over-allocation, unknown ids, wrong roles', async () => {
    const id = await incident();
    const pumps = await stockLine('W-01', 'pump-mobile');
    for (const quantity of [0, -3]) {
      const res = await t.admin.post(`/api/incidents/${id}/allocations`, { stockLineId: pumps.id, quantity });
      expect(res.status).toBe(400);
      expect(res.body.error.details.issues[0].path).toBe('quantity');
    }
    const fraction = await t.admin.post(`/api/incidents/${id}/allocations`, { stockLineId: pumps.id, quantity: 1.5 });
    expect(fraction.status).toBe(400);
    expect(fraction.body.error.details.issues).toEqual([expect.objectContaining({ path: 'quantity', message: expect.stringContaining('whole units') })]);
    const over = await t.admin.post(`/api/incidents/${id}/allocations`, { stockLineId: pumps.id, quantity: pumps.quantity + 1 });
    expect(over.status).toBe(409);
    expect(over.body.error).toMatchObject({ code: 'insufficient_stock', details: { available: pumps.quantity, requested: pumps.quantity + 1 } });
    expect((await stockLine('W-01', 'pump-mobile')).quantity).toBe(pumps.quantity);

    // Bulk items may be fractional.
    const absorbent = await stockLine('W-02', 'absorbent');
    const bulk = await t.admin.post(`/api/incidents/${id}/allocations`, { stockLineId: absorbent.id, quantity: 12.5 });
    expect(bulk.status).toBe(201);
    expect((await stockLine('W-02', 'absorbent')).quantity).toBe(absorbent.quantity - 12.5);
    expect((await t.admin.post(`/api/allocations/${bulk.body.allocation.id}/return`, { quantity: 0.25 })).body.allocation.returnedQuantity).toBe(0.25);

    expect((await t.admin.post(`/api/incidents/${id}/allocations`, { stockLineId: '6b1d9a52-4a7e-4c1e-9d7a-000000000000', quantity: 1 })).status).toBe(404);
    expect((await t.admin.post(`/api/incidents/${id}/allocations`, { stockLineId: 'nope', quantity: 1 })).status).toBe(404);
    expect((await t.admin.post('/api/incidents/6b1d9a52-4a7e-4c1e-9d7a-000000000000/allocations', { stockLineId: pumps.id, quantity: 1 })).status).toBe(404);
    expect((await t.admin.post('/api/allocations/6b1d9a52-4a7e-4c1e-9d7a-000000000000/issue', {})).status).toBe(404);
    const field = await t.user('field', { teamId: 'T-D06' });
    expect((await field.post(`/api/incidents/${id}/allocations`, { stockLineId: pumps.id, quantity: 1 })).status).toBe(403);
    expect((await field.post(`/api/allocations/${bulk.body.allocation.id}/issue`, {})).status).toBe(403);
    expect((await t.admin.post(`/api/incidents/${id}/allocations`, { stockLineId: pumps.id, quantity: 1, extra: true })).status).toBe(400);
    expect((await stockLine('W-01', 'pump-mobile')).quantity).toBe(pumps.quantity);
  });

  it(`200 concurrent requests for the last 50 units: exactly 50 granted, stock 0, never negative (${usingRealPostgres() ? 'two server instances' : 'one embedded server'})`, async () => {
    expect((await importStock('warehouse_id,item,batch,quantity\nW-01,generator,LAST-50,50\n')).status).toBe(200);
    const line = await stockLine('W-01', 'generator', 'LAST-50');
    expect(line.quantity).toBe(50);
    const ids = [await incident(), await incident()];
    const apis = [t.admin];
    if (usingRealPostgres()) {
      // A second node on the same PostgreSQL: no in-process lock can help here, only the database.
      const dataDir = await tempDir();
      const config = loadConfig(testEnv(dataDir, t.database.url, { STOCK_WATCH_CRON: 'off' }));
      second = { server: await startServer(config, createLogger(config.LOG_LEVEL)), dataDir };
      apis.push(new Api(second.server.url, t.admin.token));
    }
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => apis[i % apis.length]!.post(`/api/incidents/${ids[i % 2]}/allocations`, { stockLineId: line.id, quantity: 1 })),
    );
    const granted = results.filter((r) => r.status === 201);
    const refused = results.filter((r) => r.status === 409);
    expect(granted).toHaveLength(50);
    expect(refused).toHaveLength(150);
    for (const r of refused) expect(r.body.error).toMatchObject({ code: 'insufficient_stock', details: { available: 0, requested: 1 } });
    // Both nodes really served their half: every answer is a grant or a refusal, nothing else.
    for (let n = 0; n < apis.length; n++) {
      const mine = results.filter((_, i) => i % apis.length === n);
      expect(mine.every((r) => r.status === 201 || r.status === 409)).toBe(true);
    }
    expect((await stockLine('W-01', 'generator', 'LAST-50')).quantity).toBe(0);
    const { rows } = await t.server.context.db.pool.query(
      `SELECT count(*)::int AS n, coalesce(sum(quantity), 0)::int AS total, count(DISTINCT id)::int AS distinct_ids FROM allocations WHERE stock_line_id = $1`,
      [line.id],
    );
    expect(rows[0]).toEqual({ n: 50, total: 50, distinct_ids: 50 });
    // Each grant logged once, with what was left at that moment: 49, 48, … 0, never below.
    const remaining: number[] = [];
    for (const id of ids) {
      const events = (await t.admin.get(`/api/incidents/${id}/events?type=allocation.created`)).body.events;
      remaining.push(...events.map((e: any) => e.data.remaining));
      expect((await t.admin.get(`/api/incidents/${id}/events/verify`)).body.ok).toBe(true);
    }
    expect(remaining.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});

describe('allocation under concurrency on one incident', () => {
  it('many allocations on one incident from different stock lines all succeed (no lock-order deadlock)', async () => {
    const id = await incident();
    const lines = [await stockLine('W-01', 'sandbag'), await stockLine('W-02', 'sandbag'), await stockLine('W-01', 'life-jacket'), await stockLine('W-02', 'quilt')];
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => t.admin.post(`/api/incidents/${id}/allocations`, { stockLineId: lines[i % lines.length].id, quantity: 1 })));
    expect(results.map((r) => r.status)).toEqual(Array(60).fill(201));
    const events = (await t.admin.get(`/api/incidents/${id}/events?type=allocation.created`)).body.events;
    expect(events).toHaveLength(60);
    expect((await t.admin.get(`/api/incidents/${id}/events/verify`)).body.ok).toBe(true);
  });
});

describe('CSV import and export', () => {
  it('teams round-trip; an edited file updates and adds teams', async () => {
    const exported = await t.admin.get('/api/csv/teams');
    expect(exported.status).toBe(200);
    expect(exported.headers.get('content-type')).toContain('text/csv');
    const csv: string = exported.body;
    const lines = csv.replace(/^\ufeff/, '').trim().split('\n');
    expect(lines[0]).toBe('id,name_zh,name_en,tier,kind,specialties,headcount,base_lat,base_lon,base_address,contact_name,contact_phone,leader_name,leader_phone,deputy_name,deputy_phone,plan_units');
    expect(lines.find((l) => l.startsWith('T-D07,'))).toMatch(/,drainage;water$/);
    expect(lines).toHaveLength(49);
    const same = await t.admin.post('/api/csv/teams', { csv });
    expect(same.body.imported).toEqual({ created: 0, updated: 48 });
    expect((await t.admin.get('/api/csv/teams')).body).toBe(csv);

    const edited = csv.replace(/^(T-D01,[^\n]*?,)62,/m, '$199,') + 'T-V02,"铁西区蓝天救援队二分队","Blue Sky Rescue Team, Unit 2",social,social,search-rescue;water-rescue,25,41.79,123.34,沈阳市铁西区北二路8号,周强,13800001111,,,,,civil;streets\n';
    const res = await t.admin.post('/api/csv/teams', { csv: edited });
    expect(res.body.imported).toEqual({ created: 1, updated: 48 });
    expect((await t.admin.get('/api/teams/T-D01')).body.team.headcount).toBe(99);
    expect((await t.admin.get('/api/teams/T-V02')).body.team).toMatchObject({ name: { en: 'Blue Sky Rescue Team, Unit 2' }, specialties: ['search-rescue', 'water-rescue'], status: 'available', planUnits: ['civil', 'streets'] });
    // A file without the plan_units column leaves every team's units as they are.
    const [head, ...rows] = edited.replace(/^\ufeff/, '').trim().split('\n');
    const withoutUnits = [head!.replace(/,plan_units$/, ''), ...rows.map((l) => l.replace(/,[^,]*$/, ''))].join('\n');
    expect(withoutUnits).not.toMatch(/,drainage;water$/m);
    const old = await t.admin.post('/api/csv/teams', { csv: withoutUnits });
    expect(old.body.imported).toEqual({ created: 0, updated: 49 });
    expect((await t.admin.get('/api/teams/T-V02')).body.team.planUnits).toEqual(['civil', 'streets']);
    expect((await t.admin.get('/api/teams/T-D07')).body.team.planUnits).toEqual(['drainage', 'water']);
  });

  it('a file with one bad row is refused with its line number and imports nothing', async () => {
    const before = (await t.admin.get('/api/teams/T-D02')).body.team.headcount;
    const csv = [
      'id,name_zh,name_en,tier,kind,specialties,headcount,base_lat,base_lon,base_address,contact_name,contact_phone',
      'T-D02,铁西区消防救援大队保工站,"Tiexi Fire and Rescue Brigade, Baogong Station",district,fire-rescue,firefighting;hazchem,77,41.7921,123.3412,沈阳市铁西区保工南街38号,刘志刚,024-25872119',
      'T-N01,新队伍,New team,district,professional,flood-rescue,20,41.8,123.3,地址,张三,13800000000',
      'T-N02,坏队伍,Bad team,district,professional,juggling,-4,41.8,123.3,地址,李四,13800000001',
    ].join('\n');
    const res = await t.admin.post('/api/csv/teams', { csv });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('invalid_csv');
    expect(res.body.error.details.line).toBe(4);
    expect(res.body.error.details.issues.map((i: any) => i.path)).toEqual(expect.arrayContaining(['specialties[0]', 'headcount']));
    expect(res.body.error.message).toMatch(/^line 4:/);
    expect((await t.admin.get('/api/teams/T-D02')).body.team.headcount).toBe(before);
    expect((await t.admin.get('/api/teams/T-N01')).status).toBe(404);

    const stock = await importStock('warehouse_id,item,batch,quantity,unit\nW-01,sandbag,CSV-A,10,条\nW-01,tent,CSV-A,2.5,顶\n');
    expect(stock.body.error).toMatchObject({ code: 'invalid_csv', details: { line: 3 } });
    const wrongWarehouse = await importStock('warehouse_id,item,batch,quantity\nW-01,sandbag,CSV-B,10\nW-99,sandbag,CSV-B,10\n');
    expect(wrongWarehouse.body.error.details.line).toBe(3);
    const duplicate = await importStock('warehouse_id,item,batch,quantity\nW-01,sandbag,CSV-C,10\nW-01,sandbag,CSV-C,11\n');
    expect(duplicate.body.error.details.line).toBe(3);
    const header = await importStock('warehouse,item,batch\nW-01,sandbag,CSV-D\n');
    expect(header.body.error.details).toMatchObject({ line: 1 });
    const unclosed = await importStock('warehouse_id,item,batch,quantity\nW-01,sandbag,CSV-E,10\nW-01,"sandbag,CSV-E,10\n');
    expect(unclosed.body.error.code).toBe('invalid_csv');
    const { rows } = await t.server.context.db.pool.query(`SELECT count(*)::int AS n FROM stock_lines WHERE batch LIKE 'CSV-%'`);
    expect(rows[0].n).toBe(0);
    expect((await t.admin.request('POST', '/api/csv/stock', undefined, { raw: 'a,b', headers: { 'content-type': 'text/csv' } })).status).toBe(415);
    const observer = await t.user('observer');
    expect((await importStock('warehouse_id,item,batch,quantity\nW-01,sandbag,CSV-F,10\n', observer)).status).toBe(403);
  });

  it('stock round-trips; bulk quantities keep their decimals', async () => {
    const csv: string = (await t.admin.get('/api/csv/stock')).body;
    expect(csv.replace(/^\ufeff/, '').split('\n')[0]).toBe('warehouse_id,item,category,batch,quantity,unit,min_quantity,expires_on');
    expect(csv).toContain('W-01,de-icing-salt,snow-ice,2025-10-A,62.5,吨,80,');
    expect(csv).toContain('W-02,instant-food,necessities,2025-12-A,700,箱,600,2026-12-30');
    const res = await importStock(csv);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.imported.created).toBe(0);
    expect((await t.admin.get('/api/csv/stock')).body).toBe(csv);
    const w02 = (await t.admin.get('/api/csv/stock?warehouseId=W-S01')).body.replace(/^\ufeff/, '').trim().split('\n');
    expect(w02.slice(1).every((l: string) => l.startsWith('W-S01,'))).toBe(true);
  });
});

describe('stock watch', () => {
  it('flags low and expiring lines once, into every active incident log, and again only after the condition cleared', async () => {
    const id = await incident();
    const staff = await t.user('staff');
    expect((await staff.post('/api/stock-watch/run', {})).status).toBe(403);
    const first = await t.admin.post('/api/stock-watch/run', {});
    expect(first.status).toBe(200);
    expect(first.body.ran).toBe(true);
    const raised = first.body.raised;
    const salt = raised.find((a: any) => a.warehouseId === 'W-01' && a.item === 'de-icing-salt');
    expect(salt).toMatchObject({ kind: 'low', quantity: 62.5, minQuantity: 80 });
    expect(salt.message.zh).toContain('低于最低储备');
    // Seed batch expiring 2026-12-30: within STOCK_EXPIRY_WARNING_DAYS (60) of the test date, not of a far-off batch.
    const today = new Date().toISOString().slice(0, 10);
    for (const a of raised.filter((x: any) => x.kind === 'expiry')) expect(a.expiresOn <= new Date(Date.now() + 61 * 86400_000).toISOString().slice(0, 10)).toBe(true);
    if (today >= '2026-11-01' && today <= '2026-12-30') expect(raised.some((a: any) => a.kind === 'expiry' && a.item === 'instant-food' && a.warehouseId === 'W-02')).toBe(true);
    expect(raised.some((a: any) => a.item === 'fire-extinguisher' && a.kind === 'expiry')).toBe(false);

    const events = (await t.admin.get(`/api/incidents/${id}/events?type=stock.alert`)).body.events;
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ actor: null, data: { count: raised.length } });
    expect((await t.admin.get('/api/stock-alerts')).body.alerts).toHaveLength(raised.length);

    // Run again (twice at once): nothing new, nothing doubled.
    const again = await Promise.all([t.admin.post('/api/stock-watch/run', {}), t.admin.post('/api/stock-watch/run', {})]);
    expect(again.flatMap((r) => r.body.raised)).toEqual([]);
    expect((await t.admin.get(`/api/incidents/${id}/events?type=stock.alert`)).body.events).toHaveLength(1);

    // Restocked: the alert clears; drawn down again: it alerts again.
    expect((await importStock('warehouse_id,item,batch,quantity,min_quantity\nW-01,de-icing-salt,2025-10-A,100,80\n')).status).toBe(200);
    const cleared = await t.admin.post('/api/stock-watch/run', {});
    expect(cleared.body).toMatchObject({ raised: [], cleared: 1 });
    const saltLine = await stockLine('W-01', 'de-icing-salt');
    expect((await t.admin.post(`/api/incidents/${id}/allocations`, { stockLineId: saltLine.id, quantity: 20.5 })).status).toBe(201);
    const third = await t.admin.post('/api/stock-watch/run', {});
    expect(third.body.raised).toEqual([expect.objectContaining({ stockLineId: saltLine.id, kind: 'low', quantity: 79.5 })]);
    expect((await t.admin.get(`/api/incidents/${id}/events?type=stock.alert`)).body.events).toHaveLength(2);
  });
});
