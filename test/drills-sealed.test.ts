import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io, type Socket } from 'socket.io-client';
import * as Y from 'yjs';
import { startTestServer, type TestServer } from './helpers/server.js';
import type { Api } from './helpers/api.js';
import { until, waitFor } from './helpers/wait.js';
import { connectClient, synced, type YClient } from './rooms-helpers.js';
import type { IncidentEvent } from '../shared/events.js';

/**
 * A sealed no-script drill (无脚本演练) leaks nothing before its moment. For every role other
 * than controller (evaluators included: the issue says only controllers may know before release)
 * and for anonymous callers, every GET route the server registers is called with every id a
 * participant could know, and every Socket.IO message, the Yjs document of an open incident, the
 * Atom feed and the exercise sinks are watched — before sealing, and after sealing until the
 * moment. No sealed id, text or time may appear. After the moment the same scan must find the
 * first inject (the scanner can see what it looks for), inside the drawn window.
 */

const ROLES = ['commander', 'staff', 'field', 'observer', 'evaluator'] as const;
type ParticipantRole = (typeof ROLES)[number];

let t: TestServer;
let controller: Api;
const clients = {} as Record<ParticipantRole, Api>;
const ids = { exercise: '', actual: '', dispatch: '', allocation: '', warning: '' };
const sockets: { role: string; socket: Socket; received: string[] }[] = [];
const ydocs: { role: string; client: YClient }[] = [];
const counts = { routes: 0, calls: 0, sockets: 0, yjs: 0 };

beforeAll(async () => {
  t = await startTestServer({ DRILL_POLL_MS: '100', EXERCISE_SMS_NUMBERS: '+8613800138000' });
  controller = await t.user('controller');
  for (const role of ROLES) clients[role] = await t.user(role, role === 'field' ? { teamId: 'T-D07' } : {});
  // What participants can reach: an open exercise and an actual incident with a dispatch, an allocation and a warning.
  ids.exercise = (await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'exercise' })).body.incident.id;
  ids.actual = (await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' })).body.incident.id;
  ids.dispatch = (await t.admin.post(`/api/incidents/${ids.exercise}/dispatches`, { teamId: 'T-D07' })).body.dispatch.id;
  const line = (await t.admin.get('/api/stock?warehouseId=W-01')).body.stock.find((l: any) => l.quantity >= 10);
  ids.allocation = (await t.admin.post(`/api/incidents/${ids.exercise}/allocations`, { stockLineId: line.id, quantity: 1 })).body.allocation.id;
  ids.warning = (await clients.staff.post(`/api/incidents/${ids.exercise}/warnings`, { template: 'wl-iii-yellow', channels: ['broadcast'] })).body.warning.id;
  expect((await t.admin.post(`/api/warnings/${ids.warning}/approve`, {})).status).toBe(200);

  // Listen: Socket.IO (every message of every kind) and the Yjs room of the open exercise, for every role.
  for (const role of ROLES) {
    const socket = io(t.url, { auth: { token: clients[role].token }, transports: ['websocket'], reconnection: false });
    const received: string[] = [];
    socket.onAny((event, ...args) => received.push(JSON.stringify([event, ...args])));
    await new Promise<void>((resolve, reject) => (socket.once('connect', () => resolve()), socket.once('connect_error', reject)));
    for (const incidentId of [ids.exercise, ids.actual]) {
      const ack = await socket.timeout(20_000).emitWithAck('incident:join', { incidentId, afterSeq: 0 });
      received.push(JSON.stringify(ack));
      if (ack.ok) counts.sockets++;
    }
    sockets.push({ role, socket, received });
    const client = connectClient(t.url, ids.exercise, clients[role].token, { awareness: false });
    await synced(client);
    counts.yjs++;
    ydocs.push({ role, client });
  }
}, 300_000);

afterAll(async () => {
  for (const s of sockets) s.socket.disconnect();
  for (const y of ydocs) y.client.destroy();
  await t?.close();
});

/** Every GET route the server source registers (as the policy walk reads them). */
async function getRoutes(): Promise<string[]> {
  const files = (await readdir('server', { recursive: true })).filter((f) => f.endsWith('.ts'));
  const routes = new Set<string>();
  for (const f of files) {
    const src = await readFile(`server/${f}`, 'utf8');
    for (const m of src.matchAll(/\b\w+\.get\(\s*'(\/[^']*)'/g)) routes.add(m[1]!);
  }
  return [...routes].sort();
}

/** The concrete paths of a route: each parameter takes every value a participant could know (or guess). */
function expand(route: string, sealed: { drillId: string; scenarioId: string }): string[] {
  const values: Record<string, string[]> = {
    '/api/incidents/:id': [ids.exercise, ids.actual],
    '/api/dispatches/:id': [ids.dispatch],
    '/api/allocations/:id': [ids.allocation],
    '/api/warnings/:id': [ids.warning],
    '/api/plans/:id': ['waterlogging-underpass'],
    '/levels/:level': ['III'],
    '/api/teams/:id': ['T-D07'],
    '/api/warehouses/:id': ['W-01'],
    '/cap/alerts/:file': ['none.xml'],
    // Guessing the sealed ids must answer exactly as for ids that do not exist.
    '/api/scenarios/:id': ['wl-jianshe-underpass-tabletop', sealed.scenarioId],
    '/api/drills/:id': [sealed.drillId],
    '/injects/:injectId': ['inj-01'],
    '/report-photos/:photoId': ['00000000-0000-4000-8000-000000000000'],
    '/a/:token': ['no-such-acknowledgement-token'],
  };
  let paths = [''];
  for (const segment of route.split(/(?=\/)/)) {
    if (!segment.includes(':')) {
      paths = paths.map((p) => p + segment);
      continue;
    }
    const key = Object.keys(values).find((k) => paths[0]!.concat(segment).endsWith(k));
    if (!key) throw new Error(`no values for ${segment} in ${route}: add them to expand()`);
    paths = paths.flatMap((p) => values[key]!.map((v) => p + segment.replace(/:\w+/, v)));
  }
  return paths;
}

interface Sealed {
  drillId: string;
  scenarioId: string;
  markers: string[];
  window: { from: string; to: string };
  fireAt: string;
}

/** Calls every GET path as every participant role and anonymously; returns every body with where it came from. */
async function scan(sealed: { drillId: string; scenarioId: string }): Promise<{ where: string; status: number; body: string }[]> {
  const out: { where: string; status: number; body: string }[] = [];
  const routes = await getRoutes();
  counts.routes = routes.length;
  for (const route of routes) {
    for (const path of expand(route, sealed)) {
      for (const [role, api] of [...Object.entries(clients), ['anonymous', t.api] as const]) {
        const res = await (api as Api).get(path);
        out.push({ where: `${role} GET ${path}`, status: res.status, body: typeof res.body === 'string' ? res.body : JSON.stringify(res.body) });
        counts.calls++;
      }
    }
  }
  return out;
}

function leaks(haystack: { where: string; body: string }[], markers: string[]): string[] {
  return haystack.flatMap((h) => markers.filter((m) => h.body.includes(m)).map((m) => `${h.where} reveals ${m}`));
}

const yjsState = () => ydocs.map((y) => ({ where: `yjs as ${y.role}`, body: JSON.stringify(y.client.doc.toJSON()) + Buffer.from(Y.encodeStateAsUpdate(y.client.doc)).toString('latin1') }));
const socketTraffic = () => sockets.map((s) => ({ where: `socket.io as ${s.role}`, body: s.received.join('\n') }));
async function sinkRows(): Promise<{ where: string; body: string }[]> {
  const pool = t.server.context.db.pool;
  const warnings = await pool.query('SELECT body, address FROM warning_sink_messages');
  const drills = await pool.query('SELECT body, address FROM drill_sink_messages');
  return [{ where: 'warning sink', body: JSON.stringify(warnings.rows) }, { where: 'drill sink', body: JSON.stringify(drills.rows) }];
}

describe('a sealed no-script drill', () => {
  let sealed: Sealed;

  it('reveals nothing to anyone but controllers before its moment, on any route or socket', async () => {
    const tag = randomUUID().slice(0, 8);
    const scenarioId = `sealed-${tag}`;
    const injects = [
      { id: 'inj-01', at: 0, audience: { kind: 'all' }, form: 'public-call', from: { name: { zh: '12345市民服务热线', en: '12345 hotline' }, phone: '12345' }, content: { zh: `市民来电：卫工街铁路桥涵积水没过车轮${tag}`, en: `Caller: water over the wheels at the Weigong Street culvert ${tag}` } },
      { id: 'inj-02', at: 1, audience: { kind: 'team', teamId: 'T-D07' }, form: 'phone-message', content: { zh: `请排涝队前往卫工街${tag}`, en: `Drainage team to Weigong Street ${tag}` } },
      { id: 'inj-03', at: 3600, audience: { kind: 'controller' }, form: 'room-message', content: { zh: `导调：观察报告时效${tag}`, en: `Controller: watch report timing ${tag}` } },
    ];
    const scenario = { id: scenarioId, restricted: true, title: { zh: `卫工街无脚本演练${tag}`, en: `Weigong Street no-script ${tag}` }, planId: 'waterlogging-underpass', level: 'III', objectives: [{ zh: `检验信息报告${tag}`, en: `Test reporting ${tag}` }], injects };
    expect((await controller.post('/api/scenarios', scenario)).status).toBe(201);
    // A restricted scenario is a controller's alone; a no-script drill may use no other kind.
    expect((await clients.commander.get(`/api/scenarios/${scenarioId}`)).status).toBe(404);
    expect((await controller.post('/api/drills', { kind: 'no-script', scenarioIds: ['wl-jianshe-underpass-tabletop'], window: { from: new Date().toISOString(), to: new Date(Date.now() + 60_000).toISOString() }, participants: {} })).body.error.code).toBe('unknown_scenario');

    const fake = { drillId: randomUUID(), scenarioId: `sealed-${randomUUID().slice(0, 8)}` };
    const baseline = await scan(fake);
    const window = { from: new Date(Date.now() + 25_000).toISOString(), to: new Date(Date.now() + 32_000).toISOString() };
    const created = await controller.post('/api/drills', { kind: 'no-script', scenarioIds: [scenarioId], window, participants: { teamIds: ['T-D07'], roles: ['commander', 'staff', 'field'] } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.drill.status).toBe('sealed');
    const drill = created.body.drill;
    expect(Date.parse(drill.fireAt)).toBeGreaterThanOrEqual(Date.parse(window.from));
    expect(Date.parse(drill.fireAt)).toBeLessThanOrEqual(Date.parse(window.to));
    const texts = [scenario.title, ...scenario.objectives, ...injects.map((i) => i.content)].flatMap((x) => [x.zh, x.en]);
    sealed = { drillId: drill.id, scenarioId, window, fireAt: drill.fireAt, markers: [drill.id, scenarioId, tag, drill.fireAt, window.from, window.to, ...texts] };

    const after = await scan(sealed);
    expect(Date.now(), 'the scan must end before the window opens, or it proves nothing').toBeLessThan(Date.parse(window.from));
    // Where the caller names a sealed id itself (GET /api/drills/<id>, /api/scenarios/<id>), the answer
    // must be exactly the one an id that does not exist gets.
    const named = (where: string) => where.includes(sealed.drillId) || where.includes(sealed.scenarioId);
    const norm = (body: string, x: { drillId: string; scenarioId: string }) => body.replaceAll(x.drillId, 'DRILL').replaceAll(x.scenarioId, 'SCENARIO');
    const guessed = after.filter((a) => named(a.where));
    expect(guessed.length).toBe(3 * (ROLES.length + 1));
    for (const a of guessed) {
      const twin = baseline.find((b) => b.where === a.where.replace(sealed.drillId, fake.drillId).replace(sealed.scenarioId, fake.scenarioId));
      expect(twin, a.where).toBeDefined();
      expect({ status: a.status, body: norm(a.body, sealed) }, a.where).toEqual({ status: twin!.status, body: norm(twin!.body, fake) });
      expect([401, 403, 404], a.where).toContain(a.status);
    }
    const found = leaks([...baseline, ...after.filter((a) => !named(a.where)), ...socketTraffic(), ...yjsState(), ...(await sinkRows())], sealed.markers);
    expect(found, 'leaks').toEqual([]);
    // Nothing in any list: no new incident, no drill for evaluators, no sink message.
    expect((await clients.evaluator.get('/api/drills')).body.drills.some((d: any) => d.id === drill.id)).toBe(false);
    expect((await controller.get('/api/drills')).body.drills.some((d: any) => d.id === drill.id)).toBe(true);
    console.log(
      `sealed enumeration: ${counts.routes} GET routes → ${counts.calls} calls over ${ROLES.length} roles + anonymous (before and after sealing); ` +
        `${sockets.length} Socket.IO connections in ${counts.sockets} incident rooms; ${counts.yjs} Yjs documents; Atom feed and sinks included`,
    );
  }, 300_000);

  it('fires inside its window as an alarm arriving, and then the participants see it', async () => {
    const fired = await waitFor(async () => {
      const list = (await clients.commander.get('/api/incidents')).body.incidents as any[];
      return list.find((i) => i.id !== ids.exercise && i.id !== ids.actual && i.mode === 'exercise');
    }, 'the no-script drill to fire', 60_000, 100);
    expect(Date.parse(fired.activatedAt)).toBeGreaterThanOrEqual(Date.parse(sealed.window.from));
    expect(Date.parse(fired.activatedAt)).toBeLessThanOrEqual(Date.parse(sealed.window.to) + 1000);
    const drill = (await controller.get(`/api/drills/${sealed.drillId}`)).body.drill;
    expect(drill).toMatchObject({ status: 'running', incidentId: fired.id });
    // The first inject came with the activation; the scanner finds it now (it can see what it looks for).
    const events = (await clients.commander.get(`/api/incidents/${fired.id}/events`)).body.events as IncidentEvent[];
    expect(events.map((e) => e.type).slice(0, 2)).toEqual(['incident.activated', 'drill.inject_released']);
    expect(events[1]!.data).toMatchObject({ injectId: 'inj-01', form: 'public-call', drillId: sealed.drillId });
    // The team's phone message reaches the drill sink only; the controller-only inject stays with the drill staff.
    await until(async () => expect((await controller.get(`/api/drills/${sealed.drillId}/messages`)).body.messages.length).toBe(1));
    // To the number configured for drills (EXERCISE_SMS_NUMBERS) only, never to a real recipient.
    expect((await controller.get(`/api/drills/${sealed.drillId}/messages`)).body.messages[0]).toMatchObject({ injectId: 'inj-02', channel: 'sms', address: '+8613800138000' });
    const fieldSees = ((await clients.field.get(`/api/incidents/${fired.id}/events`)).body.events as IncidentEvent[]).filter((e) => e.type === 'drill.inject_released').map((e) => e.data.injectId);
    expect(fieldSees).toEqual(['inj-01', 'inj-02']);
    expect((await clients.evaluator.get(`/api/drills/${sealed.drillId}`)).status).toBe(200);
  }, 120_000);
});
