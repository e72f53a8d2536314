import type http from 'node:http';
import { Router } from 'express';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import type { Module, ServerContext } from '../module.js';
import { requirePermission } from '../auth/policy.js';
import { LIVE_EVENTS, LIVE_PATH } from '../../shared/live.js';
import type { IncidentEvent } from '../../shared/events.js';
import { authenticate, closeWithSession } from './auth.js';
import { ClusterMessageType } from '../cluster/cluster.js';
import { EventFanout } from './event-fanout.js';
import { PresenceBroadcaster, presenceStoreFor } from './presence.js';
import { FeedRooms, type Recovery } from './rooms.js';
import { limitConnections } from './connection-limits.js';
import { connectionLimiter } from '../cluster/connection-limits.js';
import { parseRoom, roomOf, type AudienceClass, type LiveServer, type LiveSocketData } from './types.js';
import { eventReaches } from '../../shared/drill.js';
import { BROADCAST_MESSAGE, EVENT_PACKET, parseOffset, tagFeedOffsets, type PublishHook } from './stream-offsets.js';
import { persistSessions } from './stream-sessions.js';

const CURSOR_SWEEP_INTERVAL_MS = 30_000;
/**
 * Entries the Socket.IO stream keeps (`XADD … MAXLEN ~`): one per broadcast of any node. A session
 * whose last packet has been trimmed away is not recovered (the client joins with afterSeq).
 */
export const LIVE_STREAM_MAX_LEN = 10_000;

type Session = { data?: unknown; missedPackets: unknown[][] } & Record<string, unknown>;
interface AdapterHooks {
  broadcast(packet: unknown, opts: { rooms: Set<string>; except: Set<string>; flags: Record<string, unknown> }): unknown;
  restoreSession(pid: string, offset: string): Promise<Session | null> | null;
  onMessage?: (message: { type: number; data?: { requestId?: unknown } }, offset?: string) => void;
  on(event: 'create-room' | 'delete-room', listener: (room: string) => void): unknown;
  publishAndReturnOffset?: PublishHook['publishAndReturnOffset'];
  persistSession(session: { pid: string }): void;
}

/**
 * The Socket.IO live feed (issue 3, item 5): authenticated connections join incident rooms and
 * receive every event-log entry in order, with presence, connection-state recovery and replay from
 * the log. Events come from this node's bus and from other nodes through the cluster seam
 * (`incident.event`, `presence.changed`); presence lives in Redis (with a TTL) or PostgreSQL so every
 * node shows everyone.
 */
export function feedModule(context: ServerContext): Module {
  const { config, db, log, bus, incidents, sessions, cluster } = context;
  const nodeId = cluster.nodeId;
  let io: LiveServer | undefined;
  let rooms: FeedRooms | undefined;
  let fanout: EventFanout | undefined;
  let presenceFeed: PresenceBroadcaster | undefined;
  const presence = presenceStoreFor(context, (incidentId) => presenceFeed?.refresh(incidentId));
  const timers: NodeJS.Timeout[] = [];
  let streamsClient: NonNullable<typeof cluster.redis> | undefined;
  const streamName = `yingji:${cluster.namespace}:sio`;
  const sessionKeyPrefix = `${streamName}:session:`;
  let streamsReady: Promise<unknown> | undefined;
  const onBusEvent = (event: IncidentEvent) => fanout?.onLocalEvent(event);
  const roomSize = (incidentId: string) => io?.of('/').adapter.rooms.get(roomOf(incidentId, nodeId))?.size ?? 0;
  const localIncidents = () =>
    [...(io?.of('/').adapter.rooms.keys() ?? [])].flatMap((room) => {
      const parsed = parseRoom(room);
      return parsed && !parsed.audience && parsed.nodeId === nodeId ? [parsed.incidentId] : [];
    });

  /** After each cluster heartbeat: drop dead nodes' presence, keep ours alive, and put it back if we had been swept ourselves. */
  const afterBeat = async (revived: boolean) => {
    try {
      if (revived) {
        log.warn({ nodeId }, 'live feed: this node had been swept as dead; writing its presence again');
        rooms?.republishPresence();
      }
      for (const incidentId of await presence.maintain(localIncidents())) presenceFeed?.refresh(incidentId);
    } catch (err) {
      log.warn({ err }, 'live feed: presence sweep failed');
    }
  };

  context.metrics.countConnections('socketio', () => io?.of('/').sockets.size ?? 0);

  const status = Router();
  status.get('/api/live/status', requirePermission('live.status'), (_req, res) => {
    res.json({
      nodeId,
      crossNode: cluster.kind,
      listening: cluster.multiNode && cluster.transport.receiving,
      connections: io?.of('/').sockets.size ?? 0,
      incidentRooms: localIncidents().length,
      trackedIncidents: fanout?.tracked ?? 0,
    });
  });

  return {
    name: 'feed',
    routers: [status],
    upgradePaths: [LIVE_PATH],
    attach(server: http.Server) {
      const redis = cluster.redis;
      let adapter: ReturnType<typeof createAdapter> | undefined;
      if (redis) {
        // Its own connection (and the adapter's duplicates of it, same name): XADDs and the session
        // SET of a disconnecting socket go over it in order, which the recovery on another node relies on.
        streamsClient = redis.duplicate({ name: `yingji-${nodeId}-sio` });
        streamsClient.on('error', (err: Error) => log.warn({ err: err.message }, 'live feed: redis (socket.io stream) error'));
        // Commands wait in node-redis's queue until the connection is up; start() waits for it.
        streamsReady = streamsClient.connect();
        // Named after the cluster, like the seam's channel: other deployments on the same Redis are not mixed in.
        adapter = createAdapter(streamsClient, { streamName, channelPrefix: streamName, sessionKeyPrefix, maxLen: LIVE_STREAM_MAX_LEN });
      }
      io = new Server(server, {
        path: LIVE_PATH,
        serveClient: false,
        // The Yjs endpoint handles its own /yjs/ upgrades on the same server; Engine.IO would
        // otherwise destroy them after destroyUpgradeTimeout.
        destroyUpgrade: false,
        maxHttpBufferSize: config.LIVE_MAX_MESSAGE_BYTES,
        connectionStateRecovery: { maxDisconnectionDuration: config.LIVE_RECOVERY_WINDOW_MS, skipMiddlewares: false },
        ...(adapter ? { adapter } : {}),
      });
      const liveIo = io;
      const hooks = liveIo.of('/').adapter as unknown as AdapterHooks;
      if (redis && hooks.onMessage) {
        // Every node fans out to its own sockets; another node's broadcasts are in the stream only
        // for recovery. Delivering them here would double an entry to a socket recovered here under
        // its old id (a replay sent to `socket.id` on the old node).
        const deliver = hooks.onMessage.bind(hooks);
        hooks.onMessage = (message, offset) => {
          if (message.type === BROADCAST_MESSAGE && message.data?.requestId === undefined) return;
          deliver(message, offset);
        };
      }
      // Socket.IO writes a restored session's missed packets to the wire before the middlewares
      // run, so a revoked token would still receive them. The feed holds them back and sends them
      // once the socket is admitted (FeedRooms.accept), keyed by the restored data object.
      const withheld = new WeakMap<object, Recovery>();
      const restore = hooks.restoreSession.bind(hooks);
      hooks.restoreSession = async (pid, offset) => {
        // Redis away: no recovery rather than a handshake that waits for it (the client joins again).
        if (streamsClient && !streamsClient.isReady) throw new Error('redis (socket.io stream) is not connected');
        const { streamId, reported } = parseOffset(offset);
        const session = await restore(pid, streamId);
        if (!session) return session;
        const data = (session.data && typeof session.data === 'object' ? session.data : {}) as Partial<LiveSocketData>;
        withheld.set(data, { missed: session.missedPackets ?? [], previousActor: data.actor, reported });
        return { ...session, data, missedPackets: [] };
      };
      // Per incident: the first seq delivered outside the stream, and the last time one was
      // (forgotten a recovery window after that: no session from before can be recovered then).
      const unstreamed = new Map<string, { seq: number; at: number }>();
      const noteUnstreamed = (event: IncidentEvent) => {
        const known = unstreamed.get(event.incidentId);
        if (!known || Date.now() - known.at > config.LIVE_RECOVERY_WINDOW_MS) unstreamed.set(event.incidentId, { seq: event.seq, at: Date.now() });
        else known.at = Date.now();
      };
      const unstreamedFrom = (incidentId: string) => {
        const known = unstreamed.get(incidentId);
        if (known && Date.now() - known.at > config.LIVE_RECOVERY_WINDOW_MS) unstreamed.delete(incidentId);
        return unstreamed.get(incidentId)?.seq;
      };
      if (streamsClient && hooks.publishAndReturnOffset) {
        const client = streamsClient;
        // While Redis is away an XADD would wait in node-redis's queue and the node's own sockets
        // with it: such packets are delivered at once, outside the stream, with an offset that
        // still says what the client has (see stream-offsets.ts).
        tagFeedOffsets(hooks as PublishHook, { ready: () => client.isReady, unstreamed: noteUnstreamed, isIncidentRoom: (room) => parseRoom(room) !== undefined });
        persistSessions(hooks, client, { keyPrefix: sessionKeyPrefix, windowMs: config.LIVE_RECOVERY_WINDOW_MS, log });
      }
      /** Through the adapter, as `io.to(rooms).emit` does, but keeping the promise of local delivery. */
      const broadcastTo = (rooms: string[], name: string, payload: unknown): Promise<unknown> | undefined => {
        const pending = hooks.broadcast({ type: EVENT_PACKET, data: [name, payload] }, { rooms: new Set(rooms), except: new Set(), flags: {} });
        return pending instanceof Promise ? pending : undefined;
      };
      // This node's audience rooms per incident, for drill entries.
      const audiences = new Map<string, Map<string, AudienceClass>>();
      hooks.on('create-room', (room) => {
        const parsed = parseRoom(room);
        if (!parsed?.audience || parsed.nodeId !== nodeId) return;
        const rooms = audiences.get(parsed.incidentId) ?? new Map<string, AudienceClass>();
        rooms.set(room, parsed.audience);
        audiences.set(parsed.incidentId, rooms);
      });
      hooks.on('delete-room', (room) => {
        const parsed = parseRoom(room);
        if (!parsed?.audience || parsed.nodeId !== nodeId) return;
        const rooms = audiences.get(parsed.incidentId);
        rooms?.delete(room);
        if (rooms?.size === 0) audiences.delete(parsed.incidentId);
      });
      fanout = new EventFanout(
        db.pool,
        (event) => {
          context.metrics.fanoutLagSeconds.observe(Math.max(0, Date.now() - Date.parse(event.at)) / 1000);
          if (!event.type.startsWith('drill.')) return broadcastTo([roomOf(event.incidentId, nodeId)], LIVE_EVENTS.event, event);
          // Drill entries reach their audience only: one broadcast to the audience rooms that may see
          // it, so that recovery buffers it like any other entry.
          const reached = [...(audiences.get(event.incidentId) ?? [])].filter(([, who]) => eventReaches(who, event)).map(([room]) => room);
          return reached.length > 0 ? broadcastTo(reached, LIVE_EVENTS.event, event) : undefined;
        },
        log,
      );
      presenceFeed = new PresenceBroadcaster(presence, (incidentId, members) => void broadcastTo([roomOf(incidentId, nodeId)], LIVE_EVENTS.presence, { incidentId, members }), roomSize, log);
      const limiter = connectionLimiter(context, { perUser: config.LIVE_MAX_CONNECTIONS_PER_USER, perIncident: config.LIVE_MAX_CONNECTIONS_PER_INCIDENT }, 'socketio', 'live feed connections');
      const limits = limitConnections(limiter);
      rooms = new FeedRooms(liveIo, {
        db: db.pool,
        incidents,
        fanout,
        presence,
        presenceFeed,
        limits,
        sendTo: (socketId, event) => void broadcastTo([socketId], LIVE_EVENTS.event, event),
        unstreamedFrom,
        nodeId,
        log,
        maxBadMessages: config.LIVE_MAX_BAD_MESSAGES,
      });
      const liveRooms = rooms;
      liveIo.use(authenticate(sessions));
      liveIo.use(limits.perUser);
      liveIo.on('connection', (socket) => {
        closeWithSession(sessions, socket);
        limits.perIncident(socket);
        liveRooms.accept(socket, withheld.get(socket.data));
      });
      bus.on('event', onBusEvent);
    },
    async start() {
      await streamsReady;
      await afterBeat(false);
      const f = fanout;
      const p = presenceFeed;
      if (f && p) {
        cluster.on(ClusterMessageType.IncidentEvent, (m) => f.onCommitted(m.incidentId, m.seq));
        cluster.on(ClusterMessageType.PresenceChanged, (m) => p.refresh(m.incidentId));
        cluster.onResync(() => {
          f.resyncAll();
          for (const incidentId of localIncidents()) p.refresh(incidentId);
        });
      }
      cluster.onBeat((revived) => {
        void afterBeat(revived);
        // Redis pub/sub is sent after commit: a node that dies in between leaves a notice unsent.
        // Each heartbeat the feed reads its incidents' log heads, so such an event is late, not lost.
        if (cluster.multiNode && !cluster.transport.transactional) fanout?.resyncAll();
        // The stream is worth keeping only while a session in it can still be recovered: once no
        // node has beaten for that long (a deployment gone, a test run over) Redis drops it.
        streamsClient?.pExpire(streamName, config.LIVE_RECOVERY_WINDOW_MS + config.LIVE_NODE_TTL_MS).catch(() => undefined);
      });
      const cursorSweep = setInterval(() => fanout?.sweep(roomSize, config.LIVE_RECOVERY_WINDOW_MS + CURSOR_SWEEP_INTERVAL_MS), CURSOR_SWEEP_INTERVAL_MS);
      for (const t of [cursorSweep]) {
        t.unref();
        timers.push(t);
      }
    },
    async stop() {
      for (const t of timers) clearInterval(t);
      bus.off('event', onBusEvent);
      if (rooms) rooms.closing = true;
      // Also closes the HTTP server (already closing by now); sockets see "server shutting down".
      await io?.close();
      await streamsClient?.close().catch((err: unknown) => log.warn({ err }, 'live feed: closing the socket.io stream connection failed'));
      await presence.removeNode().catch((err: unknown) => log.warn({ err }, 'live feed: removing presence on shutdown failed'));
    },
  };
}
