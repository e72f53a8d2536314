import { Router } from 'express';
import { z } from 'zod';
import { actorOf } from '../auth/middleware.js';
import { parseInput } from '../http/validate.js';
import { userText } from '../../shared/text.js';
import type { FieldReportService } from './reports.js';

const reportBody = z
  .object({
    text: userText({ max: 4000, multiline: true }),
    location: z
      .object({ lat: z.number().min(-90).max(90), lon: z.number().min(-180).max(180), accuracyM: z.number().min(0).max(100_000).optional() })
      .strict()
      .optional(),
  })
  .strict();
const listQuery = z.object({ afterSeq: z.coerce.number().int().min(0).optional() }).strict();

/** Situation reports (现场情况) from the field. */
export function fieldReportRoutes(reports: FieldReportService): Router {
  const router = Router();
  router.post('/api/incidents/:id/reports', async (req, res) => {
    const body = parseInput(reportBody, req.body);
    res.status(201).json({ report: await reports.create(actorOf(req), req.params.id, body) });
  });
  router.get('/api/incidents/:id/reports', async (req, res) => {
    const { afterSeq } = parseInput(listQuery, req.query, 'query');
    res.json({ reports: await reports.list(actorOf(req), req.params.id, afterSeq) });
  });
  return router;
}
