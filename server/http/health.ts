import { timingSafeEqual } from 'node:crypto';
import { Router, type RequestHandler } from 'express';
import type { Database } from '../db/database.js';
import type { Cluster } from '../cluster/cluster.js';
import type { Metrics } from '../metrics.js';
import { DATABASE_RETRY_AFTER_SECONDS } from './db-unavailable.js';
import { AppError } from './errors.js';

/**
 * Public liveness for load balancers: up or down, nothing else — no driver, database name or
 * error text, which would tell an outsider what runs behind it. The reason is in the server log.
 */
export function healthRoutes(db: Database): Router {
  const router = Router();
  router.get('/healthz', async (_req, res) => {
    try {
      await db.pool.query('SELECT 1');
      res.json({ status: 'ok', database: { status: 'ok' } });
    } catch {
      res.setHeader('Retry-After', String(DATABASE_RETRY_AFTER_SECONDS));
      res.status(503).json({ status: 'unavailable', database: { status: 'down' } });
    }
  });
  return router;
}

/**
 * Readiness (`/readyz`): whether this node should be given traffic — the database answers, the
 * cluster transport receives or, on Redis, the node carries on from the database while Redis is
 * away (`cluster.status: degraded`), and the node is not shutting down. `/healthz` stays plain
 * liveness.
 */
export function readinessRoutes(db: Database, cluster: Cluster, draining: () => boolean): Router {
  const router = Router();
  router.get('/readyz', async (_req, res) => {
    let database: 'ok' | 'down' = 'ok';
    try {
      await db.pool.query('SELECT 1');
    } catch {
      database = 'down';
    }
    const receiving = !cluster.multiNode || cluster.transport.receiving;
    // Redis is shared by every node: when it is down, all of them are, and refusing traffic
    // everywhere would stop the command post. Each node then serves from PostgreSQL (events and
    // checklist edits of other nodes read at every heartbeat, presence frozen), so it stays ready,
    // reported as degraded. A NOTIFY listener is this node's own connection: without it the node
    // would serve stale rooms, so it is not ready.
    const degraded = !receiving && cluster.kind === 'redis';
    const clusterStatus = receiving ? 'ok' : degraded ? 'degraded' : 'down';
    const ready = database === 'ok' && (receiving || degraded) && !draining();
    if (!ready) res.setHeader('Retry-After', String(DATABASE_RETRY_AFTER_SECONDS));
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', database: { status: database }, cluster: { status: clusterStatus }, draining: draining() });
  });
  return router;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/**
 * `/metrics` in Prometheus text format. Who may read it: with METRICS_TOKEN set, only a request
 * with `Authorization: Bearer <METRICS_TOKEN>`; without it, only peers on the loopback interface
 * (the TCP peer, never X-Forwarded-For: a reverse proxy on the same host must not forward /metrics).
 */
export function metricsRoutes(metrics: Metrics, token: string | undefined): Router {
  const router = Router();
  const allowed: RequestHandler = (req, _res, next) => {
    if (token) {
      const given = Buffer.from(/^Bearer (.+)$/.exec(req.get('authorization') ?? '')?.[1] ?? '');
      const want = Buffer.from(token);
      if (given.length !== want.length || !timingSafeEqual(given, want)) throw new AppError('unauthorized', 'send Authorization: Bearer <METRICS_TOKEN>', {});
    } else if (!LOOPBACK.has(req.socket.remoteAddress ?? '')) {
      throw new AppError('forbidden', 'metrics are served to loopback peers only unless METRICS_TOKEN is set', {});
    }
    next();
  };
  router.get('/metrics', allowed, async (_req, res) => {
    res.setHeader('Content-Type', metrics.contentType);
    res.setHeader('Cache-Control', 'no-store');
    res.send(await metrics.render());
  });
  return router;
}

/** HTTP latency by route pattern (never the raw path: ids would explode the label set). */
export function httpMetrics(metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const stop = metrics.httpSeconds.startTimer();
    res.on('finish', () => {
      const route = req.route?.path ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
      stop({ method: req.method, route, status: String(res.statusCode) });
    });
    next();
  };
}
