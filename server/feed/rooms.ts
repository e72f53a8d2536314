import { z } from 'zod';
import type { Queryable } from '../db/database.js';
import type { Logger } from '../log.js';
import { AppError } from '../http/errors.js';
import { listEvents } from '../incidents/event-log.js';
import { eventReaches } from '../../shared/drill.js';
import { publicView, type IncidentService } from '../incidents/incidents.js';
import { LIVE_EVENTS, LIVE_JOIN_PAGE_SIZE, type JoinAck, type LeaveAck, type LiveError } from '../../shared/live.js';
import type { Actor } from '../auth/policy.js';
import type { IncidentEvent } from '../../shared/events.js';
import type { EventFanout } from './event-fanout.js';
import type { PresenceBroadcaster, PresenceStore } from './presence.js';
import type { limitConnections } from './connection-limits.js';
import { tagOffset, type ReportedPosition } from './stream-offsets.js';
import { audienceRoomOf, parseRoom, roomOf, type LiveServer, type LiveSocket } from './types.js';

const incidentId = z.string().min(1).max(100);
const joinRequest = z.object({ incidentId, afterSeq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional() }).strict();
const leaveRequest = z.object({ incidentId }).strict();

const KNOWN_EVENTS = new Set<string>([LIVE_EVENTS.join, LIVE_EVENTS.leave]);
const RESUME_BATCH = 1000;

/** What connection-state recovery brought back, held back by the feed until the middlewares let the socket in. */
export interface Recovery {
  /** Packets the session missed (`[event, payload, offset]`), as the adapter restored them. */
  missed: unknown[][];
  /** The account the session belonged to (the middlewares overwrite `socket.data.actor`). */
  previousActor: Actor | undefined;
  /** What the client's last offset says it has of one incident (see stream-offsets.ts). */
  reported?: ReportedPosition;
}

const sameAudience = (a: Actor, b: Actor | undefined) => b !== undefined && a.userId === b.userId && a.role === b.role && (a.teamId ?? null) === (b.teamId ?? null);

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
  /** Socket id → incident → the seq the socket has been sent, while it is being moved back into the incident after recovery. */
  private readonly resuming = new Map<string, Map<string, number>>();

  constructor(
    private readonly io: LiveServer,
    private readonly deps: {
      db: Queryable;
      incidents: IncidentService;
      fanout: EventFanout;
      presence: PresenceStore;
      presenceFeed: PresenceBroadcaster;
      limits: ReturnType<typeof limitConnections>;
      /** Sends an entry to one socket through the adapter (`to(socket.id)`), so that recovery buffers it. */
      sendTo: (socketId: string, event: IncidentEvent) => void;
      /**
       * The first seq of the incident this node delivered without the stream (Redis away) within
       * the recovery window: a recovered socket may not have had it, and no stream has it.
       */
      unstreamedFrom: (incidentId: string) => number | undefined;
      nodeId: string;
      log: Logger;
      maxBadMessages: number;
    },
  ) {}

  /** Wires one authenticated connection; `recovery` when Socket.IO restored its session. */
  accept(socket: LiveSocket, recovery?: Recovery): void {
    socket.data.badMessages ??= 0;
    socket.on(LIVE_EVENTS.join, (...args: unknown[]) => this.handle(socket, LIVE_EVENTS.join, args, (payload, reply) => this.join(socket, payload, reply)));
    socket.on(LIVE_EVENTS.leave, (...args: unknown[]) => this.handle(socket, LIVE_EVENTS.leave, args, async (payload, reply) => reply(await this.leave(socket, payload))));
    socket.onAny((event: unknown, ...args: unknown[]) => {
      if (typeof event === 'string' && KNOWN_EVENTS.has(event)) return;
      const name = typeof event === 'string' ? event.slice(0, 100) : String(event);
      this.refuse(socket, name, args, new AppError('unknown_event', `unknown event "${name}"; the live feed accepts ${[...KNOWN_EVENTS].join(', ')}`, { event: name }));
    });
    socket.on('disconnecting', () => {
      // Socket.IO persists the session (rooms, data) right after this event: what the socket has
      // been sent goes with it, for whichever node recovers it.
      const sent: Record<string, number> = Object.fromEntries(this.resuming.get(socket.id) ?? []);
      for (const room of socket.rooms) {
        const parsed = parseRoom(room);
        if (!parsed || parsed.audience || parsed.nodeId !== this.deps.nodeId) continue;
        this.removePresence(socket, parsed.incidentId);
        const emitted = this.deps.fanout.emitted(parsed.incidentId);
        const unstreamed = this.deps.unstreamedFrom(parsed.incidentId);
        if (emitted !== undefined) sent[parsed.incidentId] = unstreamed === undefined ? emitted : Math.min(emitted, unstreamed - 1);
      }
      socket.data.sentSeq = sent;
    });
    socket.once('disconnect', () => this.resuming.delete(socket.id));
    if (socket.recovered) this.resume(socket, recovery ?? { missed: [], previousActor: socket.data.actor });
  }

  /**
   * A recovered socket: Socket.IO put it back into the rooms it had — on this node or another — and
   * the adapter found the packets those rooms were sent since the client's last one. Those go out
   * first; then, per incident, the socket leaves the old rooms at once (so no live broadcast reaches
   * it in between) and re-enters this node's fan-out the way a join with `afterSeq = S` does. S is
   * the seq the client's last offset reported for its incident (none of its missed packets is sent);
   * for any other incident, what the old node had broadcast to its room at `disconnecting` (missed
   * packets above S are left to the replay), or — when the old node said nothing of the incident —
   * the highest seq among the missed packets.
   */
  private resume(socket: LiveSocket, recovery: Recovery): void {
    const actor = socket.data.actor;
    const sent = new Map<string, number>(Object.entries(socket.data.sentSeq ?? {}));
    socket.data.sentSeq = undefined;
    const incidents = new Set<string>(sent.keys());
    for (const room of [...socket.rooms]) {
      const parsed = parseRoom(room);
      if (!parsed) continue;
      socket.leave(room);
      if (!parsed.audience) incidents.add(parsed.incidentId);
    }
    if (!sameAudience(actor, recovery.previousActor)) {
      // Another account (or role, or team) reconnecting with this session id sees nothing of it.
      if (incidents.size > 0) {
        socket.emit(LIVE_EVENTS.error, { code: 'forbidden', message: 'the recovered session belonged to another account or role; join the incident again', details: { incidents: [...incidents] }, event: LIVE_EVENTS.join });
      }
      return;
    }
    // The incident the client's last packet named: the client has every entry up to the seq it
    // reported, so the log replays exactly what follows and no missed packet of it is sent.
    const reported = recovery.reported && incidents.has(recovery.reported.incidentId) ? recovery.reported : undefined;
    if (reported) sent.set(reported.incidentId, reported.seq);
    // Elsewhere, where the old node said what it had sent, the log replays everything after that,
    // so a missed packet above it is left to the replay (in order, once): the old node may have
    // delivered some entries outside the stream while Redis was away, and the stream lacks those.
    const toldByOldNode = new Set(sent.keys());
    for (const packet of recovery.missed) {
      const [name, payload] = packet as [string, Partial<IncidentEvent> | undefined];
      if (name === LIVE_EVENTS.event && typeof payload?.incidentId === 'string' && typeof payload.seq === 'number' && incidents.has(payload.incidentId)) {
        if (payload.incidentId === reported?.incidentId) continue;
        if (toldByOldNode.has(payload.incidentId)) {
          if (payload.seq > sent.get(payload.incidentId)!) continue;
        } else sent.set(payload.incidentId, Math.max(sent.get(payload.incidentId) ?? 0, payload.seq));
        const streamId = packet[packet.length - 1];
        if (typeof streamId === 'string') packet[packet.length - 1] = tagOffset(streamId, payload.incidentId, payload.seq);
      }
      (socket.emit as (...args: unknown[]) => boolean)(...packet);
    }
    const pending = new Map<string, number>();
    for (const id of incidents) pending.set(id, sent.get(id) ?? 0);
    this.resuming.set(socket.id, pending);
    for (const [incidentId, sentSeq] of pending) {
      this.resumeIncident(socket, incidentId, sentSeq)
        .catch((err: unknown) => {
          if (err instanceof AppError) {
            socket.emit(LIVE_EVENTS.error, { code: err.code, message: err.message, details: { ...err.details, incidentId }, event: LIVE_EVENTS.join });
            return;
          }
          this.deps.log.error({ err, incidentId, socketId: socket.id }, 'live feed: resuming a recovered socket failed');
          socket.emit(LIVE_EVENTS.error, { code: 'internal', message: 'resuming the live feed failed; join the incident again', details: { incidentId }, event: LIVE_EVENTS.join });
        })
        .finally(() => {
          pending.delete(incidentId);
          if (!socket.rooms.has(roomOf(incidentId, this.deps.nodeId))) this.deps.limits.release(socket, incidentId);
        });
    }
  }

  private async resumeIncident(socket: LiveSocket, incidentId: string, sentSeq: number): Promise<void> {
    const refusal = await this.deps.limits.resume(socket, incidentId);
    if (refusal) throw new AppError('too_many_connections', refusal, { incidentId });
    const actor = socket.data.actor;
    const visible = await this.deps.incidents.get(actor, incidentId);
    await this.deps.fanout.whileHeld(visible.id, async (emittedSeq) => {
      // As in join: nothing reaches the room meanwhile, so the replay ends where live delivery resumes.
      let after = sentSeq;
      while (after < emittedSeq && socket.connected) {
        const page = await listEvents(this.deps.db, visible.id, { afterSeq: after, limit: RESUME_BATCH });
        for (const e of page) {
          if (e.seq > emittedSeq) break;
          if (eventReaches(actor, e)) this.deps.sendTo(socket.id, e);
          after = e.seq;
        }
        if (page.length < RESUME_BATCH) break;
      }
      // A leave sent meanwhile wins (it took the incident out of `resuming`).
      if (socket.connected && this.resuming.get(socket.id)?.has(incidentId)) this.enter(socket, visible.id);
    });
  }

  /** Puts a socket into an incident's rooms on this node (everyone's, and its audience class's) and into presence. */
  private enter(socket: LiveSocket, incidentId: string): void {
    const actor = socket.data.actor;
    socket.join([roomOf(incidentId, this.deps.nodeId), audienceRoomOf(incidentId, this.deps.nodeId, actor)]);
    this.addPresence(socket, incidentId);
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
      if (!hasMore && socket.connected) this.enter(socket, visible.id);
      // Drill entries reach their audience only (see shared/drill.ts eventReaches).
      reply({ ok: true, incident: publicView(visible), events: page.slice(0, LIVE_JOIN_PAGE_SIZE).filter((e) => eventReaches(actor, e)), hasMore });
    });
  }

  private async leave(socket: LiveSocket, payload: unknown): Promise<LeaveAck> {
    const request = parse(leaveRequest, payload);
    const id = request.incidentId.toLowerCase();
    this.resuming.get(socket.id)?.delete(id);
    const room = roomOf(id, this.deps.nodeId);
    if (socket.rooms.has(room)) {
      socket.leave(audienceRoomOf(id, this.deps.nodeId, socket.data.actor));
      socket.leave(room);
      this.removePresence(socket, id);
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
        const parsed = parseRoom(room);
        if (parsed && !parsed.audience && parsed.nodeId === this.deps.nodeId) this.addPresence(socket, parsed.incidentId);
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
