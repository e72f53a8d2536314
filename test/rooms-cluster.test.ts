import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../server/config.js';
import { createLogger } from '../server/log.js';
import { startServer, type RunningServer } from '../server/app.js';
import { checklistOf } from '../server/checklist/module.js';
import { effectiveChecklist } from '../shared/plan.js';
import { startTestServer, tempDir, testEnv, type TestServer } from './helpers/server.js';
import { connectClient, synced, waitFor, type YClient } from './rooms-helpers.js';

let t: TestServer;
let second: RunningServer | undefined;
let secondDir: string | undefined;
const clients: YClient[] = [];

beforeAll(async () => {
  t = await startTestServer();
  if (t.database.url) {
    // A second node against the same PostgreSQL database.
    secondDir = await tempDir();
    const config = loadConfig(testEnv(secondDir, t.database.url));
    second = await startServer(config, createLogger(config.LOG_LEVEL));
  }
});
afterAll(async () => {
  for (const c of clients) c.destroy();
  await second?.close();
  if (secondDir) await rm(secondDir, { recursive: true, force: true });
  await t?.close();
});

describe('live checklist on several nodes', () => {
  it('clients on two nodes see each other’s edits, the seeding happens once, and closing on one node makes the other read-only', async () => {
    if (!second) {
      // Embedded PGlite belongs to one process, so there is exactly one node: nothing to keep in step.
      expect(checklistOf(t.server.context).crossNode).toBe(false);
      return;
    }
    expect(checklistOf(t.server.context).crossNode).toBe(true);
    const res = await t.admin.post('/api/incidents', { planId: 'heavy-snow', level: 'III', mode: 'actual' });
    const id = res.body.incident.id as string;
    const staff = await t.user('staff');
    // First connections on both nodes at once, racing the activation's own seeding.
    const onFirst = Array.from({ length: 3 }, () => connectClient(t.url, id, staff.token, { awareness: false }));
    const onSecond = Array.from({ length: 3 }, () => connectClient(second!.url, id, staff.token, { awareness: false }));
    clients.push(...onFirst, ...onSecond);
    await Promise.all([...onFirst, ...onSecond].map(synced));
    const { rows } = await t.server.context.db.pool.query('SELECT plan FROM incidents WHERE id = $1', [id]);
    const expected = effectiveChecklist(rows[0].plan, 'III').map((i) => i.id);
    for (const c of [...onFirst, ...onSecond]) {
      await waitFor(() => c.items().length >= expected.length, 'seeded on both nodes');
      expect(c.items().toArray().map((m) => m.get('id'))).toEqual(expected);
    }

    const a = onFirst[0]!;
    const b = onSecond[0]!;
    a.items().get(0).set('status', 'doing');
    b.items().get(1).get('note').insert(0, '二号节点');
    await waitFor(() => b.items().get(0).get('status') === 'doing' && a.items().get(1).get('note').toString() === '二号节点', 'edits cross nodes');
    await waitFor(() => onSecond.every((c) => c.items().get(0).get('status') === 'doing'), 'all clients of node 2');

    // Escalation on node 1 reaches node 2's clients.
    expect((await t.admin.post(`/api/incidents/${id}/level`, { level: 'II' })).status).toBe(200);
    const levelII = new Set([...expected, ...effectiveChecklist(rows[0].plan, 'II').map((i) => i.id)]);
    await waitFor(() => b.items().length === levelII.size, 'escalation reaches node 2');

    // Close on node 1: node 2 turns read-only.
    expect((await t.admin.post(`/api/incidents/${id}/close`, {})).status).toBe(200);
    await waitFor(() => (second ? checklistOf(second.context) as any : null).entries.get(id)?.room?.closed === true, 'node 2 knows the incident is closed');
    b.items().get(2).set('status', 'done');
    await new Promise((r) => setTimeout(r, 300));
    expect(a.items().get(2).get('status')).toBe('todo');
    const { rows: stored } = await t.server.context.db.pool.query(`SELECT count(*) AS n FROM incident_events WHERE incident_id = $1 AND type = 'checklist.item_status'`, [id]);
    expect(Number(stored[0].n)).toBe(0);
  });
});
