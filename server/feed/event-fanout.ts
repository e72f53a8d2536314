import type { Queryable } from '../db/database.js';
import type { Logger } from '../log.js';
import type { IncidentEvent } from '../../shared/events.js';
import { listEvents } from '../incidents/event-log.js';

interface Cursor {
  /** Highest seq this node has broadcast to the incident's room; undefined until read from the log. */
  emittedSeq: number | undefined;
  /** Delivery tasks of this incident run one after another, so the room sees seq order. */
  queue: Promise<void>;
  /** When the room was first seen empty (for the sweep); undefined while someone is in it. */
  emptySince: number | undefined;
  /**
   * Settles when every broadcast so far has reached this node's sockets. With the Redis streams
   * adapter a broadcast is delivered locally only once its XADD has answered, so a socket that
   * joined before that would get an entry its join page already had.
   */
  delivered: Promise<unknown>;
}

const CATCH_UP_BATCH = 1000;

/**
 * Broadcasts each incident's event-log entries to its room exactly once and in seq order, whatever
 * their source: the in-process bus (events committed here), a notification from another node
 * (only incidentId:seq — the entry is read from the log), or a gap noticed on the way. A cursor per
 * incident remembers the last seq broadcast; anything at or below it is a duplicate. Joins run in
 * the same per-incident queue (`whileHeld`), so a joining socket's replay ends exactly where the
 * room's live broadcast continues.
 */
export class EventFanout {
  private readonly cursors = new Map<string, Cursor>();

  constructor(
    private readonly db: Queryable,
    /** Returns a promise when delivery to this node's sockets finishes later (see Cursor.delivered). */
    private readonly broadcast: (event: IncidentEvent) => void | Promise<unknown>,
    private readonly log: Logger,
  ) {}

  /** Incidents this node currently delivers (a room was joined here recently). */
  get tracked(): number {
    return this.cursors.size;
  }

  /** The highest seq broadcast to the incident's room on this node, if it is tracked. */
  emitted(incidentId: string): number | undefined {
    return this.cursors.get(incidentId)?.emittedSeq;
  }

  /** An event committed by this node (from the IncidentEventBus). */
  onLocalEvent(event: IncidentEvent): void {
    const cursor = this.cursors.get(event.incidentId);
    if (cursor) this.enqueue(event.incidentId, cursor, () => this.deliverThrough(event.incidentId, cursor, event.seq, event));
  }

  /** Another node (or this one, echoed by PostgreSQL) committed entry `seq` of the incident. */
  onCommitted(incidentId: string, seq: number): void {
    const cursor = this.cursors.get(incidentId);
    if (cursor) this.enqueue(incidentId, cursor, () => this.deliverThrough(incidentId, cursor, seq));
  }

  /** Brings every tracked room up to the log's head (after notifications may have been missed). */
  resyncAll(): void {
    for (const [incidentId, cursor] of this.cursors) {
      this.enqueue(incidentId, cursor, () => this.catchUp(incidentId, cursor, Infinity));
    }
  }

  /**
   * Runs fn with no broadcast to the incident's room in between, after the room has been brought up
   * to the log's head; fn gets the last seq the room has seen.
   */
  whileHeld<T>(incidentId: string, fn: (emittedSeq: number) => Promise<T>): Promise<T> {
    let cursor = this.cursors.get(incidentId);
    if (!cursor) {
      cursor = { emittedSeq: undefined, queue: Promise.resolve(), emptySince: undefined, delivered: Promise.resolve() };
      this.cursors.set(incidentId, cursor);
    }
    const c = cursor;
    return new Promise<T>((resolve, reject) => {
      this.enqueue(incidentId, c, async () => {
        try {
          await this.catchUp(incidentId, c, Infinity);
          await c.delivered;
          resolve(await fn(c.emittedSeq!));
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  /**
   * Forgets incidents whose room has been empty for longer than `idleMs` (long enough that no
   * disconnected socket can still recover into it). Called periodically.
   */
  sweep(roomSize: (incidentId: string) => number, idleMs: number, now = Date.now()): void {
    for (const [incidentId, cursor] of this.cursors) {
      if (roomSize(incidentId) > 0) cursor.emptySince = undefined;
      else if (cursor.emptySince === undefined) cursor.emptySince = now;
      else if (now - cursor.emptySince >= idleMs) this.cursors.delete(incidentId);
    }
  }

  private enqueue(incidentId: string, cursor: Cursor, task: () => Promise<void>): void {
    cursor.queue = cursor.queue.then(task).catch((err: unknown) => {
      // The room stays behind; the next event or join finds the gap and reads it from the log.
      this.log.error({ err, incidentId }, 'live feed: delivering events failed');
    });
  }

  private async deliverThrough(incidentId: string, cursor: Cursor, seq: number, event?: IncidentEvent): Promise<void> {
    if (cursor.emittedSeq === undefined) return this.catchUp(incidentId, cursor, seq);
    if (seq <= cursor.emittedSeq) return;
    if (event && seq === cursor.emittedSeq + 1) {
      this.send(cursor, event);
      cursor.emittedSeq = seq;
      return;
    }
    await this.catchUp(incidentId, cursor, seq);
  }

  private send(cursor: Cursor, event: IncidentEvent): void {
    const pending = this.broadcast(event);
    // Not awaited here: XADDs of one incident pipeline on one connection and answer in order.
    if (pending) cursor.delivered = Promise.all([cursor.delivered, pending.catch(() => undefined)]);
  }

  /** Broadcasts the log entries after the cursor, up to `throughSeq` or the head. */
  private async catchUp(incidentId: string, cursor: Cursor, throughSeq: number): Promise<void> {
    if (cursor.emittedSeq === undefined) {
      // A fresh cursor: the room is new on this node, nobody in it needs the past.
      const { rows } = await this.db.query<{ last_seq: number }>('SELECT last_seq FROM incidents WHERE id = $1', [incidentId]);
      cursor.emittedSeq = rows[0]?.last_seq ?? 0;
      return;
    }
    while (cursor.emittedSeq < throughSeq) {
      const events = await listEvents(this.db, incidentId, { afterSeq: cursor.emittedSeq, limit: CATCH_UP_BATCH });
      for (const event of events) {
        this.send(cursor, event);
        cursor.emittedSeq = event.seq;
      }
      if (events.length < CATCH_UP_BATCH) return;
    }
  }
}
