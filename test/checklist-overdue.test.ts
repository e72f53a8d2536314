import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, tempDir, type TestServer } from './helpers/server.js';
import { connectClient, synced, type YClient } from './rooms-helpers.js';
import { waitFor } from './helpers/wait.js';
import { alertsForEvent } from '../client/src/command/alerts.js';

let t: TestServer;
let client: YClient | undefined;
const GRACE_MS = 15_000; // room for a loaded machine between the reminders and the item being done

beforeAll(async () => {
  // The waterlogging plan with every item due at activation, so the due time comes at once.
  const plans = await tempDir('yingji-plans-');
  await cp(path.resolve('plans'), plans, { recursive: true });
  const file = path.join(plans, 'waterlogging-underpass.yaml');
  await writeFile(file, (await readFile(file, 'utf8')).replace(/dueMinutes: \d+/g, 'dueMinutes: 0'));
  t = await startTestServer({ PLANS_DIR: plans, CHECKLIST_OVERDUE_GRACE_MINUTES: String(GRACE_MS / 60_000), ACK_POLL_MS: '100' });
});

afterAll(async () => {
  client?.destroy();
  await t?.close();
});

describe('overdue checklist items', () => {
  it("at the due time each open item's unit duty contact is reminded; past the grace period the commander is alerted on the board — except for an item done meanwhile", async () => {
    const inc = (await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' })).body.incident;
    const plan = (await t.admin.get(`/api/incidents/${inc.id}`)).body.plan;
    client = connectClient(t.url, inc.id, t.admin.token);
    await synced(client);
    const items = client.items().toArray().filter((m) => m.get('inLevel'));
    expect(items.length).toBeGreaterThan(2);
    const doneId = items[0]!.get('id') as string;

    // Reminders go out at the due time (built-in sink: the step rows keep number and text).
    const reminders = await waitFor(async () => {
      const { rows } = await t.server.context.db.pool.query(`SELECT subject_id, address, body, status FROM escalation_steps WHERE subject = 'checklist' AND step = 'remind' AND incident_id = $1`, [inc.id]);
      return rows.length === items.length && rows.every((r: any) => r.status === 'done') ? rows : null;
    }, 'reminders', 20_000);
    for (const m of items) {
      const unit = plan.command.units.find((u: any) => u.id === m.get('unit'));
      const r = reminders.find((x: any) => x.subject_id === `${inc.id}/${m.get('id')}`);
      expect(r.address).toBe(unit.dutyContact.phone);
      expect(r.body).toContain('【检查单到期提醒】');
      expect(r.body).toContain(m.get('text'));
    }
    // One item is finished within the grace period.
    client.doc.transact(() => items[0]!.set('status', 'done'));
    await waitFor(async () => (await t.admin.get(`/api/incidents/${inc.id}/events?type=checklist.item_status`)).body.events.length === 1, 'item done');

    const board = await waitFor(async () => {
      const ev = (await t.admin.get(`/api/incidents/${inc.id}/events?type=checklist.overdue_escalated`)).body.events.filter((e: any) => e.data.step === 'board');
      return ev.length >= items.length - 1 ? ev : null;
    }, 'board alerts', 30_000);
    expect(board).toHaveLength(items.length - 1);
    expect(board.map((e: any) => e.data.itemId)).not.toContain(doneId);
    const activated = Date.parse(inc.activatedAt);
    for (const e of board) expect(Date.parse(e.at)).toBeGreaterThanOrEqual(activated + GRACE_MS - 50);
    const alerts = board.flatMap((e: any) => alertsForEvent(e, new Map()));
    expect(alerts).toHaveLength(items.length - 1);
    expect(alerts.every((a: { kind: string }) => a.kind === 'overdue')).toBe(true);
    const { rows } = await t.server.context.db.pool.query(`SELECT status FROM escalation_steps WHERE subject = 'checklist' AND subject_id = $1 AND step = 'board'`, [`${inc.id}/${doneId}`]);
    expect(rows[0].status).toBe('cancelled');
    const remindEvents = (await t.admin.get(`/api/incidents/${inc.id}/events?type=checklist.overdue_escalated`)).body.events.filter((e: any) => e.data.step === 'remind');
    expect(remindEvents).toHaveLength(items.length);
    expect(remindEvents[0].data.to).toMatch(/值班员$/);
    expect((await t.admin.get(`/api/incidents/${inc.id}/events/verify`)).body.ok).toBe(true);
  }, 120_000);
});
