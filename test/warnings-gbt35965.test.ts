import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';
import { FakeHeadEnd } from './fakes/broadcast-head-end.js';
import { validateCap } from './fakes/cap-schema.js';
import { validateGbt } from './fakes/gbt-schema.js';
import { waitFor } from './helpers/wait.js';
import { withTransaction } from '../server/db/database.js';
import { allocateGbtIdentifier, gbtBasicTime, HAZARD_TO_GBT_EVENT } from '../server/warnings/gbt35965/rules.js';
import { buildGbtAlert } from '../server/warnings/gbt35965/build.js';
import { HAZARD_TYPES } from '../shared/labels.js';

const SECRET = 'broadcast-secret-for-tests-0123';
let t: TestServer;
let staff: Awaited<ReturnType<TestServer['user']>>;
const capHeadEnd = new FakeHeadEnd(SECRET);
const gbtHeadEnd = new FakeHeadEnd(SECRET, 'gbt35965');
const parser = new XMLParser({ parseTagValue: false });

beforeAll(async () => {
  await Promise.all([capHeadEnd.start(), gbtHeadEnd.start()]);
  t = await startTestServer({
    BROADCAST_ENDPOINTS: `${capHeadEnd.url},${gbtHeadEnd.url}`,
    BROADCAST_GBT35965_ENDPOINTS: gbtHeadEnd.url,
    BROADCAST_SECRET: SECRET,
    GBT35965_INSTITUTION_CODE: '361',
    WARNING_POLL_MS: '50',
    WARNING_RETRY_BASE_MS: '50',
  });
  staff = await t.user('staff');
});

afterAll(async () => {
  await t?.close();
  await Promise.all([capHeadEnd.stop(), gbtHeadEnd.stop()]);
});

async function sentWarning(mode: 'actual' | 'exercise', template = 'wl-iii-yellow') {
  const inc = await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode });
  expect(inc.status).toBe(201);
  const draft = await staff.post(`/api/incidents/${inc.body.incident.id}/warnings`, { template, channels: ['broadcast'] });
  expect(draft.status, JSON.stringify(draft.body)).toBe(201);
  const before = Date.now();
  const approved = await t.admin.post(`/api/warnings/${draft.body.warning.id}/approve`);
  expect(approved.status, JSON.stringify(approved.body)).toBe(200);
  return { id: draft.body.warning.id as string, before, after: Date.now(), incidentId: inc.body.incident.id as string };
}

describe('GB/T 35965.1-2018 messages', () => {
  it('a draft has none yet: 409 warning_not_sent', async () => {
    const inc = await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' });
    const draft = await staff.post(`/api/incidents/${inc.body.incident.id}/warnings`, { template: 'wl-iii-yellow', channels: ['broadcast'] });
    const res = await t.admin.get(`/api/warnings/${draft.body.warning.id}/gbt35965.xml`);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('warning_not_sent');
  });

  it('an approved warning is served as a schema-valid message with the 31-character identifier in Beijing time', async () => {
    const { id, before, after } = await sentWarning('actual');
    const res = await t.admin.get(`/api/warnings/${id}/gbt35965.xml`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/xml');
    const check = await validateGbt(res.body);
    expect(check.errors).toEqual([]);
    expect(check.valid).toBe(true);
    const alert = parser.parse(res.body).alert;
    expect(alert.identifier).toHaveLength(31);
    expect(alert.identifier).toMatch(/^21010636100000_\d{14}_\d$/);
    const stamp = alert.identifier.slice(15, 29);
    expect([gbtBasicTime(new Date(before)), gbtBasicTime(new Date(after))]).toContain(stamp);
    expect(alert.senderCode).toBe('21010636100000');
    expect(alert.status).toBe('Actual');
    expect(alert.msgType).toBe('Alert');
    expect(alert.sendTime).toMatch(/\+08:00$/);
    expect(alert.sendTime.replace(/[-:T]/g, '').slice(0, 14)).toBe(stamp);
    expect(alert.info.eventType).toBe('11B03');
    expect(alert.info.severity).toBe('Yellow');
    expect(alert.info.area.geocode).toBe('210106');
    // CAP 1.2 stays as valid as it was.
    const cap = await t.admin.get(`/api/warnings/${id}/cap.xml`);
    expect((await validateCap(cap.body)).errors).toEqual([]);
    // The approval event names both identifiers.
    const w = (await t.admin.get(`/api/warnings/${id}`)).body.warning;
    const events = (await t.admin.get(`/api/incidents/${w.incidentId}/events?type=warning.approved`)).body.events;
    expect(events[0].data.gbtIdentifier).toBe(alert.identifier);
  });

  it('each broadcast endpoint receives its own format, signed: the national head-end a valid GB/T 35965.1 message, the other CAP', async () => {
    const { id } = await sentWarning('actual');
    const gbtIdentifier = parser.parse((await t.admin.get(`/api/warnings/${id}/gbt35965.xml`)).body).alert.identifier;
    const capIdentifier = (await t.admin.get(`/api/warnings/${id}`)).body.warning.identifier;
    await waitFor(() => gbtHeadEnd.accepted.some((m) => m.xml.includes(gbtIdentifier)) && capHeadEnd.accepted.some((m) => m.xml.includes(capIdentifier)), 'both head-ends to accept');
    const national = gbtHeadEnd.accepted.filter((m) => m.xml.includes(gbtIdentifier));
    expect(national).toHaveLength(1);
    expect(national[0]!.xml).not.toContain('urn:oasis:names:tc:emergency:cap:1.2');
    expect(capHeadEnd.accepted.filter((m) => m.xml.includes(capIdentifier))[0]!.xml).toContain('urn:oasis:names:tc:emergency:cap:1.2');
    expect(gbtHeadEnd.rejected).toEqual([]);
    expect(capHeadEnd.rejected).toEqual([]);
    const endpoints = (await t.admin.get('/api/broadcast-endpoints')).body.endpoints;
    expect(endpoints.find((e: any) => e.url === gbtHeadEnd.url).format).toBe('gbt35965');
    expect(endpoints.find((e: any) => e.url === capHeadEnd.url).format).toBe('cap');
  });

  it('an endpoint registered through the API can ask for GB/T 35965.1; an unknown format is refused', async () => {
    const bad = await t.admin.post('/api/broadcast-endpoints', { name: '省平台', url: 'https://eb.example.org/in', secret: 'endpoint-secret-0123456', format: 'xml' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('validation_failed');
    const ok = await t.admin.post('/api/broadcast-endpoints', { name: '国家应急广播', url: 'https://eb.example.org/gbt', secret: 'endpoint-secret-0123456', format: 'gbt35965', exercise: true });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    expect(ok.body.endpoint.format).toBe('gbt35965');
  });

  it('exercise messages say Exercise and 演练; an update references the original identifier', async () => {
    const { id } = await sentWarning('exercise');
    const xml = (await t.admin.get(`/api/warnings/${id}/gbt35965.xml`)).body;
    expect((await validateGbt(xml)).errors).toEqual([]);
    const alert = parser.parse(xml).alert;
    expect(alert.status).toBe('Exercise');
    expect(alert.info.headline.startsWith('【演练】')).toBe(true);

    const upd = await staff.post(`/api/warnings/${id}/update`, { headline: { zh: '内涝黄色预警（更新）', en: 'Yellow waterlogging warning (update)' } });
    expect(upd.status, JSON.stringify(upd.body)).toBe(201);
    expect((await t.admin.post(`/api/warnings/${upd.body.warning.id}/approve`)).status).toBe(200);
    const xml2 = (await t.admin.get(`/api/warnings/${upd.body.warning.id}/gbt35965.xml`)).body;
    expect((await validateGbt(xml2)).errors).toEqual([]);
    const a2 = parser.parse(xml2).alert;
    expect(a2.msgType).toBe('Update');
    expect(a2.references).toBe(alert.identifier);
  });

  it('sequence digits are allocated in the database: 12 concurrent messages of one unit in one second get 0–9, then the next second', async () => {
    const pool = t.server.context.db.pool;
    const unit = { division: '210106', institution: '999', unit: '001', extension: '07' };
    const at = new Date('2026-07-01T02:00:00.400Z'); // 10:00:00 Beijing time
    const ids = await Promise.all(Array.from({ length: 12 }, () => withTransaction(pool, (tx) => allocateGbtIdentifier(tx, unit, at))));
    const names = ids.map((x) => x.identifier).sort();
    expect(new Set(names).size).toBe(12);
    expect(names.filter((n) => n.includes('_20260701100000_'))).toHaveLength(10);
    expect(names.filter((n) => n.includes('_20260701100001_')).map((n) => n.at(-1)).sort()).toEqual(['0', '1']);
    for (const n of names) expect(n).toMatch(/^21010699900107_2026070110000[01]_\d$/);
  });

  it('a rolled-back approval gives its digit back (the sequence row is part of the transaction)', async () => {
    const pool = t.server.context.db.pool;
    const unit = { division: '210106', institution: '998', unit: '000', extension: '00' };
    const at = new Date('2026-07-01T03:00:00Z');
    await expect(withTransaction(pool, async (tx) => {
      await allocateGbtIdentifier(tx, unit, at);
      throw new Error('approval failed later');
    })).rejects.toThrow('approval failed later');
    const next = await withTransaction(pool, (tx) => allocateGbtIdentifier(tx, unit, at));
    expect(next.identifier.endsWith('_0')).toBe(true);
  });

  it('every hazard of the plans maps to a GB/T 35561 event type the schema accepts', async () => {
    for (const hazard of HAZARD_TYPES) {
      const xml = buildGbtAlert({
        identifier: '21010600000000_20260701100000_0', senderCode: '21010600000000', sendTime: '2026-07-01T10:00:00+08:00', mode: 'actual', msgType: 'Alert', hazard,
        fields: {
          colour: 'red', channels: ['broadcast'], headline: { zh: '测试 <&> 标题', en: 't' }, text: { zh: '正文', en: 't' },
          area: { description: { zh: '铁西区', en: 'Tiexi' }, circle: { lat: 41.8, lon: 123.35, radiusKm: 2 } },
          audience: { description: { zh: '公众', en: 'public' }, public: true },
        },
        expires: '2026-07-02T10:00:00+08:00', contact: '12350', divisionCode: '210106',
      });
      expect((await validateGbt(xml)).errors, hazard).toEqual([]);
      expect(parser.parse(xml).alert.info.eventType).toBe(HAZARD_TO_GBT_EVENT[hazard].code);
    }
  });
});
