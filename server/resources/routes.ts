import { Router } from 'express';
import type { Database } from '../db/database.js';
import { z } from 'zod';
import { actorOf } from '../auth/middleware.js';
import { can, requirePermission, type Actor } from '../auth/policy.js';
import { AppError } from '../http/errors.js';
import { parseInput } from '../http/validate.js';
import { SPECIALTY_CODES } from '../../shared/catalogue.js';
import { TEAM_STATUSES } from '../../shared/resources.js';
import { reservePartnerView, shelterView, stockLineView, teamView, warehouseView } from './views.js';

const teamsQuery = z
  .object({ status: z.enum(TEAM_STATUSES).optional(), specialty: z.enum(SPECIALTY_CODES).optional(), tier: z.enum(['district', 'street', 'social']).optional() })
  .strict();

/**
 * A team's current order, by the policy: whoever may not see it (a controller and an actual
 * incident, a field user and another team) learns only that the team is busy.
 */
function visibleDispatchId(actor: Actor, team: Record<string, any>): string | null {
  if (!team.current_dispatch_id) return null;
  const incident = { mode: team.dispatch_incident_mode, status: team.dispatch_incident_status };
  return can(actor, 'dispatch.read', { incident, teamId: team.id }) ? team.current_dispatch_id : null;
}

const SELECT_TEAMS = `SELECT t.*, i.mode AS dispatch_incident_mode, i.status AS dispatch_incident_status
  FROM teams t LEFT JOIN dispatches d ON d.id = t.current_dispatch_id LEFT JOIN incidents i ON i.id = d.incident_id`;

/** Read access to the organisation: teams, warehouses and stock, shelters, agreement reserves. */
export function resourceRoutes(db: Database): Router {
  const router = Router();
  const read = requirePermission('organisation.read');
  router.get('/api/organisation', read, async (_req, res) => {
    const { rows } = await db.pool.query<{ key: string; value: unknown }>(`SELECT key, value FROM settings WHERE key IN ('district', 'command_centre')`);
    const byKey = Object.fromEntries(rows.map((r) => [r.key, r.value]));
    res.json({ district: byKey.district ?? null, commandCentre: byKey.command_centre ?? null });
  });
  router.get('/api/teams', read, async (req, res) => {
    const actor = actorOf(req);
    const q = parseInput(teamsQuery, req.query, 'query');
    const { rows } = await db.pool.query(
      `${SELECT_TEAMS} WHERE ($1::text IS NULL OR t.status = $1) AND ($2::text IS NULL OR $2 = ANY(t.specialties)) AND ($3::text IS NULL OR t.tier = $3) ORDER BY t.id`,
      [q.status ?? null, q.specialty ?? null, q.tier ?? null],
    );
    res.json({ teams: rows.map((r) => teamView({ ...r, current_dispatch_id: visibleDispatchId(actor, r) })) });
  });
  router.get('/api/teams/:id', read, async (req, res) => {
    const actor = actorOf(req);
    const { rows } = await db.pool.query(`${SELECT_TEAMS} WHERE t.id = $1`, [req.params.id]);
    if (!rows[0]) throw new AppError('not_found', `team ${req.params.id} not found`, { teamId: req.params.id });
    const members = await db.pool.query(`SELECT id, username, display_name FROM users WHERE team_id = $1 ORDER BY username`, [req.params.id]);
    const visibleId = visibleDispatchId(actor, rows[0]);
    const current = rows[0].current_dispatch_id
      ? await db.pool.query(
          `SELECT d.id, d.incident_id, i.title, d.task, d.status FROM dispatches d JOIN incidents i ON i.id = d.incident_id WHERE d.id = $1`,
          [rows[0].current_dispatch_id],
        )
      : { rows: [] };
    const d = current.rows[0];
    res.json({
      team: teamView({ ...rows[0], current_dispatch_id: visibleId }),
      members: members.rows.map((m) => ({ id: m.id, username: m.username, displayName: m.display_name })),
      currentDispatch: !d
        ? null
        : visibleId
          ? { id: d.id, incidentId: d.incident_id, incidentTitle: d.title, task: d.task, status: d.status }
          : { id: null, incidentId: null, incidentTitle: null, task: null, status: d.status },
    });
  });
  router.get('/api/warehouses', read, async (_req, res) => {
    const { rows } = await db.pool.query('SELECT * FROM warehouses ORDER BY id');
    res.json({ warehouses: rows.map(warehouseView) });
  });
  router.get('/api/warehouses/:id/stock', read, async (req, res) => {
    const wh = await db.pool.query('SELECT 1 FROM warehouses WHERE id = $1', [req.params.id]);
    if (!wh.rowCount) throw new AppError('not_found', `warehouse ${req.params.id} not found`, { warehouseId: req.params.id });
    const { rows } = await db.pool.query('SELECT * FROM stock_lines WHERE warehouse_id = $1 ORDER BY category, item, batch', [req.params.id]);
    res.json({ warehouseId: req.params.id, stock: rows.map(stockLineView) });
  });
  router.get('/api/shelters', read, async (_req, res) => {
    const { rows } = await db.pool.query('SELECT * FROM shelters ORDER BY id');
    res.json({ shelters: rows.map(shelterView) });
  });
  router.get('/api/reserve-partners', read, async (_req, res) => {
    const { rows } = await db.pool.query('SELECT * FROM reserve_partners ORDER BY id');
    res.json({ reservePartners: rows.map(reservePartnerView) });
  });
  return router;
}
