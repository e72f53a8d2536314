import { Router } from 'express';
import type { Database } from '../db/database.js';

export function healthRoutes(db: Database, startedAt: Date): Router {
  const router = Router();
  router.get('/healthz', async (_req, res) => {
    const t0 = Date.now();
    try {
      await db.pool.query('SELECT 1');
      res.json({ status: 'ok', database: { status: 'ok', embedded: db.embedded, latencyMs: Date.now() - t0 }, uptimeSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000) });
    } catch (err) {
      res.status(503).json({ status: 'unavailable', database: { status: 'down', embedded: db.embedded, message: (err as Error).message } });
    }
  });
  return router;
}
