import * as Y from 'yjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../server/db/database.js';
import { compactDoc, readAllUpdates, readStoredDoc } from '../server/checklist/doc-store.js';
import { CHECKLIST_ARRAY, ITEM_FIELDS as F } from '../shared/checklist.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { connectClient, synced, waitFor, type YClient } from './rooms-helpers.js';

/**
 * A stored doc is its snapshot plus its update rows; compaction moves rows into the snapshot.
 * A read of the whole doc (another node catching up, the acknowledgement scheduler, the review)
 * that sees the snapshot from before a compaction and the rows from after it sees neither:
 * found by the session-expiry test, whose read came back with an empty checklist.
 */
let t: TestServer;
const clients: YClient[] = [];
beforeAll(async () => {
  // No background compaction: the test compacts exactly where it wants one.
  t = await startTestServer({ YJS_COMPACT_AFTER_UPDATES: '1000000' });
});
afterAll(async () => {
  for (const c of clients) c.destroy();
  await t?.close();
});

/** A Queryable that lets a compaction commit right after its first query answers. */
function compactingAfterFirstQuery(db: Queryable, compact: () => Promise<unknown>): Queryable {
  let first = true;
  return {
    query: (async (...args: unknown[]) => {
      const result = await (db.query as (...a: unknown[]) => Promise<unknown>)(...args);
      if (first) {
        first = false;
        await compact();
      }
      return result;
    }) as Queryable['query'],
  };
}

describe('reading a whole stored checklist while it is compacted', () => {
  it('readStoredDoc and readAllUpdates see every edit when a compaction commits in the middle of the read', async () => {
    const created = await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' });
    expect(created.status).toBe(201);
    const id = created.body.incident.id as string;
    const c = connectClient(t.url, id, t.admin.token, { awareness: false });
    clients.push(c);
    await synced(c);
    c.items().get(0)!.set(F.status, 'done');
    (c.items().get(0)!.get(F.note) as Y.Text).insert(0, '已疏散 evacuated');
    const pool = t.server.context.db.pool;
    const noteOf = (doc: Y.Doc) => doc.getArray<Y.Map<unknown>>(CHECKLIST_ARRAY).get(0)?.get(F.note)?.toString();
    await waitFor(async () => noteOf(await readStoredDoc(pool, id)) === '已疏散 evacuated', 'the edits stored');

    const doc = await readStoredDoc(compactingAfterFirstQuery(pool, () => compactDoc(pool, id)), id);
    expect(doc.getArray(CHECKLIST_ARRAY).length).toBe(c.items().length);
    expect(noteOf(doc)).toBe('已疏散 evacuated');
    expect(doc.getArray<Y.Map<unknown>>(CHECKLIST_ARRAY).get(0)!.get(F.status)).toBe('done');

    // Again for the cross-node catch-up read, after a further edit leaves rows to compact.
    (c.items().get(0)!.get(F.note) as Y.Text).insert(0, '[2] ');
    await waitFor(async () => noteOf(await readStoredDoc(pool, id)) === '[2] 已疏散 evacuated', 'the second edit stored');
    let folded = 0;
    const updates = await readAllUpdates(compactingAfterFirstQuery(pool, async () => (folded = await compactDoc(pool, id))), id);
    expect(folded, 'a compaction ran inside the read').toBeGreaterThan(0);
    const rebuilt = new Y.Doc();
    for (const u of updates) Y.applyUpdate(rebuilt, u);
    expect(noteOf(rebuilt)).toBe('[2] 已疏散 evacuated');
  });
});
