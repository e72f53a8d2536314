import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io, type Socket } from 'socket.io-client';
import { startTestServer, type TestServer } from './helpers/server.js';
import { connectClient, synced, waitFor, type YClient } from './rooms-helpers.js';

const METRICS_TOKEN = 'metrics-token-for-the-tests-0123';
let t: TestServer;
let guarded: TestServer;
const sockets: Socket[] = [];
const ydocs: YClient[] = [];

beforeAll(async () => {
  // No outbox workers: the rows this file inserts into the outbox must stay as inserted until scraped.
  t = await startTestServer({ WARNING_WORKERS: 'false' });
  guarded = await startTestServer({ METRICS_TOKEN });
});
afterAll(async () => {
  for (const s of sockets) s.disconnect();
  for (const y of ydocs) y.destroy();
  await guarded?.close();
  await t?.close();
});

/** The value of one series in Prometheus text format, or undefined. */
function series(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

async function scrape(url: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(`${url}/metrics`, { headers });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

describe('/metrics and /readyz', () => {
  it('is scraped in Prometheus format with connections, rooms, Yjs, fan-out, outbox, allocation, HTTP and cluster series', async () => {
    const inc = await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' });
    expect(inc.status).toBe(201);
    const id = inc.body.incident.id as string;
    // a live-feed client in the room, a checklist client with an edit
    const socket = io(t.url, { auth: { token: t.admin.token }, transports: ['websocket'], reconnection: false });
    sockets.push(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    expect((await socket.timeout(20_000).emitWithAck('incident:join', { incidentId: id })).ok).toBe(true);
    const y = connectClient(t.url, id, t.admin.token!, { awareness: false });
    ydocs.push(y);
    await synced(y);
    await waitFor(() => y.items().length > 0, 'seeded');
    y.items().get(0).set('status', 'doing');
    // an allocation (one batch), an event fanned out to the room
    const stock = await t.admin.get('/api/stock');
    const line = stock.body.stock.find((l: { quantity: number }) => l.quantity >= 1);
    expect((await t.admin.post(`/api/incidents/${id}/allocations`, { stockLineId: line.id, quantity: 1 })).status).toBe(201);
    expect((await t.admin.get(`/api/incidents/${id}`)).status).toBe(200);

    let m = await scrape(t.url);
    await waitFor(async () => {
      m = await scrape(t.url);
      return (series(m.text, 'yingji_yjs_updates_total') ?? 0) >= 1 && (series(m.text, 'yingji_event_fanout_lag_seconds_count') ?? 0) >= 1;
    }, 'updates and fan-out counted');
    expect(m.status).toBe(200);
    expect(m.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(series(m.text, 'yingji_connections', { transport: 'socketio' })).toBe(1);
    expect(series(m.text, 'yingji_connections', { transport: 'yjs' })).toBe(1);
    expect(series(m.text, 'yingji_rooms_loaded')).toBe(1);
    expect(series(m.text, 'yingji_yjs_store_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(series(m.text, 'yingji_allocation_batch_size_count')).toBeGreaterThanOrEqual(1);
    expect(series(m.text, 'yingji_allocation_batch_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(series(m.text, 'yingji_http_request_duration_seconds_count', { method: 'GET', route: '/api/incidents/:id', status: '200' })).toBe(1);
    expect(series(m.text, 'yingji_http_request_duration_seconds_count', { method: 'POST', route: '/api/incidents/:id/allocations', status: '201' })).toBe(1);
    expect(series(m.text, 'yingji_cluster_nodes')).toBeGreaterThanOrEqual(1);
    expect(m.text).toContain('# TYPE yingji_outbox_depth gauge');
    expect(m.text).toContain('# TYPE yingji_deliveries gauge');
    expect(series(m.text, 'yingji_cluster_messages', { direction: 'dropped' })).toBe(0);
    // no raw ids in route labels
    expect(m.text).not.toContain(id);
  });

  it('counts the outbox by channel and status from the database', async () => {
    const { db } = t.server.context;
    const inc = await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' });
    const warningId = (
      await db.pool.query(
        `INSERT INTO warnings (id, incident_id, mode, status, msg_type, fields, author_id) SELECT gen_random_uuid(), $1, 'actual', 'sent', 'Alert', '{}'::jsonb, id FROM users WHERE username = 'admin' RETURNING id`,
        [inc.body.incident.id],
      )
    ).rows[0].id;
    await db.pool.query(
      `INSERT INTO warning_deliveries (warning_id, channel, target_id, exercise, status, created_at) VALUES ($1, 'sms', 'a', false, 'queued', now() - interval '90 seconds'), ($1, 'sms', 'b', false, 'queued', now()), ($1, 'push', 'c', false, 'delivered', now())`,
      [warningId],
    );
    const m = await scrape(t.url);
    expect(series(m.text, 'yingji_outbox_depth', { channel: 'sms', status: 'queued' })).toBe(2);
    expect(series(m.text, 'yingji_outbox_oldest_age_seconds', { channel: 'sms', status: 'queued' })).toBeGreaterThanOrEqual(89);
    expect(series(m.text, 'yingji_deliveries', { channel: 'push', result: 'delivered' })).toBe(1);
  });

  it('with METRICS_TOKEN, only the bearer of it reads /metrics', async () => {
    expect((await scrape(guarded.url)).status).toBe(401);
    expect((await scrape(guarded.url, { authorization: 'Bearer wrong-token-wrong-token-xx' })).status).toBe(401);
    const ok = await scrape(guarded.url, { authorization: `Bearer ${METRICS_TOKEN}` });
    expect(ok.status).toBe(200);
    expect(series(ok.text, 'yingji_cluster_nodes')).toBeGreaterThanOrEqual(1);
    const refused = await fetch(`${guarded.url}/metrics`);
    expect((await refused.json()).error.code).toBe('unauthorized');
  });

  it('/readyz says ready beside /healthz', async () => {
    const ready = await fetch(`${t.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', database: { status: 'ok' }, cluster: { status: 'ok' }, draining: false });
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  });
});
