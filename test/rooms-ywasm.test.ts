/**
 * Compatibility with a second Yjs implementation: Yrs (the Rust port) through ywasm, driving the
 * flows of issue 9 findings 2 and 3 with the updates Yrs itself encodes.
 */
import * as Y from 'yjs';
import * as yw from 'ywasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';
import { connectClient, synced, waitFor, type YClient } from './rooms-helpers.js';
import { rawClient, storedDoc, syncFrame, type RawClient } from './rooms-raw.js';
import { CHECKLIST_ARRAY, YJS_CLOSE_CODES } from '../shared/checklist.js';

let t: TestServer;
const yClients: YClient[] = [];
const raws: RawClient[] = [];

beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  for (const c of yClients) c.destroy();
  for (const r of raws) r.ws.terminate();
  await t?.close();
});

/** A Yrs doc holding what the server sent, and the updates Yrs encodes for the edits made on it from now on. */
async function yrsClient(incidentId: string, token: string) {
  const r = await rawClient(t.url, incidentId, token);
  raws.push(r);
  const doc = new yw.YDoc({});
  yw.applyUpdate(doc, Y.encodeStateAsUpdate(r.doc), 'server');
  const updates: Uint8Array[] = [];
  doc.onUpdate((u: Uint8Array) => updates.push(u));
  const items = doc.getArray(CHECKLIST_ARRAY);
  return {
    raw: r,
    doc,
    item: (i: number) => items.get(i, undefined) as yw.YMap,
    /** Sends every update Yrs produced since the last call, one frame each. */
    flush() {
      for (const u of updates.splice(0)) r.sendUpdate(u);
    },
  };
}

async function activate(): Promise<string> {
  const res = await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' });
  expect(res.status).toBe(201);
  return res.body.incident.id;
}

const storedItems = async (incidentId: string) => {
  const doc = await storedDoc(t.server.context.db.pool, incidentId);
  const items = doc.getArray<Y.Map<any>>(CHECKLIST_ARRAY).toJSON() as any[];
  doc.destroy();
  return items;
};

describe('Yrs (ywasm) clients', () => {
  it('edit status, assignee and note; a stock client sees them and they are stored', async () => {
    const id = await activate();
    const staff = await t.user('staff');
    const watcher = connectClient(t.url, id, t.admin.token, { awareness: false });
    yClients.push(watcher);
    await synced(watcher);
    const c = await yrsClient(id, staff.token!);
    c.item(0).set('status', 'doing', undefined);
    c.item(0).set('assignee', 'T-D01', undefined);
    (c.item(1).get('note', undefined) as yw.YText).insert(0, '泵车已出发', undefined, undefined);
    c.flush();
    await waitFor(() => watcher.items().get(1)?.get('note').toString() === '泵车已出发' && watcher.items().get(0)?.get('assignee') === 'T-D01', 'Yrs edits at the stock client');
    await waitFor(async () => (await storedItems(id))[1].note === '泵车已出发', 'stored');
    expect((await storedItems(id))[0]).toMatchObject({ status: 'doing', assignee: 'T-D01' });
    expect(c.raw.closeCode).toBeNull();
  });

  it('a refused status followed by a legal one on another item: nothing of either is applied, the item keeps its status', async () => {
    const id = await activate();
    const staff = await t.user('staff');
    const c = await yrsClient(id, staff.token!);
    const [a, b] = [c.item(0).get('id', undefined), c.item(1).get('id', undefined)];
    c.item(0).set('status', 'finished', undefined);
    c.flush();
    c.item(1).set('status', 'done', undefined);
    c.flush();
    expect((await c.raw.closed).code).toBe(YJS_CLOSE_CODES.updateRefused);
    const fresh = connectClient(t.url, id, t.admin.token, { awareness: false });
    yClients.push(fresh);
    await synced(fresh);
    expect(fresh.items().toJSON().find((i: any) => i.id === a).status).toBe('todo');
    expect(fresh.items().toJSON().find((i: any) => i.id === b).status).toBe('todo');
    expect((await storedItems(id)).find((i) => i.id === b).status).toBe('todo');
  });

  it('Yrs re-sending its whole state (content the server has) is a no-op; its next edit goes through', async () => {
    const id = await activate();
    const staff = await t.user('staff');
    const watcher = connectClient(t.url, id, t.admin.token, { awareness: false });
    yClients.push(watcher);
    await synced(watcher);
    const c = await yrsClient(id, staff.token!);
    c.raw.ws.send(syncFrame(1, yw.encodeStateAsUpdate(c.doc)));
    c.raw.sendUpdate(yw.encodeStateAsUpdate(c.doc));
    c.item(2).set('status', 'skipped', undefined);
    c.flush();
    await waitFor(() => watcher.items().get(2)?.get('status') === 'skipped', 'Yrs edit after its echo');
    expect(c.raw.closeCode).toBeNull();
    expect(c.raw.denied).toEqual([]);
  });
});
