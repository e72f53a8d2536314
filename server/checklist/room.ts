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
import * as decoding from 'lib0/decoding';
import type { Logger } from '../log.js';
import type { IncidentRecord } from '../incidents/incidents.js';
import { can } from '../auth/policy.js';
import { YJS_CLOSE_CODES } from '../../shared/checklist.js';
import { checklistUpdateProblem } from './update-guard.js';
import { integrationProblem, isKnown } from './update-admission.js';
import { Connection } from './connection.js';
import type { UpdateWriter } from './update-writer.js';
import { watchMilestones, type Milestone } from './milestones.js';
import { SERVER_ORIGIN } from './seeding.js';
import {
  encodeAwareness,
  encodeAwarenessEntries,
  encodePermissionDenied,
  encodeSyncStep1,
  encodeSyncStep2,
  encodeUpdate,
  type AwarenessEntry,
  type ClientMessage,
  type DecodedUpdate,
} from './protocol.js';

/** Awareness client ids one connection may hold (one per Y.Doc; a tab has one, a little slack for tools). */
const MAX_AWARENESS_IDS_PER_CONNECTION = 4;
/** Updates held for a connection until its sync answer; more than this and the next one is refused. */
const MAX_HELD_UPDATES = 200;
/** How long updates wait for their connection's sync answer before they are judged without it. */
const HOLD_FOR_SYNC_REPLY_MS = 5_000;
const EMPTY_UPDATE = new Uint8Array([0, 0]);

/** An update with no structs and an empty delete set (what an empty doc sends in sync step 2). */
const isEmptyUpdate = (update: Uint8Array) => update.length === 2 && update[0] === 0 && update[1] === 0;

/** Origin of awareness changes made by a local connection leaving (relayed to other nodes). */
const LEFT_ORIGIN = Symbol('left');

/** Origin of awareness states relayed from another node. */
const REMOTE_ORIGIN = Symbol('remote');

/** Origin of updates that are already stored when applied (reconciliation after a level change). */
const STORED_ORIGIN = Symbol('stored');

export interface RoomLimits {
  /** Most characters one item's note may hold (YJS_MAX_NOTE_LENGTH). */
  maxNoteLength: number;
  /** Most bytes the doc's encoded state may reach (YJS_MAX_DOC_BYTES). */
  maxDocBytes: number;
}

export const DEFAULT_ROOM_LIMITS: RoomLimits = { maxNoteLength: 4000, maxDocBytes: 2 * 1024 * 1024 };

interface Batch {
  updates: { update: Uint8Array; origin: Connection }[];
  milestones: { milestone: Milestone; origin: Connection }[];
}

export class Room {
  readonly conns = new Set<Connection>();
  readonly awareness: awarenessProtocol.Awareness;
  private pending: { conn: Connection; update: Uint8Array; decoded: DecodedUpdate; syncReply: boolean }[] = [];
  private flushScheduled = false;
  private flushing: Promise<void> | null = null;
  /** Set while a batch is applied: collects the effective updates and milestones. */
  private batch: Batch | null = null;
  private destroyed = false;
  private readonly stopMilestones: () => void;
  /**
   * Upper bound of the doc's encoded size: measured at load and whenever it nears the limit, in
   * between grown by the size of each update (deleted content only makes the real size smaller).
   */
  private docBytesBound: number;
  /** Which connection each awareness client id belongs to. */
  private readonly awarenessOwners = new Map<number, Connection>();
  /** Awareness client ids of clients on other nodes, with their user id. */
  private readonly remoteAwarenessOwners = new Map<number, string>();
  /** Set by the owner when other nodes must see this node's awareness (real PostgreSQL). */
  relayAwareness: ((update: Uint8Array, userId: string) => void) | null = null;

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
    private readonly limits: RoomLimits = DEFAULT_ROOM_LIMITS,
  ) {
    this.docBytesBound = Y.encodeStateAsUpdate(doc).length;
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
    if (conn.awarenessIds.size > 0) {
      const ids = [...conn.awarenessIds].filter((id) => this.awareness.states.has(id));
      awarenessProtocol.removeAwarenessStates(this.awareness, ids, LEFT_ORIGIN);
      if (ids.length > 0) this.relayAwareness?.(awarenessProtocol.encodeAwarenessUpdate(this.awareness, ids), conn.actor.userId);
    }
    // Its queued updates stay queued: they were accepted, and a client that closes for good
    // right after an edit must not lose it.
    this.releaseIfIdle();
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  /** Handles one decoded message of a connection. */
  handle(conn: Connection, message: ClientMessage): void {
    // After a refusal the client's later messages build on what was refused: none is looked at.
    if (!this.conns.has(conn) || conn.refused) return;
    switch (message.kind) {
      case 'syncStep1':
        void this.answerSyncStep1(conn, message.stateVector);
        return;
      case 'update':
        // Every connecting client answers sync step 1 with its state, often nothing at all; that
        // answer still releases the updates held for it.
        if (isEmptyUpdate(message.update)) {
          if (message.syncReply && conn.writable) {
            this.pending.push({ conn, update: message.update, decoded: message.decoded, syncReply: true });
            this.flushSoon();
          }
          return;
        }
        if (!conn.writable) {
          if (conn.shouldTellReadOnly()) {
            conn.send(encodePermissionDenied(this.closed ? 'incident is closed: the checklist is read-only' : `role ${conn.actor.role} may not edit the checklist`));
          }
          return;
        }
        this.pending.push({ conn, update: message.update, decoded: message.decoded, syncReply: message.syncReply });
        this.flushSoon();
        return;
      case 'awareness':
        this.applyAwareness(conn, message.entries);
        return;
      case 'queryAwareness':
        conn.send(encodeAwareness(this.awareness, [...this.awareness.getStates().keys()]));
        return;
      case 'ignored':
        return;
    }
  }

  /**
   * Awareness belongs to its connection: it may set the client ids it introduced (another
   * connection of the same user may take one over: a reconnect that beat the old socket's close),
   * never another user's; every state's `user` is the authenticated account's. All or nothing.
   */
  private applyAwareness(conn: Connection, entries: AwarenessEntry[]): void {
    let introduced = 0;
    for (const { clientId } of entries) {
      const owner = this.awarenessOwners.get(clientId);
      if (owner === conn) continue;
      const ownerUserId = owner?.actor.userId ?? this.remoteAwarenessOwners.get(clientId);
      if (ownerUserId !== undefined && ownerUserId !== conn.actor.userId) {
        conn.send(encodePermissionDenied(`awareness client ${clientId} belongs to another connection`));
        return;
      }
      introduced++;
    }
    if (conn.awarenessIds.size + introduced > MAX_AWARENESS_IDS_PER_CONNECTION) {
      conn.send(encodePermissionDenied(`a connection may use at most ${MAX_AWARENESS_IDS_PER_CONNECTION} awareness client ids`));
      return;
    }
    const user = { id: conn.actor.userId, name: conn.displayName, role: conn.actor.role };
    for (const { clientId, state } of entries) {
      const owner = this.awarenessOwners.get(clientId);
      if (owner && owner !== conn) owner.awarenessIds.delete(clientId);
      if (state === null) continue; // released once applied (onAwarenessUpdate)
      this.awarenessOwners.set(clientId, conn);
      conn.awarenessIds.add(clientId);
    }
    const stamped = encodeAwarenessEntries(entries.map((e) => (e.state === null ? e : { ...e, state: { ...e.state, user } })));
    for (const { clientId } of entries) this.remoteAwarenessOwners.delete(clientId);
    awarenessProtocol.applyAwarenessUpdate(this.awareness, stamped, conn);
    this.relayAwareness?.(stamped, conn.actor.userId);
  }

  /** Awareness of a client on another node (already checked and stamped there). */
  applyRemoteAwareness(update: Uint8Array, userId: string): void {
    if (this.destroyed) return;
    const decoder = decoding.createDecoder(update);
    const entries: { clientId: number; removed: boolean }[] = [];
    for (let count = decoding.readVarUint(decoder); count > 0; count--) {
      const clientId = decoding.readVarUint(decoder);
      decoding.readVarUint(decoder); // clock
      entries.push({ clientId, removed: decoding.readVarString(decoder) === 'null' });
    }
    // An id a local connection owns stays its own (a client on two nodes at once is a race its next update settles).
    if (entries.some((e) => this.awarenessOwners.has(e.clientId))) return;
    for (const { clientId, removed } of entries) {
      if (removed) this.remoteAwarenessOwners.delete(clientId);
      else this.remoteAwarenessOwners.set(clientId, userId);
    }
    awarenessProtocol.applyAwarenessUpdate(this.awareness, update, REMOTE_ORIGIN);
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
    return can(conn.actor, 'checklist.edit', { incident: this.incident });
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
    this.batch = batch;
    try {
      for (let i = 0; i < incoming.length; i++) {
        const { conn, update, decoded, syncReply } = incoming[i]!;
        if (conn.refused) continue;
        if (syncReply && !conn.syncReplied) {
          // Its sync answer is here: what was held for it goes right after it, in arrival order.
          conn.syncReplied = true;
          incoming.splice(i + 1, 0, ...conn.held.splice(0).map((h) => ({ conn, ...h, syncReply: false })));
          if (isEmptyUpdate(update)) continue;
        }
        // Checked against the doc as it is now, with this batch's earlier updates applied. A refused
        // update is never applied; the sender's later updates build on it (Yjs needs each client's
        // structs without gaps), so its connection ends here with a permanent close code.
        const refusal = this.admissionProblem(decoded, update.length);
        if (refusal?.missing && !conn.syncReplied && conn.held.length < MAX_HELD_UPDATES) {
          if (conn.held.length === 0) this.stopHoldingLater(conn);
          conn.held.push({ update, decoded });
          continue;
        }
        if (refusal) {
          this.log.warn({ incidentId: this.incidentId, user: conn.actor.username, refusal: refusal.reason }, 'yjs update refused; closing that connection');
          conn.refused = true;
          conn.send(encodePermissionDenied(`update refused: ${refusal.reason}`));
          conn.close(refusal.code, `update refused: ${refusal.reason}`.slice(0, 120));
          continue;
        }
        try {
          Y.applyUpdate(this.doc, update, conn);
        } catch (err) {
          this.log.warn({ err, incidentId: this.incidentId, user: conn.actor.username }, 'yjs update could not be applied; closing that connection');
          conn.refused = true;
          rejected.add(conn);
          continue;
        }
        if (this.doc.store.pendingStructs || this.doc.store.pendingDs) {
          // The admission check should make this impossible; if Yjs parked anything anyway, the doc
          // is no longer what the stored updates produce.
          this.log.error({ incidentId: this.incidentId, user: conn.actor.username }, 'yjs update left pending content; reloading the room');
          conn.refused = true;
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

  /**
   * Why the update may not be applied, or null. All or nothing: every struct and delete integrates
   * now (nothing left pending), every change is one users may make, the doc stays under its size.
   */
  /**
   * A client that never answers the server's sync step 1 does not get its held updates kept for
   * ever: after HOLD_FOR_SYNC_REPLY_MS they are judged as they stand (and refused if they still
   * build on content the server does not have).
   */
  private stopHoldingLater(conn: Connection): void {
    setTimeout(() => {
      if (this.destroyed || conn.syncReplied || conn.refused || !this.conns.has(conn)) return;
      this.pending.push({ conn, update: EMPTY_UPDATE, decoded: Y.decodeUpdate(EMPTY_UPDATE), syncReply: true });
      this.flushSoon();
    }, HOLD_FOR_SYNC_REPLY_MS).unref();
  }

  private admissionProblem(decoded: DecodedUpdate, bytes: number): { code: number; reason: string; missing?: boolean } | null {
    const missing = integrationProblem(this.doc, decoded);
    if (missing) return { code: YJS_CLOSE_CODES.updateRefused, reason: missing, missing: true };
    const problem = checklistUpdateProblem(this.doc, decoded, this.limits);
    if (problem) return { code: YJS_CLOSE_CODES.updateRefused, reason: problem };
    if (decoded.structs.every((s) => isKnown(this.doc, s))) return null; // deletes only make it smaller
    if (this.docBytesBound + bytes > this.limits.maxDocBytes) {
      this.docBytesBound = Y.encodeStateAsUpdate(this.doc).length;
      if (this.docBytesBound + bytes > this.limits.maxDocBytes) {
        return { code: YJS_CLOSE_CODES.documentTooLarge, reason: `the checklist document would exceed ${this.limits.maxDocBytes} bytes` };
      }
    }
    return null;
  }

  private readonly onDocUpdate = (update: Uint8Array, origin: unknown) => {
    this.docBytesBound += update.length;
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
    for (const id of removed) {
      this.awarenessOwners.get(id)?.awarenessIds.delete(id);
      this.awarenessOwners.delete(id);
      this.remoteAwarenessOwners.delete(id);
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
