import type http from 'node:http';
import { Router } from 'express';
import { Server } from 'socket.io';
import type { Module, ServerContext } from '../module.js';
import { requirePermission } from '../auth/policy.js';
import { LIVE_EVENTS, LIVE_PATH } from '../../shared/live.js';
import type { IncidentEvent } from '../../shared/events.js';
import { authenticate, closeWithSession } from './auth.js';
import { ClusterMessageType } from '../cluster/cluster.js';
import { EventFanout } from './event-fanout.js';
import { PresenceBroadcaster, PresenceStore } from './presence.js';
import { FeedRooms } from './rooms.js';
import { limitConnections } from './connection-limits.js';
import { connectionLimiter } from '../cluster/connection-limits.js';
import { roomOf, type LiveServer } from './types.js';
import { eventReaches } from '../../shared/drill.js';

const CURSOR_SWEEP_INTERVAL_MS = 30_000;

/**
 * The Socket.IO live feed (issue 3, item 5): authenticated connections join incident rooms and
 * receive every event-log entry in order, with presence, connection-state recovery and replay from
 * the log. Events come from this node's bus and from other nodes through the cluster seam
 * (`incident.event`, `presence.changed`); presence lives in PostgreSQL so every node shows everyone.
 */
export function feedModule(context: ServerContext): Module {
  const { config, db, log, bus, incidents, sessions, cluster } = context;
  const nodeId = cluster.nodeId;
  const presence = new PresenceStore(db.pool, nodeId, config.LIVE_NODE_TTL_MS, (incidentId) => void cluster.publish({ type: ClusterMessageType.PresenceChanged, incidentId }));
  let io: LiveServer | undefined;
  let rooms: FeedRooms | undefined;
  let fanout: EventFanout | undefined;
  let presenceFeed: PresenceBroadcaster | undefined;
  const timers: NodeJS.Timeout[] = [];
  const onBusEvent = (event: IncidentEvent) => fanout?.onLocalEvent(event);
  const roomSize = (incidentId: string) => io?.of('/').adapter.rooms.get(roomOf(incidentId))?.size ?? 0;
  const localIncidents = () => [...(io?.of('/').adapter.rooms.keys() ?? [])].filter((r) => r.startsWith('incident:')).map((r) => r.slice('incident:'.length));

  /** After each cluster heartbeat: sweep dead nodes' presence, and put ours back if we had been swept ourselves. */
  const afterBeat = async (revived: boolean) => {
    try {
      if (revived) {
        log.warn({ nodeId }, 'live feed: this node had been swept as dead; writing its presence again');
        rooms?.republishPresence();
      }
      for (const incidentId of await presence.sweepDeadNodes()) presenceFeed?.refresh(incidentId);
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
      io = new Server(server, {
        path: LIVE_PATH,
        serveClient: false,
        // The Yjs endpoint handles its own /yjs/ upgrades on the same server; Engine.IO would
        // otherwise destroy them after destroyUpgradeTimeout.
        destroyUpgrade: false,
        maxHttpBufferSize: config.LIVE_MAX_MESSAGE_BYTES,
        connectionStateRecovery: { maxDisconnectionDuration: config.LIVE_RECOVERY_WINDOW_MS, skipMiddlewares: false },
      });
      const liveIo = io;
      fanout = new EventFanout(
        db.pool,
        (event) => {
          context.metrics.fanoutLagSeconds.observe(Math.max(0, Date.now() - Date.parse(event.at)) / 1000);
          if (!event.type.startsWith('drill.')) return void liveIo.to(roomOf(event.incidentId)).emit(LIVE_EVENTS.event, event);
          // Drill entries reach their audience only: one emit per local socket of the room that may
          // see it (every node fans out to its own sockets, so local is all of them).
          const ns = liveIo.of('/');
          for (const socketId of ns.adapter.rooms.get(roomOf(event.incidentId)) ?? []) {
            const socket = ns.sockets.get(socketId);
            if (socket && eventReaches(socket.data.actor, event)) socket.emit(LIVE_EVENTS.event, event);
          }
        },
        log,
      );
      presenceFeed = new PresenceBroadcaster(presence, (incidentId, members) => liveIo.to(roomOf(incidentId)).emit(LIVE_EVENTS.presence, { incidentId, members }), roomSize, log);
      rooms = new FeedRooms(liveIo, { db: db.pool, incidents, fanout, presence, presenceFeed, log, maxBadMessages: config.LIVE_MAX_BAD_MESSAGES });
      const liveRooms = rooms;
      liveIo.use(authenticate(sessions));
      const limiter = connectionLimiter(context, { perUser: config.LIVE_MAX_CONNECTIONS_PER_USER, perIncident: config.LIVE_MAX_CONNECTIONS_PER_INCIDENT }, 'socketio', 'live feed connections');
      const limits = limitConnections(limiter);
      liveIo.use(limits.perUser);
      liveIo.on('connection', (socket) => {
        closeWithSession(sessions, socket);
        limits.perIncident(socket);
        liveRooms.accept(socket);
      });
      bus.on('event', onBusEvent);
    },
    async start() {
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
      await presence.removeNode().catch((err: unknown) => log.warn({ err }, 'live feed: removing presence on shutdown failed'));
    },
  };
}
