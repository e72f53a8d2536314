/**
 * Storage of checklist docs in PostgreSQL: one `checklist_docs` row per incident (snapshot and
 * seeding lock) and one `checklist_updates` row per accepted update. A doc's state is the
 * snapshot plus every update row still present; Yjs updates are idempotent and commutative, so
 * the order of rows does not matter and a row folded twice does no harm.
 */
import * as Y from 'yjs';
import type pg from 'pg';
import type { Queryable } from '../db/database.js';
import { withTransaction } from '../db/database.js';
import type { IncidentRecord, IncidentService } from '../incidents/incidents.js';
import { reconcileChecklist } from './seeding.js';
import { ClusterMessageType, type Cluster } from '../cluster/cluster.js';

export interface StoredUpdate {
  incidentId: string;
  update: Uint8Array;
}

/** Above this many new rows of one doc, other nodes are told to read the whole doc instead of the ids. */
const MAX_ANNOUNCED_IDS = 400;

/** Who to tell of new rows: the cluster seam, and whether `db` is a transaction (then the notice goes out at commit). */
export interface UpdateAnnouncer {
  cluster: Cluster;
  inTx: boolean;
}

/**
 * Inserts every update of one tick with a single statement. With `announce` (several nodes), the
 * new rows' ids are announced per doc (`checklist.updates`): at commit when `db` is a transaction.
 */
export async function insertUpdates(db: Queryable, updates: StoredUpdate[], announce: UpdateAnnouncer | null = null): Promise<void> {
  if (updates.length === 0) return;
  const values = [updates.map((u) => u.incidentId), updates.map((u) => Buffer.from(u.update.buffer, u.update.byteOffset, u.update.byteLength))];
  // Unnamed statements only: on embedded PGlite every pool client shares one session, so a
  // named statement outlives the client that prepared it and its replacement's PREPARE of the
  // same name fails (42P05) for as long as the process runs.
  if (!announce) {
    await db.query({ text: 'INSERT INTO checklist_updates (incident_id, update) SELECT * FROM unnest($1::uuid[], $2::bytea[])', values });
    return;
  }
  const { rows } = await db.query<{ id: number; incident_id: string }>({
    text: 'INSERT INTO checklist_updates (incident_id, update) SELECT * FROM unnest($1::uuid[], $2::bytea[]) RETURNING id, incident_id',
    values,
  });
  const byDoc = new Map<string, number[]>();
  for (const r of rows) byDoc.set(r.incident_id, [...(byDoc.get(r.incident_id) ?? []), Number(r.id)]);
  for (const [incidentId, ids] of byDoc) {
    const announced = ids.length > MAX_ANNOUNCED_IDS ? null : ids;
    // Small writes travel with the notice (the receiving node applies them without reading the
    // rows back); big ones as ids. Either way they are stored before anyone is told.
    const inline = updates.filter((u) => u.incidentId === incidentId).map((u) => Buffer.from(u.update.buffer, u.update.byteOffset, u.update.byteLength).toString('base64'));
    const size = inline.reduce((n, b) => n + b.length + 3, 0) + 40 * ids.length + 300;
    const body = size <= announce.cluster.transport.maxPayloadBytes && announced ? { updates: inline } : {};
    await announce.cluster.publish({ type: ClusterMessageType.ChecklistUpdates, incidentId, ids: announced, ...body }, announce.inTx ? db : undefined);
  }
}

/** The stored updates with these ids, or null when some are gone (compacted): then read the whole doc. */
export async function readUpdates(db: Queryable, ids: number[]): Promise<Buffer[] | null> {
  const { rows } = await db.query<{ update: Buffer }>('SELECT update FROM checklist_updates WHERE id = ANY($1::bigint[])', [ids]);
  return rows.length === ids.length ? rows.map((r) => r.update) : null;
}

/**
 * Everything stored for a doc: the snapshot and every update row, read by one statement. Two
 * statements would each see their own moment, and a compaction committing between them (rows
 * folded into the snapshot, then deleted) leaves a reader with the old snapshot and no rows.
 */
export async function readAllUpdates(db: Queryable, incidentId: string): Promise<Buffer[]> {
  const { rows } = await db.query<{ snapshot: Buffer | null; updates: Buffer[] }>(
    `SELECT (SELECT snapshot FROM checklist_docs WHERE incident_id = $1) AS snapshot,
            coalesce((SELECT array_agg(update ORDER BY id) FROM checklist_updates WHERE incident_id = $1), '{}') AS updates`,
    [incidentId],
  );
  const { snapshot, updates } = rows[0]!;
  return snapshot ? [snapshot, ...updates] : updates;
}

/** Creates the doc row if needed and locks it for the rest of the transaction. */
async function lockDocRow(tx: Queryable, incidentId: string): Promise<{ snapshot: Buffer | null; reconciled_level: string | null }> {
  await tx.query('INSERT INTO checklist_docs (incident_id) VALUES ($1) ON CONFLICT (incident_id) DO NOTHING', [incidentId]);
  const { rows } = await tx.query<{ snapshot: Buffer | null; reconciled_level: string | null }>(
    'SELECT snapshot, reconciled_level FROM checklist_docs WHERE incident_id = $1 FOR UPDATE',
    [incidentId],
  );
  return rows[0]!;
}

async function readUpdateRows(tx: Queryable, incidentId: string): Promise<{ id: number; update: Buffer; created_at: Date }[]> {
  const { rows } = await tx.query<{ id: number; update: Buffer; created_at: Date }>(
    'SELECT id, update, created_at FROM checklist_updates WHERE incident_id = $1 ORDER BY id',
    [incidentId],
  );
  return rows;
}

function buildDoc(snapshot: Buffer | null, updates: { update: Buffer }[]): Y.Doc {
  const doc = new Y.Doc();
  doc.transact(() => {
    if (snapshot) Y.applyUpdate(doc, snapshot);
    for (const row of updates) Y.applyUpdate(doc, row.update);
  });
  return doc;
}

export interface ReconciledDoc {
  incident: IncidentRecord;
  doc: Y.Doc;
  /** The update reconciliation stored (already in `doc`), or null when nothing was missing. */
  diff: Uint8Array | null;
}

/**
 * Loads an incident's doc under its row lock and reconciles it with the incident's current level,
 * storing what reconciliation added in the same transaction. Concurrent callers, on this node or
 * another, queue on the lock and find nothing left to add: the checklist is seeded exactly once.
 * Returns null for an unknown incident (and stores nothing).
 */
export async function loadReconciled(pool: pg.Pool, incidents: IncidentService, incidentId: string, cluster: Cluster | null = null): Promise<ReconciledDoc | null> {
  return withTransaction(pool, async (tx) => {
    if (!(await incidents.find(tx, incidentId))) return null;
    const row = await lockDocRow(tx, incidentId);
    // Read the incident again under the lock: a level change committed while we waited counts.
    const incident = (await incidents.find(tx, incidentId))!;
    const doc = buildDoc(row.snapshot, await readUpdateRows(tx, incidentId));
    const before = Y.encodeStateVector(doc);
    const changed = reconcileChecklist(doc, { plan: incident.plan, level: incident.level, activatedAt: incident.activatedAt });
    let diff: Uint8Array | null = null;
    if (changed) {
      diff = Y.encodeStateAsUpdate(doc, before);
      await insertUpdates(tx, [{ incidentId, update: diff }], cluster ? { cluster, inTx: true } : null);
    }
    if (changed || row.reconciled_level !== incident.level) {
      await tx.query('UPDATE checklist_docs SET reconciled_level = $2 WHERE incident_id = $1', [incidentId, incident.level]);
    }
    return { incident, doc, diff };
  });
}

/**
 * Folds an incident's update rows into its snapshot and deletes exactly the rows it folded
 * (a row committed meanwhile, even with a lower id, stays). Returns the number of rows folded.
 */
export async function compactDoc(pool: pg.Pool, incidentId: string): Promise<number> {
  return withTransaction(pool, async (tx) => {
    const { rows: docRows } = await tx.query<{ snapshot: Buffer | null }>(
      'SELECT snapshot FROM checklist_docs WHERE incident_id = $1 FOR UPDATE',
      [incidentId],
    );
    if (!docRows[0]) return 0;
    const updates = await readUpdateRows(tx, incidentId);
    if (updates.length === 0) return 0;
    const doc = buildDoc(docRows[0].snapshot, updates);
    const snapshot = Y.encodeStateAsUpdate(doc);
    doc.destroy();
    await keepHistory(tx, incidentId, updates);
    await tx.query('UPDATE checklist_docs SET snapshot = $2, compacted_at = now() WHERE incident_id = $1', [incidentId, Buffer.from(snapshot)]);
    await tx.query('DELETE FROM checklist_updates WHERE id = ANY($1::bigint[])', [updates.map((u) => u.id)]);
    return updates.length;
  });
}

/**
 * Before compaction deletes update rows, their content goes to `checklist_update_history` for
 * replay (server/review/replay.ts): the updates of each second merged into one row, stamped with
 * the latest time among them. Same transaction as the delete, so nothing is lost in between.
 */
async function keepHistory(tx: Queryable, incidentId: string, updates: { update: Buffer; created_at: Date }[]): Promise<void> {
  const bySecond = new Map<number, { at: Date; updates: Uint8Array[] }>();
  for (const u of updates) {
    const second = Math.floor(u.created_at.getTime() / 1000);
    const group = bySecond.get(second) ?? { at: u.created_at, updates: [] };
    if (u.created_at > group.at) group.at = u.created_at;
    group.updates.push(u.update);
    bySecond.set(second, group);
  }
  const groups = [...bySecond.values()];
  await tx.query(
    'INSERT INTO checklist_update_history (incident_id, at, update) SELECT $1, * FROM unnest($2::timestamptz[], $3::bytea[])',
    [incidentId, groups.map((g) => g.at), groups.map((g) => Buffer.from(g.updates.length === 1 ? g.updates[0]! : Y.mergeUpdates(g.updates)))],
  );
}

/** Incidents with more than `threshold` update rows waiting to be compacted. */
export async function incidentsToCompact(db: Queryable, threshold: number, limit = 20): Promise<string[]> {
  const { rows } = await db.query<{ incident_id: string }>(
    `SELECT incident_id FROM checklist_updates GROUP BY incident_id HAVING count(*) > $1 ORDER BY count(*) DESC LIMIT $2`,
    [threshold, limit],
  );
  return rows.map((r) => r.incident_id);
}

/** The stored doc as it would load (the scheduler, the review, tests): snapshot plus every update row, read at one moment. */
export async function readStoredDoc(db: Queryable, incidentId: string): Promise<Y.Doc> {
  return buildDoc(null, (await readAllUpdates(db, incidentId)).map((update) => ({ update })));
}
