import { Router } from 'express';
import { z } from 'zod';
import { actorOf } from '../auth/middleware.js';
import { parseInput, UUID } from '../http/validate.js';
import { AppError } from '../http/errors.js';
import { userText } from '../../shared/text.js';
import { FIX_CLOCK_SKEW_MS } from '../resources/team-position.js';
import { PHOTO_MAX_BYTES } from './photos.js';
import type { FieldReportService } from './reports.js';

/** base64 of PHOTO_MAX_BYTES bytes, padded. */
const PHOTO_MAX_BASE64 = Math.ceil(PHOTO_MAX_BYTES / 3) * 4;

const reportBody = z
  .object({
    text: userText({ max: 4000, multiline: true }),
    location: z
      .object({
        lat: z.number().min(-90).max(90),
        lon: z.number().min(-180).max(180),
        accuracyM: z.number().min(0).max(100_000).optional(),
        at: z.iso
          .datetime({ offset: true })
          .refine((at) => Date.parse(at) <= Date.now() + FIX_CLOCK_SKEW_MS, 'the fix time lies in the future')
          .optional(),
      })
      .strict()
      .optional(),
    /** JPEG, PNG or WebP, base64 (RFC 4648, no data: prefix), at most 5 MiB decoded. */
    photo: z.base64().max(PHOTO_MAX_BASE64, `a photo may have at most ${PHOTO_MAX_BYTES} bytes`).optional(),
  })
  .strict();
const listQuery = z.object({ afterSeq: z.coerce.number().int().min(0).optional(), teamId: z.string().min(1).max(64).optional() }).strict();

/** Situation reports (现场情况) from the field. */
export function fieldReportRoutes(reports: FieldReportService): Router {
  const router = Router();
  router.post('/api/incidents/:id/reports', async (req, res) => {
    const { photo, ...body } = parseInput(reportBody, req.body);
    res.status(201).json({ report: await reports.create(actorOf(req), req.params.id, { ...body, ...(photo ? { photo: Buffer.from(photo, 'base64') } : {}) }) });
  });
  router.get('/api/incidents/:id/reports', async (req, res) => {
    const { afterSeq, teamId } = parseInput(listQuery, req.query, 'query');
    res.json({ reports: await reports.list(actorOf(req), req.params.id, { afterSeq, teamId }) });
  });
  router.get('/api/incidents/:id/report-photos/:photoId', async (req, res) => {
    if (!UUID.test(req.params.photoId)) throw new AppError('not_found', `photo ${req.params.photoId} not found`, { photoId: req.params.photoId });
    const photo = await reports.photo(actorOf(req), req.params.id, req.params.photoId);
    // The type the server sniffed and re-encoded, never the client's; no sniffing by the browser either.
    res.setHeader('Content-Type', photo.contentType);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Content-Disposition', 'inline');
    res.setHeader('Cache-Control', 'private, max-age=3600');
    res.send(photo.bytes);
  });
  return router;
}
