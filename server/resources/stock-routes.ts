import { Router } from 'express';
import { z } from 'zod';
import type { Database } from '../db/database.js';
import { actorOf } from '../auth/middleware.js';
import { requirePermission } from '../auth/policy.js';
import { parseInput } from '../http/validate.js';
import { MATERIAL_ITEM_CODES } from '../../shared/catalogue.js';
import { exportStockCsv, exportTeamsCsv, importStockCsv, importTeamsCsv } from './csv.js';
import type { StockWatch } from './stock-watch.js';
import { stockLineView } from './views.js';

/** 1 MiB JSON body limit leaves room for some 8,000 rows per file. */
const importBody = z.object({ csv: z.string().min(1).max(1_000_000) }).strict();
const stockQuery = z.object({ item: z.enum(MATERIAL_ITEM_CODES).optional(), warehouseId: z.string().min(1).max(64).optional() }).strict();
const exportQuery = z.object({ warehouseId: z.string().min(1).max(64).optional() }).strict();

function sendCsv(res: import('express').Response, name: string, body: string) {
  res.type('text/csv; charset=utf-8').attachment(name).send(body);
}

/** Stock across warehouses, CSV import/export of teams and stock, and the stock watch. */
export function stockRoutes(db: Database, watch: StockWatch): Router {
  const router = Router();
  const read = requirePermission('organisation.read');
  router.get('/api/stock', read, async (req, res) => {
    const q = parseInput(stockQuery, req.query, 'query');
    const { rows } = await db.pool.query(
      `SELECT * FROM stock_lines WHERE ($1::text IS NULL OR item = $1) AND ($2::text IS NULL OR warehouse_id = $2) ORDER BY warehouse_id, item, batch`,
      [q.item ?? null, q.warehouseId ?? null],
    );
    res.json({ stock: rows.map(stockLineView) });
  });
  router.get('/api/csv/teams', read, async (_req, res) => {
    sendCsv(res, 'teams.csv', await exportTeamsCsv(db));
  });
  router.post('/api/csv/teams', requirePermission('organisation.import'), async (req, res) => {
    const { csv } = parseInput(importBody, req.body);
    res.json({ imported: await importTeamsCsv(db, csv) });
  });
  router.get('/api/csv/stock', read, async (req, res) => {
    const { warehouseId } = parseInput(exportQuery, req.query, 'query');
    sendCsv(res, 'stock.csv', await exportStockCsv(db, warehouseId));
  });
  router.post('/api/csv/stock', requirePermission('organisation.import'), async (req, res) => {
    const { csv } = parseInput(importBody, req.body);
    res.json({ imported: await importStockCsv(db, csv) });
  });
  router.get('/api/stock-alerts', read, async (_req, res) => {
    res.json({ alerts: await watch.list() });
  });
  router.post('/api/stock-watch/run', requirePermission('stock-watch.run'), async (req, res) => {
    actorOf(req);
    res.json(await watch.run());
  });
  return router;
}
