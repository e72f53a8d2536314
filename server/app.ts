import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import { openDatabase } from './db/database.js';
import { migrate } from './db/migrate.js';
import { PlanLibrary } from './plans/library.js';
import { plansModule } from './plans/module.js';
import { createTokenService, loadTokenSecret } from './auth/tokens.js';
import { ensureAdmin } from './auth/users.js';
import { SessionService } from './auth/sessions.js';
import { authModule } from './auth/module.js';
import { IncidentEventBus } from './incidents/event-log.js';
import { IncidentService } from './incidents/incidents.js';
import { incidentsModule } from './incidents/module.js';
import { readOrganisationSeed } from './resources/seed-file.js';
import { seedOrganisationIfEmpty } from './resources/seed.js';
import { resourcesModule } from './resources/module.js';
import { createHttpApp } from './http/app.js';
import { healthModule, idempotencyModule } from './http/module.js';
import { feedModule } from './feed/module.js';
import { checklistModule } from './checklist/module.js';
import { warningsModule } from './warnings/module.js';
import { fieldModule } from './field/module.js';
import { webModule } from './web/module.js';
import { reviewModule } from './review/module.js';
import { drillsModule, loadDrillSeeds } from './drills/module.js';
import type { Scenario } from '../shared/drill.js';
import { drillReviewSection } from './drills/review-section.js';
import type { Module, ModuleFactory, ServerContext } from './module.js';
import { Cluster } from './cluster/cluster.js';
import { Metrics } from './metrics.js';

// The contract lives in server/module.ts; re-exported for callers that started the server from here.
export type { Module, ServerContext } from './module.js';

/**
 * Every feature, in order: routers are mounted in this order (health before authentication,
 * authentication before everything that needs req.actor, the web client's SPA fallback last),
 * modules attach and start in this order and stop in reverse.
 */
const modulesFor = (startup: { drillSeeds: Scenario[] }): ModuleFactory[] => [
  healthModule,
  authModule,
  idempotencyModule,
  plansModule,
  incidentsModule,
  feedModule,
  resourcesModule,
  checklistModule,
  warningsModule,
  fieldModule,
  (ctx) => drillsModule(ctx, startup.drillSeeds),
  // The review's drill section comes from the drills module; the root wires them, neither imports the other.
  (ctx) => reviewModule(ctx, { drillSource: (incidentId) => drillReviewSection(ctx.db, incidentId) }),
  webModule,
];

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
  const cluster = new Cluster({ db, log, redisUrl: config.REDIS_URL, nodeTtlMs: config.LIVE_NODE_TTL_MS });
  const sessions = new SessionService(db, tokens, { ttlMs: config.TOKEN_TTL_HOURS * 3_600_000, cacheMs: config.SESSION_CACHE_MS, ticketTtlMs: config.LIVE_TICKET_TTL_SECONDS * 1000 }, log, cluster);
  const bus = new IncidentEventBus(cluster);
  bus.setMaxListeners(50);
  const incidents = new IncidentService(db, plans, bus);
  const metrics = new Metrics({ db: db.pool, nodesSeen: async () => (await cluster.nodes()).length, clusterStats: () => cluster.stats });
  const context: ServerContext = { config, log, db, plans, tokens, sessions, bus, incidents, cluster, metrics };
  try {
    // Before any module: its messages must be heard from the first commit on.
    await cluster.start();
  } catch (err) {
    await cluster.stop().catch(() => undefined);
    await db.close();
    throw err;
  }

  const modules: Module[] = modulesFor({ drillSeeds }).map((make) => make(context));

  const app = createHttpApp({
    log,
    trustProxy: config.TRUST_PROXY,
    publicUrl: config.PUBLIC_URL,
    tileUrl: config.MAP_TILE_URL,
    routers: modules.flatMap((m) => m.routers ?? []),
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
  log.info({ url, embeddedDatabase: db.embedded, plans: plans.size, nodeId: cluster.nodeId, cluster: cluster.kind }, 'Yingji listening');

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      for (const m of modules) m.drain?.();
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const m of [...modules].reverse()) await m.stop?.();
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), config.SHUTDOWN_TIMEOUT_MS);
      await stopped;
      clearTimeout(timer);
      await cluster.stop();
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
