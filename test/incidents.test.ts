import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

const activation = { planId: 'waterlogging-underpass', level: 'III', mode: 'actual', location: { lat: 41.8, lon: 123.36 } };

describe('incidents', () => {
  it('activation creates an active incident with the plan copied in and an activation event', async () => {
    const res = await t.admin.post('/api/incidents', activation);
    expect(res.status).toBe(201);
    const incident = res.body.incident;
    expect(incident).toMatchObject({ status: 'active', level: 'III', mode: 'actual', planId: 'waterlogging-underpass', location: activation.location, lastSeq: 1 });
    expect(incident.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(incident.title).toContain('Ⅲ级');
    expect(incident.activationCriteria.length).toBeGreaterThan(0);
    const { rows } = await t.server.context.db.pool.query('SELECT plan FROM incidents WHERE id = $1', [incident.id]);
    expect(rows[0].plan.id).toBe('waterlogging-underpass');
    expect(rows[0].plan.levels.III).toBeDefined();
    const events = await t.admin.get(`/api/incidents/${incident.id}/events`);
    expect(events.body.events).toHaveLength(1);
    expect(events.body.events[0]).toMatchObject({ seq: 1, type: 'incident.activated', actor: { name: 'admin' }, data: { level: 'III', mode: 'actual' } });
    const detail = await t.admin.get(`/api/incidents/${incident.id}`);
    expect(detail.body.plan.requirements.teams.length).toBeGreaterThan(0);
  });

  it('level changes (escalate, de-escalate), then close; a closed incident is read-only', async () => {
    const { body } = await t.admin.post('/api/incidents', activation);
    const id = body.incident.id;
    const up = await t.admin.post(`/api/incidents/${id}/level`, { level: 'II', reason: '积水深度超过50厘米' });
    expect(up.status).toBe(200);
    expect(up.body.incident.level).toBe('II');
    const same = await t.admin.post(`/api/incidents/${id}/level`, { level: 'II' });
    expect(same.status).toBe(409);
    expect(same.body.error.code).toBe('level_unchanged');
    const down = await t.admin.post(`/api/incidents/${id}/level`, { level: 'IV' });
    expect(down.body.incident.level).toBe('IV');
    const closed = await t.admin.post(`/api/incidents/${id}/close`, { summary: '积水已排除，交通恢复' });
    expect(closed.status).toBe(200);
    expect(closed.body.incident).toMatchObject({ status: 'closed', closedBy: expect.any(String) });
    const again = await t.admin.post(`/api/incidents/${id}/level`, { level: 'I' });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('incident_closed');
    expect((await t.admin.post(`/api/incidents/${id}/close`, {})).body.error.code).toBe('incident_closed');
    const events = (await t.admin.get(`/api/incidents/${id}/events`)).body.events;
    expect(events.map((e: any) => e.type)).toEqual(['incident.activated', 'incident.level_changed', 'incident.level_changed', 'incident.closed']);
    expect(events[1].data).toMatchObject({ from: 'III', to: 'II', direction: 'escalate', reason: '积水深度超过50厘米' });
    expect(events[2].data).toMatchObject({ from: 'II', to: 'IV', direction: 'de-escalate' });
    const afterSeq = await t.admin.get(`/api/incidents/${id}/events?afterSeq=2`);
    expect(afterSeq.body.events.map((e: any) => e.seq)).toEqual([3, 4]);
    const filtered = await t.admin.get(`/api/incidents/${id}/events?type=incident.level_changed`);
    expect(filtered.body.events).toHaveLength(2);
    const active = await t.admin.get('/api/incidents?status=closed');
    expect(active.body.incidents.map((i: any) => i.id)).toContain(id);
  });

  it('the generated title follows the level; a typed title stays as typed', async () => {
    const generated = (await t.admin.post('/api/incidents', activation)).body.incident;
    expect(generated.title).toContain('Ⅲ');
    const up = await t.admin.post(`/api/incidents/${generated.id}/level`, { level: 'II' });
    expect(up.body.incident.title).toContain('Ⅱ');
    expect(up.body.incident.title).not.toContain('Ⅲ');
    const event = (await t.admin.get(`/api/incidents/${generated.id}/events?type=incident.level_changed`)).body.events[0];
    expect(event.data.title).toBe(up.body.incident.title);

    const typed = (await t.admin.post('/api/incidents', { ...activation, title: '建设大路下穿桥积水（Ⅲ级）' })).body.incident;
    const typedUp = await t.admin.post(`/api/incidents/${typed.id}/level`, { level: 'II' });
    expect(typedUp.body.incident.title).toBe('建设大路下穿桥积水（Ⅲ级）');
  });

  it('unknown plan, missing level, unknown incident', async () => {
    const plan = await t.admin.post('/api/incidents', { ...activation, planId: 'no-such-plan' });
    expect(plan.status).toBe(422);
    expect(plan.body.error.code).toBe('unknown_plan');
    const missing = await t.admin.get('/api/incidents/6b1d9a52-4a7e-4c1e-9d7a-000000000000');
    expect(missing.status).toBe(404);
    const garbage = await t.admin.get('/api/incidents/not-a-uuid');
    expect(garbage.status).toBe(404);
    const levelOnGhost = await t.admin.post('/api/incidents/6b1d9a52-4a7e-4c1e-9d7a-000000000000/level', { level: 'I' });
    expect(levelOnGhost.status).toBe(404);
  });

  it('malformed and invalid bodies get 400 with field details and leave nothing behind', async () => {
    const before = (await t.admin.get('/api/incidents')).body.incidents.length;
    const malformed = await t.admin.request('POST', '/api/incidents', undefined, { raw: '{"planId": ', headers: { 'content-type': 'application/json' } });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe('malformed_json');
    const notJson = await t.admin.request('POST', '/api/incidents', undefined, { raw: 'planId=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(notJson.status).toBe(415);
    const invalid = await t.admin.post('/api/incidents', { planId: '', level: 'V', mode: 'drill', location: { lat: 200, lon: 0 }, bogus: true });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error).toMatchObject({ code: 'validation_failed', message: expect.any(String) });
    const paths = invalid.body.error.details.issues.map((i: any) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['planId', 'level', 'mode', 'location.lat']));
    const tooBig = await t.admin.post('/api/incidents', { ...activation, title: 'x'.repeat(2 * 1024 * 1024) });
    expect(tooBig.status).toBe(413);
    const badLevel = await t.admin.post('/api/incidents/6b1d9a52-4a7e-4c1e-9d7a-000000000000/level', { level: 'IX' });
    expect(badLevel.status).toBe(400);
    const after = (await t.admin.get('/api/incidents')).body.incidents.length;
    expect(after).toBe(before);
    const unknownRoute = await t.admin.get('/api/nothing-here');
    expect(unknownRoute.status).toBe(404);
    expect(unknownRoute.body.error.code).toBe('not_found');
  });

  it('20 concurrent activations are all consistent', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => t.admin.post('/api/incidents', { ...activation, title: `并发启动 ${i}`, mode: i % 2 ? 'exercise' : 'actual' })),
    );
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(201));
    const ids = new Set(results.map((r) => r.body.incident.id));
    expect(ids.size).toBe(20);
    for (const id of ids) {
      const events = (await t.admin.get(`/api/incidents/${id}/events`)).body.events;
      expect(events).toHaveLength(1);
      expect((await t.admin.get(`/api/incidents/${id}/events/verify`)).body).toMatchObject({ ok: true, checked: 1 });
    }
    const { rows } = await t.server.context.db.pool.query(`SELECT count(*)::int AS n FROM incidents WHERE title LIKE '并发启动 %'`);
    expect(rows[0].n).toBe(20);
  });

  it('concurrent level changes on one incident keep one unbroken chain', async () => {
    const { body } = await t.admin.post('/api/incidents', activation);
    const id = body.incident.id;
    const levels = ['I', 'II', 'IV', 'I', 'III', 'II', 'IV', 'I'];
    await Promise.all(levels.map((level) => t.admin.post(`/api/incidents/${id}/level`, { level })));
    const verify = await t.admin.get(`/api/incidents/${id}/events/verify`);
    expect(verify.body.ok).toBe(true);
    const events = (await t.admin.get(`/api/incidents/${id}/events`)).body.events;
    expect(events.map((e: any) => e.seq)).toEqual(events.map((_: unknown, i: number) => i + 1));
    // Every recorded change starts from the level the previous one ended at.
    const changes = events.filter((e: any) => e.type === 'incident.level_changed');
    let level = 'III';
    for (const c of changes) {
      expect(c.data.from).toBe(level);
      level = c.data.to;
    }
    expect((await t.admin.get(`/api/incidents/${id}`)).body.incident.level).toBe(level);
  });

  it('the event-log chain verifies, and detects a row edited, deleted or re-hashed directly in the database', async () => {
    const { body } = await t.admin.post('/api/incidents', activation);
    const id = body.incident.id;
    await t.admin.post(`/api/incidents/${id}/level`, { level: 'II' });
    await t.admin.post(`/api/incidents/${id}/level`, { level: 'I' });
    expect((await t.admin.get(`/api/incidents/${id}/events/verify`)).body).toMatchObject({ ok: true, checked: 3, lastSeq: 3 });
    const pool = t.server.context.db.pool;

    await pool.query(`UPDATE incident_events SET data = jsonb_set(data, '{to}', '"IV"') WHERE incident_id = $1 AND seq = 2`, [id]);
    const edited = (await t.admin.get(`/api/incidents/${id}/events/verify`)).body;
    expect(edited).toMatchObject({ ok: false, brokenAt: 2, reason: expect.stringContaining('hash') });
    await pool.query(`UPDATE incident_events SET data = jsonb_set(data, '{to}', '"II"') WHERE incident_id = $1 AND seq = 2`, [id]);
    expect((await t.admin.get(`/api/incidents/${id}/events/verify`)).body.ok).toBe(true);

    await pool.query(`UPDATE incident_events SET actor_name = 'someone-else' WHERE incident_id = $1 AND seq = 1`, [id]);
    expect((await t.admin.get(`/api/incidents/${id}/events/verify`)).body).toMatchObject({ ok: false, brokenAt: 1 });
    await pool.query(`UPDATE incident_events SET actor_name = 'admin' WHERE incident_id = $1 AND seq = 1`, [id]);

    await pool.query(`DELETE FROM incident_events WHERE incident_id = $1 AND seq = 3`, [id]);
    expect((await t.admin.get(`/api/incidents/${id}/events/verify`)).body).toMatchObject({ ok: false });
  });

  it('verifying while entries are appended never reports a break, and a row added beyond the head is still found', async () => {
    const { body } = await t.admin.post('/api/incidents', activation);
    const id = body.incident.id;
    const levels = ['II', 'I', 'III', 'IV', 'II', 'I', 'III', 'IV', 'II', 'I', 'III', 'IV'];
    const writes = (async () => {
      for (const level of levels) expect((await t.admin.post(`/api/incidents/${id}/level`, { level })).status).toBe(200);
    })();
    const verifications: any[] = [];
    const reads = (async () => {
      while (verifications.length < 40) verifications.push((await t.admin.get(`/api/incidents/${id}/events/verify`)).body);
    })();
    await Promise.all([writes, reads]);
    expect(verifications.filter((v) => !v.ok)).toEqual([]);
    expect(new Set(verifications.map((v) => v.checked)).size).toBeGreaterThan(1);
    expect((await t.admin.get(`/api/incidents/${id}/events/verify`)).body).toMatchObject({ ok: true, checked: levels.length + 1 });

    const pool = t.server.context.db.pool;
    await pool.query(
      `INSERT INTO incident_events (incident_id, seq, type, at, actor_id, actor_name, data, prev_hash, hash)
       SELECT incident_id, seq + 1, type, at, actor_id, actor_name, data, hash, hash FROM incident_events WHERE incident_id = $1 AND seq = $2`,
      [id, levels.length + 1],
    );
    expect((await t.admin.get(`/api/incidents/${id}/events/verify`)).body).toMatchObject({ ok: false, reason: expect.stringContaining('outside the log') });
  });
});

describe('roles against each mutating route', () => {
  it('activation: commander and staff; controller only exercises; field and observer never', async () => {
    const expectations: Record<string, { actual: number; exercise: number }> = {
      commander: { actual: 201, exercise: 201 },
      staff: { actual: 201, exercise: 201 },
      controller: { actual: 403, exercise: 201 },
      field: { actual: 403, exercise: 403 },
      observer: { actual: 403, exercise: 403 },
    };
    for (const [role, expected] of Object.entries(expectations)) {
      const client = await t.user(role as any);
      for (const mode of ['actual', 'exercise'] as const) {
        const res = await client.post('/api/incidents', { ...activation, mode });
        expect(res.status, `${role} ${mode}`).toBe(expected[mode]);
      }
    }
  });

  it('level change and close: commander always, controller on exercises, others never', async () => {
    const actual = (await t.admin.post('/api/incidents', activation)).body.incident.id;
    const exercise = (await t.admin.post('/api/incidents', { ...activation, mode: 'exercise' })).body.incident.id;
    for (const role of ['staff', 'field', 'observer'] as const) {
      const client = await t.user(role);
      for (const id of [actual, exercise]) {
        expect((await client.post(`/api/incidents/${id}/level`, { level: 'II' })).status, role).toBe(403);
        expect((await client.post(`/api/incidents/${id}/close`, {})).status, role).toBe(403);
      }
    }
    const controller = await t.user('controller');
    // A controller cannot even see an actual incident.
    expect((await controller.post(`/api/incidents/${actual}/level`, { level: 'II' })).status).toBe(404);
    expect((await controller.get(`/api/incidents/${actual}`)).status).toBe(404);
    expect((await controller.get('/api/incidents')).body.incidents.every((i: any) => i.mode === 'exercise')).toBe(true);
    expect((await controller.post(`/api/incidents/${exercise}/level`, { level: 'II' })).status).toBe(200);
    expect((await controller.post(`/api/incidents/${exercise}/close`, {})).status).toBe(200);
    const commander = await t.user('commander');
    expect((await commander.post(`/api/incidents/${actual}/level`, { level: 'II' })).status).toBe(200);
    expect((await commander.post(`/api/incidents/${actual}/close`, {})).status).toBe(200);
    // Failed attempts left no trace in the log.
    const events = (await t.admin.get(`/api/incidents/${actual}/events`)).body.events;
    expect(events.map((e: any) => e.type)).toEqual(['incident.activated', 'incident.level_changed', 'incident.closed']);
  });

  it('observers and field users can read', async () => {
    for (const role of ['observer', 'field'] as const) {
      const client = await t.user(role);
      expect((await client.get('/api/incidents')).status).toBe(200);
      expect((await client.get('/api/plans')).status).toBe(200);
      expect((await client.get('/api/teams')).status).toBe(200);
    }
  });
});
