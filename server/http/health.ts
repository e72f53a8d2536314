import { Router } from 'express';
import type { Database } from '../db/database.js';
import { DATABASE_RETRY_AFTER_SECONDS } from './db-unavailable.js';

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
