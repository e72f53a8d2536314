/**
 * One incident's live checklist on this node: the Y.Doc, its awareness and its connections.
 *
 * Write path: a client's update is queued, applied to the doc at the next tick together with
 * the other updates of that tick, handed to the UpdateWriter, and relayed only after the
 * database committed it. While a batch is being written the doc holds state nobody else has
 * seen yet, so sync-step-2 answers wait for the write to finish: nothing leaves the server
 * before it is stored.
 */
import * as Y from 'yjs';
import * as awarenessProtocol from 'y-protocols/awareness';
import type { Logger } from '../log.js';
import type { IncidentRecord } from '../incidents/incidents.js';
import { policy } from '../auth/policy.js';
import { YJS_CLOSE_CODES } from '../../shared/checklist.js';
import { checklistUpdateProblem } from './update-guard.js';
import { Connection } from './connection.js';
import type { UpdateWriter } from './update-writer.js';
import { watchMilestones, type Milestone } from './milestones.js';
import { SERVER_ORIGIN } from './seeding.js';
import {
  encodeAwareness,
  encodePermissionDenied,
  encodeSyncStep1,
  encodeSyncStep2,
  encodeUpdate,
  type ClientMessage,
  type DecodedUpdate,
} from './protocol.js';

/** An update with no structs and an empty delete set (what an empty doc sends in sync step 2). */
const isEmptyUpdate = (update: Uint8Array) => update.length === 2 && update[0] === 0 && update[1] === 0;

/** Origin of updates that are already stored when applied (reconciliation after a level change). */
const STORED_ORIGIN = Symbol('stored');

interface Batch {
  updates: { update: Uint8Array; origin: Connection }[];
  milestones: { milestone: Milestone; origin: Connection }[];
}

export class Room {
  readonly conns = new Set<Connection>();
  readonly awareness: awarenessProtocol.Awareness;
  private pending: { conn: Connection; update: Uint8Array; decoded: DecodedUpdate }[] = [];
  private flushScheduled = false;
  private flushing: Promise<void> | null = null;
  /** Set while a batch is applied: collects the effective updates and milestones. */
  private batch: Batch | null = null;
  private destroyed = false;
  private readonly stopMilestones: () => void;

  constructor(
    readonly incidentId: string,
    public incident: IncidentRecord,
    readonly doc: Y.Doc,
    private readonly writer: UpdateWriter,
    private readonly log: Logger,
    /**
     * Called when the last client is gone and nothing is being written (`forced` false: the owner
     * may keep the room for a client being admitted), or when the in-memory state is in doubt
     * (`forced` true). The owner drops the room and calls destroy().
     */
    private readonly onRelease: (room: Room, forced: { code: number; reason: string } | null) => void,
  ) {
    this.awareness = new awarenessProtocol.Awareness(doc);
    this.awareness.setLocalState(null);
    this.awareness.on('update', this.onAwarenessUpdate);
    doc.on('update', this.onDocUpdate);
    this.stopMilestones = watchMilestones(
      doc,
      incidentId,
      (origin) => (this.batch && origin instanceof Connection ? origin.actor : undefined),
      (milestone, origin) => this.batch?.milestones.push({ milestone, origin: origin as Connection }),
    );
  }

  get closed(): boolean {
    return this.incident.status === 'closed';
  }

  /** Nothing queued or being written: safe to unload. */
  get idle(): boolean {
    return this.conns.size === 0 && this.pending.length === 0 && !this.flushing && !this.flushScheduled;
  }

  join(conn: Connection): void {
    this.conns.add(conn);
    conn.send(encodeSyncStep1(this.doc));
    const states = this.awareness.getStates();
    if (states.size > 0) conn.send(encodeAwareness(this.awareness, [...states.keys()]));
  }

  leave(conn: Connection): void {
    if (!this.conns.delete(conn)) return;
    if (conn.awarenessIds.size > 0) awarenessProtocol.removeAwarenessStates(this.awareness, [...conn.awarenessIds], null);
    // Its queued updates stay queued: they were accepted, and a client that closes for good
    // right after an edit must not lose it.
    this.releaseIfIdle();
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  /** Handles one decoded message of a connection. */
  handle(conn: Connection, message: ClientMessage): void {
    if (!this.conns.has(conn)) return;
    switch (message.kind) {
      case 'syncStep1':
        void this.answerSyncStep1(conn, message.stateVector);
        return;
      case 'update':
        // Every connecting client answers sync step 1 with its state, often nothing at all.
        if (isEmptyUpdate(message.update)) return;
        if (!conn.writable) {
          if (conn.shouldTellReadOnly()) {
            conn.send(encodePermissionDenied(this.closed ? 'incident is closed: the checklist is read-only' : `role ${conn.actor.role} may not edit the checklist`));
          }
          return;
        }
        this.pending.push({ conn, update: message.update, decoded: message.decoded });
        this.flushSoon();
        return;
      case 'awareness':
        awarenessProtocol.applyAwarenessUpdate(this.awareness, message.update, conn);
        return;
      case 'queryAwareness':
        conn.send(encodeAwareness(this.awareness, [...this.awareness.getStates().keys()]));
        return;
      case 'ignored':
        return;
    }
  }

  /** Applies an update that is already stored (reconciliation) and relays it to everyone. */
  applyStored(update: Uint8Array): void {
    Y.applyUpdate(this.doc, update, STORED_ORIGIN);
  }

  /** The incident changed (level, close): refresh what connections may do. */
  updateIncident(incident: IncidentRecord): void {
    this.incident = incident;
    for (const conn of this.conns) conn.writable = this.mayEdit(conn);
  }

  mayEdit(conn: Pick<Connection, 'actor'>): boolean {
    return !this.closed && policy.editChecklist(conn.actor, this.incident);
  }

  /** Closes every connection and frees the doc and the awareness timer. */
  destroy(code: number = YJS_CLOSE_CODES.goingAway, reason = 'room closed'): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const conn of this.conns) conn.close(code, reason);
    this.conns.clear();
    this.pending = [];
    this.stopMilestones();
    this.awareness.off('update', this.onAwarenessUpdate);
    this.awareness.destroy();
    this.doc.off('update', this.onDocUpdate);
    this.doc.destroy();
  }

  /** Resolves when no batch is being written. */
  async settled(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async answerSyncStep1(conn: Connection, stateVector: Uint8Array): Promise<void> {
    // Encode only from stored state: wait out a batch that is being written.
    await this.settled();
    if (!this.destroyed && this.conns.has(conn)) {
      conn.send(encodeSyncStep2(this.doc, stateVector));
      // Relays start only now: an update relayed before this answer could build on content the
      // client does not have yet, and it would apply the update's deletes and park the rest
      // (an item seen without a status). Everything applied so far is in the answer.
      conn.synced = true;
    }
  }

  /** Starts a batch now when none is being written; otherwise the update joins the next one. */
  private flushSoon(): void {
    if (this.flushing || this.flushScheduled || this.destroyed) return;
    this.startFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.flushing || this.destroyed) return;
    this.flushScheduled = true;
    // setImmediate, not a microtask: sync answers waiting for the previous batch go first.
    setImmediate(() => {
      this.flushScheduled = false;
      if (this.destroyed || this.pending.length === 0) return this.releaseIfIdle();
      this.startFlush();
    });
  }

  private startFlush(): void {
    this.flushing = this.flush().finally(() => {
      this.flushing = null;
      if (this.pending.length > 0) this.scheduleFlush();
      else this.releaseIfIdle();
    });
  }

  private async flush(): Promise<void> {
    const incoming = this.pending.splice(0);
    const batch: Batch = { updates: [], milestones: [] };
    const rejected = new Set<Connection>();
    const refused = new Set<Connection>();
    this.batch = batch;
    try {
      for (const { conn, update, decoded } of incoming) {
        if (rejected.has(conn) || refused.has(conn)) continue;
        // Checked against the doc as it is now, with this batch's earlier updates applied. A refused
        // update is never applied; the sender's later updates build on it (Yjs needs each client's
        // structs without gaps), so its connection ends here with a permanent close code.
        const refusal = checklistUpdateProblem(this.doc, decoded);
        if (refusal) {
          this.log.warn({ incidentId: this.incidentId, user: conn.actor.username, refusal }, 'yjs update refused; closing that connection');
          refused.add(conn);
          conn.send(encodePermissionDenied(`update refused: ${refusal}`));
          conn.close(YJS_CLOSE_CODES.updateRefused, `update refused: ${refusal}`.slice(0, 120));
          continue;
        }
        try {
          Y.applyUpdate(this.doc, update, conn);
        } catch (err) {
          this.log.warn({ err, incidentId: this.incidentId, user: conn.actor.username }, 'yjs update could not be applied; closing that connection');
          rejected.add(conn);
        }
      }
    } finally {
      this.batch = null;
    }
    const updates = batch.updates.filter((u) => !rejected.has(u.origin));
    const milestones = batch.milestones.filter((m) => !rejected.has(m.origin)).map((m) => m.milestone);
    if (updates.length > 0) {
      try {
        await this.writer.write(
          updates.map((u) => ({ incidentId: this.incidentId, update: u.update })),
          milestones,
        );
      } catch (err) {
        // The doc now holds state that is not stored: drop it. Clients keep their edits and
        // send them again when they reconnect and resync.
        this.log.error({ err, incidentId: this.incidentId }, 'storing yjs updates failed; resetting the room');
        this.release(YJS_CLOSE_CODES.storageFailed, 'storing the update failed; reconnect');
        return;
      }
      if (this.destroyed) return;
      for (const { update, origin } of updates) {
        const message = encodeUpdate(update);
        for (const conn of this.conns) if (conn !== origin && conn.synced) conn.send(message);
      }
    }
    if (rejected.size > 0) {
      for (const conn of rejected) conn.close(YJS_CLOSE_CODES.malformedMessage, 'update could not be applied');
      // A half-applied update may be in the doc: reload from the database.
      this.release(YJS_CLOSE_CODES.goingAway, 'room reloading; reconnect');
    }
  }

  private readonly onDocUpdate = (update: Uint8Array, origin: unknown) => {
    if (origin === STORED_ORIGIN) {
      const message = encodeUpdate(update);
      for (const conn of this.conns) if (conn.synced) conn.send(message);
    } else if (this.batch && origin !== SERVER_ORIGIN) {
      this.batch.updates.push({ update, origin: origin as Connection });
    }
  };

  private readonly onAwarenessUpdate = (
    { added, updated, removed }: { added: number[]; updated: number[]; removed: number[] },
    origin: unknown,
  ) => {
    if (origin && this.conns.has(origin as Connection)) {
      const conn = origin as Connection;
      for (const id of added) conn.awarenessIds.add(id);
      for (const id of removed) conn.awarenessIds.delete(id);
    }
    const message = encodeAwareness(this.awareness, [...added, ...updated, ...removed]);
    for (const conn of this.conns) conn.send(message);
  };

  releaseIfIdle(): void {
    if (!this.destroyed && this.idle) this.onRelease(this, null);
  }

  private release(code: number, reason: string): void {
    if (!this.destroyed) this.onRelease(this, { code, reason });
  }

  /**
   * Drops the room because its in-memory state is in doubt (it may lack what is stored): every
   * client is closed with `code` (retryable) and resyncs against a room loaded afresh.
   */
  reset(code: number, reason: string): void {
    this.release(code, reason);
  }
}
