import { Router } from 'express';
import { z } from 'zod';
import { INCIDENT_MODES, RESPONSE_LEVELS } from '../../shared/labels.js';
import { areaSchema } from '../../shared/plan.js';
import { userText } from '../../shared/text.js';
import type { Database } from '../db/database.js';
import { actorOf } from '../auth/middleware.js';
import { parseInput } from '../http/validate.js';
import { listEvents, verifyChain } from './event-log.js';
import { eventReaches } from '../../shared/drill.js';
import { publicView, type IncidentService } from './incidents.js';

const activateBody = z
  .object({
    planId: z.string().min(1).max(100),
    level: z.enum(RESPONSE_LEVELS),
    mode: z.enum(INCIDENT_MODES),
    title: userText({ max: 200 }).optional(),
    location: z.object({ lat: z.number().min(-90).max(90), lon: z.number().min(-180).max(180) }).strict().optional(),
    area: areaSchema.optional(),
  })
  .strict();

const levelBody = z.object({ level: z.enum(RESPONSE_LEVELS), reason: userText({ max: 500, allowEmpty: true }).optional() }).strict();
const closeBody = z.object({ summary: userText({ max: 2000, multiline: true, allowEmpty: true }).optional() }).strict();
const listQuery = z.object({ status: z.enum(['active', 'closed']).optional(), mode: z.enum(INCIDENT_MODES).optional() }).strict();
const eventsQuery = z
  .object({
    afterSeq: z.coerce.number().int().min(0).optional(),
    limit: z.coerce.number().int().min(1).max(5000).optional(),
    type: z.union([z.string(), z.array(z.string())]).optional(),
  })
  .strict();

export function incidentRoutes(db: Database, incidents: IncidentService): Router {
  const router = Router();
  router.post('/api/incidents', async (req, res) => {
    const incident = await incidents.activate(actorOf(req), parseInput(activateBody, req.body));
    res.status(201).json({ incident: publicView(incident) });
  });
  router.get('/api/incidents', async (req, res) => {
    res.json({ incidents: await incidents.list(actorOf(req), parseInput(listQuery, req.query, 'query')) });
  });
  router.get('/api/incidents/:id', async (req, res) => {
    const incident = await incidents.get(actorOf(req), req.params.id);
    const level = incident.plan.levels[incident.level]!;
    res.json({
      incident: publicView(incident),
      plan: { command: incident.plan.command, requirements: { teams: level.teams, materials: level.materials }, warningTemplates: level.warningTemplates },
    });
  });
  router.post('/api/incidents/:id/level', async (req, res) => {
    const { level, reason } = parseInput(levelBody, req.body);
    res.json({ incident: publicView(await incidents.changeLevel(actorOf(req), req.params.id, level, reason)) });
  });
  router.post('/api/incidents/:id/close', async (req, res) => {
    const { summary } = parseInput(closeBody, req.body);
    res.json({ incident: publicView(await incidents.close(actorOf(req), req.params.id, summary)) });
  });
  router.get('/api/incidents/:id/events', async (req, res) => {
    const actor = actorOf(req);
    const incident = await incidents.get(actor, req.params.id);
    const q = parseInput(eventsQuery, req.query, 'query');
    const types = q.type === undefined ? undefined : Array.isArray(q.type) ? q.type : [q.type];
    // Drill entries reach their audience only (a controller-only inject: controllers and evaluators).
    const events = (await listEvents(db.pool, incident.id, { afterSeq: q.afterSeq, limit: q.limit, types })).filter((e) => eventReaches(actor, e));
    res.json({ incidentId: incident.id, events });
  });
  router.get('/api/incidents/:id/events/verify', async (req, res) => {
    const incident = await incidents.get(actorOf(req), req.params.id);
    res.json({ incidentId: incident.id, ...(await verifyChain(db.pool, incident.id)) });
  });
  return router;
}
