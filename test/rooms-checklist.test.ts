import * as Y from 'yjs';
import WebSocket from 'ws';
import * as encoding from 'lib0/encoding';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';
import { connectClient, synced, waitFor, yjsOrigin, type YClient } from './rooms-helpers.js';
import { effectiveChecklist } from '../shared/plan.js';
import { CHECKLIST_ARRAY, CHECKLIST_ITEM_STATUS_EVENT, YJS_CLOSE_CODES } from '../shared/checklist.js';
import { readStoredDoc } from '../server/checklist/doc-store.js';
import { checklistOf } from '../server/checklist/module.js';

let t: TestServer;
const clients: YClient[] = [];
const client = (incidentId: string, token: string | undefined, opts?: Parameters<typeof connectClient>[3]) => {
  const c = connectClient(t.url, incidentId, token, opts);
  clients.push(c);
  return c;
};

beforeAll(async () => {
  // Most tests here connect as admin and keep their clients open to the end: over the default per-user limit.
  t = await startTestServer({ YJS_COMPACT_AFTER_UPDATES: '5', YJS_MAX_MESSAGE_BYTES: '65536', YJS_MAX_CONNECTIONS_PER_USER: '1000' });
});
afterAll(async () => {
  for (const c of clients) c.destroy();
  await t?.close();
});

async function activate(level = 'III', mode = 'actual', planId = 'waterlogging-underpass'): Promise<{ id: string; plan: any; activatedAt: string }> {
  const res = await t.admin.post('/api/incidents', { planId, level, mode });
  expect(res.status).toBe(201);
  const { rows } = await t.server.context.db.pool.query('SELECT plan FROM incidents WHERE id = $1', [res.body.incident.id]);
  return { id: res.body.incident.id, plan: rows[0].plan, activatedAt: res.body.incident.activatedAt };
}

const storedItems = async (incidentId: string) => {
  const doc = await readStoredDoc(t.server.context.db.pool, incidentId);
  const items = doc.getArray<Y.Map<any>>(CHECKLIST_ARRAY).toJSON() as any[];
  doc.destroy();
  return items;
};
const updateRows = async (incidentId: string) =>
  Number((await t.server.context.db.pool.query('SELECT count(*) AS n FROM checklist_updates WHERE incident_id = $1', [incidentId])).rows[0].n);
const closedWith = (c: YClient, code: number) => waitFor(() => c.closes.some((e) => e.code === code), `close code ${code} (got ${JSON.stringify(c.closes)})`);

/** A raw y-websocket frame: sync message of the given sync type with the given payload. */
function syncFrame(syncType: number, payload: Uint8Array): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, 0);
  encoding.writeVarUint(e, syncType);
  encoding.writeVarUint8Array(e, payload);
  return encoding.toUint8Array(e);
}

async function rawSocket(incidentId: string, token: string): Promise<{ ws: WebSocket; received: Buffer[]; closed: Promise<number> }> {
  const ws = new WebSocket(`${yjsOrigin(t.url)}/${incidentId}?token=${token}`);
  const received: Buffer[] = [];
  ws.on('message', (d: Buffer) => received.push(d));
  const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  return { ws, received, closed };
}

describe('live checklist (Yjs)', () => {
  it('two clients see the seeded checklist and each other’s edits, and every edit is stored', async () => {
    const { id, plan, activatedAt } = await activate('III');
    const expected = effectiveChecklist(plan, 'III');
    const staff = await t.user('staff');
    const field = await t.user('field');
    const a = client(id, staff.token);
    const b = client(id, field.token);
    await Promise.all([synced(a), synced(b)]);
    await waitFor(() => a.items().length === expected.length && b.items().length === expected.length, 'seeded checklist on both');
    const first = a.items().get(0).toJSON();
    expect(first).toMatchObject({ id: expected[0]!.id, text: expected[0]!.text.zh, unit: expected[0]!.unit, phase: expected[0]!.phase, level: expected[0]!.level, status: 'todo', inLevel: true, note: '' });
    expect(first.dueAt).toBe(new Date(Date.parse(activatedAt) + expected[0]!.dueMinutes * 60_000).toISOString());
    expect(a.items().get(0).get('note')).toBeInstanceOf(Y.Text);

    a.items().get(0).set('status', 'doing');
    a.items().get(0).set('assignee', 'T-D01');
    b.items().get(1).get('note').insert(0, '泵车已出发');
    await waitFor(() => b.items().get(0).get('status') === 'doing' && a.items().get(1).get('note').toString() === '泵车已出发', 'edits relayed both ways');
    expect(b.items().get(0).get('assignee')).toBe('T-D01');
    const stored = await storedItems(id);
    expect(stored[0]).toMatchObject({ status: 'doing', assignee: 'T-D01' });
    expect(stored[1].note).toBe('泵车已出发');
    expect(stored.map((i) => i.id)).toEqual(expected.map((i) => i.id));
  });

  it('refuses without a token, with a bad token, for unknown or invisible incidents — before any document byte', async () => {
    const { id } = await activate('III', 'actual');
    const controller = await t.user('controller'); // controllers see exercises only
    const cases: [string | undefined, string, number][] = [
      [undefined, id, YJS_CLOSE_CODES.unauthorized],
      ['not-a-token', id, YJS_CLOSE_CODES.unauthorized],
      [t.admin.token, '6b1d9a52-4a7e-4c1e-9d7a-000000000000', YJS_CLOSE_CODES.notFound],
      [t.admin.token, 'not-an-id', YJS_CLOSE_CODES.notFound],
      [controller.token, id, YJS_CLOSE_CODES.notFound],
    ];
    for (const [token, incidentId, code] of cases) {
      const c = client(incidentId, token);
      const closed = new Promise<void>((r) => c.provider.on('closed', () => r()));
      await closedWith(c, code);
      await closed; // the stock client treats 44xx as permanent and stops retrying
      expect(c.provider.shouldConnect).toBe(false);
      expect(c.items().length).toBe(0);
      expect(c.provider.synced).toBe(false);
    }
    // A raw socket without a token receives no frame at all, only the close.
    const ws = new WebSocket(`${yjsOrigin(t.url)}/${id}`);
    const frames: Buffer[] = [];
    ws.on('message', (d: Buffer) => frames.push(d));
    expect(await new Promise((r) => ws.on('close', (code) => r(code)))).toBe(YJS_CLOSE_CODES.unauthorized);
    expect(frames).toHaveLength(0);
    // Nothing was loaded or created for the refused clients.
    const { rows } = await t.server.context.db.pool.query(`SELECT count(*) AS n FROM checklist_docs WHERE incident_id = '6b1d9a52-4a7e-4c1e-9d7a-000000000000'`);
    expect(Number(rows[0].n)).toBe(0);
    await waitFor(() => checklistOf(t.server.context).stats().rooms === countOpenRooms(), 'no room kept for refused clients');
  });

  it('an observer receives everything but its edits are never applied', async () => {
    const { id } = await activate('III');
    const observer = await t.user('observer');
    const staff = await t.user('staff');
    const o = client(id, observer.token);
    const s = client(id, staff.token);
    await Promise.all([synced(o), synced(s)]);
    await waitFor(() => o.items().length > 0 && s.items().length > 0, 'seeded');
    const itemId = o.items().get(2).get('id');
    const rowsBefore = await updateRows(id);
    o.items().get(2).set('status', 'done');
    o.items().get(2).get('note').insert(0, 'observer was here');
    s.items().get(3).set('status', 'doing');
    await waitFor(() => o.items().get(3).get('status') === 'doing', 'observer receives the staff edit');
    // The staff edit went through the same pipeline after the observer's: had the observer's been accepted, it would be here by now.
    expect(s.item(itemId)!.get('status')).toBe('todo');
    expect(s.item(itemId)!.get('note').toString()).toBe('');
    const stored = await storedItems(id);
    expect(stored.find((i) => i.id === itemId)).toMatchObject({ status: 'todo', note: '' });
    expect(await updateRows(id)).toBe(rowsBefore + 1);
    const events = (await t.admin.get(`/api/incidents/${id}/events?type=${CHECKLIST_ITEM_STATUS_EVENT}`)).body.events;
    expect(events).toHaveLength(0);
  });

  it('a client may change only status, assignee and note: any other change is refused with 4422, never stored or relayed', async () => {
    const { id } = await activate('III');
    const staff = await t.user('staff');
    const good = client(id, t.admin.token);
    await synced(good);
    await waitFor(() => good.items().length > 6, 'seeded');
    const before = await storedItems(id);
    const ids = before.map((i) => i.id as string);
    const rowsBefore = await updateRows(id);

    const forbidden: [string, (c: YClient) => void][] = [
      ['an invalid status', (c) => c.item(ids[0]!)!.set('status', 'banana')],
      ['a server-owned field', (c) => c.item(ids[1]!)!.set('dueAt', '2099-01-01T00:00:00.000Z')],
      ['a new checklist item', (c) => c.items().push([new Y.Map()])],
      ['a deleted checklist item', (c) => c.items().delete(2, 1)],
      ['another shared type', (c) => c.doc.getMap('junk').set('x', 1)],
      ['a non-text assignee', (c) => c.item(ids[3]!)!.set('assignee', 42)],
      ['a replaced note', (c) => c.item(ids[4]!)!.set('note', new Y.Text('replaced'))],
      ['a removed note', (c) => c.item(ids[4]!)!.delete('note')],
      // Setting a status removes the old value too; removing it without a new one leaves the item with none.
      ['a removed status', (c) => c.item(ids[6]!)!.delete('status')],
    ];
    for (const [what, change] of forbidden) {
      const bad = client(id, staff.token);
      await synced(bad);
      await waitFor(() => bad.items().length === ids.length, 'bad client seeded');
      change(bad);
      await waitFor(() => bad.closes.some((e) => e.code === YJS_CLOSE_CODES.updateRefused), `${what} refused (closes: ${JSON.stringify(bad.closes)})`);
      expect(bad.provider.shouldConnect, what).toBe(false); // 44xx: the stock client does not retry
    }

    // A permitted edit by a fresh client still goes through, and is the only thing stored.
    const fine = client(id, staff.token);
    await synced(fine);
    await waitFor(() => fine.items().length === ids.length, 'seeded');
    fine.item(ids[5]!)!.set('status', 'doing');
    fine.item(ids[5]!)!.get('note').insert(0, '已到位');
    await waitFor(() => good.item(ids[5]!)?.get('note').toString() === '已到位', 'the permitted edit arrives');

    expect(good.item(ids[0]!)!.get('status')).toBe('todo');
    expect(good.item(ids[1]!)!.get('dueAt')).toBe(before[1]!.dueAt);
    expect(good.items().toArray().map((m) => m.get('id'))).toEqual(ids);
    expect(good.doc.share.has('junk')).toBe(false);
    expect(good.item(ids[3]!)!.get('assignee')).toBeUndefined();
    expect(good.item(ids[4]!)!.get('note')).toBeInstanceOf(Y.Text);
    expect(good.item(ids[6]!)!.get('status')).toBe('todo');
    const stored = await storedItems(id);
    expect(stored.map((i) => i.id)).toEqual(ids);
    expect(stored.find((i) => i.id === ids[0])).toMatchObject({ status: 'todo' });
    expect(stored.find((i) => i.id === ids[1])!.dueAt).toBe(before[1]!.dueAt);
    expect(stored.find((i) => i.id === ids[4])!.note).toBe('');
    expect(stored.find((i) => i.id === ids[6])).toMatchObject({ status: 'todo' });
    expect(stored.find((i) => i.id === ids[5])).toMatchObject({ status: 'doing', note: '已到位' });
    expect(await updateRows(id)).toBe(rowsBefore + 2);
  });

  it('a client that edits offline converges with the others when it reconnects', async () => {
    const { id } = await activate('III');
    const staff = await t.user('staff');
    const a = client(id, staff.token);
    const b = client(id, t.admin.token);
    await Promise.all([synced(a), synced(b)]);
    await waitFor(() => a.items().length > 4 && b.items().length > 4, 'seeded');
    a.provider.disconnect();
    a.items().get(4).set('status', 'doing');
    a.items().get(4).get('note').insert(0, '离线记录');
    b.items().get(4).get('note').insert(0, '在线记录');
    b.items().get(5).set('assignee', 'T-S03');
    await new Promise((r) => setTimeout(r, 100));
    expect(a.items().get(5).get('assignee')).toBeUndefined();
    a.provider.connect();
    const noteA = () => a.items().get(4).get('note').toString();
    const noteB = () => b.items().get(4).get('note').toString();
    await waitFor(() => noteA() === noteB() && noteA().includes('离线记录') && noteA().includes('在线记录') && a.items().get(5).get('assignee') === 'T-S03' && b.items().get(4).get('status') === 'doing', 'both sides converge');
    expect(Y.encodeStateVector(a.doc)).toEqual(Y.encodeStateVector(b.doc));
    const stored = await storedItems(id);
    expect(stored[4]).toMatchObject({ status: 'doing', note: noteA() });
  });

  it('seeds exactly once when activation and first connections race', async () => {
    const rooms = checklistOf(t.server.context);
    for (let round = 0; round < 3; round++) {
      const res = await t.admin.post('/api/incidents', { planId: 'hazchem-leak', level: 'II', mode: 'exercise' });
      const id = res.body.incident.id;
      // The activation's own seeding (from the bus) is already running; add more seeders and first clients at once.
      const racing = Array.from({ length: 4 }, () => client(id, t.admin.token));
      await Promise.all([rooms.reconcile(id), rooms.reconcile(id), rooms.reconcile(id)]);
      await Promise.all(racing.map(synced));
      const { rows } = await t.server.context.db.pool.query('SELECT plan FROM incidents WHERE id = $1', [id]);
      const expected = effectiveChecklist(rows[0].plan, 'II').map((i) => i.id);
      for (const c of racing) {
        await waitFor(() => c.items().length >= expected.length, 'seeded');
        expect(c.items().toArray().map((m) => m.get('id'))).toEqual(expected);
      }
      expect((await storedItems(id)).map((i) => i.id)).toEqual(expected);
    }
  });

  it('escalation appends the new level’s items and keeps earlier edits; de-escalation marks, never deletes', async () => {
    const { id, plan } = await activate('IV');
    const staff = await t.user('staff');
    const a = client(id, staff.token);
    await synced(a);
    const levelIV: string[] = effectiveChecklist(plan, 'IV').map((i) => i.id);
    await waitFor(() => a.items().length === levelIV.length, 'level IV seeded');
    a.items().get(0).set('status', 'done');
    a.items().get(0).get('note').insert(0, '已完成巡查');
    a.items().get(1).set('assignee', 'T-D05');
    await waitFor(async () => (await storedItems(id))[0]?.status === 'done', 'edit stored');

    expect((await t.admin.post(`/api/incidents/${id}/level`, { level: 'II' })).status).toBe(200);
    const levelII: string[] = effectiveChecklist(plan, 'II').map((i) => i.id);
    const union = [...levelIV, ...levelII.filter((x) => !levelIV.includes(x))];
    await waitFor(() => a.items().length === union.length, 'level II items appended');
    expect(a.items().toArray().map((m) => m.get('id'))).toEqual(union);
    expect(a.items().get(0).toJSON()).toMatchObject({ status: 'done', note: '已完成巡查', inLevel: levelII.includes(levelIV[0]!) });
    expect(a.items().get(1).get('assignee')).toBe('T-D05');

    expect((await t.admin.post(`/api/incidents/${id}/level`, { level: 'IV' })).status).toBe(200);
    await waitFor(() => a.items().toArray().every((m) => m.get('inLevel') === levelIV.includes(m.get('id'))), 'out-of-level items marked');
    expect(a.items().toArray().some((m) => m.get('inLevel') === false)).toBe(true);
    expect(a.items().length).toBe(union.length);
    for (const m of a.items()) expect(m.get('inLevel')).toBe(levelIV.includes(m.get('id')));
    expect(a.items().get(0).get('status')).toBe('done');

    // Escalating again re-includes the marked items instead of duplicating them.
    expect((await t.admin.post(`/api/incidents/${id}/level`, { level: 'II' })).status).toBe(200);
    await waitFor(() => a.items().toArray().every((m) => m.get('inLevel') === levelII.includes(m.get('id'))), 'items back in level');
    expect(a.items().length).toBe(union.length);
    expect((await storedItems(id)).map((i) => i.id)).toEqual(union);
  });

  it('a level change missed by the doc (crash between commit and doc update) heals when the doc loads', async () => {
    const { id, plan } = await activate('IV');
    await waitFor(async () => (await storedItems(id)).length === effectiveChecklist(plan, 'IV').length, 'seeded at IV');
    // Simulate the crash: change the level in the database only, behind the module's back.
    await t.server.context.db.pool.query(`UPDATE incidents SET level = 'II' WHERE id = $1`, [id]);
    const c = client(id, t.admin.token);
    await synced(c);
    const levelII = effectiveChecklist(plan, 'II').map((i) => i.id);
    await waitFor(() => c.items().length === new Set([...effectiveChecklist(plan, 'IV').map((i) => i.id), ...levelII]).size, 'healed on load');
    for (const m of c.items()) expect(m.get('inLevel')).toBe(levelII.includes(m.get('id')));
  });

  it('garbage and oversized frames close only the offending connection; nothing from them is stored', async () => {
    const { id } = await activate('III');
    const staff = await t.user('staff');
    const a = client(id, staff.token);
    const b = client(id, t.admin.token);
    await Promise.all([synced(a), synced(b)]);
    await waitFor(() => a.items().length > 0 && b.items().length > 0, 'seeded');
    const rowsBefore = await updateRows(id);

    const garbage = [
      Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), // varuint overflow
      Uint8Array.from([0]), // sync message without a type
      syncFrame(2, Uint8Array.from([5, 200, 1, 7, 7, 7])), // update that is not a Yjs update
      syncFrame(9, Uint8Array.from([0])), // unknown sync type
      Uint8Array.from([1, 5, 1, 2, 3]), // truncated awareness
    ];
    for (const frame of garbage) {
      const raw = await rawSocket(id, staff.token!);
      raw.ws.send(frame);
      expect(await raw.closed).toBe(YJS_CLOSE_CODES.malformedMessage);
    }
    // Text frame with JSON in it.
    const text = await rawSocket(id, staff.token!);
    text.ws.send('{"hello":"world"}');
    expect(await text.closed).toBe(YJS_CLOSE_CODES.malformedMessage);
    // Oversized: a real Yjs update over the limit (64 KiB in this server).
    const big = new Y.Doc();
    big.getText('junk').insert(0, 'x'.repeat(100_000));
    const huge = await rawSocket(id, staff.token!);
    huge.ws.send(syncFrame(2, Y.encodeStateAsUpdate(big)));
    expect(await huge.closed).toBe(YJS_CLOSE_CODES.messageTooBig);

    // The room and the well-behaved clients carry on.
    a.items().get(0).set('status', 'doing');
    await waitFor(() => b.items().get(0).get('status') === 'doing', 'edit still relayed');
    expect(await updateRows(id)).toBe(rowsBefore + 1);
    expect(a.provider.wsconnected && b.provider.wsconnected).toBe(true);
    expect(a.doc.share.has('junk')).toBe(false);
  });

  it('status changes to done/skipped and reopenings become milestones in the event log', async () => {
    const { id } = await activate('III');
    const field = await t.user('field');
    const a = client(id, field.token);
    await synced(a);
    await waitFor(() => a.items().length > 3, 'seeded');
    const item = a.items().get(0);
    const itemId = item.get('id') as string;
    item.set('status', 'doing'); // not a milestone
    item.set('status', 'done');
    a.items().get(1).set('status', 'skipped');
    const milestones = async () => (await t.admin.get(`/api/incidents/${id}/events?type=${CHECKLIST_ITEM_STATUS_EVENT}`)).body.events as any[];
    await waitFor(async () => (await milestones()).length === 2, 'two milestones');
    await new Promise((r) => setTimeout(r, 50));
    item.set('status', 'todo'); // reopened
    await waitFor(async () => (await milestones()).length === 3, 'reopen milestone');
    const events = await milestones();
    expect(events[0]).toMatchObject({ type: CHECKLIST_ITEM_STATUS_EVENT, actor: { id: field.userId, name: field.username }, data: { itemId, from: 'doing', to: 'done', by: { id: field.userId, role: 'field' }, dueAt: item.get('dueAt') } });
    expect(typeof events[0].data.minutesLate).toBe('number');
    expect(events[0].data.minutesLate).toBeLessThan(0); // done right after activation: early
    expect(events[1].data).toMatchObject({ from: 'todo', to: 'skipped' });
    expect(events[2].data).toMatchObject({ itemId, from: 'done', to: 'todo' });
    // Exactly once: a second client resyncing the same state adds nothing.
    const b = client(id, t.admin.token);
    await synced(b);
    await new Promise((r) => setTimeout(r, 200));
    expect(await milestones()).toHaveLength(3);
    expect((await t.admin.get(`/api/incidents/${id}/events/verify`)).body.ok).toBe(true);
  });

  it('a closed incident is read-only for everyone, live connections included', async () => {
    const { id } = await activate('III');
    const staff = await t.user('staff');
    const a = client(id, staff.token);
    const b = client(id, t.admin.token);
    await Promise.all([synced(a), synced(b)]);
    await waitFor(() => a.items().length > 0 && b.items().length > 0, 'seeded');
    expect((await t.admin.post(`/api/incidents/${id}/close`, {})).status).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    const rowsBefore = await updateRows(id);
    a.items().get(0).set('status', 'done');
    const late = client(id, staff.token);
    await synced(late);
    late.items().get(1).set('status', 'done');
    await new Promise((r) => setTimeout(r, 300));
    expect(b.items().get(0).get('status')).toBe('todo');
    expect(b.items().get(1).get('status')).toBe('todo');
    expect(await updateRows(id)).toBe(rowsBefore);
    expect((await storedItems(id))[0].status).toBe('todo');
  });

  it('compaction folds updates into the snapshot without changing the doc', async () => {
    const { id } = await activate('III');
    const a = client(id, t.admin.token);
    await synced(a);
    await waitFor(() => a.items().length > 0, 'seeded');
    for (let i = 0; i < 12; i++) {
      a.items().get(0).get('note').insert(0, `${i}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    await waitFor(async () => (await storedItems(id))[0].note.length === 14, 'all stored');
    const before = await storedItems(id);
    expect(await updateRows(id)).toBeGreaterThan(5);
    expect(await checklistOf(t.server.context).compactBusyDocs()).toBeGreaterThan(5);
    expect(await updateRows(id)).toBe(0);
    expect(await storedItems(id)).toEqual(before);
    // Clients keep working on the compacted doc, and a fresh client loads it whole.
    a.items().get(0).set('status', 'doing');
    await waitFor(async () => (await storedItems(id))[0].status === 'doing', 'stored after compaction');
    const fresh = client(id, t.admin.token);
    await synced(fresh);
    await waitFor(() => fresh.items().get(0)?.get('status') === 'doing', 'fresh client sees the compacted doc');
    expect(fresh.items().get(0).get('note').toString()).toBe(before[0].note);
  });

  it('unloads a doc and its awareness after the last client leaves', async () => {
    const { id } = await activate('III');
    const rooms = checklistOf(t.server.context);
    const cs = Array.from({ length: 5 }, () => client(id, t.admin.token));
    await Promise.all(cs.map(synced));
    cs[0]!.provider.awareness.setLocalStateField('user', { name: 'admin' });
    await waitFor(() => cs[1]!.provider.awareness.getStates().size >= 2, 'awareness relayed');
    expect(rooms.stats().rooms).toBeGreaterThanOrEqual(1);
    for (const c of cs) c.provider.destroy();
    await waitFor(() => !hasRoom(id), 'room unloaded');
  });
});

function hasRoom(incidentId: string): boolean {
  return (checklistOf(t.server.context) as any).entries.has(incidentId);
}
function countOpenRooms(): number {
  let n = 0;
  for (const entry of (checklistOf(t.server.context) as any).entries.values()) if (entry.room && entry.room.conns.size > 0) n++;
  return n;
}
