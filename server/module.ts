import type http from 'node:http';
import type { Router } from 'express';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { Database } from './db/database.js';
import type { PlanLibrary } from './plans/library.js';
import type { TokenService } from './auth/tokens.js';
import type { SessionService } from './auth/sessions.js';
import type { IncidentEventBus } from './incidents/event-log.js';
import type { IncidentService } from './incidents/incidents.js';
import type { Cluster } from './cluster/cluster.js';
import type { Metrics } from './metrics.js';

/**
 * The module contract: what every feature module is given and what it gives back. It lives
 * here, not in the composition root (`server/app.ts`), so no module imports the root.
 */

/** What every module is given: the shared services of one server node. */
export interface ServerContext {
  config: Config;
  log: Logger;
  db: Database;
  plans: PlanLibrary;
  tokens: TokenService;
  /** Checks tokens and tickets against their sessions; holds this node's open connections by session. */
  sessions: SessionService;
  /** The timeline: `bus.record(tx, event)` appends to the hash-chained log and publishes on commit; subscribers listen to 'event'. */
  bus: IncidentEventBus;
  incidents: IncidentService;
  /** The cluster seam: this node's id, the other nodes, typed messages between them (server/cluster). */
  cluster: Cluster;
  /** This node's Prometheus metrics (GET /metrics). */
  metrics: Metrics;
}

/**
 * A feature module plugged into the composition root. Every feature has the same shape:
 * `xxxModule(ctx: ServerContext): Module`, listed once in `server/app.ts`.
 */
export interface Module {
  name: string;
  /** Express routers, mounted in module order (authentication before the modules that need req.actor). */
  routers?: Router[];
  /** Attach to the HTTP server (WebSocket upgrades, Socket.IO) before it listens. */
  attach?(server: http.Server): void;
  /** Path prefixes whose WebSocket upgrades this module handles; any other upgrade is refused. */
  upgradePaths?: string[];
  /** Start background work after the server listens. */
  start?(): Promise<void> | void;
  /** First thing on shutdown, before any module stops: stop advertising readiness. */
  drain?(): void;
  /** Stop in reverse order on shutdown: close sockets, finish flushing, stop workers. */
  stop?(): Promise<void> | void;
}

/** A module factory, as the composition root lists them. */
export type ModuleFactory = (ctx: ServerContext) => Module;
