import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { Router } from 'express';
import { Server } from 'socket.io';
import type { Module, ServerContext } from '../module.js';
import { requirePermission } from '../auth/policy.js';
import { INCIDENT_EVENTS_CHANNEL } from '../incidents/event-log.js';
import { LIVE_EVENTS, LIVE_PATH } from '../../shared/live.js';
import type { IncidentEvent } from '../../shared/events.js';
import { authenticate, closeWithSession } from './auth.js';
import { parseIncidentNotification } from './cross-node.js';
import { NotificationListener } from '../db/notification-listener.js';
import { EventFanout } from './event-fanout.js';
import { PRESENCE_CHANNEL, PresenceBroadcaster, PresenceStore } from './presence.js';
import { LiveRooms } from './rooms.js';
import { limitConnections } from './connection-limits.js';
import { LocalConnectionLimiter } from '../connection-limiter.js';
import { roomOf, type LiveServer } from './types.js';

const CURSOR_SWEEP_INTERVAL_MS = 30_000;

/**
 * The Socket.IO live feed (issue 3, item 5): authenticated connections join incident rooms and
 * receive every event-log entry in order, with presence, connection-state recovery and replay from
 * the log. Events come from this node's bus and, on real PostgreSQL, from other nodes through
 * LISTEN/NOTIFY; presence lives in PostgreSQL so every node shows everyone.
 */
export function liveModule(context: ServerContext): Module {
  const { config, db, log, bus, incidents, sessions } = context;
  const nodeId = randomUUID();
  const presence = new PresenceStore(db.pool, nodeId, config.LIVE_NODE_TTL_MS);
  let io: LiveServer | undefined;
  let rooms: LiveRooms | undefined;
  let fanout: EventFanout | undefined;
  let presenceFeed: PresenceBroadcaster | undefined;
  let listener: NotificationListener | undefined;
  const timers: NodeJS.Timeout[] = [];
  const onBusEvent = (event: IncidentEvent) => fanout?.onLocalEvent(event);
  const roomSize = (incidentId: string) => io?.of('/').adapter.rooms.get(roomOf(incidentId))?.size ?? 0;
  const localIncidents = () => [...(io?.of('/').adapter.rooms.keys() ?? [])].filter((r) => r.startsWith('incident:')).map((r) => r.slice('incident:'.length));

  /** Heartbeat this node, sweep dead ones, and put our rows back if we had been swept ourselves. */
  let beats = 0;
  const beat = async () => {
    try {
      const created = await presence.heartbeat();
      if (created && beats > 0) {
        log.warn({ nodeId }, 'live feed: this node had been swept as dead; writing its presence again');
        rooms?.republishPresence();
      }
      beats++;
      for (const incidentId of await presence.sweepDeadNodes()) presenceFeed?.refresh(incidentId);
    } catch (err) {
      log.warn({ err }, 'live feed: presence heartbeat failed');
    }
  };

  const status = Router();
  status.get('/api/live/status', requirePermission('live.status'), (_req, res) => {
    res.json({
      nodeId,
      crossNode: db.embedded ? 'single-node' : 'postgres-notify',
      listening: listener?.listening ?? false,
      connections: io?.of('/').sockets.size ?? 0,
      incidentRooms: localIncidents().length,
      trackedIncidents: fanout?.tracked ?? 0,
    });
  });

  return {
    name: 'live',
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
      fanout = new EventFanout(db.pool, (event) => liveIo.to(roomOf(event.incidentId)).emit(LIVE_EVENTS.event, event), log);
      presenceFeed = new PresenceBroadcaster(presence, (incidentId, members) => liveIo.to(roomOf(incidentId)).emit(LIVE_EVENTS.presence, { incidentId, members }), roomSize, log);
      rooms = new LiveRooms(liveIo, { db: db.pool, incidents, fanout, presence, presenceFeed, log, maxBadMessages: config.LIVE_MAX_BAD_MESSAGES });
      const liveRooms = rooms;
      liveIo.use(authenticate(sessions));
      const limiter = new LocalConnectionLimiter({ perUser: config.LIVE_MAX_CONNECTIONS_PER_USER, perIncident: config.LIVE_MAX_CONNECTIONS_PER_INCIDENT }, 'live feed connections');
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
      await beat();
      if (!db.embedded && fanout && presenceFeed) {
        const f = fanout;
        const p = presenceFeed;
        listener = new NotificationListener(
          'yingji-live-listener',
          db.url,
          {
            [INCIDENT_EVENTS_CHANNEL]: (payload) => {
              const parsed = parseIncidentNotification(payload);
              if (parsed && /^\d+$/.test(parsed[1])) f.onCommitted(parsed[0], Number(parsed[1]));
            },
            [PRESENCE_CHANNEL]: (payload) => {
              const parsed = parseIncidentNotification(payload);
              if (parsed && parsed[1] !== nodeId) p.refresh(parsed[0]);
            },
          },
          () => {
            f.resyncAll();
            for (const incidentId of localIncidents()) p.refresh(incidentId);
          },
          log,
        );
        await listener.start();
      }
      const heartbeat = setInterval(() => void beat(), Math.max(100, Math.floor(config.LIVE_NODE_TTL_MS / 3)));
      const cursorSweep = setInterval(() => fanout?.sweep(roomSize, config.LIVE_RECOVERY_WINDOW_MS + CURSOR_SWEEP_INTERVAL_MS), CURSOR_SWEEP_INTERVAL_MS);
      for (const t of [heartbeat, cursorSweep]) {
        t.unref();
        timers.push(t);
      }
    },
    async stop() {
      for (const t of timers) clearInterval(t);
      bus.off('event', onBusEvent);
      if (rooms) rooms.closing = true;
      await listener?.stop();
      // Also closes the HTTP server (already closing by now); sockets see "server shutting down".
      await io?.close();
      await presence.removeNode().catch((err: unknown) => log.warn({ err }, 'live feed: removing presence on shutdown failed'));
    },
  };
}
