import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';

// No outbox workers: the rows stay as approval wrote them, so the approve answer (built from the
// enqueue's own counts) can be compared with what a later read counts in the outbox.
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ WARNING_WORKERS: 'false', STOCK_WATCH_CRON: 'off' });
});
afterAll(async () => {
  await t?.close();
});

const q = (sql: string, params: unknown[] = []) => t.server.context.db.pool.query(sql, params).then((r) => r.rows);

describe('warning approval writes the outbox once per target', () => {
  it('one row per phone (a phone on two lists, responders and the public in the area), none outside; the answer counts what the outbox holds', async () => {
    const incident = (await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' })).body.incident;
    // Far from the seed's recipients: 40 public numbers in the circle (each also on a second list), 5 outside it, 3 responders by role.
    const inside = Array.from({ length: 40 }, (_, i) => `+8613900${String(i).padStart(5, '0')}`);
    const outside = Array.from({ length: 5 }, (_, i) => `+8613911${String(i).padStart(5, '0')}`);
    const responders = Array.from({ length: 3 }, (_, i) => `+8613922${String(i).padStart(5, '0')}`);
    await q(
      `INSERT INTO warning_recipients (id, list, kind, phone, lat, lon)
       SELECT gen_random_uuid(), l, 'public', p, 30.0, 110.0 FROM unnest($1::text[]) p CROSS JOIN unnest(ARRAY['enqueue-a', 'enqueue-b']) l`,
      [inside],
    );
    await q(`INSERT INTO warning_recipients (id, list, kind, phone, lat, lon) SELECT gen_random_uuid(), 'enqueue-a', 'public', p, 30.5, 110.5 FROM unnest($1::text[]) p`, [outside]);
    await q(`INSERT INTO warning_recipients (id, list, kind, phone, role) SELECT gen_random_uuid(), 'enqueue-r', 'responder', p, 'enqueue-role' FROM unnest($1::text[]) p`, [responders]);

    const staff = await t.user('staff');
    const draft = await staff.post(`/api/incidents/${incident.id}/warnings`, {
      template: 'wl-iii-yellow',
      channels: ['sms', 'broadcast'],
      area: { description: { zh: '测试区域', en: 'Test area' }, circle: { lat: 30.0, lon: 110.0, radiusKm: 2 } },
      audience: { description: { zh: '公众与队员', en: 'Public and responders' }, public: true, roles: ['enqueue-role'] },
    });
    expect(draft.status, JSON.stringify(draft.body)).toBe(201);
    const id = draft.body.warning.id;
    const approved = await t.admin.post(`/api/warnings/${id}/approve`);
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);

    const rows = await q(`SELECT channel, address, status FROM warning_deliveries WHERE warning_id = $1 ORDER BY channel, address`, [id]);
    const sms = rows.filter((r) => r.channel === 'sms').map((r) => r.address);
    expect(sms).toEqual([...inside, ...responders].sort());
    expect(rows.filter((r) => r.channel === 'broadcast')).toHaveLength(1);
    expect(rows.every((r) => r.status === 'queued')).toBe(true);

    // The answer is built from the enqueue's counts; a read counts the rows: they agree.
    const read = await t.admin.get(`/api/warnings/${id}`);
    expect(read.status).toBe(200);
    expect(approved.body.warning.delivery).toEqual(read.body.warning.delivery);
    expect(approved.body.warning.delivery.channels).toEqual([
      expect.objectContaining({ channel: 'sms', total: 43, queued: 43, delivered: 0 }),
      expect.objectContaining({ channel: 'broadcast', total: 1, queued: 1 }),
    ]);
    expect(approved.body.warning.acks).toBeNull();

    // Approving again is refused and writes nothing more.
    const again = await t.admin.post(`/api/warnings/${id}/approve`);
    expect(again.status).toBe(409);
    expect((await q(`SELECT count(*)::int AS n FROM warning_deliveries WHERE warning_id = $1`, [id]))[0].n).toBe(44);
  });

  it("a chosen channel with nobody in the area is named in the answer's noRecipients, as a later read names it", async () => {
    const incident = (await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' })).body.incident;
    const staff = await t.user('staff');
    const draft = await staff.post(`/api/incidents/${incident.id}/warnings`, {
      template: 'wl-iii-yellow',
      channels: ['sms', 'push', 'broadcast'],
      area: { description: { zh: '远处', en: 'Far away' }, circle: { lat: 10, lon: 10, radiusKm: 1 } },
    });
    expect(draft.status, JSON.stringify(draft.body)).toBe(201);
    const approved = await t.admin.post(`/api/warnings/${draft.body.warning.id}/approve`);
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    expect(approved.body.warning.delivery.noRecipients).toEqual(['sms', 'push']);
    expect(approved.body.warning.delivery.channels.map((c: { channel: string }) => c.channel)).toEqual(['broadcast']);
    const read = await t.admin.get(`/api/warnings/${draft.body.warning.id}`);
    expect(approved.body.warning.delivery).toEqual(read.body.warning.delivery);
  });
});
