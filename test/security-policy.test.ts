import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';
import { waitFor } from './helpers/wait.js';

/**
 * Issue 10, findings M2 and M3 (least privilege in reads): each test replays a finding and fails
 * if it comes back.
 */
const SECRET = 'broadcast-secret-for-tests-0123';
const LONG_ANSWER = '汉'.repeat(1000); // 3,000 bytes of UTF-8

let t: TestServer;
let headEnd: http.Server;
let headEndUrl = '';
let staff: Awaited<ReturnType<TestServer['user']>>;
let field: Awaited<ReturnType<TestServer['user']>>;
let observer: Awaited<ReturnType<TestServer['user']>>;
let controller: Awaited<ReturnType<TestServer['user']>>;

async function activate(mode: 'actual' | 'exercise', title: string): Promise<string> {
  const res = await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode, title });
  expect(res.status).toBe(201);
  return res.body.incident.id;
}

beforeAll(async () => {
  // A broadcast head-end that answers with far more than anyone should store.
  headEnd = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(LONG_ANSWER));
  });
  await new Promise<void>((r) => headEnd.listen(0, '127.0.0.1', () => r()));
  headEndUrl = `http://127.0.0.1:${(headEnd.address() as AddressInfo).port}/cap`;
  t = await startTestServer({ BROADCAST_ENDPOINTS: headEndUrl, BROADCAST_SECRET: SECRET, WARNING_POLL_MS: '50', WARNING_RETRY_BASE_MS: '50' });
  [staff, field, observer, controller] = await Promise.all([t.user('staff'), t.user('field', { teamId: 'T-D02' }), t.user('observer'), t.user('controller')]);
}, 120_000);

afterAll(async () => {
  await t?.close();
  headEnd?.closeAllConnections();
  await new Promise<void>((r) => headEnd?.close(() => r()) ?? r());
});

describe('M2: controllers learn nothing about actual incidents', () => {
  let actualId = '';
  let exerciseId = '';
  let dispatchId = '';
  let allocationId = '';
  const ACTUAL_TITLE = '保密的实战事件 secret actual incident';

  beforeAll(async () => {
    actualId = await activate('actual', ACTUAL_TITLE);
    exerciseId = await activate('exercise', '演练 drill');
    const d = await staff.post(`/api/incidents/${actualId}/dispatches`, { teamId: 'T-D07', task: '实战任务 secret task' });
    expect(d.status).toBe(201);
    dispatchId = d.body.dispatch.id;
    const line = (await t.admin.get('/api/stock?warehouseId=W-02&item=pump-mobile')).body.stock[0];
    const a = await staff.post(`/api/incidents/${actualId}/allocations`, { stockLineId: line.id, quantity: 1 });
    expect(a.status).toBe(201);
    allocationId = a.body.allocation.id;
  });

  const leaks = (body: unknown) => {
    const text = JSON.stringify(body);
    return [actualId, dispatchId, ACTUAL_TITLE, 'secret task'].filter((secret) => text.includes(secret));
  };

  it('GET /api/teams/:id shows a team busy on an actual incident as busy, without ids, titles or task', async () => {
    const res = await controller.get('/api/teams/T-D07');
    expect(res.status).toBe(200);
    expect(res.body.team).toMatchObject({ status: 'dispatched', currentDispatchId: null });
    expect(res.body.currentDispatch).toEqual({ id: null, incidentId: null, incidentTitle: null, task: null, status: 'dispatched' });
    expect(leaks(res.body)).toEqual([]);
    // Command staff still see where the team is.
    const full = await staff.get('/api/teams/T-D07');
    expect(full.body.currentDispatch).toMatchObject({ id: dispatchId, incidentId: actualId, incidentTitle: ACTUAL_TITLE });
  });

  it('GET /api/teams does not name the dispatch either', async () => {
    const res = await controller.get('/api/teams');
    expect(res.status).toBe(200);
    expect(res.body.teams.find((team: any) => team.id === 'T-D07')).toMatchObject({ status: 'dispatched', currentDispatchId: null });
    expect(leaks(res.body)).toEqual([]);
    expect((await staff.get('/api/teams')).body.teams.find((team: any) => team.id === 'T-D07').currentDispatchId).toBe(dispatchId);
  });

  it('a field user does not see which order keeps another team busy', async () => {
    const res = await field.get('/api/teams/T-D07');
    expect(res.status).toBe(200);
    expect(res.body.currentDispatch).toMatchObject({ id: null, incidentId: null, task: null });
    expect(leaks(res.body)).toEqual([]);
  });

  it('a 409 on dispatch does not name the actual incident or its dispatch', async () => {
    const res = await controller.post(`/api/incidents/${exerciseId}/dispatches`, { teamId: 'T-D07' });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'team_unavailable', details: { teamId: 'T-D07', status: 'dispatched', incidentId: null, dispatchId: null } });
    expect(leaks(res.body)).toEqual([]);
    const exerciseOfStaff = await staff.post(`/api/incidents/${exerciseId}/dispatches`, { teamId: 'T-D07' });
    expect(exerciseOfStaff.body.error.details).toMatchObject({ incidentId: actualId, dispatchId });
  });

  it('404s name only what the caller asked for, not the actual incident behind it', async () => {
    for (const path of [`/api/dispatches/${dispatchId}`, `/api/allocations/${allocationId}`]) {
      const res = await controller.get(path);
      expect(res.status, path).toBe(404);
      expect(res.body.error.code).toBe('not_found');
      expect(leaks(res.body).filter((s) => s !== dispatchId), path).toEqual([]);
    }
    const move = await controller.post(`/api/dispatches/${dispatchId}/status`, { status: 'cancelled' });
    expect(move.status).toBe(404);
    expect(JSON.stringify(move.body)).not.toContain(actualId);
    const issue = await controller.post(`/api/allocations/${allocationId}/issue`, {});
    expect(issue.status).toBe(404);
    expect(JSON.stringify(issue.body)).not.toContain(actualId);
  });

  it('following up a warning of an actual incident is a 404 that names only the warning', async () => {
    const draft = await staff.post(`/api/incidents/${actualId}/warnings`, { template: 'wl-iii-yellow', channels: ['broadcast'] });
    expect(draft.status).toBe(201);
    const wid = draft.body.warning.id;
    expect((await t.admin.post(`/api/warnings/${wid}/approve`)).status).toBe(200);
    for (const kind of ['update', 'cancel']) {
      const res = await controller.post(`/api/warnings/${wid}/${kind}`, {});
      expect(res.status, kind).toBe(404);
      expect(JSON.stringify(res.body), kind).not.toContain(actualId);
    }
  });
});

describe('M3: delivery addresses, sink contents and receipts are for commander and staff', () => {
  let incidentId = '';
  let warningId = '';

  beforeAll(async () => {
    incidentId = await activate('actual', '送达记录');
    const draft = await staff.post(`/api/incidents/${incidentId}/warnings`, { template: 'wl-iii-yellow', channels: ['broadcast'] });
    expect(draft.status).toBe(201);
    warningId = draft.body.warning.id;
    expect((await t.admin.post(`/api/warnings/${warningId}/approve`)).status).toBe(200);
    await waitFor(async () => {
      const { deliveries } = (await t.admin.get(`/api/warnings/${warningId}/deliveries`)).body;
      return deliveries.length > 0 && deliveries.every((d: any) => d.status === 'delivered');
    }, 'the broadcast delivered');
  });

  for (const path of ['deliveries', 'sink']) {
    it(`GET /api/warnings/:id/${path}: observer and field get 403, a controller 404, commander and staff 200`, async () => {
      for (const [who, api] of [['observer', observer], ['field', field]] as const) {
        const res = await api.get(`/api/warnings/${warningId}/${path}`);
        expect(res.status, who).toBe(403);
        expect(res.body.error.code).toBe('forbidden');
        expect(JSON.stringify(res.body), who).not.toContain(headEndUrl);
      }
      expect((await controller.get(`/api/warnings/${warningId}/${path}`)).status).toBe(404);
      expect((await staff.get(`/api/warnings/${warningId}/${path}`)).status).toBe(200);
      expect((await t.admin.get(`/api/warnings/${warningId}/${path}`)).status).toBe(200);
    });
  }

  it('the warning itself stays readable by everyone who sees the incident', async () => {
    for (const api of [observer, field, staff]) expect((await api.get(`/api/warnings/${warningId}`)).status).toBe(200);
  });

  it("a stored broadcast receipt keeps at most 512 bytes of the endpoint's answer", async () => {
    const { deliveries } = (await t.admin.get(`/api/warnings/${warningId}/deliveries`)).body;
    const broadcast = deliveries.find((d: any) => d.channel === 'broadcast' && d.address === headEndUrl);
    expect(broadcast).toMatchObject({ status: 'delivered', receipt: { status: 200 } });
    const stored: string = broadcast.receipt.body;
    expect(Buffer.byteLength(stored, 'utf8')).toBeLessThanOrEqual(512);
    expect(stored.length).toBeGreaterThan(0);
    expect(LONG_ANSWER.startsWith(stored)).toBe(true);
  });
});
