import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { actorOf } from '../auth/middleware.js';
import { requirePermission } from '../auth/policy.js';
import { parseInput } from '../http/validate.js';
import { userText } from '../../shared/text.js';
import { ROLES } from '../../shared/roles.js';
import type { DrillService } from './service.js';

const iso = z.string().datetime({ offset: true });
const createBody = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('tabletop'), scenarioId: z.string().min(1).max(100) }).strict(),
  z
    .object({
      kind: z.literal('no-script'),
      scenarioIds: z.array(z.string().min(1).max(100)).min(1).max(20),
      window: z.object({ from: iso, to: iso }).strict(),
      participants: z
        .object({
          teamIds: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,39}$/)).max(200).optional(),
          roles: z.array(z.enum(ROLES)).max(ROLES.length).optional(),
          note: userText({ max: 1000, multiline: true }).optional(),
        })
        .strict(),
    })
    .strict(),
]);
const observationBody = z
  .object({
    text: userText({ max: 4000, multiline: true }),
    injectId: z.string().min(1).max(100).optional(),
    rating: z.number().int().min(1).max(5).optional(),
  })
  .strict();
const scenarioQuery = z.object({ version: z.coerce.number().int().min(1).optional() }).strict();
const empty = z.object({}).strict().optional();

/** Scenarios and drills (issue 11). */
export function drillRoutes(drills: DrillService): Router {
  const router = Router();
  router.post('/api/scenarios', requirePermission('scenario.manage'), async (req, res) => {
    res.status(201).json({ scenario: await drills.createScenario(actorOf(req), req.body) });
  });
  router.get('/api/scenarios', requirePermission('scenario.read'), async (req, res) => {
    res.json({ scenarios: await drills.listScenarios(actorOf(req)) });
  });
  router.get('/api/scenarios/:id', requirePermission('scenario.read'), async (req, res) => {
    const { version } = parseInput(scenarioQuery, req.query, 'query');
    res.json({ scenario: await drills.getScenario(actorOf(req), String(req.params.id), version) });
  });
  router.post('/api/drills', requirePermission('drill.manage'), async (req, res) => {
    const body = parseInput(createBody, req.body);
    const drill =
      body.kind === 'tabletop'
        ? await drills.createTabletop(actorOf(req), body.scenarioId)
        : await drills.createNoScript(actorOf(req), { scenarioIds: body.scenarioIds, window: body.window, participants: body.participants });
    res.status(201).json({ drill });
  });
  router.get('/api/drills', requirePermission('drill.read'), async (req, res) => {
    res.json({ drills: await drills.list(actorOf(req)) });
  });
  router.get('/api/drills/:id', requirePermission('drill.read'), async (req, res) => {
    res.json({ drill: await drills.get(actorOf(req), String(req.params.id)) });
  });
  router.get('/api/drills/:id/messages', requirePermission('drill.read'), async (req, res) => {
    res.json({ messages: await drills.sinkMessages(actorOf(req), String(req.params.id)) });
  });
  const control = (verb: 'start' | 'pause' | 'resume' | 'end') => async (req: Request, res: Response) => {
    parseInput(empty, req.body ?? undefined);
    res.json({ drill: await drills[verb](actorOf(req), String(req.params.id)) });
  };
  router.post('/api/drills/:id/start', requirePermission('drill.manage'), control('start'));
  router.post('/api/drills/:id/pause', requirePermission('drill.manage'), control('pause'));
  router.post('/api/drills/:id/resume', requirePermission('drill.manage'), control('resume'));
  router.post('/api/drills/:id/end', requirePermission('drill.manage'), control('end'));
  router.post('/api/drills/:id/injects/:injectId/release', requirePermission('drill.manage'), async (req, res) => {
    parseInput(empty, req.body ?? undefined);
    res.json({ drill: await drills.releaseNow(actorOf(req), String(req.params.id), String(req.params.injectId)) });
  });
  router.post('/api/drills/:id/observations', requirePermission('drill.observe'), async (req, res) => {
    const body = parseInput(observationBody, req.body);
    res.status(201).json({ observation: await drills.observe(actorOf(req), String(req.params.id), body) });
  });
  return router;
}
