/**
 * Issue 9, finding 1: the live checklist keeps storing through ordinary database errors, and a
 * room after a storage error never holds on to state it could not store.
 */
import * as Y from 'yjs';
import WebSocket from 'ws';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRestartableServer, type RestartableServer } from './helpers/restartable-server.js';
import { connectClient, synced, waitFor, yjsOrigin, type YClient } from './rooms-helpers.js';
import { readStoredDoc } from '../server/checklist/doc-store.js';
import { CHECKLIST_ARRAY, ITEM_FIELDS as F } from '../shared/checklist.js';

let s: RestartableServer;
const clients: YClient[] = [];
const client = (incidentId: string, token = s.admin.token) => {
  const c = connectClient(s.url, incidentId, token, { awareness: false });
  clients.push(c);
  return c;
};
/** Short waits: a room that stopped storing must fail the test, not hang it for a minute. */
const soon = <T>(check: () => T | Promise<T>, what: string) => waitFor(check, what, 20_000);

beforeAll(async () => {
  s = await startRestartableServer();
});
afterAll(async () => {
  for (const c of clients) c.destroy();
  await s?.dispose();
});

async function activate(level: string): Promise<string> {
  const res = await s.admin.post('/api/incidents', { planId: 'hazchem-leak', level, mode: 'exercise' });
  expect(res.status).toBe(201);
  return res.body.incident.id;
}

interface Edit {
  itemId: string;
  status: string;
  assignee: string;
  noteToken: string;
}

/** One edit of an item by `writer`; resolves once `reader` has it (the server relays only what it stored). */
async function edit(writer: YClient, reader: YClient, index: number, n: number): Promise<Edit> {
  const item = writer.items().get(index);
  const e: Edit = { itemId: item.get(F.id), status: ['doing', 'done', 'skipped', 'todo'][n % 4]!, assignee: `队员${n}`, noteToken: `[e${n}]` };
  writer.doc.transact(() => {
    item.set(F.status, e.status);
    item.set(F.assignee, e.assignee);
    const note = item.get(F.note) as Y.Text;
    note.insert(note.length, e.noteToken);
  });
  await soon(() => {
    const seen = reader.item(e.itemId);
    return seen?.get(F.status) === e.status && seen.get(F.assignee) === e.assignee && String(seen.get(F.note)).includes(e.noteToken);
  }, `edit ${n} relayed`);
  return e;
}

function expectEdits(c: YClient, edits: Edit[]): void {
  const last = new Map<string, Edit>();
  for (const e of edits) last.set(e.itemId, e);
  for (const e of edits) expect(String(c.item(e.itemId)?.get(F.note)), `note of ${e.itemId}`).toContain(e.noteToken);
  for (const e of last.values()) {
    expect(c.item(e.itemId)?.get(F.status), `status of ${e.itemId}`).toBe(e.status);
    expect(c.item(e.itemId)?.get(F.assignee), `assignee of ${e.itemId}`).toBe(e.assignee);
  }
}

describe('live checklist storage after database errors', () => {
  it('the board repro of finding 1: level III, a 409, level II, more edits, restart: every edit is still there and rooms load', async () => {
    const id = await activate('IV');
    const a = client(id);
    const b = client(id);
    await Promise.all([synced(a), synced(b)]);
    await soon(() => a.items().length > 0 && b.items().length === a.items().length, 'seeded');
    const seeded = a.items().length;
    const edits: Edit[] = [];
    let n = 0;
    edits.push(await edit(a, b, 0, n++));

    expect((await s.admin.post(`/api/incidents/${id}/level`, { level: 'III' })).status).toBe(200);
    await soon(() => b.items().length > seeded, 'level III items reach the clients');
    const atIII = b.items().length;
    edits.push(await edit(b, a, 1, n++));

    const duplicate = await s.admin.post('/api/users', { username: 'admin', password: 'password-123', role: 'staff' });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.error.code).toBe('conflict');

    expect((await s.admin.post(`/api/incidents/${id}/level`, { level: 'II' })).status).toBe(200);
    await soon(() => a.items().length > atIII && b.items().length === a.items().length, 'level II items reach the clients');
    for (let i = 0; i < 6; i++) edits.push(await edit(i % 2 ? a : b, i % 2 ? b : a, 2 + i, n++));
    // No client was thrown out for a storage failure along the way.
    expect([...a.closes, ...b.closes]).toEqual([]);

    const stored = await readStoredDoc(s.server.context.db.pool, id);
    expect(stored.getArray(CHECKLIST_ARRAY).length).toBe(a.items().length);
    stored.destroy();

    a.provider.destroy();
    b.provider.destroy();
    await s.restart();
    const fresh = client(id);
    await soon(() => fresh.provider.synced && fresh.items().length === a.items().length, 'the doc loads after the restart');
    expectEdits(fresh, edits);
    // A room opened after all this loads and stores too.
    const other = await activate('III');
    const c = client(other);
    const d = client(other);
    await soon(() => c.provider.synced && d.provider.synced && c.items().length > 0, 'a new room loads');
    await edit(c, d, 0, 0);
  }, 180_000);

  it('a pool client replaced (as after an idle timeout or a connection error) does not stop storing', async () => {
    const id = await activate('III');
    const a = client(id);
    const b = client(id);
    await Promise.all([synced(a), synced(b)]);
    await soon(() => a.items().length > 0 && b.items().length === a.items().length, 'seeded');
    const edits: Edit[] = [];
    for (let n = 0; n < 4; n++) {
      const pool = s.server.context.db.pool;
      // release(err) is how pg discards a client: the pool closes it and connects a new one.
      const pooled = await pool.connect();
      pooled.release(new Error('discarded by the test'));
      edits.push(await edit(n % 2 ? a : b, n % 2 ? b : a, n, n));
    }
    expect([...a.closes, ...b.closes]).toEqual([]);
    const stored = await readStoredDoc(s.server.context.db.pool, id);
    const items = stored.getArray<Y.Map<any>>(CHECKLIST_ARRAY).toArray();
    for (const e of edits) expect(String(items.find((m) => m.get(F.id) === e.itemId)?.get(F.note))).toContain(e.noteToken);
    stored.destroy();
  }, 120_000);

  it('the request right after a failed query succeeds (the replaced connection does not race the old one)', async () => {
    const failures: string[] = [];
    for (let i = 0; i < 30; i++) {
      // The next requests are already waiting for the pool's one connection when the query fails.
      const [duplicate, ...next] = await Promise.all([
        s.admin.post('/api/users', { username: 'admin', password: 'password-123', role: 'staff' }),
        s.admin.get('/api/incidents'),
        s.admin.get('/api/incidents'),
      ]);
      expect(duplicate.status).toBe(409);
      for (const res of next) if (res.status !== 200) failures.push(`${i}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    expect(failures).toEqual([]);
  }, 120_000);

  it('a query right after the pool discarded its client runs on the replacement', async () => {
    const pool = s.server.context.db.pool;
    const failures: string[] = [];
    for (let i = 0; i < 30; i++) {
      const pooled = await pool.connect();
      // The pool forgets a discarded client at once but closes its connection later: these
      // connect a new one while the old socket is still open.
      pooled.release(new Error('discarded by the test'));
      const [sql, http] = await Promise.allSettled([pool.query('SELECT 1 AS one'), s.admin.get('/api/incidents')]);
      if (http.status === 'rejected' || (http.value as { status: number }).status !== 200) failures.push(`${i} http: ${JSON.stringify(http)}`);
      if (sql.status === 'rejected') failures.push(`${i} sql: ${String(sql.reason)}`);
    }
    expect(failures).toEqual([]);
  }, 120_000);
});

describe('a database connection that breaks', () => {
  it('breaking while a client is checked out (between two queries of a transaction) does not crash the server', async () => {
    const pool = s.server.context.db.pool;
    const held = await pool.connect();
    const ended = new Promise((resolve) => held.once('end', resolve));
    // What a killed backend or a dropped socket does: the connection ends under the client.
    (held as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    await ended;
    await expect(held.query('SELECT 1')).rejects.toThrow();
    held.release();
    expect((await pool.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    expect((await s.admin.get('/api/incidents')).status).toBe(200);
  }, 60_000);
});

describe('what a room guarantees after each kind of failure', () => {
  const sql = (text: string) => s.server.context.db.pool.query(text);
  const note = (c: YClient, itemId: string) => String(c.item(itemId)?.get(F.note) ?? '');
  const storedNote = async (incidentId: string, itemId: string) => {
    const doc = await readStoredDoc(s.server.context.db.pool, incidentId);
    const text = String(doc.getArray<Y.Map<any>>(CHECKLIST_ARRAY).toArray().find((m) => m.get(F.id) === itemId)?.get(F.note) ?? '');
    doc.destroy();
    return text;
  };

  it('write error: the edit is neither relayed nor served to a new client until it is stored; the writer resends it', async () => {
    const id = await activate('III');
    const a = client(id);
    const b = client(id);
    await Promise.all([synced(a), synced(b)]);
    await soon(() => a.items().length > 0 && b.items().length === a.items().length, 'seeded');
    const itemId = a.items().get(0).get(F.id) as string;
    // A constraint no new row satisfies: every write of an update fails from now on.
    await sql('ALTER TABLE checklist_updates ADD CONSTRAINT refuse_for_test CHECK (false) NOT VALID');
    try {
      (a.item(itemId)!.get(F.note) as Y.Text).insert(0, '[unstored]');
      await soon(() => a.closes.some((e) => e.code === 1011), 'the writer is closed with the retryable 1011');
      const late = client(id);
      await soon(() => late.provider.synced && late.items().length > 0, 'a new client syncs while writes fail');
      expect(note(late, itemId)).not.toContain('[unstored]');
      expect(note(b, itemId)).not.toContain('[unstored]');
      expect(await storedNote(id, itemId)).not.toContain('[unstored]');
    } finally {
      await sql('ALTER TABLE checklist_updates DROP CONSTRAINT refuse_for_test');
    }
    // The writer reconnects by itself and sends the edit again; now it is stored and relayed.
    await soon(() => note(b, itemId).includes('[unstored]'), 'the resent edit is relayed once stored');
    expect(await storedNote(id, itemId)).toContain('[unstored]');
  }, 120_000);

  it('load error: refused with the retryable 1011, and the next connection loads the room afresh', async () => {
    const id = await activate('III');
    await sql('ALTER TABLE checklist_docs RENAME TO checklist_docs_away');
    let c: YClient;
    try {
      c = client(id);
      await soon(() => c.closes.filter((e) => e.code === 1011).length >= 2, 'the load fails, retryably, more than once');
      expect(c.provider.synced).toBe(false);
    } finally {
      await sql('ALTER TABLE checklist_docs_away RENAME TO checklist_docs');
    }
    await soon(() => c.provider.synced && c.items().length > 0, 'the room loads once the database works');
  }, 120_000);

  it('reconciliation error on an open room: its clients are sent to reload it, and it gets the new level once the database works', async () => {
    const id = await activate('IV');
    const a = client(id);
    await synced(a);
    await soon(() => a.items().length > 0, 'seeded');
    const atIV = a.items().length;
    await sql(`ALTER TABLE checklist_docs ADD CONSTRAINT refuse_level_ii_for_test CHECK (reconciled_level IS DISTINCT FROM 'II') NOT VALID`);
    try {
      expect((await s.admin.post(`/api/incidents/${id}/level`, { level: 'II' })).status).toBe(200);
      await soon(() => a.closes.some((e) => e.code === 1011), 'the room is reset after the failed reconciliation');
      expect(a.items().length).toBe(atIV);
    } finally {
      await sql('ALTER TABLE checklist_docs DROP CONSTRAINT refuse_level_ii_for_test');
    }
    await soon(() => a.provider.synced && a.items().length > atIV, 'the reloaded room has the level II items');
  }, 120_000);
});

describe('initial sync before live updates', () => {
  it('a client gets no relayed update before the answer to its sync step 1 (it could build on content the client lacks)', async () => {
    const id = await activate('III');
    const a = client(id);
    const b = client(id);
    await Promise.all([synced(a), synced(b)]);
    await soon(() => a.items().length > 0 && b.items().length === a.items().length, 'seeded');
    const ws = new WebSocket(`${yjsOrigin(s.url)}/${id}?token=${s.admin.token}`);
    const syncTypes: number[] = [];
    const step2s: Uint8Array[] = [];
    ws.on('message', (data: Buffer) => {
      const d = decoding.createDecoder(new Uint8Array(data));
      if (decoding.readVarUint(d) !== 0) return; // awareness
      const type = decoding.readVarUint(d);
      syncTypes.push(type);
      if (type === 1) step2s.push(decoding.readVarUint8Array(d));
    });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    await soon(() => syncTypes.includes(0), "the server's sync step 1");
    const itemId = a.items().get(0).get(F.id) as string;
    (a.item(itemId)!.get(F.note) as Y.Text).insert(0, '[live]');
    await soon(() => String(b.item(itemId)?.get(F.note)).includes('[live]'), 'relayed to a synced client');
    expect(syncTypes.filter((t) => t === 2)).toEqual([]);
    // Sync step 1 with an empty state vector: the answer carries everything, the edit included.
    const e = encoding.createEncoder();
    encoding.writeVarUint(e, 0);
    encoding.writeVarUint(e, 0);
    encoding.writeVarUint8Array(e, Y.encodeStateVector(new Y.Doc()));
    ws.send(encoding.toUint8Array(e));
    await soon(() => step2s.length > 0, 'sync step 2');
    const doc = new Y.Doc();
    Y.applyUpdate(doc, step2s[0]!);
    expect(JSON.stringify(doc.getArray(CHECKLIST_ARRAY).toJSON())).toContain('[live]');
    // From now on it is live.
    (a.item(itemId)!.get(F.note) as Y.Text).insert(0, '[after]');
    await soon(() => syncTypes.includes(2), 'a relayed update after the answer');
    ws.close();
  }, 60_000);
});
