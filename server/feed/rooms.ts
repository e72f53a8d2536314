import { z } from 'zod';
import type { Queryable } from '../db/database.js';
import type { Logger } from '../log.js';
import { AppError } from '../http/errors.js';
import { listEvents } from '../incidents/event-log.js';
import { eventReaches } from '../../shared/drill.js';
import { publicView, type IncidentService } from '../incidents/incidents.js';
import { LIVE_EVENTS, LIVE_JOIN_PAGE_SIZE, type JoinAck, type LeaveAck, type LiveError } from '../../shared/live.js';
import type { EventFanout } from './event-fanout.js';
import type { PresenceBroadcaster, PresenceStore } from './presence.js';
import { incidentOfRoom, roomOf, type LiveServer, type LiveSocket } from './types.js';

const incidentId = z.string().min(1).max(100);
const joinRequest = z.object({ incidentId, afterSeq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional() }).strict();
const leaveRequest = z.object({ incidentId }).strict();

const KNOWN_EVENTS = new Set<string>([LIVE_EVENTS.join, LIVE_EVENTS.leave]);

type Reply<T> = (result: T) => void;

function parse<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({ path: i.path.join('.') || 'payload', message: i.message, code: i.code }));
  throw new AppError('validation_failed', `invalid payload: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, { issues });
}

/**
 * The incident rooms of the live feed: joining (with replay from the log), leaving, presence, and
 * refusing whatever else a client sends. Every handler answers through its acknowledgement, or a
 * `live:error` event when there is none; too many refused messages close the connection.
 */
export class FeedRooms {
  /** Presence writes of one socket, in order (a quick leave and rejoin must not land reversed). */
  private readonly presenceWrites = new Map<string, Promise<void>>();
  /** Set on shutdown: the node's presence rows are then removed all at once. */
  closing = false;

  constructor(
    private readonly io: LiveServer,
    private readonly deps: {
      db: Queryable;
      incidents: IncidentService;
      fanout: EventFanout;
      presence: PresenceStore;
      presenceFeed: PresenceBroadcaster;
      log: Logger;
      maxBadMessages: number;
    },
  ) {}

  /** Wires one authenticated connection. */
  accept(socket: LiveSocket): void {
    socket.data.badMessages ??= 0;
    socket.on(LIVE_EVENTS.join, (...args: unknown[]) => this.handle(socket, LIVE_EVENTS.join, args, (payload, reply) => this.join(socket, payload, reply)));
    socket.on(LIVE_EVENTS.leave, (...args: unknown[]) => this.handle(socket, LIVE_EVENTS.leave, args, async (payload, reply) => reply(await this.leave(socket, payload))));
    socket.onAny((event: unknown, ...args: unknown[]) => {
      if (typeof event === 'string' && KNOWN_EVENTS.has(event)) return;
      const name = typeof event === 'string' ? event.slice(0, 100) : String(event);
      this.refuse(socket, name, args, new AppError('unknown_event', `unknown event "${name}"; the live feed accepts ${[...KNOWN_EVENTS].join(', ')}`, { event: name }));
    });
    socket.on('disconnecting', () => {
      for (const room of socket.rooms) {
        const id = incidentOfRoom(room);
        if (id) this.removePresence(socket, id);
      }
    });
    if (socket.recovered) {
      // Connection-state recovery put the socket back into its rooms; put it back into presence too.
      for (const room of socket.rooms) {
        const id = incidentOfRoom(room);
        if (id) this.addPresence(socket, id);
      }
    }
  }

  private async join(socket: LiveSocket, payload: unknown, reply: Reply<JoinAck>): Promise<void> {
    const request = parse(joinRequest, payload);
    const actor = socket.data.actor;
    const visible = await this.deps.incidents.get(actor, request.incidentId);
    await this.deps.fanout.whileHeld(visible.id, async (emittedSeq) => {
      // Nothing is broadcast to the room while this runs, and the reply is sent before it ends:
      // the page ends exactly where the room's live broadcast resumes.
      const page = (await listEvents(this.deps.db, visible.id, { afterSeq: request.afterSeq ?? 0, limit: LIVE_JOIN_PAGE_SIZE + 1 })).filter(
        (e) => e.seq <= emittedSeq,
      );
      const hasMore = page.length > LIVE_JOIN_PAGE_SIZE;
      if (!hasMore && socket.connected) {
        socket.join(roomOf(visible.id));
        this.addPresence(socket, visible.id);
      }
      // Drill entries reach their audience only (see shared/drill.ts eventReaches).
      reply({ ok: true, incident: publicView(visible), events: page.slice(0, LIVE_JOIN_PAGE_SIZE).filter((e) => eventReaches(actor, e)), hasMore });
    });
  }

  private async leave(socket: LiveSocket, payload: unknown): Promise<LeaveAck> {
    const request = parse(leaveRequest, payload);
    const room = roomOf(request.incidentId.toLowerCase());
    if (socket.rooms.has(room)) {
      socket.leave(room);
      this.removePresence(socket, request.incidentId.toLowerCase());
    }
    return { ok: true };
  }

  /** Runs a handler, which answers through `reply`; a failure is answered with `{ok: false, error}`. */
  private handle<A extends JoinAck | LeaveAck>(socket: LiveSocket, event: string, args: unknown[], run: (payload: unknown, reply: Reply<A>) => Promise<void>): void {
    let [payload, ack] = args;
    if (typeof payload === 'function' && ack === undefined) [payload, ack] = [undefined, payload];
    if (typeof ack !== 'function') {
      this.refuse(socket, event, args, new AppError('validation_failed', `${event} needs an acknowledgement callback: socket.emit('${event}', payload, (result) => …)`, {}));
      return;
    }
    let answered = false;
    const answer = (result: JoinAck | LeaveAck) => {
      if (answered) return;
      answered = true;
      (ack as Reply<JoinAck | LeaveAck>)(result);
    };
    run(payload, answer).catch((err: unknown) => {
      if (err instanceof AppError) {
        if (err.code === 'validation_failed') this.countBad(socket);
        answer({ ok: false, error: { code: err.code, message: err.message, details: err.details } });
        return;
      }
      this.deps.log.error({ err, event, socketId: socket.id }, 'live feed: handler failed');
      answer({ ok: false, error: { code: 'internal', message: 'internal server error', details: {} } });
    });
  }

  /** Answers a message the server will not process, through its ack if it has one. */
  private refuse(socket: LiveSocket, event: string, args: unknown[], err: AppError): void {
    const error: LiveError = { code: err.code, message: err.message, details: err.details };
    const ack = args[args.length - 1];
    if (typeof ack === 'function') (ack as Reply<JoinAck>)({ ok: false, error });
    else socket.emit(LIVE_EVENTS.error, { ...error, event });
    this.countBad(socket);
  }

  private countBad(socket: LiveSocket): void {
    socket.data.badMessages = (socket.data.badMessages ?? 0) + 1;
    if (socket.data.badMessages > this.deps.maxBadMessages && socket.connected) {
      this.deps.log.warn({ socketId: socket.id, userId: socket.data.actor.userId, badMessages: socket.data.badMessages }, 'live feed: closing an abusive connection');
      socket.emit(LIVE_EVENTS.error, {
        code: 'too_many_bad_messages',
        message: `more than ${this.deps.maxBadMessages} refused messages on this connection; closing it`,
        details: { limit: this.deps.maxBadMessages },
      });
      socket.disconnect(true);
    }
  }

  /** Writes the presence rows of every socket in a room on this node again (after this node was swept as dead). */
  republishPresence(): void {
    for (const socket of this.io.of('/').sockets.values()) {
      for (const room of socket.rooms) {
        const id = incidentOfRoom(room);
        if (id) this.addPresence(socket, id);
      }
    }
  }

  private addPresence(socket: LiveSocket, incidentId: string): void {
    const actor = socket.data.actor;
    this.writePresence(socket.id, incidentId, () => this.deps.presence.add(incidentId, socket.id, actor));
  }

  private removePresence(socket: LiveSocket, incidentId: string): void {
    this.writePresence(socket.id, incidentId, () => this.deps.presence.remove(incidentId, socket.id));
  }

  private writePresence(socketId: string, incidentId: string, write: () => Promise<void>): void {
    if (this.closing) return;
    const previous = this.presenceWrites.get(socketId) ?? Promise.resolve();
    const next = previous
      .then(write)
      .then(
        () => this.deps.presenceFeed.refresh(incidentId),
        (err: unknown) => this.deps.log.warn({ err, incidentId, socketId }, 'live feed: presence write failed'),
      )
      .finally(() => {
        if (this.presenceWrites.get(socketId) === next) this.presenceWrites.delete(socketId);
      });
    this.presenceWrites.set(socketId, next);
  }
}
