import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { afterCommitOf, type Queryable } from '../db/database.js';
import type { IncidentEvent } from '../../shared/events.js';
import { canonicalJson } from './canonical-json.js';
import { AppError } from '../http/errors.js';
import { ClusterMessageType, type Cluster } from '../cluster/cluster.js';

export interface EventActor {
  id: string;
  /** The username: stable, what the log has always carried. */
  name: string;
  /** The display name at the time (王芳), for people reading the timeline. */
  displayName?: string;
}

/** Exactly the fields the row keeps, so the hash computed now is the one `verifyChain` recomputes. */
function storedActor(a: EventActor | null): EventActor | null {
  if (!a) return null;
  return a.displayName !== undefined ? { id: a.id, name: a.name, displayName: a.displayName } : { id: a.id, name: a.name };
}

/** The one way a signed-in actor is written into the log. */
export function eventActorOf(a: { userId: string; username: string; displayName?: string }): EventActor {
  return a.displayName ? { id: a.userId, name: a.username, displayName: a.displayName } : { id: a.userId, name: a.username };
}

/** The first link of an incident's chain. */
export function genesisHash(incidentId: string): string {
  return createHash('sha256').update(`yingji:incident:${incidentId}`).digest('hex');
}

function hashEvent(e: Omit<IncidentEvent, 'hash'>): string {
  const body = canonicalJson({
    incidentId: e.incidentId,
    seq: e.seq,
    type: e.type,
    at: e.at,
    actor: e.actor,
    data: e.data,
  });
  return createHash('sha256').update(`${e.prevHash}\n${body}`).digest('hex');
}

interface EventRow {
  incident_id: string;
  seq: number;
  type: string;
  at: Date;
  actor_id: string | null;
  actor_name: string | null;
  actor_display_name: string | null;
  data: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

function toEvent(row: EventRow): IncidentEvent {
  return {
    incidentId: row.incident_id,
    seq: row.seq,
    type: row.type,
    at: row.at.toISOString(),
    actor: row.actor_id ? { id: row.actor_id, name: row.actor_name ?? '', ...(row.actor_display_name !== null ? { displayName: row.actor_display_name } : {}) } : null,
    data: row.data,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/**
 * Appends one event to an incident's log. Must run inside the caller's transaction, so the
 * event commits (or not) together with the change it records. Locks the incident row: appends
 * to one incident are serialised across every server node. Low level: features call
 * `bus.record(tx, event)`, which also publishes (this node) and announces (other nodes) on commit.
 */
export async function appendEvent(
  tx: Queryable,
  input: { incidentId: string; type: string; actor: EventActor | null; data: Record<string, unknown> },
): Promise<IncidentEvent> {
  const { rows } = await tx.query<{ last_seq: number; last_hash: string }>(
    // NO KEY UPDATE: serialises appends without conflicting with the FOR KEY SHARE locks that
    // inserting rows which reference the incident (dispatches, allocations, warnings) takes.
    'SELECT last_seq, last_hash FROM incidents WHERE id = $1 FOR NO KEY UPDATE',
    [input.incidentId],
  );
  const head = rows[0];
  if (!head) throw new AppError('not_found', `incident ${input.incidentId} not found`, { incidentId: input.incidentId });
  // Round-trip through JSON so the hashed data is exactly what jsonb will give back.
  const data = JSON.parse(JSON.stringify(input.data)) as Record<string, unknown>;
  const partial = {
    incidentId: input.incidentId,
    seq: head.last_seq + 1,
    type: input.type,
    at: new Date().toISOString(),
    actor: storedActor(input.actor),
    data,
    prevHash: head.last_hash,
  };
  const event: IncidentEvent = { ...partial, hash: hashEvent(partial) };
  await tx.query(
    `INSERT INTO incident_events (incident_id, seq, type, at, actor_id, actor_name, data, prev_hash, hash, actor_display_name)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [event.incidentId, event.seq, event.type, event.at, event.actor?.id ?? null, event.actor?.name ?? null, JSON.stringify(event.data), event.prevHash, event.hash, event.actor?.displayName ?? null],
  );
  await tx.query('UPDATE incidents SET last_seq = $2, last_hash = $3 WHERE id = $1', [event.incidentId, event.seq, event.hash]);
  return event;
}

export interface EventInput {
  incidentId: string;
  type: string;
  actor: EventActor | null;
  data: Record<string, unknown>;
}

/**
 * Appends several events (to one or more incidents) in three statements instead of three per
 * event: for callers that commit many changes in one transaction (batched allocations). Same
 * guarantees as appendEvent; incidents are locked in id order so concurrent batches never deadlock.
 */
export async function appendEvents(tx: Queryable, inputs: EventInput[]): Promise<IncidentEvent[]> {
  if (inputs.length <= 1) return inputs.length === 0 ? [] : [await appendEvent(tx, inputs[0]!)];
  const ids = [...new Set(inputs.map((i) => i.incidentId))].sort();
  const { rows } = await tx.query<{ id: string; last_seq: number; last_hash: string }>(
    'SELECT id, last_seq, last_hash FROM incidents WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE',
    [ids],
  );
  const heads = new Map(rows.map((r) => [r.id, { seq: r.last_seq, hash: r.last_hash }]));
  const at = new Date().toISOString();
  const events = inputs.map((input) => {
    const head = heads.get(input.incidentId);
    if (!head) throw new AppError('not_found', `incident ${input.incidentId} not found`, { incidentId: input.incidentId });
    const partial = {
      incidentId: input.incidentId,
      seq: head.seq + 1,
      type: input.type,
      at,
      actor: storedActor(input.actor),
      data: JSON.parse(JSON.stringify(input.data)) as Record<string, unknown>,
      prevHash: head.hash,
    };
    const event: IncidentEvent = { ...partial, hash: hashEvent(partial) };
    head.seq = event.seq;
    head.hash = event.hash;
    return event;
  });
  await tx.query(
    `INSERT INTO incident_events (incident_id, seq, type, at, actor_id, actor_name, data, prev_hash, hash, actor_display_name)
     SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::timestamptz[], $5::uuid[], $6::text[], $7::jsonb[], $8::text[], $9::text[], $10::text[])`,
    [
      events.map((e) => e.incidentId),
      events.map((e) => e.seq),
      events.map((e) => e.type),
      events.map((e) => e.at),
      events.map((e) => e.actor?.id ?? null),
      events.map((e) => e.actor?.name ?? null),
      events.map((e) => JSON.stringify(e.data)),
      events.map((e) => e.prevHash),
      events.map((e) => e.hash),
      events.map((e) => e.actor?.displayName ?? null),
    ],
  );
  const newHeads = [...heads.entries()];
  await tx.query(
    `UPDATE incidents SET last_seq = v.seq, last_hash = v.hash
     FROM unnest($1::uuid[], $2::int[], $3::text[]) AS v(id, seq, hash) WHERE incidents.id = v.id`,
    [newHeads.map(([id]) => id), newHeads.map(([, h]) => h.seq), newHeads.map(([, h]) => h.hash)],
  );
  return events;
}

export async function listEvents(
  db: Queryable,
  incidentId: string,
  opts: { afterSeq?: number; limit?: number; types?: string[] } = {},
): Promise<IncidentEvent[]> {
  const params: unknown[] = [incidentId, opts.afterSeq ?? 0, opts.limit ?? 1000];
  let typeFilter = '';
  if (opts.types && opts.types.length > 0) {
    params.push(opts.types);
    typeFilter = 'AND type = ANY($4)';
  }
  const { rows } = await db.query<EventRow>(
    `SELECT * FROM incident_events WHERE incident_id = $1 AND seq > $2 ${typeFilter} ORDER BY seq LIMIT $3`,
    params,
  );
  return rows.map(toEvent);
}

export interface ChainVerification {
  ok: boolean;
  checked: number;
  lastSeq: number;
  /** The first entry whose link does not hold, when ok is false. */
  brokenAt?: number;
  reason?: string;
}

/**
 * Recomputes every link of the chain from the stored rows, up to the head read first: entries
 * committed while it reads lie beyond that head and cannot make it fail. A row beyond the head
 * that the head never moved to (written outside the log) is still found by the last check.
 */
export async function verifyChain(db: Queryable, incidentId: string): Promise<ChainVerification> {
  const head = await db.query<{ last_seq: number; last_hash: string }>('SELECT last_seq, last_hash FROM incidents WHERE id = $1', [incidentId]);
  const incident = head.rows[0];
  if (!incident) throw new AppError('not_found', `incident ${incidentId} not found`, { incidentId });
  const broken = (brokenAt: number, checked: number, reason: string): ChainVerification => ({ ok: false, checked, lastSeq: incident.last_seq, brokenAt, reason });
  const outsideTheLog = 'chain head does not match the incident (entries removed or appended outside the log)';
  let prev = genesisHash(incidentId);
  let checked = 0;
  const batch = 2000;
  for (let after = 0; after < incident.last_seq; ) {
    const { rows } = await db.query<EventRow>(
      'SELECT * FROM incident_events WHERE incident_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4',
      [incidentId, after, incident.last_seq, batch],
    );
    for (const row of rows) {
      const event = toEvent(row);
      const expectedSeq = checked + 1;
      if (event.seq !== expectedSeq) return broken(expectedSeq, checked, `entry ${expectedSeq} is missing`);
      if (event.prevHash !== prev) return broken(event.seq, checked, 'previous-hash link does not match');
      if (hashEvent(event) !== event.hash) return broken(event.seq, checked, 'entry content does not match its hash');
      prev = event.hash;
      checked++;
    }
    if (rows.length < batch) break;
    after = rows[rows.length - 1]!.seq;
  }
  if (checked !== incident.last_seq || prev !== incident.last_hash) return broken(checked + 1, checked, outsideTheLog);
  // Rows past the head are legitimate only if the head has moved on to them since it was read.
  const beyond = await db.query<{ max_seq: number | null; last_seq: number }>(
    'SELECT (SELECT max(seq) FROM incident_events WHERE incident_id = $1) AS max_seq, last_seq FROM incidents WHERE id = $1',
    [incidentId],
  );
  const now = beyond.rows[0]!;
  if ((now.max_seq ?? 0) > now.last_seq) return broken(now.last_seq + 1, checked, outsideTheLog);
  return { ok: true, checked, lastSeq: incident.last_seq };
}

/** Who did it, as the services know the signed-in actor; `record` maps it through `eventActorOf`. */
export interface ActorSource {
  userId: string;
  username: string;
  displayName?: string;
}

/** One entry for `record`: the actor is the signed-in actor (or null for the system). */
export interface RecordInput {
  incidentId: string;
  type: string;
  actor: ActorSource | null;
  data: Record<string, unknown>;
}

/**
 * Verifies events already read (seq 1…n, in order) against a head read before them — for callers
 * that need the events anyway (the after-action review): one read of the log instead of two, and
 * appends committed after the head was read cannot make the check fail (the caller reads up to
 * `head.lastSeq` only).
 */
export function verifyEvents(incidentId: string, events: IncidentEvent[], head: { lastSeq: number; lastHash: string }): ChainVerification {
  let prev = genesisHash(incidentId);
  let checked = 0;
  for (const event of events) {
    const expectedSeq = checked + 1;
    if (event.seq !== expectedSeq) return { ok: false, checked, lastSeq: head.lastSeq, brokenAt: expectedSeq, reason: `entry ${expectedSeq} is missing` };
    if (event.prevHash !== prev) return { ok: false, checked, lastSeq: head.lastSeq, brokenAt: event.seq, reason: 'previous-hash link does not match' };
    if (hashEvent(event) !== event.hash) return { ok: false, checked, lastSeq: head.lastSeq, brokenAt: event.seq, reason: 'entry content does not match its hash' };
    prev = event.hash;
    checked++;
  }
  if (checked !== head.lastSeq || prev !== head.lastHash) {
    return { ok: false, checked, lastSeq: head.lastSeq, brokenAt: checked + 1, reason: 'chain head does not match the incident (entries removed or appended outside the log)' };
  }
  return { ok: true, checked, lastSeq: head.lastSeq };
}

/**
 * The timeline. `record(tx, event)` is the one call that writes it: appends the hash-chained
 * entry inside the caller's transaction and publishes it to this node's subscribers (the live
 * feed, other modules' reactions) once that transaction commits — never on rollback. Other nodes
 * learn of committed entries through the cluster seam; the log in PostgreSQL stays the truth that
 * late or reconnecting clients read from.
 */
export class IncidentEventBus extends EventEmitter<{ event: [IncidentEvent] }> {
  /** @param cluster announces committed entries to the other nodes (none: this node only). */
  constructor(private readonly cluster?: Cluster) {
    super();
  }

  /** Appends one entry in `tx` (a `withTransaction` client) and publishes it after commit. */
  async record(tx: Queryable, input: RecordInput): Promise<IncidentEvent> {
    const afterCommit = afterCommitOf(tx);
    const event = await appendEvent(tx, toEventInput(input));
    await this.announce(tx, [event]);
    afterCommit(() => this.publish(event));
    return event;
  }

  /** Several entries (one or more incidents) in three statements; published in order after commit. */
  async recordAll(tx: Queryable, inputs: RecordInput[]): Promise<IncidentEvent[]> {
    const afterCommit = afterCommitOf(tx);
    const events = await appendEvents(tx, inputs.map(toEventInput));
    await this.announce(tx, events);
    afterCommit(() => events.forEach((e) => this.publish(e)));
    return events;
  }

  /** Other nodes are told each incident's newest seq once; their live feeds fill the rest from the log. */
  private async announce(tx: Queryable, events: IncidentEvent[]): Promise<void> {
    if (!this.cluster?.multiNode) return;
    const heads = new Map<string, number>();
    for (const e of events) heads.set(e.incidentId, Math.max(heads.get(e.incidentId) ?? 0, e.seq));
    for (const [incidentId, seq] of heads) await this.cluster.publish({ type: ClusterMessageType.IncidentEvent, incidentId, seq }, tx);
  }

  /** Hands a committed entry to this node's subscribers. Only `record` and the cross-node relay call it. */
  publish(event: IncidentEvent): void {
    this.emit('event', event);
  }
}

function toEventInput(input: RecordInput): EventInput {
  return { incidentId: input.incidentId, type: input.type, actor: input.actor ? eventActorOf(input.actor) : null, data: input.data };
}
