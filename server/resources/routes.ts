import { Router } from 'express';
import type { Database } from '../db/database.js';
import { AppError } from '../http/errors.js';
import { reservePartnerView, shelterView, stockLineView, teamView, warehouseView } from './views.js';

/** Read access to the organisation: teams, warehouses and stock, shelters, agreement reserves. */
export function resourceRoutes(db: Database): Router {
  const router = Router();
  router.get('/api/organisation', async (_req, res) => {
    const { rows } = await db.pool.query<{ key: string; value: unknown }>(`SELECT key, value FROM settings WHERE key IN ('district', 'command_centre')`);
    const byKey = Object.fromEntries(rows.map((r) => [r.key, r.value]));
    res.json({ district: byKey.district ?? null, commandCentre: byKey.command_centre ?? null });
  });
  router.get('/api/teams', async (_req, res) => {
    const { rows } = await db.pool.query('SELECT * FROM teams ORDER BY id');
    res.json({ teams: rows.map(teamView) });
  });
  router.get('/api/teams/:id', async (req, res) => {
    const { rows } = await db.pool.query('SELECT * FROM teams WHERE id = $1', [req.params.id]);
    if (!rows[0]) throw new AppError('not_found', `team ${req.params.id} not found`, { teamId: req.params.id });
    res.json({ team: teamView(rows[0]) });
  });
  router.get('/api/warehouses', async (_req, res) => {
    const { rows } = await db.pool.query('SELECT * FROM warehouses ORDER BY id');
    res.json({ warehouses: rows.map(warehouseView) });
  });
  router.get('/api/warehouses/:id/stock', async (req, res) => {
    const wh = await db.pool.query('SELECT 1 FROM warehouses WHERE id = $1', [req.params.id]);
    if (!wh.rowCount) throw new AppError('not_found', `warehouse ${req.params.id} not found`, { warehouseId: req.params.id });
    const { rows } = await db.pool.query('SELECT * FROM stock_lines WHERE warehouse_id = $1 ORDER BY category, item, batch', [req.params.id]);
    res.json({ warehouseId: req.params.id, stock: rows.map(stockLineView) });
  });
  router.get('/api/shelters', async (_req, res) => {
    const { rows } = await db.pool.query('SELECT * FROM shelters ORDER BY id');
    res.json({ shelters: rows.map(shelterView) });
  });
  router.get('/api/reserve-partners', async (_req, res) => {
    const { rows } = await db.pool.query('SELECT * FROM reserve_partners ORDER BY id');
    res.json({ reservePartners: rows.map(reservePartnerView) });
  });
  return router;
}
