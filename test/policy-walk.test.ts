import { readdir, readFile } from 'node:fs/promises';
import { io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decide, type Action, type Decision, type IncidentSubject, type PolicyActor, type SubjectArgs } from '../shared/policy.js';
import { ROLES, type Role } from '../shared/roles.js';
import { API_DOC, withPolicyTable } from '../scripts/docs-policy.js';
import type { Api, ApiResponse } from './helpers/api.js';
import { ADMIN_PASSWORD, startTestServer, type TestServer } from './helpers/server.js';
import { waitFor } from './helpers/wait.js';
import { connectClient, synced, type YClient } from './rooms-helpers.js';

/**
 * Walks every HTTP route, the Socket.IO join and a Yjs write for every role and checks that the
 * server answers what `decide(...)` says: allowed → neither 401, 403 nor 404; hidden → 404
 * `not_found`; forbidden → 403 `forbidden`; closed → 409 `incident_closed`. Allowed changes are
 * aimed at a business rule checked after the policy (same level, busy team, illegal transition,
 * a sent warning …), so the walk changes (almost) nothing and the order of cases does not matter.
 */

const FIELD_TEAM = 'T-D01';

interface IncidentFixture {
  key: string;
  incident: IncidentSubject & { id: string };
  dispatch: { id: string; teamId: string };
  allocations: { reserved: string; issued: string; cancelled: string };
  warnings: { draft: string; sent: string };
  stockLineId: string;
  /** An improvement item already done: a further status change is an illegal transition (409). */
  improvement: string;
}

type Variant = { name: string; fx?: IncidentFixture };
interface Call {
  method: 'GET' | 'POST' | 'PATCH';
  path: string;
  body?: unknown;
  /** Another session of the same user, for a call that ends the session it is made with (logout). */
  api?: Api;
}
interface RouteCase {
  /** `public`: no token needed; the route is outside the policy. */
  action: Action | 'public' | 'listing';
  /** Incident-scoped routes run once per incident fixture. */
  perIncident?: boolean;
  subject?: (fx: IncidentFixture, actor: PolicyActor) => unknown;
  call: (fx: IncidentFixture | undefined, role: Role) => Call | Promise<Call>;
}

let t: TestServer;
const clients = {} as Record<Role, Api & { token?: string }>;
const actors = {} as Record<Role, PolicyActor>;
const fixtures: IncidentFixture[] = [];

const onIncident = (fx: IncidentFixture) => ({ incident: fx.incident });

/** Fresh incidents for the one change that cannot be aimed at a later rule: closing. */
async function freshLike(fx: IncidentFixture): Promise<string> {
  const res = await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: fx.incident.mode });
  return res.body.incident.id;
}

const CASES: Record<string, RouteCase> = {
  'GET /healthz': { action: 'public', call: () => ({ method: 'GET', path: '/healthz' }) },
  'GET /readyz': { action: 'public', call: () => ({ method: 'GET', path: '/readyz' }) },
  // Outside the role policy: loopback peers (or METRICS_TOKEN), see test/metrics.test.ts.
  'GET /metrics': { action: 'public', call: () => ({ method: 'GET', path: '/metrics' }) },
  'POST /api/auth/login': { action: 'public', call: () => ({ method: 'POST', path: '/api/auth/login', body: { username: 'nobody', password: 'x' } }) },
  'GET /public/push/vapid-public-key': { action: 'public', call: () => ({ method: 'GET', path: '/public/push/vapid-public-key' }) },
  'POST /public/push/subscriptions': { action: 'public', call: () => ({ method: 'POST', path: '/public/push/subscriptions', body: {} }) },
  'GET /cap/feed.atom': { action: 'public', call: () => ({ method: 'GET', path: '/cap/feed.atom' }) },
  'GET /cap/alerts/:file': { action: 'public', call: () => ({ method: 'GET', path: `/cap/alerts/${fixtures[0]!.warnings.sent}.xml` }) },
  'POST /webhooks/twilio/status': { action: 'public', call: () => ({ method: 'POST', path: '/webhooks/twilio/status?delivery=1', body: {} }) },
  'POST /webhooks/twilio/inbound': { action: 'public', call: () => ({ method: 'POST', path: '/webhooks/twilio/inbound', body: {} }) },
  'GET /a/:token': { action: 'public', call: () => ({ method: 'GET', path: `/a/${'x'.repeat(43)}` }) },
  'POST /public/ack/:token': { action: 'public', call: () => ({ method: 'POST', path: `/public/ack/${'x'.repeat(43)}`, body: {} }) },

  'GET /api/auth/me': { action: 'account.self', call: () => ({ method: 'GET', path: '/api/auth/me' }) },
  'GET /api/users': { action: 'user.manage', call: () => ({ method: 'GET', path: '/api/users' }) },
  'POST /api/users': { action: 'user.manage', call: () => ({ method: 'POST', path: '/api/users', body: { username: 'x' } }) },
  // Allowed calls carry a body that fails validation (400), so the walk changes no account.
  'PATCH /api/users/:id': { action: 'user.manage', call: () => ({ method: 'PATCH', path: `/api/users/${(clients.observer as Api & { userId: string }).userId}`, body: { role: 'nonsense' } }) },
  'POST /api/users/:id/password': { action: 'user.manage', call: () => ({ method: 'POST', path: `/api/users/${(clients.observer as Api & { userId: string }).userId}/password`, body: {} }) },
  'POST /api/auth/password': { action: 'account.self', call: () => ({ method: 'POST', path: '/api/auth/password', body: {} }) },
  'POST /api/auth/logout': { action: 'account.self', call: async (_fx, role) => ({ method: 'POST', path: '/api/auth/logout', api: await freshSession(role) }) },
  'POST /api/live/ticket': { action: 'account.self', call: () => ({ method: 'POST', path: '/api/live/ticket', body: {} }) },

  'GET /api/plans': { action: 'plan.read', call: () => ({ method: 'GET', path: '/api/plans' }) },
  'GET /api/plans/:id': { action: 'plan.read', call: () => ({ method: 'GET', path: '/api/plans/heavy-snow' }) },
  'GET /api/plans/:id/levels/:level/checklist': { action: 'plan.read', call: () => ({ method: 'GET', path: '/api/plans/heavy-snow/levels/IV/checklist' }) },

  'GET /api/organisation': { action: 'organisation.read', call: () => ({ method: 'GET', path: '/api/organisation' }) },
  'GET /api/teams': { action: 'organisation.read', call: () => ({ method: 'GET', path: '/api/teams' }) },
  'GET /api/teams/:id': { action: 'organisation.read', call: () => ({ method: 'GET', path: '/api/teams/T-D02' }) },
  'GET /api/warehouses': { action: 'organisation.read', call: () => ({ method: 'GET', path: '/api/warehouses' }) },
  'GET /api/warehouses/:id/stock': { action: 'organisation.read', call: () => ({ method: 'GET', path: '/api/warehouses/W-01/stock' }) },
  'GET /api/shelters': { action: 'organisation.read', call: () => ({ method: 'GET', path: '/api/shelters' }) },
  'GET /api/reserve-partners': { action: 'organisation.read', call: () => ({ method: 'GET', path: '/api/reserve-partners' }) },
  'GET /api/stock': { action: 'organisation.read', call: () => ({ method: 'GET', path: '/api/stock' }) },
  'GET /api/csv/teams': { action: 'organisation.read', call: () => ({ method: 'GET', path: '/api/csv/teams' }) },
  'GET /api/csv/stock': { action: 'organisation.read', call: () => ({ method: 'GET', path: '/api/csv/stock' }) },
  'GET /api/stock-alerts': { action: 'organisation.read', call: () => ({ method: 'GET', path: '/api/stock-alerts' }) },
  'GET /api/map/config': { action: 'organisation.read', call: () => ({ method: 'GET', path: '/api/map/config' }) },
  'GET /api/map/basemap': { action: 'organisation.read', call: () => ({ method: 'GET', path: '/api/map/basemap' }) },
  'POST /api/csv/teams': { action: 'organisation.import', call: () => ({ method: 'POST', path: '/api/csv/teams', body: { csv: 'not,a,team\n1,2,3' } }) },
  'POST /api/csv/stock': { action: 'organisation.import', call: () => ({ method: 'POST', path: '/api/csv/stock', body: { csv: 'not,a,stock\n1,2,3' } }) },
  'POST /api/stock-watch/run': { action: 'stock-watch.run', call: () => ({ method: 'POST', path: '/api/stock-watch/run', body: {} }) },

  'POST /api/incidents': {
    action: 'incident.activate',
    perIncident: true,
    subject: (fx) => ({ incident: { mode: fx.incident.mode, status: 'active' } }),
    call: (fx) => ({ method: 'POST', path: '/api/incidents', body: { planId: 'waterlogging-underpass', level: 'IV', mode: fx!.incident.mode } }),
  },
  'GET /api/incidents': { action: 'listing', call: () => ({ method: 'GET', path: '/api/incidents' }) },
  'GET /api/incidents/:id': { action: 'incident.read', perIncident: true, call: (fx) => ({ method: 'GET', path: `/api/incidents/${fx!.incident.id}` }) },
  'GET /api/incidents/:id/events': { action: 'incident.read', perIncident: true, call: (fx) => ({ method: 'GET', path: `/api/incidents/${fx!.incident.id}/events` }) },
  'GET /api/incidents/:id/events/verify': { action: 'incident.read', perIncident: true, call: (fx) => ({ method: 'GET', path: `/api/incidents/${fx!.incident.id}/events/verify` }) },
  'POST /api/incidents/:id/level': {
    action: 'incident.steer',
    perIncident: true,
    call: (fx) => ({ method: 'POST', path: `/api/incidents/${fx!.incident.id}/level`, body: { level: 'III' } }), // same level: 409 level_unchanged when allowed
  },
  'POST /api/incidents/:id/close': {
    action: 'incident.steer',
    perIncident: true,
    call: async (fx, role) => {
      const allowed = decide(actors[role], 'incident.steer', { incident: fx!.incident }) === 'allow';
      return { method: 'POST', path: `/api/incidents/${allowed ? await freshLike(fx!) : fx!.incident.id}/close`, body: {} };
    },
  },
  'GET /api/incidents/:id/recommendations': { action: 'incident.read', perIncident: true, call: (fx) => ({ method: 'GET', path: `/api/incidents/${fx!.incident.id}/recommendations` }) },

  'POST /api/incidents/:id/dispatches': {
    action: 'dispatch.create',
    perIncident: true,
    call: (fx) => ({ method: 'POST', path: `/api/incidents/${fx!.incident.id}/dispatches`, body: { teamId: fx!.dispatch.teamId } }), // busy: 409 team_unavailable
  },
  'POST /api/incidents/:id/dispatches/batch': {
    action: 'dispatch.create',
    perIncident: true,
    call: (fx) => ({ method: 'POST', path: `/api/incidents/${fx!.incident.id}/dispatches/batch`, body: { teams: [{ teamId: fx!.dispatch.teamId }] } }), // 200, that team refused as busy
  },
  'GET /api/incidents/:id/dispatches': { action: 'incident.read', perIncident: true, call: (fx) => ({ method: 'GET', path: `/api/incidents/${fx!.incident.id}/dispatches` }) },
  'GET /api/dispatches/:id': {
    action: 'dispatch.read',
    perIncident: true,
    subject: (fx) => ({ incident: fx.incident, teamId: fx.dispatch.teamId }),
    call: (fx) => ({ method: 'GET', path: `/api/dispatches/${fx!.dispatch.id}` }),
  },
  'POST /api/dispatches/:id/status': {
    action: 'dispatch.change',
    perIncident: true,
    subject: (fx) => ({ incident: fx.incident, teamId: fx.dispatch.teamId, to: 'returned' }),
    call: (fx) => ({ method: 'POST', path: `/api/dispatches/${fx!.dispatch.id}/status`, body: { status: 'returned' } }), // dispatched → returned: 409 illegal_transition
  },
  'GET /api/my/dispatches': { action: 'dispatch.own', call: () => ({ method: 'GET', path: '/api/my/dispatches' }) },

  'POST /api/incidents/:id/allocations': {
    action: 'allocation.create',
    perIncident: true,
    call: (fx) => ({ method: 'POST', path: `/api/incidents/${fx!.incident.id}/allocations`, body: { stockLineId: fx!.stockLineId, quantity: 1_000_000 } }), // 409 insufficient_stock
  },
  'POST /api/incidents/:id/allocations/batch': {
    action: 'allocation.create',
    perIncident: true,
    call: (fx) => ({ method: 'POST', path: `/api/incidents/${fx!.incident.id}/allocations/batch`, body: { allocations: [{ stockLineId: fx!.stockLineId, quantity: 1_000_000 }] } }), // 200, the line refused
  },
  'GET /api/incidents/:id/allocations': { action: 'incident.read', perIncident: true, call: (fx) => ({ method: 'GET', path: `/api/incidents/${fx!.incident.id}/allocations` }) },
  'GET /api/allocations/:id': { action: 'incident.read', perIncident: true, call: (fx) => ({ method: 'GET', path: `/api/allocations/${fx!.allocations.reserved}` }) },
  'POST /api/allocations/:id/issue': { action: 'allocation.advance', perIncident: true, call: (fx) => ({ method: 'POST', path: `/api/allocations/${fx!.allocations.issued}/issue`, body: {} }) },
  'POST /api/allocations/:id/deliver': { action: 'allocation.advance', perIncident: true, call: (fx) => ({ method: 'POST', path: `/api/allocations/${fx!.allocations.reserved}/deliver`, body: {} }) },
  'POST /api/allocations/:id/return': { action: 'allocation.settle', perIncident: true, call: (fx) => ({ method: 'POST', path: `/api/allocations/${fx!.allocations.cancelled}/return`, body: {} }) },
  'POST /api/allocations/:id/cancel': { action: 'allocation.settle', perIncident: true, call: (fx) => ({ method: 'POST', path: `/api/allocations/${fx!.allocations.issued}/cancel`, body: {} }) },

  'POST /api/incidents/:id/reports': {
    action: 'report.create',
    perIncident: true,
    call: (fx) => ({ method: 'POST', path: `/api/incidents/${fx!.incident.id}/reports`, body: { text: '巡查 walk' } }),
  },
  'GET /api/incidents/:id/reports': { action: 'incident.read', perIncident: true, call: (fx) => ({ method: 'GET', path: `/api/incidents/${fx!.incident.id}/reports` }) },
  'GET /api/incidents/:id/report-photos/:photoId': {
    action: 'incident.read',
    perIncident: true,
    call: async (fx) => {
      // A stored photo of that incident (closed fixtures take no new reports, so it goes in directly).
      const { randomUUID } = await import('node:crypto');
      const id = randomUUID();
      const admin = (await t.server.context.db.pool.query(`SELECT id FROM users WHERE username = 'admin'`)).rows[0].id;
      await t.server.context.db.pool.query(
        `INSERT INTO report_photos (id, incident_id, report_id, content_type, bytes, byte_size, width, height, created_by) VALUES ($1, $2, $3, 'image/png', $4, 4, 1, 1, $5)`,
        [id, fx!.incident.id, randomUUID(), Buffer.from([0x89, 0x50, 0x4e, 0x47]), admin],
      );
      return { method: 'GET', path: `/api/incidents/${fx!.incident.id}/report-photos/${id}` };
    },
  },

  'POST /api/incidents/:id/warnings': {
    action: 'warning.draft',
    perIncident: true,
    call: (fx) => ({ method: 'POST', path: `/api/incidents/${fx!.incident.id}/warnings`, body: { template: 'no-such-template' } }), // 422 unknown_template
  },
  'GET /api/incidents/:id/warnings': { action: 'incident.read', perIncident: true, call: (fx) => ({ method: 'GET', path: `/api/incidents/${fx!.incident.id}/warnings` }) },
  'GET /api/warnings/:id': { action: 'incident.read', perIncident: true, call: (fx) => ({ method: 'GET', path: `/api/warnings/${fx!.warnings.draft}` }) },
  'PATCH /api/warnings/:id': { action: 'warning.edit', perIncident: true, call: (fx) => ({ method: 'PATCH', path: `/api/warnings/${fx!.warnings.sent}`, body: {} }) }, // 409 warning_not_draft
  'POST /api/warnings/:id/approve': {
    action: 'warning.approve',
    perIncident: true,
    subject: (fx) => ({ incident: fx.incident, msgType: 'Alert' }),
    call: (fx) => ({ method: 'POST', path: `/api/warnings/${fx!.warnings.sent}/approve`, body: {} }), // 409 warning_not_draft
  },
  'POST /api/warnings/:id/update': { action: 'warning.edit', perIncident: true, call: (fx) => ({ method: 'POST', path: `/api/warnings/${fx!.warnings.draft}/update`, body: {} }) }, // 409 warning_not_sent
  'POST /api/warnings/:id/cancel': { action: 'warning.edit', perIncident: true, call: (fx) => ({ method: 'POST', path: `/api/warnings/${fx!.warnings.draft}/cancel`, body: {} }) },
  'GET /api/warnings/:id/cap.xml': { action: 'incident.read', perIncident: true, call: (fx) => ({ method: 'GET', path: `/api/warnings/${fx!.warnings.sent}/cap.xml` }) },
  'GET /api/warnings/:id/gbt35965.xml': { action: 'incident.read', perIncident: true, call: (fx) => ({ method: 'GET', path: `/api/warnings/${fx!.warnings.sent}/gbt35965.xml` }) },
  'GET /api/warnings/:id/acknowledgements': { action: 'warning.deliveries', perIncident: true, call: (fx) => ({ method: 'GET', path: `/api/warnings/${fx!.warnings.sent}/acknowledgements` }) },
  'GET /api/warnings/:id/sink': { action: 'warning.deliveries', perIncident: true, call: (fx) => ({ method: 'GET', path: `/api/warnings/${fx!.warnings.sent}/sink` }) },
  'GET /api/warnings/:id/deliveries': { action: 'warning.deliveries', perIncident: true, call: (fx) => ({ method: 'GET', path: `/api/warnings/${fx!.warnings.sent}/deliveries` }) },

  'POST /api/recipients/import': { action: 'recipients.manage', call: () => ({ method: 'POST', path: '/api/recipients/import', body: { list: 'walk', csv: 'phone\nnot-a-phone' } }) },
  'GET /api/recipients/export': { action: 'recipients.manage', call: () => ({ method: 'GET', path: '/api/recipients/export?list=walk' }) },
  'GET /api/recipients': { action: 'recipients.manage', call: () => ({ method: 'GET', path: '/api/recipients' }) },
  'GET /api/broadcast-endpoints': { action: 'broadcast-endpoint.read', call: () => ({ method: 'GET', path: '/api/broadcast-endpoints' }) },
  'POST /api/broadcast-endpoints': { action: 'broadcast-endpoint.register', call: () => ({ method: 'POST', path: '/api/broadcast-endpoints', body: { name: '' } }) },
  'GET /api/push/vapid-public-key': { action: 'push.subscribe', call: () => ({ method: 'GET', path: '/api/push/vapid-public-key' }) },
  'POST /api/push/subscriptions': { action: 'push.subscribe', call: () => ({ method: 'POST', path: '/api/push/subscriptions', body: {} }) },
  'GET /api/live/status': { action: 'live.status', call: () => ({ method: 'GET', path: '/api/live/status' }) },

  'GET /api/incidents/:id/review': { action: 'review.read', perIncident: true, call: (fx) => ({ method: 'GET', path: `/api/incidents/${fx!.incident.id}/review` }) },
  'GET /api/incidents/:id/review.html': { action: 'review.read', perIncident: true, call: (fx) => ({ method: 'GET', path: `/api/incidents/${fx!.incident.id}/review.html` }) },
  'GET /api/incidents/:id/review.docx': { action: 'review.read', perIncident: true, call: (fx) => ({ method: 'GET', path: `/api/incidents/${fx!.incident.id}/review.docx` }) },
  'GET /api/incidents/:id/checklist': { action: 'review.read', perIncident: true, call: (fx) => ({ method: 'GET', path: `/api/incidents/${fx!.incident.id}/checklist?at=${encodeURIComponent(new Date().toISOString())}` }) },
  'GET /api/incidents/:id/improvements': { action: 'review.read', perIncident: true, call: (fx) => ({ method: 'GET', path: `/api/incidents/${fx!.incident.id}/improvements` }) },
  'POST /api/incidents/:id/improvements': {
    action: 'improvement.manage',
    perIncident: true,
    call: (fx) => ({ method: 'POST', path: `/api/incidents/${fx!.incident.id}/improvements`, body: { problem: 'walk', unit: 'no-such-unit', dueDate: '2027-01-31' } }), // 400 after the policy
  },
  'POST /api/improvements/:id/status': {
    action: 'improvement.manage',
    perIncident: true,
    call: (fx) => ({ method: 'POST', path: `/api/improvements/${fx!.improvement}/status`, body: { status: 'in_progress' } }), // 409 illegal_transition (done)
  },
  'GET /api/improvements': { action: 'improvement.list', call: () => ({ method: 'GET', path: '/api/improvements' }) },
  'GET /api/plans/:id/improvements': { action: 'improvement.list', call: () => ({ method: 'GET', path: '/api/plans/waterlogging-underpass/improvements' }) },
  // Drills (issue 11): allowed changes aim at an ended drill (409 drill_state) or fail validation.
  'POST /api/scenarios': { action: 'scenario.manage', call: () => ({ method: 'POST', path: '/api/scenarios', body: { id: 'walk' } }) }, // 422 invalid_scenario
  'GET /api/scenarios': { action: 'scenario.read', call: () => ({ method: 'GET', path: '/api/scenarios' }) },
  'GET /api/scenarios/:id': { action: 'scenario.read', call: () => ({ method: 'GET', path: '/api/scenarios/wl-jianshe-underpass-tabletop' }) },
  'POST /api/drills': { action: 'drill.manage', call: () => ({ method: 'POST', path: '/api/drills', body: { kind: 'tabletop', scenarioId: 'no-such-scenario' } }) }, // 422 unknown_scenario
  'GET /api/drills': { action: 'drill.read', call: () => ({ method: 'GET', path: '/api/drills' }) },
  'GET /api/drills/:id': { action: 'drill.read', call: () => ({ method: 'GET', path: `/api/drills/${walkDrillId}` }) },
  'GET /api/drills/:id/messages': { action: 'drill.read', call: () => ({ method: 'GET', path: `/api/drills/${walkDrillId}/messages` }) },
  'POST /api/drills/:id/start': { action: 'drill.manage', call: () => ({ method: 'POST', path: `/api/drills/${walkDrillId}/start`, body: {} }) },
  'POST /api/drills/:id/pause': { action: 'drill.manage', call: () => ({ method: 'POST', path: `/api/drills/${walkDrillId}/pause`, body: {} }) },
  'POST /api/drills/:id/resume': { action: 'drill.manage', call: () => ({ method: 'POST', path: `/api/drills/${walkDrillId}/resume`, body: {} }) },
  'POST /api/drills/:id/end': { action: 'drill.manage', call: () => ({ method: 'POST', path: `/api/drills/${walkDrillId}/end`, body: {} }) },
  'POST /api/drills/:id/injects/:injectId/release': { action: 'drill.manage', call: () => ({ method: 'POST', path: `/api/drills/${walkDrillId}/injects/inj-10/release`, body: {} }) },
  'POST /api/drills/:id/observations': { action: 'drill.observe', call: () => ({ method: 'POST', path: `/api/drills/${walkDrillId}/observations`, body: {} }) }, // 400
};
let walkDrillId = '';

/** Every route the server source registers (`<router>.<method>('<path>'`), so a new one fails the walk until it has a case. */
async function registeredRoutes(): Promise<string[]> {
  const files = (await readdir('server', { recursive: true })).filter((f) => f.endsWith('.ts'));
  const routes = new Set<string>();
  for (const f of files) {
    const src = await readFile(`server/${f}`, 'utf8');
    for (const m of src.matchAll(/\b\w+\.(get|post|patch|put|delete)\(\s*'(\/[^']*)'/g)) routes.add(`${m[1]!.toUpperCase()} ${m[2]}`);
  }
  return [...routes].sort();
}

function expectDecision(decision: Decision, res: ApiResponse, label: string): void {
  const code = res.body?.error?.code;
  if (decision === 'allow') expect([401, 403, 404], `${label}: allowed, got ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`).not.toContain(res.status);
  else if (decision === 'hidden') expect({ status: res.status, code }, label).toEqual({ status: 404, code: 'not_found' });
  else if (decision === 'forbidden') expect({ status: res.status, code }, label).toEqual({ status: 403, code: 'forbidden' });
  else expect({ status: res.status, code }, label).toEqual({ status: 409, code: 'incident_closed' });
}

async function send(api: Api, call: Call): Promise<ApiResponse> {
  return (call.api ?? api).request(call.method, call.path, call.body);
}

/** A second login of the role's user: logging it out leaves the walk's own session alone. */
async function freshSession(role: Role): Promise<Api> {
  return role === 'commander' ? t.api.login('admin', ADMIN_PASSWORD) : t.api.login((clients[role] as Api & { username: string }).username, 'password-123');
}

async function makeFixture(key: string, mode: 'actual' | 'exercise', teamId: string, close: boolean, staff: Api): Promise<IncidentFixture> {
  const admin = t.admin;
  const created = await admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode, title: `walk ${key}` });
  const id = created.body.incident.id as string;
  const dispatch = await admin.post(`/api/incidents/${id}/dispatches`, { teamId });
  expect(dispatch.status, `dispatch ${teamId}`).toBe(201);
  const line = (await admin.get('/api/stock?warehouseId=W-01')).body.stock.find((l: any) => l.quantity >= 10);
  const allocate = async () => (await admin.post(`/api/incidents/${id}/allocations`, { stockLineId: line.id, quantity: 1 })).body.allocation.id as string;
  const [reserved, issued, cancelled] = [await allocate(), await allocate(), await allocate()];
  expect((await admin.post(`/api/allocations/${issued}/issue`, {})).status).toBe(200);
  expect((await admin.post(`/api/allocations/${cancelled}/cancel`, {})).status).toBe(200);
  // Staff drafts what the commander approves: the two-person rule holds on actual incidents.
  const draft = await staff.post(`/api/incidents/${id}/warnings`, { template: 'wl-iii-yellow', channels: ['broadcast'] });
  const toSend = await staff.post(`/api/incidents/${id}/warnings`, { template: 'wl-iii-yellow', channels: ['broadcast'] });
  expect((await admin.post(`/api/warnings/${toSend.body.warning.id}/approve`, {})).status).toBe(200);
  const improvement = (await admin.post(`/api/incidents/${id}/improvements`, { problem: '整改 walk', unit: 'emergency', dueDate: '2027-01-31' })).body.improvement.id as string;
  expect((await admin.post(`/api/improvements/${improvement}/status`, { status: 'in_progress' })).status).toBe(200);
  expect((await admin.post(`/api/improvements/${improvement}/status`, { status: 'done', evidence: 'walk' })).status).toBe(200);
  if (close) expect((await admin.post(`/api/incidents/${id}/close`, {})).status).toBe(200);
  return {
    key,
    incident: { id, mode, status: close ? 'closed' : 'active' },
    dispatch: { id: dispatch.body.dispatch.id, teamId },
    allocations: { reserved, issued, cancelled },
    warnings: { draft: draft.body.warning.id, sent: toSend.body.warning.id },
    stockLineId: line.id,
    improvement,
  };
}

beforeAll(async () => {
  t = await startTestServer({ WARNING_POLL_MS: '50' });
  clients.commander = t.admin;
  for (const role of ROLES) {
    if (role === 'commander') continue;
    clients[role] = await t.user(role, role === 'field' ? { teamId: FIELD_TEAM } : {});
  }
  for (const role of ROLES) actors[role] = { role, teamId: role === 'field' ? FIELD_TEAM : null };
  const staff = clients.staff;
  fixtures.push(await makeFixture('actual', 'actual', FIELD_TEAM, false, staff));
  fixtures.push(await makeFixture('exercise', 'exercise', 'T-D03', false, staff));
  fixtures.push(await makeFixture('closed actual', 'actual', 'T-D04', true, staff));
  fixtures.push(await makeFixture('closed exercise', 'exercise', 'T-D05', true, staff));
  // An ended drill: every allowed drill control answers 409 drill_state and changes nothing.
  const drill = await clients.controller.post('/api/drills', { kind: 'tabletop', scenarioId: 'wl-jianshe-underpass-tabletop' });
  walkDrillId = drill.body.drill.id;
  expect((await clients.controller.post(`/api/drills/${walkDrillId}/start`, {})).status).toBe(200);
  expect((await clients.controller.post(`/api/drills/${walkDrillId}/end`, {})).status).toBe(200);
}, 300_000);

afterAll(async () => {
  await t?.close();
});

describe('the policy walk', () => {
  it('knows every route the server registers, and no route it does not', async () => {
    const routes = await registeredRoutes();
    expect(routes.length).toBeGreaterThan(40);
    expect(routes.filter((r) => !(r in CASES)), 'routes without a case in test/policy-walk.test.ts').toEqual([]);
    expect(Object.keys(CASES).filter((r) => !routes.includes(r)), 'cases for routes that no longer exist').toEqual([]);
  });

  it('every route answers every role as the policy decides', async () => {
    const checked: string[] = [];
    for (const [route, c] of Object.entries(CASES)) {
      const variants: Variant[] = c.perIncident ? fixtures.map((fx) => ({ name: fx.key, fx })) : [{ name: '' }];
      for (const variant of variants) {
        if (c.action === 'public') {
          const res = await send(t.api, await c.call(variant.fx, 'observer'));
          expect(res.body?.error?.code, `${route} without a token`).not.toBe('unauthorized');
          checked.push(route);
          continue;
        }
        for (const role of ROLES) {
          const label = `${route} ${variant.name} as ${role}`;
          const res = await send(clients[role], await c.call(variant.fx, role));
          if (c.action === 'listing') {
            expect(res.status, label).toBe(200);
            const listed = new Set(res.body.incidents.map((i: { id: string }) => i.id));
            for (const fx of fixtures) expect(listed.has(fx.incident.id), `${label}: lists ${fx.key}`).toBe(decide(actors[role], 'incident.read', { incident: fx.incident }) === 'allow');
          } else {
            const subject = variant.fx ? (c.subject?.(variant.fx, actors[role]) ?? onIncident(variant.fx)) : undefined;
            const decision = (decide as (a: PolicyActor, action: Action, ...s: SubjectArgs<Action>) => Decision)(actors[role], c.action, ...((subject === undefined ? [] : [subject]) as SubjectArgs<Action>));
            expectDecision(decision, res, label);
          }
          checked.push(label);
        }
      }
    }
    // Every kind of answer was exercised, so the walk cannot pass by allowing everything.
    expect(checked.length).toBeGreaterThan(600);
  }, 600_000);

  it('incident:join on the live feed answers every role as the policy decides', async () => {
    for (const role of ROLES) {
      const socket = io(t.url, { auth: { token: clients[role].token }, transports: ['websocket'], reconnection: false });
      try {
        for (const fx of fixtures) {
          const ack = await socket.timeout(20_000).emitWithAck('incident:join', { incidentId: fx.incident.id });
          const decision = decide(actors[role], 'incident.read', { incident: fx.incident });
          if (decision === 'allow') expect(ack.ok, `${fx.key} as ${role}`).toBe(true);
          else expect({ ok: ack.ok, code: ack.error?.code }, `${fx.key} as ${role}`).toEqual({ ok: false, code: 'not_found' });
        }
      } finally {
        socket.disconnect();
      }
    }
  }, 120_000);

  it('a Yjs checklist write by every role is applied exactly when the policy allows it', async () => {
    for (const fx of fixtures) {
      const reader = connectClient(t.url, fx.incident.id, t.admin.token);
      const writers = new Map<Role, YClient>(ROLES.map((role) => [role, connectClient(t.url, fx.incident.id, clients[role].token)]));
      try {
        await synced(reader);
        await waitFor(() => reader.items().length > ROLES.length, 'seeded checklist');
        const itemOf = (role: Role) => reader.items().get(ROLES.indexOf(role)).get('id') as string;
        const decisions = new Map(ROLES.map((role) => [role, decide(actors[role], 'checklist.edit', { incident: fx.incident })]));
        for (const [role, client] of writers) {
          const decision = decisions.get(role)!;
          const label = `${role} on ${fx.key} (${decision})`;
          if (decision === 'hidden') {
            await waitFor(() => client.closes.some((c) => c.code === 4404), `${label}: closed with 4404`);
            continue;
          }
          await synced(client);
          // A refused update is answered with one y-protocols permission-denied message (message type 2).
          let denied = false;
          client.provider.ws!.addEventListener('message', (e: { data: ArrayBuffer }) => {
            if (new Uint8Array(e.data)[0] === 2) denied = true;
          });
          client.item(itemOf(role))!.set('status', 'doing');
          if (decision === 'allow') await waitFor(() => reader.item(itemOf(role))!.get('status') === 'doing', `${label}: write arrives`);
          else await waitFor(() => denied, `${label}: write refused`);
        }
        for (const role of ROLES) {
          expect(reader.item(itemOf(role))!.get('status'), `${role} on ${fx.key} (${decisions.get(role)})`).toBe(decisions.get(role) === 'allow' ? 'doing' : 'todo');
        }
        expect([...decisions.values()]).toContain(fx.incident.status === 'active' ? 'allow' : 'closed');
      } finally {
        reader.destroy();
        for (const c of writers.values()) c.destroy();
      }
    }
  }, 180_000);
});

describe('docs/API.md', () => {
  it('shows the role × action table of the current policy (npm run docs:policy)', async () => {
    const doc = await readFile(API_DOC, 'utf8');
    expect(withPolicyTable(doc) === doc, 'run npm run docs:policy').toBe(true);
  });
});

describe('the policy itself', () => {
  const actual = { mode: 'actual', status: 'active' } as const;
  const closedActual = { mode: 'actual', status: 'closed' } as const;
  const closedExercise = { mode: 'exercise', status: 'closed' } as const;
  const controller: PolicyActor = { role: 'controller', teamId: null };
  const staff: PolicyActor = { role: 'staff', teamId: null };

  it('decides visibility first, then the role, then a closed incident', () => {
    expect(decide(controller, 'incident.steer', { incident: closedActual })).toBe('hidden');
    expect(decide(staff, 'incident.steer', { incident: closedActual })).toBe('forbidden');
    expect(decide(controller, 'incident.steer', { incident: closedExercise })).toBe('closed');
    expect(decide(staff, 'incident.read', { incident: closedActual })).toBe('allow');
  });

  it('keeps demobilising and warning updates possible on a closed incident, nothing new', () => {
    const order = { incident: closedActual, teamId: 'T-D01' };
    expect(decide(staff, 'dispatch.change', { ...order, to: 'returned' })).toBe('allow');
    expect(decide(staff, 'dispatch.change', { ...order, to: 'en_route' })).toBe('closed');
    expect(decide(staff, 'allocation.settle', { incident: closedActual })).toBe('allow');
    expect(decide(staff, 'allocation.advance', { incident: closedActual })).toBe('closed');
    expect(decide({ role: 'commander', teamId: null }, 'warning.approve', { incident: closedActual, msgType: 'Cancel' })).toBe('allow');
    expect(decide({ role: 'commander', teamId: null }, 'warning.approve', { incident: closedActual, msgType: 'Alert' })).toBe('closed');
  });

  it('lets a field user act on their own team only, and refuses a role it does not know (a token older than a role change)', () => {
    const field: PolicyActor = { role: 'field', teamId: 'T-D01' };
    expect(decide(field, 'dispatch.change', { incident: actual, teamId: 'T-D01', to: 'acknowledged' })).toBe('allow');
    expect(decide(field, 'dispatch.change', { incident: actual, teamId: 'T-D01', to: 'released' })).toBe('forbidden');
    expect(decide(field, 'dispatch.read', { incident: actual, teamId: 'T-D02' })).toBe('forbidden');
    const ghost = { role: 'retired-role', teamId: null } as unknown as PolicyActor;
    expect(decide(ghost, 'incident.read', { incident: actual })).toBe('hidden');
    expect(decide(ghost, 'plan.read')).toBe('forbidden');
  });
});
