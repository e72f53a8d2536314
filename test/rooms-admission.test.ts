/**
 * All-or-nothing admission of checklist updates (issue 9, findings 2 and 3): an update is applied
 * only when all of it integrates now and passes the guard; after a refusal nothing more from that
 * connection is applied; content the server already has is a no-op.
 */
import * as Y from 'yjs';
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

async function activate(): Promise<string> {
  const res = await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' });
  expect(res.status).toBe(201);
  return res.body.incident.id;
}

const raw = async (incidentId: string, token: string, opts?: Parameters<typeof rawClient>[3]) => {
  const r = await rawClient(t.url, incidentId, token, opts);
  raws.push(r);
  return r;
};

const storedItems = async (incidentId: string) => {
  const doc = await storedDoc(t.server.context.db.pool, incidentId);
  const items = doc.getArray<Y.Map<any>>(CHECKLIST_ARRAY).toJSON() as any[];
  doc.destroy();
  return items;
};
/** Whether anything written by this Yjs client id is in the stored doc (robust to compaction, unlike counting rows). */
const storedHasClient = async (incidentId: string, clientId: number) => {
  const doc = await storedDoc(t.server.context.db.pool, incidentId);
  const has = Y.decodeStateVector(Y.encodeStateVector(doc)).has(clientId);
  doc.destroy();
  return has;
};
const updateRows = async (incidentId: string) =>
  Number((await t.server.context.db.pool.query('SELECT count(*) AS n FROM checklist_updates WHERE incident_id = $1', [incidentId])).rows[0].n);

/** What a client connecting now receives (the server answers sync only from stored state). */
async function freshView(incidentId: string): Promise<any[]> {
  const c = connectClient(t.url, incidentId, t.admin.token, { awareness: false });
  yClients.push(c);
  await synced(c);
  const items = c.items().toJSON();
  c.destroy();
  return items;
}

describe('all-or-nothing admission', () => {
  it('a legal update that builds on a refused one is not applied: the other item keeps its status', async () => {
    const id = await activate();
    const staff = await t.user('staff');
    const r = await raw(id, staff.token!);
    const [a, b] = [r.item(0).get('id'), r.item(1).get('id')];
    r.edit(() => r.item(0).set('status', 'finished')); // refused: not a status
    r.edit(() => r.item(1).set('status', 'done')); // legal, but its struct follows the refused one
    expect((await r.closed).code).toBe(YJS_CLOSE_CODES.updateRefused);
    expect(r.denied[0]).toMatch(/status must be one of/);

    const seen = await freshView(id);
    expect(seen.find((i) => i.id === a).status).toBe('todo');
    expect(seen.find((i) => i.id === b).status).toBe('todo');
    const stored = await storedItems(id);
    expect(stored.find((i) => i.id === a).status).toBe('todo');
    expect(stored.find((i) => i.id === b).status).toBe('todo');
    expect(await storedHasClient(id, r.doc.clientID)).toBe(false);
  });

  it('after a refusal every later message of that connection is dropped, even one that would integrate on its own', async () => {
    const id = await activate();
    const staff = await t.user('staff');
    const r = await raw(id, staff.token!);
    // A second Y.Doc (another client id) with the same content: its update does not depend on the refused one.
    const other = new Y.Doc();
    Y.applyUpdate(other, Y.encodeStateAsUpdate(r.doc));
    const otherItems = other.getArray<Y.Map<any>>(CHECKLIST_ARRAY);
    r.edit(() => r.item(0).set('dueAt', '2000-01-01T00:00:00Z')); // refused: server-owned
    r.edit(() => otherItems.get(2).set('status', 'doing'), other);
    r.edit(() => otherItems.get(3).get('note').insert(0, 'after the refusal'), other);
    expect((await r.closed).code).toBe(YJS_CLOSE_CODES.updateRefused);
    const seen = await freshView(id);
    expect(seen[2].status).toBe('todo');
    expect(seen[3].note).toBe('');
    expect(await storedHasClient(id, r.doc.clientID)).toBe(false);
    expect(await storedHasClient(id, other.clientID)).toBe(false);
  });

  it('an update whose deletes target content the server does not have is refused: it cannot delete another client’s future edits', async () => {
    const id = await activate();
    const attacker = await t.user('staff');
    const victimUser = await t.user('staff');
    const victimId = 777_000_111;
    const r = await raw(id, attacker.token!);
    // Only a delete set: clocks 0..999 of the victim's client id, which has written nothing yet.
    r.sendUpdate(deleteOnlyUpdate(victimId, 0, 1000));
    expect((await r.closed).code).toBe(YJS_CLOSE_CODES.updateRefused);
    expect(r.denied[0]).toMatch(/does not have/);

    const victim = await raw(id, victimUser.token!, { clientId: victimId });
    victim.edit(() => victim.item(0).get('note').insert(0, '水泵已到'));
    victim.edit(() => victim.item(0).set('status', 'doing'));
    await waitFor(async () => (await storedItems(id))[0].status === 'doing', 'victim edits stored');
    const stored = await storedItems(id);
    expect(stored[0].note).toBe('水泵已到');
    expect((await freshView(id))[0].note).toBe('水泵已到');
    expect(victim.closeCode).toBeNull();
  });

  it('an update with a struct whose origin the server does not have is refused and leaves nothing', async () => {
    const id = await activate();
    const staff = await t.user('staff');
    const r = await raw(id, staff.token!);
    // Doc X writes "ab" into a note; doc Y, built on X's state, writes after it. Only Y's update is sent.
    const x = new Y.Doc();
    Y.applyUpdate(x, Y.encodeStateAsUpdate(r.doc));
    x.getArray<Y.Map<any>>(CHECKLIST_ARRAY).get(0).get('note').insert(0, 'ab');
    const y = new Y.Doc();
    Y.applyUpdate(y, Y.encodeStateAsUpdate(x));
    r.edit(() => y.getArray<Y.Map<any>>(CHECKLIST_ARRAY).get(0).get('note').insert(2, 'cd'), y);
    expect((await r.closed).code).toBe(YJS_CLOSE_CODES.updateRefused);
    expect((await freshView(id))[0].note).toBe('');
    expect(await storedHasClient(id, y.clientID)).toBe(false);
  });
});

describe('content the server already has', () => {
  it('re-sending the whole state (sync step 2 from an older state, or an echo) is a no-op: not refused, nothing stored', async () => {
    const id = await activate();
    const staff = await t.user('staff');
    const r = await raw(id, staff.token!);
    const watcher = connectClient(t.url, id, t.admin.token, { awareness: false });
    yClients.push(watcher);
    await synced(watcher);
    const rows = await updateRows(id);
    const everything = Y.encodeStateAsUpdate(r.doc);
    r.ws.send(syncFrame(1, everything)); // sync step 2 with everything, including the server's seeded items
    r.sendUpdate(everything); // and the same as an update (an echo)
    // Another client's edit (relayed back to r) and its echo.
    watcher.items().get(0).set('status', 'doing');
    await waitFor(() => r.item(0).get('status') === 'doing', 'edit relayed to the raw client');
    const rowsAfterWatcher = await updateRows(id);
    r.sendUpdate(Y.encodeStateAsUpdate(r.doc));
    // The connection is still open and may edit: its edit is relayed after the echoes.
    r.edit(() => r.item(1).set('status', 'done'));
    await waitFor(() => watcher.items().get(1).get('status') === 'done', 'the raw client’s own edit relayed');
    expect(r.closeCode).toBeNull();
    expect(r.denied).toEqual([]);
    expect(rowsAfterWatcher).toBe(rows + 1);
    expect(await updateRows(id)).toBe(rows + 2);
  });
});

/** A Yjs update (v1) without structs whose delete set covers clocks [clock, clock+len) of `client`. */
function deleteOnlyUpdate(client: number, clock: number, len: number): Uint8Array {
  const bytes: number[] = [];
  const varUint = (n: number) => {
    while (n > 0x7f) {
      bytes.push(0x80 | (n & 0x7f));
      n = Math.floor(n / 128);
    }
    bytes.push(n);
  };
  varUint(0); // no struct groups
  varUint(1); // one client in the delete set
  varUint(client);
  varUint(1); // one range
  varUint(clock);
  varUint(len);
  return Uint8Array.from(bytes);
}

describe('edits that arrive before the sync answer', () => {
  it("an edit made on reconnect, before the client answered the server's sync step 1, waits for that answer instead of being refused", async () => {
    // The stock provider sends a new edit the moment the socket opens; the offline edit it builds on
    // travels in the client's sync step 2, which comes later. Refusing it (4422 is permanent) would
    // abandon everything the phone had not sent.
    const incidentId = await activate();
    const phone = connectClient(t.url, incidentId, t.admin.token!);
    yClients.push(phone);
    await synced(phone);
    const first = phone.items().get(0);
    const second = phone.items().get(1);
    phone.provider.disconnect();
    first.set('status', 'doing'); // offline
    const onStatus = ({ status }: { status: string }) => {
      if (status !== 'connected') return;
      phone.provider.off('status', onStatus);
      first.set('status', 'done'); // builds on the offline edit, sent before the sync answer
      second.set('assignee', '王芳');
    };
    phone.provider.on('status', onStatus);
    phone.provider.connect();
    await waitFor(async () => {
      const items = await storedItems(incidentId);
      return items[0]?.status === 'done' && items[1]?.assignee === '王芳';
    }, 'both edits stored', 20_000);
    expect(phone.closes.map((c) => c.code)).not.toContain(YJS_CLOSE_CODES.updateRefused);
    expect(phone.provider.wsconnected).toBe(true);
  });
});
