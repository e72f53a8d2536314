import { Router } from 'express';
import { z } from 'zod';
import { actorOf } from '../auth/middleware.js';
import { authorize, requirePermission } from '../auth/policy.js';
import { parseInput } from '../http/validate.js';
import { incidentNotFound, type IncidentService } from '../incidents/incidents.js';
import type { Database } from '../db/database.js';
import { userText } from '../../shared/text.js';
import { IMPROVEMENT_STATUSES } from '../../shared/review.js';
import type { DrillReviewSource } from '../../shared/drill-review.js';
import { can } from '../../shared/policy.js';
import { computeReview } from './compute.js';
import { renderReviewHtml } from './html.js';
import { renderReviewDocx } from './docx.js';
import { checklistAt } from './replay.js';
import type { ImprovementService } from './improvements.js';

const langQuery = z.object({ lang: z.enum(['zh', 'en']).optional() }).strict();
const docxQuery = z.object({ format: z.enum(['aqt9009', 'hseep']).optional() }).strict();
const replayQuery = z.object({ at: z.iso.datetime({ offset: true }) }).strict();
const createBody = z
  .object({
    problem: userText({ max: 2000, multiline: true }),
    unit: z.string().min(1).max(100),
    dueDate: z.iso.date(),
    planItemId: z.string().min(1).max(100).nullable().optional(),
  })
  .strict();
const statusBody = z.object({ status: z.enum(IMPROVEMENT_STATUSES), evidence: userText({ max: 4000, multiline: true }).optional() }).strict();
const listQuery = z.object({ status: z.enum(IMPROVEMENT_STATUSES).optional(), planId: z.string().min(1).max(100).optional() }).strict();

export function reviewRoutes(db: Database, incidents: IncidentService, improvements: ImprovementService, opts: { drillSource?: DrillReviewSource; timeZone: string }): Router {
  const router = Router();
  const review = async (req: import('express').Request) => {
    const actor = actorOf(req);
    const incident = await incidents.get(actor, String(req.params.id));
    authorize(actor, 'review.read', { incident }, () => incidentNotFound(incident.id));
    // While a drill runs, its scoreboard (what is expected, by when; which injects are still to come)
    // is for those who run or evaluate it; the participants read it once the drill has ended.
    const source = opts.drillSource;
    const drillSource: DrillReviewSource | undefined =
      source && (async (incidentId) => {
        const section = await source(incidentId);
        return section && (section.endedAt !== null || can(actor, 'drill.read')) ? section : null;
      });
    return computeReview(db.pool, incident, { drillSource, improvements: (id) => improvements.forIncident(id) });
  };
  router.get('/api/incidents/:id/review', async (req, res) => {
    res.json({ review: await review(req) });
  });
  router.get('/api/incidents/:id/review.html', async (req, res) => {
    const { lang } = parseInput(langQuery, req.query, 'query');
    const r = await review(req);
    res.type('html').send(renderReviewHtml(r, lang ?? 'zh', opts.timeZone));
  });
  router.get('/api/incidents/:id/review.docx', async (req, res) => {
    const { format } = parseInput(docxQuery, req.query, 'query');
    const r = await review(req);
    const buffer = await renderReviewDocx(r, format ?? 'aqt9009', opts.timeZone);
    const name = `review-${r.incidentId}${format === 'hseep' ? '-hseep' : ''}.docx`;
    res.type('application/vnd.openxmlformats-officedocument.wordprocessingml.document').attachment(name).send(buffer);
  });
  router.get('/api/incidents/:id/checklist', async (req, res) => {
    const actor = actorOf(req);
    const { at } = parseInput(replayQuery, req.query, 'query');
    const incident = await incidents.get(actor, String(req.params.id));
    authorize(actor, 'review.read', { incident }, () => incidentNotFound(incident.id));
    res.json({ incidentId: incident.id, at: new Date(at).toISOString(), items: await checklistAt(db.pool, incident.id, new Date(at)) });
  });
  router.post('/api/incidents/:id/improvements', async (req, res) => {
    const body = parseInput(createBody, req.body);
    res.status(201).json({ improvement: await improvements.create(actorOf(req), String(req.params.id), body) });
  });
  router.get('/api/incidents/:id/improvements', async (req, res) => {
    const actor = actorOf(req);
    const incident = await incidents.get(actor, String(req.params.id));
    authorize(actor, 'review.read', { incident }, () => incidentNotFound(incident.id));
    res.json({ improvements: await improvements.forIncident(incident.id) });
  });
  router.post('/api/improvements/:id/status', async (req, res) => {
    const { status, evidence } = parseInput(statusBody, req.body);
    res.json({ improvement: await improvements.changeStatus(actorOf(req), String(req.params.id), status, evidence) });
  });
  router.get('/api/improvements', requirePermission('improvement.list'), async (req, res) => {
    res.json({ improvements: await improvements.list(actorOf(req), parseInput(listQuery, req.query, 'query')) });
  });
  router.get('/api/plans/:id/improvements', requirePermission('improvement.list'), async (req, res) => {
    const { status } = parseInput(listQuery.pick({ status: true }), req.query, 'query');
    res.json({ planId: req.params.id, improvements: await improvements.list(actorOf(req), { planId: String(req.params.id), status }) });
  });
  return router;
}
