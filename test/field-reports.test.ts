import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

const activate = async (mode: 'actual' | 'exercise' = 'actual') => {
  const res = await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode, location: { lat: 41.8, lon: 123.36 } });
  expect(res.status).toBe(201);
  return res.body.incident.id as string;
};

describe('situation reports (现场情况)', () => {
  it('a field user files a report with text and location: it is an event-log entry and listed', async () => {
    const id = await activate();
    const field = await t.user('field', { teamId: 'T-D03' });
    const res = await field.post(`/api/incidents/${id}/reports`, { text: '  下穿桥积水约60厘米，已封闭交通 ', location: { lat: 41.7961, lon: 123.3655, accuracyM: 12 } });
    expect(res.status).toBe(201);
    expect(res.body.report).toMatchObject({ incidentId: id, teamId: 'T-D03', text: '下穿桥积水约60厘米，已封闭交通', location: { lat: 41.7961, lon: 123.3655, accuracyM: 12 }, author: { name: field.username } });
    expect(res.body.report.id).toMatch(/^[0-9a-f-]{36}$/);

    const log = await t.admin.get(`/api/incidents/${id}/events?type=field.report`);
    expect(log.body.events).toHaveLength(1);
    expect(log.body.events[0]).toMatchObject({ seq: res.body.report.seq, type: 'field.report', data: { reportId: res.body.report.id, teamId: 'T-D03', role: 'field', text: '下穿桥积水约60厘米，已封闭交通' } });
    expect((await t.admin.get(`/api/incidents/${id}/events/verify`)).body.ok).toBe(true);

    const second = await t.admin.post(`/api/incidents/${id}/reports`, { text: '指挥部补充：排水泵车已出发' });
    expect(second.status).toBe(201);
    expect(second.body.report.location).toBeNull();
    const list = await field.get(`/api/incidents/${id}/reports`);
    expect(list.status).toBe(200);
    expect(list.body.reports.map((r: { text: string }) => r.text)).toEqual(['下穿桥积水约60厘米，已封闭交通', '指挥部补充：排水泵车已出发']);
    const after = await field.get(`/api/incidents/${id}/reports?afterSeq=${res.body.report.seq}`);
    expect(after.body.reports).toHaveLength(1);
  });

  it('refuses bad input with field details and writes nothing', async () => {
    const id = await activate();
    const cases: [unknown, string][] = [
      [{ text: '' }, 'text'],
      [{ text: '   ' }, 'text'],
      [{ text: 'x'.repeat(4001) }, 'text'],
      [{ text: 'ok', location: { lat: 91, lon: 0 } }, 'location.lat'],
      [{ text: 'ok', location: { lat: 41 } }, 'location.lon'],
      [{ text: 'ok', extra: 1 }, 'body'],
      [{}, 'text'],
    ];
    for (const [body, path] of cases) {
      const res = await t.admin.post(`/api/incidents/${id}/reports`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
      expect(res.body.error.details.issues.map((i: { path: string }) => i.path).join(',')).toContain(path === 'body' ? '' : path);
    }
    const bad = await t.admin.get(`/api/incidents/${id}/reports?afterSeq=-1`);
    expect(bad.status).toBe(400);
    expect((await t.admin.get(`/api/incidents/${id}/events?type=field.report`)).body.events).toHaveLength(0);
  });

  it('observers may not report; closed incidents are read-only; unseen incidents are 404', async () => {
    const id = await activate();
    const observer = await t.user('observer');
    const refused = await observer.post(`/api/incidents/${id}/reports`, { text: '观察' });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('forbidden');
    expect((await observer.get(`/api/incidents/${id}/reports`)).status).toBe(200);

    const controller = await t.user('controller');
    expect((await controller.post(`/api/incidents/${id}/reports`, { text: 'x' })).status).toBe(404);
    expect((await t.admin.post('/api/incidents/00000000-0000-4000-8000-000000000000/reports', { text: 'x' })).status).toBe(404);
    expect((await t.admin.post('/api/incidents/not-a-uuid/reports', { text: 'x' })).status).toBe(404);

    expect((await t.admin.post(`/api/incidents/${id}/close`, {})).status).toBe(200);
    const closed = await t.admin.post(`/api/incidents/${id}/reports`, { text: '迟到的报告' });
    expect(closed.status).toBe(409);
    expect(closed.body.error.code).toBe('incident_closed');
    expect((await t.admin.get(`/api/incidents/${id}/events?type=field.report`)).body.events).toHaveLength(0);
  });

  it('serves the offline basemap and the map configuration', async () => {
    const basemap = await t.admin.get('/api/map/basemap');
    expect(basemap.status).toBe(200);
    const kinds = basemap.body.features.map((f: { properties: { kind: string } }) => f.properties.kind);
    expect(kinds).toContain('district');
    expect(kinds.filter((k: string) => k === 'road').length).toBeGreaterThanOrEqual(6);
    expect(basemap.body.features.find((f: any) => f.properties.kind === 'river').properties.name.zh).toBe('浑河');
    const names = basemap.body.features.map((f: any) => f.properties.name.zh);
    for (const road of ['建设大路', '北二路', '沈辽路', '兴华街', '云峰街', '卫工街']) expect(names).toContain(road);
    const district = basemap.body.features.find((f: any) => f.properties.kind === 'district');
    const ring = district.geometry.coordinates[0];
    expect(ring[0]).toEqual(ring[ring.length - 1]);
    expect(ring[0][0]).toBeGreaterThan(123); // [lon, lat]
    expect((await t.admin.get('/api/map/config')).body).toEqual({ tileUrl: null, tileAttribution: null, timezone: 'Asia/Shanghai' });
    expect((await t.api.get('/api/map/basemap')).status).toBe(401);
  });

  it('the client is served at / with an SPA fallback that never shadows the API', async () => {
    const root = await fetch(t.url + '/');
    expect([200, 503]).toContain(root.status);
    expect(root.headers.get('cache-control')).toBe('no-cache');
    const deep = await fetch(t.url + '/some/page');
    expect(deep.status).toBe(root.status);
    const api = await t.admin.get('/api/no-such-route');
    expect(api.status).toBe(404);
    expect(api.body.error.code).toBe('not_found');
    for (const p of ['/yjs/x', '/cap/nothing', '/webhooks/none', '/healthz/x', '/socket.io/x']) {
      const res = await fetch(t.url + p);
      expect(res.headers.get('content-type') ?? '', p).not.toContain('text/html');
    }
    expect((await fetch(t.url + '/assets/missing.js')).status).toBe(404);
  });
});
