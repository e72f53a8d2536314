import { Router } from 'express';
import { z } from 'zod';
import type { Database } from '../db/database.js';
import { actorOf } from '../auth/middleware.js';
import { AppError } from '../http/errors.js';
import { parseInput } from '../http/validate.js';
import { settleEach } from '../http/batch.js';
import type { IncidentService } from '../incidents/incidents.js';
import { DISPATCH_STATUSES } from '../../shared/resources.js';
import { userText } from '../../shared/text.js';
import type { DispatchService } from './dispatches.js';
import { recommend } from './recommendation.js';
import { authorize } from '../auth/policy.js';
import { fixSchema } from './team-position.js';

const dispatchBody = z
  .object({
    teamId: z.string().min(1).max(64),
    task: userText({ max: 2000, multiline: true }).optional(),
    location: z
      .object({ lat: z.number().min(-90).max(90), lon: z.number().min(-180).max(180), address: userText({ max: 300 }).optional() })
      .strict()
      .optional(),
    contact: z.object({ name: userText({ max: 64 }), phone: z.string().regex(/^\+?[0-9-]{5,20}$/) }).strict().optional(),
  })
  .strict();

/** "Dispatch all proposed": each team on its own, no team twice. */
const batchDispatchBody = z
  .object({
    teams: z
      .array(dispatchBody.pick({ teamId: true, task: true }))
      .min(1)
      .max(100)
      .refine((teams) => new Set(teams.map((t) => t.teamId)).size === teams.length, 'a team may appear only once'),
  })
  .strict();

const statusBody = z
  .object({
    status: z.enum(DISPATCH_STATUSES),
    note: userText({ max: 1000, multiline: true, allowEmpty: true }).optional(),
    /** The phone's fix at the moment of the change: becomes the team's last known position. */
    position: fixSchema.optional(),
  })
  .strict();
const myQuery = z.object({ active: z.enum(['true', 'false']).optional() }).strict();

/** Recommendations, dispatch orders (任务单) and the field user's view of his team's orders. */
export function dispatchRoutes(db: Database, incidents: IncidentService, dispatches: DispatchService): Router {
  const router = Router();
  router.get('/api/incidents/:id/recommendations', async (req, res) => {
    const incident = await incidents.get(actorOf(req), req.params.id);
    res.json({ recommendations: await recommend(db.pool, incident) });
  });
  router.post('/api/incidents/:id/dispatches', async (req, res) => {
    const body = parseInput(dispatchBody, req.body);
    res.status(201).json({ dispatch: await dispatches.create(actorOf(req), req.params.id, body) });
  });
  router.post('/api/incidents/:id/dispatches/batch', async (req, res) => {
    const { teams } = parseInput(batchDispatchBody, req.body);
    const actor = actorOf(req);
    // Visibility and role first: an incident the caller cannot see is 404, a role that may not
    // dispatch is 403, for the whole request; only what depends on each team is answered per team.
    const incident = await incidents.get(actor, req.params.id);
    authorize(actor, 'dispatch.create', { incident });
    const results = await settleEach(teams, 'dispatch', (team) => dispatches.create(actor, req.params.id, team));
    res.json({ results: results.map((r) => ({ teamId: teams[r.index]!.teamId, ...r })) });
  });
  router.get('/api/incidents/:id/dispatches', async (req, res) => {
    res.json({ dispatches: await dispatches.listForIncident(actorOf(req), req.params.id) });
  });
  router.get('/api/dispatches/:id', async (req, res) => {
    res.json({ dispatch: await dispatches.get(actorOf(req), req.params.id) });
  });
  router.post('/api/dispatches/:id/status', async (req, res) => {
    const { status, note, position } = parseInput(statusBody, req.body);
    res.json({ dispatch: await dispatches.changeStatus(actorOf(req), req.params.id, status, note, position) });
  });
  router.get('/api/my/dispatches', async (req, res) => {
    const actor = actorOf(req);
    const { active } = parseInput(myQuery, req.query, 'query');
    if (!actor.teamId) throw new AppError('forbidden', 'only field users bound to a team have dispatch orders of their own', { role: actor.role });
    res.json({ teamId: actor.teamId, dispatches: await dispatches.listForTeam(actor.teamId, { activeOnly: active === 'true' }) });
  });
  return router;
}
