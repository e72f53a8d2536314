import express, { Router } from 'express';
import twilio from 'twilio';
import { z } from 'zod';
import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import { AppError } from '../http/errors.js';
import { parseInput } from '../http/validate.js';
import type { ProgressReporter } from './progress-reporter.js';
import { publicBaseUrl } from './public-url.js';

const callbackSchema = z.object({ MessageSid: z.string().min(1).max(64), MessageStatus: z.string().min(1).max(32) }).passthrough();
const querySchema = z.object({ delivery: z.coerce.number().int().positive() }).strict();

/** Twilio's message statuses mapped onto ours; states a delivery may move from. */
const TRANSITIONS: Record<string, { to: string; from: string[] }> = {
  accepted: { to: 'sent', from: ['sending', 'unknown'] },
  queued: { to: 'sent', from: ['sending', 'unknown'] },
  sending: { to: 'sent', from: ['sending', 'unknown'] },
  sent: { to: 'sent', from: ['sending', 'unknown'] },
  delivered: { to: 'delivered', from: ['sending', 'unknown', 'sent'] },
  undelivered: { to: 'undelivered', from: ['sending', 'unknown', 'sent'] },
  failed: { to: 'failed', from: ['sending', 'unknown', 'sent'] },
};

/**
 * POST /webhooks/twilio/status — public (Twilio has no bearer token), so every request must carry
 * a valid X-Twilio-Signature over our public URL and the form parameters.
 */
export function twilioWebhookRoutes(db: Database, config: Config, progress: ProgressReporter, listenUrl: () => string | null): Router {
  const router = Router();
  router.post('/webhooks/twilio/status', express.urlencoded({ extended: false, limit: '64kb' }), async (req, res) => {
    if (!config.TWILIO_AUTH_TOKEN) throw new AppError('not_found', 'SMS status callbacks are not enabled (no TWILIO_AUTH_TOKEN)', {});
    const signature = req.header('x-twilio-signature') ?? '';
    const base = publicBaseUrl(config, listenUrl);
    const url = `${base ?? `${req.protocol}://${req.get('host')}`}${req.originalUrl}`;
    const params = (typeof req.body === 'object' && req.body ? req.body : {}) as Record<string, string>;
    if (!signature || !twilio.validateRequest(config.TWILIO_AUTH_TOKEN, signature, url, params)) {
      throw new AppError('invalid_signature', 'X-Twilio-Signature does not verify for this URL and body', {});
    }
    const { delivery } = parseInput(querySchema, req.query, 'query');
    const body = parseInput(callbackSchema, params);
    const move = TRANSITIONS[body.MessageStatus];
    if (move) {
      const { rows } = await db.pool.query<{ warning_id: string }>(
        `UPDATE warning_deliveries SET status = $2, provider_id = coalesce(provider_id, $3),
                sent_at = coalesce(sent_at, now()),
                delivered_at = CASE WHEN $2 = 'delivered' THEN now() ELSE delivered_at END,
                last_error = CASE WHEN $2 IN ('failed', 'undelivered') THEN 'twilio: ' || $5 ELSE last_error END
          WHERE id = $1 AND channel = 'sms' AND status = ANY($4::text[]) AND (provider_id IS NULL OR provider_id = $3)
          RETURNING warning_id`,
        [delivery, move.to, body.MessageSid, move.from, `${body.MessageStatus} ${params.ErrorCode ?? ''}`.trim()],
      );
      if (rows[0]) progress.touch(rows[0].warning_id);
    }
    res.status(204).end();
  });
  return router;
}
