/**
 * The live checklist endpoint: `ws://HOST:PORT/yjs/<incidentId>?token=…`, speaking the
 * y-websocket protocol so the stock WebsocketProvider works unchanged.
 *
 * Admission happens before the WebSocket exists: token, then incident visibility. A refused
 * client gets the upgrade and an immediate close with a 44xx code (permanent for the stock
 * client), and never a document byte. Rooms load on first admission and unload when their last
 * client has left and their last write committed.
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Module, ServerContext } from '../module.js';
import type { Actor } from '../auth/policy.js';
import { can } from '../auth/policy.js';
import { EVENT_TYPES, type IncidentEvent } from '../../shared/events.js';
import { YJS_CLOSE_CODES } from '../../shared/checklist.js';
import { Connection } from './connection.js';
import { authenticateCredential, hasCredential } from '../auth/ws-credentials.js';
import { closeWithSession } from './session-close.js';
import { compactDoc, incidentsToCompact, loadReconciled, readAllUpdates, readUpdates } from './doc-store.js';
import { ClusterMessageType, type Cluster } from '../cluster/cluster.js';
import type { MessageOf } from '../cluster/messages.js';
import { decodeClientMessage, encodePermissionDenied } from './protocol.js';
import { Room, type RoomLimits } from './room.js';
import type { ConnectionLimiter } from '../connection-limiter.js';
import { connectionLimiter } from '../cluster/connection-limits.js';
import { UpdateWriter } from './update-writer.js';

export const YJS_PATH_PREFIX = '/yjs/';

interface RoomEntry {
  loading: Promise<Room | null>;
  room: Room | null;
  /** Clients between "room requested" and "joined or refused": the room stays loaded for them. */
  admitting: number;
}

export interface RoomStats {
  rooms: number;
  connections: number;
  loading: number;
  writes: UpdateWriter['stats'];
}

const instances = new WeakMap<ServerContext, ChecklistModule>();

/** The rooms module of a running server (tests and the benchmark read its stats). */
export function checklistOf(context: ServerContext): ChecklistModule {
  const module = instances.get(context);
  if (!module) throw new Error('the rooms module is not part of this server');
  return module;
}

export function checklistModule(context: ServerContext): ChecklistModule {
  const module = new ChecklistModule(context);
  instances.set(context, module);
  return module;
}

export class ChecklistModule implements Module {
  readonly name = 'checklist';
  readonly upgradePaths = [YJS_PATH_PREFIX];
  private readonly wss: WebSocketServer;
  private readonly entries = new Map<string, RoomEntry>();
  private readonly writer: UpdateWriter;
  private readonly background = new Set<Promise<unknown>>();
  private timers: NodeJS.Timeout[] = [];
  private stopping = false;
  private compacting = false;
  /** The cluster seam when there are other nodes to keep in step; null on one node (embedded database). */
  private readonly cluster: Cluster | null;
  /** Connections per user and per incident (across nodes when there are several). */
  readonly limiter: ConnectionLimiter;
  private readonly roomLimits: RoomLimits;

  constructor(private readonly ctx: ServerContext) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: ctx.config.YJS_MAX_MESSAGE_BYTES, perMessageDeflate: false });
    // Across all nodes when there are several (server/cluster/connection-limits.ts).
    this.limiter = connectionLimiter(
      ctx,
      { perUser: ctx.config.YJS_MAX_CONNECTIONS_PER_USER, perIncident: ctx.config.YJS_MAX_CONNECTIONS_PER_INCIDENT },
      'yjs',
      'live checklist connections',
    );
    this.roomLimits = { maxNoteLength: ctx.config.YJS_MAX_NOTE_LENGTH, maxDocBytes: ctx.config.YJS_MAX_DOC_BYTES };
    this.cluster = ctx.cluster.multiNode ? ctx.cluster : null;
    this.writer = new UpdateWriter(ctx.db, ctx.bus, this.cluster);
    this.writer.onCommitted = (ms, updates) => {
      ctx.metrics.yjsStoreSeconds.observe(ms / 1000);
      ctx.metrics.yjsUpdates.inc(updates);
    };
    ctx.metrics.countRooms(() => [...this.entries.values()].filter((e) => e.room && !e.room.isDestroyed).length);
    ctx.metrics.countConnections('yjs', () => [...this.entries.values()].reduce((n, e) => n + (e.room?.conns.size ?? 0), 0));
  }

  /** True when rooms on other nodes are kept in step through the cluster seam. */
  get crossNode(): boolean {
    return this.cluster !== null;
  }

  attach(server: http.Server): void {
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = (req.url ?? '').split('?', 1)[0]!;
      if (!path.startsWith(YJS_PATH_PREFIX)) return; // Socket.IO's, or nobody's
      socket.on('error', () => undefined);
      this.track(
        this.admit(req, socket, head).catch((err) => {
          this.ctx.log.error({ err }, 'yjs admission failed');
          socket.destroy();
        }),
      );
    });
    this.ctx.bus.on('event', this.onIncidentEvent);
  }

  async start(): Promise<void> {
    if (this.cluster) {
      this.cluster.on(ClusterMessageType.ChecklistUpdates, this.onUpdateNotice);
      this.cluster.on(ClusterMessageType.IncidentEvent, this.onIncidentNotice);
      this.cluster.on(ClusterMessageType.ChecklistAwareness, this.onAwarenessNotice);
      this.cluster.onResync(() => this.resyncAll());
      const cluster = this.cluster;
      // While this node hears nothing from the others (Redis down), other nodes' stored edits
      // reach its rooms by reading the database at every heartbeat: late, not lost.
      cluster.onBeat(() => {
        if (!cluster.transport.receiving) this.resyncAll();
      });
      this.resyncAll(); // rooms loaded before the handlers were in place
    }
    const { YJS_PING_INTERVAL_MS, YJS_COMPACT_INTERVAL_MS } = this.ctx.config;
    this.timers.push(setInterval(() => this.pingAll(), YJS_PING_INTERVAL_MS).unref());
    this.timers.push(setInterval(() => this.track(this.compactBusyDocs()), YJS_COMPACT_INTERVAL_MS).unref());
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.ctx.bus.off('event', this.onIncidentEvent);
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const entry of this.entries.values()) entry.room?.destroy(YJS_CLOSE_CODES.goingAway, 'server shutting down');
    this.entries.clear();
    await this.writer.flushed();
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  stats(): RoomStats {
    let connections = 0;
    let loading = 0;
    for (const entry of this.entries.values()) {
      if (entry.room) connections += entry.room.conns.size;
      else loading++;
    }
    return { rooms: this.entries.size, connections, loading, writes: { ...this.writer.stats } };
  }

  /** Seeds or reconciles an incident's checklist with its current level (idempotent). */
  async reconcile(incidentId: string): Promise<void> {
    let result;
    try {
      result = await loadReconciled(this.ctx.db.pool, this.ctx.incidents, incidentId, this.cluster);
    } catch (err) {
      // Nothing of it was stored or applied, but a room left open would lack the new level's
      // items until its last client leaves: reload it, so the reconnecting clients' load
      // reconciles again (and keeps failing, retryably, while the database does).
      this.resetRoom(incidentId, 'the checklist could not follow the incident change; reconnect');
      throw err;
    }
    if (!result) return;
    result.doc.destroy();
    const room = this.entries.get(incidentId)?.room;
    if (!room || room.isDestroyed) return;
    if (result.incident.lastSeq >= room.incident.lastSeq) room.updateIncident(result.incident);
    if (result.diff) room.applyStored(result.diff);
  }

  /** Folds stored updates into snapshots for the docs that collected many. */
  async compactBusyDocs(): Promise<number> {
    if (this.compacting || this.stopping) return 0;
    this.compacting = true;
    let folded = 0;
    try {
      for (const id of await incidentsToCompact(this.ctx.db.pool, this.ctx.config.YJS_COMPACT_AFTER_UPDATES)) {
        if (this.stopping) break;
        folded += await compactDoc(this.ctx.db.pool, id);
      }
    } catch (err) {
      this.ctx.log.error({ err }, 'checklist compaction failed');
    } finally {
      this.compacting = false;
    }
    return folded;
  }

  private async admit(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    let incidentId: string;
    try {
      incidentId = decodeURIComponent(url.pathname.slice(YJS_PATH_PREFIX.length));
    } catch {
      return this.refuse(req, socket, head, YJS_CLOSE_CODES.notFound, 'no such incident');
    }
    const credential = { ticket: url.searchParams.get('ticket'), token: url.searchParams.get('token') };
    const session = hasCredential(credential) ? await authenticateCredential(this.ctx.sessions, credential) : null;
    if (!session) return this.refuse(req, socket, head, YJS_CLOSE_CODES.unauthorized, hasCredential(credential) ? 'invalid, used or expired ticket or token' : 'missing ticket or token');
    const actor: Actor = session.actor;
    if (this.stopping) return this.refuse(req, socket, head, YJS_CLOSE_CODES.goingAway, 'server shutting down');

    const entry = this.acquire(incidentId);
    entry.admitting++;
    let room: Room | null = null;
    try {
      try {
        room = await entry.loading;
      } catch (err) {
        this.ctx.log.error({ err, incidentId }, 'loading checklist doc failed');
        return this.refuse(req, socket, head, YJS_CLOSE_CODES.storageFailed, 'could not load the checklist; retry');
      }
      if (room?.isDestroyed) return this.refuse(req, socket, head, YJS_CLOSE_CODES.goingAway, 'room reloading; reconnect');
      if (!room || !can(actor, 'incident.read', { incident: room.incident })) {
        return this.refuse(req, socket, head, YJS_CLOSE_CODES.notFound, 'no such incident');
      }
      const joined = room;
      if (!socket.readable || !socket.writable) return void socket.destroy();
      const slot = await this.limiter.acquire(actor.userId, incidentId);
      if (!slot.ok) return this.refuse(req, socket, head, YJS_CLOSE_CODES.tooManyConnections, slot.reason, true);
      // The socket's end, whether the upgrade completes or not, gives the slot back.
      socket.once('close', () => slot.lease.release());
      if (joined.isDestroyed || !socket.readable || !socket.writable) return void socket.destroy();
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        closeWithSession(this.ctx.sessions, ws, session);
        this.connect(ws, joined, actor, session.expiresAt);
      });
    } finally {
      entry.admitting--;
      room?.releaseIfIdle();
    }
  }

  private connect(ws: WebSocket, room: Room, actor: Actor, sessionExpiresAt: number): void {
    const conn = new Connection(ws, actor, false);
    conn.writable = room.mayEdit(conn);
    ws.on('error', () => undefined);
    ws.on('pong', () => (conn.alive = true));
    ws.on('close', () => room.leave(conn));
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      // ws still delivers frames while a close (e.g. 4401 at session end) is in flight: drop them.
      if (ws.readyState !== ws.OPEN) return;
      // The expiry timer may run late on a busy loop: a frame that arrives after the session's end is not its.
      if (Date.now() >= sessionExpiresAt) return void ws.close(YJS_CLOSE_CODES.unauthorized, 'session expired');
      let message;
      try {
        if (!isBinary) throw new Error('text frame: the y-websocket protocol is binary');
        message = decodeClientMessage(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      } catch (err) {
        this.ctx.log.warn({ incidentId: room.incidentId, user: actor.username, err: (err as Error).message }, 'malformed yjs frame; closing that connection');
        conn.close(YJS_CLOSE_CODES.malformedMessage, 'malformed message');
        return;
      }
      try {
        room.handle(conn, message);
      } catch (err) {
        this.ctx.log.warn({ incidentId: room.incidentId, user: actor.username, err }, 'yjs message rejected; closing that connection');
        conn.close(YJS_CLOSE_CODES.malformedMessage, 'message rejected');
      }
    });
    room.join(conn);
  }

  /**
   * Completes the upgrade only to close at once with a code the stock client understands; with
   * `tell`, a permission-denied message with the reason first (the stock client logs it).
   */
  private refuse(req: http.IncomingMessage, socket: Duplex, head: Buffer, code: number, reason: string, tell = false): void {
    if (!socket.readable || !socket.writable) return void socket.destroy();
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => undefined);
      if (tell) ws.send(encodePermissionDenied(reason));
      ws.close(code, reason.slice(0, 120));
    });
  }

  private acquire(incidentId: string): RoomEntry {
    const existing = this.entries.get(incidentId);
    if (existing) return existing;
    const entry: RoomEntry = { room: null, admitting: 0, loading: Promise.resolve(null) };
    entry.loading = this.load(incidentId, entry);
    this.entries.set(incidentId, entry);
    return entry;
  }

  private async load(incidentId: string, entry: RoomEntry): Promise<Room | null> {
    try {
      const loaded = await loadReconciled(this.ctx.db.pool, this.ctx.incidents, incidentId, this.cluster);
      if (!loaded || this.stopping) {
        loaded?.doc.destroy();
        this.forget(incidentId, entry);
        return null;
      }
      const room = new Room(incidentId, loaded.incident, loaded.doc, this.writer, this.ctx.log, (r, forced) => this.release(r, forced), this.roomLimits);
      if (this.cluster) room.relayAwareness = (update, userId) => this.announceAwareness(incidentId, update, userId);
      entry.room = room;
      return room;
    } catch (err) {
      this.forget(incidentId, entry);
      throw err;
    }
  }

  private forget(incidentId: string, entry: RoomEntry): void {
    if (this.entries.get(incidentId) === entry) this.entries.delete(incidentId);
  }

  private release(room: Room, forced: { code: number; reason: string } | null): void {
    const entry = this.entries.get(room.incidentId);
    if (entry?.room === room) {
      if (!forced && entry.admitting > 0) return;
      this.entries.delete(room.incidentId);
    }
    room.destroy(forced?.code, forced?.reason);
    if (!forced && !this.stopping) this.track(compactDoc(this.ctx.db.pool, room.incidentId).catch((err) => this.ctx.log.error({ err }, 'checklist compaction failed')));
  }

  private readonly onIncidentEvent = (event: IncidentEvent) => {
    if (this.stopping) return;
    if (event.type === EVENT_TYPES.incidentClosed) {
      // Read-only at once, before the database round trip below.
      const room = this.entries.get(event.incidentId)?.room;
      if (room && !room.isDestroyed) room.updateIncident({ ...room.incident, status: 'closed' });
    }
    if (event.type === EVENT_TYPES.incidentActivated || event.type === EVENT_TYPES.incidentLevelChanged || event.type === EVENT_TYPES.incidentClosed) {
      this.track(
        this.reconcile(event.incidentId).catch((err) => this.ctx.log.error({ err, incidentId: event.incidentId }, 'checklist reconciliation failed; it runs again when the doc loads')),
      );
    }
  };

  /** Another node stored updates: relay them to this node's clients of that doc. */
  private readonly onUpdateNotice = (notice: MessageOf<ClusterMessageType.ChecklistUpdates>) => {
    const room = this.entries.get(notice.incidentId)?.room;
    if (!room || room.isDestroyed) return;
    const inline = notice.updates?.map((b) => new Uint8Array(Buffer.from(b, 'base64')));
    this.inOrder(room, () => (inline ? this.applyInline(room, inline) : this.pullStored(room, notice.ids)));
  };

  /** Notices of one doc are applied in arrival order, whether inline or read from the database. */
  private readonly applying = new WeakMap<Room, Promise<void>>();
  private inOrder(room: Room, step: () => Promise<void>): void {
    const next = (this.applying.get(room) ?? Promise.resolve()).then(step, step);
    this.applying.set(room, next);
    this.track(next);
  }

  private async applyInline(room: Room, updates: Uint8Array[]): Promise<void> {
    if (room.isDestroyed) return;
    try {
      for (const update of updates) room.applyStored(update);
    } catch (err) {
      this.ctx.log.error({ err, incidentId: room.incidentId }, 'applying checklist updates of another node failed; reloading the room');
      if (!room.isDestroyed) room.reset(YJS_CLOSE_CODES.storageFailed, 'the checklist fell behind the database; reconnect');
    }
  }

  private announceAwareness(incidentId: string, update: Uint8Array, userId: string): void {
    if (this.stopping || !this.cluster) return;
    // Too big for the transport (NOTIFY: 8000 bytes): it stays on this node; the seam counts it.
    this.track(
      this.cluster.publish({ type: ClusterMessageType.ChecklistAwareness, incidentId, userId, update: Buffer.from(update).toString('base64') }).catch((err) => this.ctx.log.warn({ err, incidentId }, 'relaying awareness to other nodes failed')),
    );
  }

  /** A client on another node changed its awareness: show it to this node's clients of that doc. */
  private readonly onAwarenessNotice = (notice: MessageOf<ClusterMessageType.ChecklistAwareness>) => {
    const room = this.entries.get(notice.incidentId)?.room;
    if (!room || room.isDestroyed) return;
    try {
      room.applyRemoteAwareness(new Uint8Array(Buffer.from(notice.update, 'base64')), notice.userId);
    } catch (err) {
      this.ctx.log.warn({ err, incidentId: notice.incidentId }, 'awareness from another node could not be applied');
    }
  };

  /** An incident changed on another node (level, close): refresh what this node's clients may do. */
  private readonly onIncidentNotice = (notice: MessageOf<ClusterMessageType.IncidentEvent>) => {
    const room = this.entries.get(notice.incidentId)?.room;
    if (room && !room.isDestroyed && notice.seq > room.incident.lastSeq) this.track(this.refreshIncident(room));
  };

  private async pullStored(room: Room, ids: number[] | null): Promise<void> {
    try {
      const updates = (ids && (await readUpdates(this.ctx.db.pool, ids))) ?? (await readAllUpdates(this.ctx.db.pool, room.incidentId));
      if (room.isDestroyed) return;
      for (const update of updates) room.applyStored(update);
    } catch (err) {
      // The room would stay behind what is stored (and Yjs would park later updates that build
      // on the missed ones): reload it from the database instead.
      this.ctx.log.error({ err, incidentId: room.incidentId }, 'pulling checklist updates of another node failed; reloading the room');
      if (!room.isDestroyed) room.reset(YJS_CLOSE_CODES.storageFailed, 'the checklist fell behind the database; reconnect');
    }
  }

  /** Drops a loaded room (its clients reconnect with a retryable code and load it again). */
  private resetRoom(incidentId: string, reason: string): void {
    const room = this.entries.get(incidentId)?.room;
    if (room && !room.isDestroyed) room.reset(YJS_CLOSE_CODES.storageFailed, reason);
  }

  private async refreshIncident(room: Room): Promise<void> {
    const incident = await this.ctx.incidents.find(this.ctx.db.pool, room.incidentId);
    if (incident && !room.isDestroyed && incident.lastSeq >= room.incident.lastSeq) room.updateIncident(incident);
  }

  /** After missed notifications: bring every loaded room up to what is stored. */
  private resyncAll(): void {
    for (const entry of this.entries.values()) {
      const room = entry.room;
      if (!room || room.isDestroyed) continue;
      this.inOrder(room, () => this.pullStored(room, null));
      this.track(this.refreshIncident(room).catch(() => undefined));
    }
  }

  private pingAll(): void {
    for (const entry of this.entries.values()) {
      for (const conn of entry.room?.conns ?? []) {
        if (!conn.alive) {
          conn.ws.terminate();
          continue;
        }
        conn.alive = false;
        try {
          conn.ws.ping();
        } catch {
          conn.ws.terminate();
        }
      }
    }
  }

  private track<T>(p: Promise<T>): void {
    const tracked = p.catch(() => undefined).finally(() => this.background.delete(tracked));
    this.background.add(tracked);
  }
}
