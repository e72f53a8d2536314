import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Router } from 'express';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import { openDatabase, type Database } from './db/database.js';
import { migrate } from './db/migrate.js';
import { PlanLibrary } from './plans/library.js';
import { planRoutes } from './plans/routes.js';
import { createTokenService, loadTokenSecret, type TokenService } from './auth/tokens.js';
import { ensureAdmin } from './auth/users.js';
import { authRoutes } from './auth/routes.js';
import { SessionService } from './auth/sessions.js';
import { LoginLimits } from './auth/login-limits.js';
import { sessionsModule } from './auth/module.js';
import { IncidentEventBus } from './incidents/event-log.js';
import { IncidentService } from './incidents/incidents.js';
import { incidentRoutes } from './incidents/routes.js';
import { readOrganisationSeed } from './resources/seed-file.js';
import { seedOrganisationIfEmpty } from './resources/seed.js';
import { resourceRoutes } from './resources/routes.js';
import { resourcesModule } from './resources/module.js';
import { createHttpApp } from './http/app.js';
import { healthRoutes } from './http/health.js';
import { liveModule } from './live/module.js';
import { roomsModule } from './rooms/module.js';
import { warningsModule } from './warnings/module.js';
import { fieldModule } from './field/module.js';
import { webModule } from './web/module.js';
import { reviewModule } from './review/module.js';
import { drillsModule, loadDrillSeeds } from './drills/module.js';
import { drillReviewSection } from './drills/review-section.js';
import { idempotencyRoutes } from './http/idempotency.js';

/** What every module is given: the shared services of one server node. */
export interface ServerContext {
  config: Config;
  log: Logger;
  db: Database;
  plans: PlanLibrary;
  tokens: TokenService;
  /** Checks tokens and tickets against their sessions; holds this node's open connections by session. */
  sessions: SessionService;
  bus: IncidentEventBus;
  incidents: IncidentService;
}

/** A feature module plugged into the composition root. */
export interface Module {
  name: string;
  routers?: Router[];
  /** Attach to the HTTP server (WebSocket upgrades, Socket.IO) before it listens. */
  attach?(server: http.Server): void;
  /** Path prefixes whose WebSocket upgrades this module handles; any other upgrade is refused. */
  upgradePaths?: string[];
  /** Start background work after the server listens. */
  start?(): Promise<void> | void;
  /** Stop in reverse order on shutdown: close sockets, finish flushing, stop workers. */
  stop?(): Promise<void> | void;
}

export interface RunningServer {
  url: string;
  port: number;
  context: ServerContext;
  close(): Promise<void>;
}

/** The composition root: config → database → modules → HTTP server. */
export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  const plans = await PlanLibrary.load(config.plansDir);
  const organisation = await readOrganisationSeed(config.organisationFile);
  const drillSeeds = await loadDrillSeeds(config.drillsDir, plans, organisation);
  const db = await openDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.dataDir, poolSize: config.DB_POOL_SIZE, clientMaxUses: config.DB_CLIENT_MAX_USES, embeddedSharedBuffers: config.EMBEDDED_SHARED_BUFFERS, log });
  try {
    await migrate(db.pool, log);
    await seedOrganisationIfEmpty(db.pool, organisation, log);
    await ensureAdmin(db.pool, log, config.ADMIN_PASSWORD);
  } catch (err) {
    await db.close();
    throw err;
  }
  const tokens = createTokenService(await loadTokenSecret(db.pool, config.TOKEN_SECRET));
  const sessions = new SessionService(db, tokens, { ttlMs: config.TOKEN_TTL_HOURS * 3_600_000, cacheMs: config.SESSION_CACHE_MS, ticketTtlMs: config.LIVE_TICKET_TTL_SECONDS * 1000 }, log);
  const loginLimits = new LoginLimits(db.pool, {
    maxFailuresPerUserIp: config.LOGIN_MAX_FAILURES_PER_USER_IP,
    maxFailuresPerUser: config.LOGIN_MAX_FAILURES_PER_USER,
    maxFailuresPerIp: config.LOGIN_MAX_FAILURES_PER_IP,
    windowSeconds: config.LOGIN_FAILURE_WINDOW_SECONDS,
    blockSeconds: config.LOGIN_BLOCK_SECONDS,
    blockMaxSeconds: config.LOGIN_BLOCK_MAX_SECONDS,
  }, log);
  const bus = new IncidentEventBus();
  bus.setMaxListeners(50);
  const incidents = new IncidentService(db, plans, bus);
  const context: ServerContext = { config, log, db, plans, tokens, sessions, bus, incidents };

  const modules: Module[] = [sessionsModule(context), liveModule(context), resourcesModule(context), roomsModule(context), warningsModule(context), fieldModule(context), drillsModule(context, drillSeeds), reviewModule(context, { drillSource: (incidentId) => drillReviewSection(db, incidentId) }), webModule(context)];

  const app = createHttpApp({
    log,
    trustProxy: config.TRUST_PROXY,
    publicUrl: config.PUBLIC_URL,
    tileUrl: config.MAP_TILE_URL,
    routers: [
      healthRoutes(db),
      authRoutes(db, sessions, loginLimits),
      idempotencyRoutes(db),
      planRoutes(plans),
      incidentRoutes(db, incidents),
      resourceRoutes(db),
      ...modules.flatMap((m) => m.routers ?? []),
    ],
  });
  const server = http.createServer(app);
  for (const m of modules) m.attach?.(server);
  refuseUnclaimedUpgrades(server, modules.flatMap((m) => m.upgradePaths ?? []));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, config.HOST, () => resolve());
  });
  for (const m of modules) await m.start?.();
  const port = (server.address() as AddressInfo).port;
  const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? 'localhost' : config.HOST;
  const url = `http://${host}:${port}`;
  log.info({ url, embeddedDatabase: db.embedded, plans: plans.size }, 'Yingji listening');

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const m of [...modules].reverse()) await m.stop?.();
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), config.SHUTDOWN_TIMEOUT_MS);
      await stopped;
      clearTimeout(timer);
      await db.close();
      log.info('Yingji stopped');
    })());
  return { url, port, context, close };
}

/** Socket.IO runs with destroyUpgrade off (so /yjs/ upgrades live), so upgrades no module claims must be closed here. */
function refuseUnclaimedUpgrades(server: http.Server, prefixes: string[]): void {
  server.on('upgrade', (req: http.IncomingMessage, socket: import('node:stream').Duplex) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (prefixes.some((p) => path.startsWith(p))) return;
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
}
