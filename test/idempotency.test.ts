import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';

let t: TestServer;
let incidentId: string;
beforeAll(async () => {
  t = await startTestServer();
  const res = await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual', location: { lat: 41.8, lon: 123.36 } });
  incidentId = res.body.incident.id;
});
afterAll(async () => {
  await t?.close();
});

const reportCount = async () => (await t.admin.get(`/api/incidents/${incidentId}/events?type=field.report`)).body.events.length as number;
const withKey = (key: string) => ({ headers: { 'Idempotency-Key': key } });

describe('Idempotency-Key', () => {
  it('a replayed POST returns the stored status and body and is not executed again', async () => {
    const before = await reportCount();
    const first = await t.admin.request('POST', `/api/incidents/${incidentId}/reports`, { text: '一次' }, withKey('key-replay-1'));
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const again = await t.admin.request('POST', `/api/incidents/${incidentId}/reports`, { text: '一次' }, withKey('key-replay-1'));
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(await reportCount()).toBe(before + 1);
  });

  it('concurrent duplicates: exactly one executes, every caller gets its answer', async () => {
    const before = await reportCount();
    const results = await Promise.all(
      Array.from({ length: 8 }, () => t.admin.request('POST', `/api/incidents/${incidentId}/reports`, { text: '并发' }, withKey('key-concurrent'))),
    );
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(201));
    expect(new Set(results.map((r) => r.body.report.id)).size).toBe(1);
    expect(results.filter((r) => r.headers.get('idempotent-replayed') === null)).toHaveLength(1);
    expect(await reportCount()).toBe(before + 1);
  });

  it('a refused request (4xx) is stored too: the replay gets the same refusal even after the state changed', async () => {
    const field = await t.user('field', { teamId: 'T-D05' });
    const dispatch = await t.admin.post(`/api/incidents/${incidentId}/dispatches`, { teamId: 'T-D05' });
    expect(dispatch.status).toBe(201);
    const path = `/api/dispatches/${dispatch.body.dispatch.id}/status`;
    const early = await field.request('POST', path, { status: 'en_route' }, withKey('status-early'));
    expect(early.status).toBe(409);
    expect(early.body.error.code).toBe('illegal_transition');
    const ack = await field.request('POST', path, { status: 'acknowledged' }, withKey('status-ack'));
    expect(ack.status).toBe(200);
    const replayEarly = await field.request('POST', path, { status: 'en_route' }, withKey('status-early'));
    expect(replayEarly.status).toBe(409);
    expect(replayEarly.body).toEqual(early.body);
    const replayAck = await field.request('POST', path, { status: 'acknowledged' }, withKey('status-ack'));
    expect(replayAck.status).toBe(200);
    expect(replayAck.body.dispatch.status).toBe('acknowledged');
    const changes = (await t.admin.get(`/api/incidents/${incidentId}/events?type=dispatch.status_changed`)).body.events;
    expect(changes.map((e: { data: { to: string } }) => e.data.to)).toEqual(['acknowledged']);
  });

  it('keys are per user; the same key with another request is refused; without a key nothing is deduplicated', async () => {
    const staff = await t.user('staff');
    const before = await reportCount();
    expect((await t.admin.request('POST', `/api/incidents/${incidentId}/reports`, { text: 'A' }, withKey('shared-key'))).status).toBe(201);
    expect((await staff.request('POST', `/api/incidents/${incidentId}/reports`, { text: 'A' }, withKey('shared-key'))).status).toBe(201);
    expect(await reportCount()).toBe(before + 2);

    const reused = await t.admin.request('POST', `/api/incidents/${incidentId}/reports`, { text: 'B' }, withKey('shared-key'));
    expect(reused.status).toBe(422);
    expect(reused.body.error.code).toBe('idempotency_key_reused');
    expect(await reportCount()).toBe(before + 2);

    await t.admin.post(`/api/incidents/${incidentId}/reports`, { text: 'C' });
    await t.admin.post(`/api/incidents/${incidentId}/reports`, { text: 'C' });
    expect(await reportCount()).toBe(before + 4);
  });

  it('refuses a malformed key before doing anything', async () => {
    const before = await reportCount();
    for (const key of ['has space', 'x'.repeat(201), '']) {
      const res = await t.admin.request('POST', `/api/incidents/${incidentId}/reports`, { text: 'x' }, withKey(key));
      expect(res.status, key).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
    }
    expect(await reportCount()).toBe(before);
  });

  it('a claim left unanswered for over two minutes (its node died mid-request) is taken over by a retry, once', async () => {
    const userId = (await t.admin.get('/api/auth/me')).body.user.userId as string;
    const body = { text: '接管' };
    const path = `/api/incidents/${incidentId}/reports`;
    const { createHash } = await import('node:crypto');
    const hash = createHash('sha256').update(`POST ${path}\n${JSON.stringify(body)}`).digest('hex');
    await t.server.context.db.pool.query(
      `INSERT INTO idempotency_keys (user_id, key, request_hash, claimed_at) VALUES ($1, 'stale-claim', $2, now() - interval '5 minutes')`,
      [userId, hash],
    );
    const before = await reportCount();
    const res = await t.admin.request('POST', path, body, withKey('stale-claim'));
    expect(res.status).toBe(201);
    expect(await reportCount()).toBe(before + 1);
    const replay = await t.admin.request('POST', path, body, withKey('stale-claim'));
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body).toEqual(res.body);
    expect(await reportCount()).toBe(before + 1);
  });

  it('the claim and the answer are stored in PostgreSQL', async () => {
    const { rows } = await t.server.context.db.pool.query(`SELECT status_code, response_body IS NOT NULL AS stored FROM idempotency_keys WHERE key = 'key-replay-1'`);
    expect(rows).toEqual([{ status_code: 201, stored: true }]);
  });
});
