import express, { Router, type Request } from 'express';
import twilio from 'twilio';
import { z } from 'zod';
import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import type { IncidentEventBus } from '../incidents/event-log.js';
import { actorOf } from '../auth/middleware.js';
import { AppError } from '../http/errors.js';
import { parseInput } from '../http/validate.js';
import { normalisePhone } from '../warnings/targets.js';
import { publicBaseUrl } from '../warnings/public-url.js';
import type { WarningService } from '../warnings/warnings.js';
import { ACK_TOKEN, ackSummary, acknowledge } from './acks.js';
import { escalationSteps } from './scheduler.js';

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
const page = (title: string, body: string) =>
  `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title></head><body>${body}</body></html>`;

const inboundSchema = z.object({ From: z.string().min(1).max(32), Body: z.string().max(1600), MessageSid: z.string().min(1).max(64) }).passthrough();
const ackBodySchema = z.object({ via: z.enum(['push', 'link']).optional() }).strict();
/** An SMS reply that means "received": 1 (also full-width), 确认, 收到, y/yes/ok. */
export const SMS_ACK_REPLY = /^\s*(1|１|确认|收到|y|yes|ok)\s*[。.!！]?\s*$/i;

function tokenOf(req: Request): string {
  const token = String(req.params.token ?? '');
  if (!ACK_TOKEN.test(token)) throw new AppError('not_found', 'no such acknowledgement link', {});
  return token;
}

/**
 * 叫应 answers: the personal one-tap link (GET shows a confirm button, POST records — a link
 * preview or prefetch never acknowledges for the person), the push action, and SMS replies
 * through a Twilio inbound-message webhook signed exactly like the status callbacks.
 */
export function acknowledgementRoutes(opts: { db: Database; config: Config; bus: IncidentEventBus; warnings: WarningService; listenUrl: () => string | null }): Router {
  const { db, config, bus } = opts;
  const router = Router();

  router.get('/a/:token', async (req, res) => {
    const token = tokenOf(req);
    const { rows } = await db.pool.query<{ headline: { zh: string; en: string }; acked_at: Date | null }>(
      `SELECT w.fields->'headline' AS headline, a.acked_at FROM warning_acks a JOIN warnings w ON w.id = a.warning_id WHERE a.token = $1`,
      [token],
    );
    const row = rows[0];
    if (!row) throw new AppError('not_found', 'no such acknowledgement link', {});
    const headline = `<h1>${escapeHtml(row.headline.zh)}</h1><p>${escapeHtml(row.headline.en)}</p>`;
    res.type('html').send(
      page(
        '叫应确认 / Acknowledge',
        row.acked_at
          ? `${headline}<p>已确认收到 / Already acknowledged</p>`
          : `${headline}<form method="post" action="/public/ack/${token}"><input type="hidden" name="via" value="link"><button type="submit">确认收到 / I have received it</button></form>`,
      ),
    );
  });

  router.post('/public/ack/:token', express.urlencoded({ extended: false, limit: '4kb' }), async (req, res) => {
    const token = tokenOf(req);
    const body = parseInput(ackBodySchema, req.body && typeof req.body === 'object' ? req.body : {});
    const result = await acknowledge(db, bus, { token }, body.via ?? 'link');
    if (!result.acknowledged) throw new AppError('not_found', 'no such acknowledgement link', {});
    if (req.is('application/x-www-form-urlencoded')) {
      res.type('html').send(page('已确认 / Acknowledged', '<p>已确认收到，谢谢。/ Acknowledged, thank you.</p>'));
      return;
    }
    res.json({ acknowledged: true, already: result.already, warningId: result.warningId, at: result.at });
  });

  router.post('/webhooks/twilio/inbound', express.urlencoded({ extended: false, limit: '64kb' }), async (req, res) => {
    if (!config.TWILIO_AUTH_TOKEN) throw new AppError('not_found', 'SMS replies are not enabled (no TWILIO_AUTH_TOKEN)', {});
    const signature = req.header('x-twilio-signature') ?? '';
    const base = publicBaseUrl(config, opts.listenUrl);
    const url = `${base ?? `${req.protocol}://${req.get('host')}`}${req.originalUrl}`;
    const params = (typeof req.body === 'object' && req.body ? req.body : {}) as Record<string, string>;
    if (!signature || !twilio.validateRequest(config.TWILIO_AUTH_TOKEN, signature, url, params)) {
      throw new AppError('invalid_signature', 'X-Twilio-Signature does not verify for this URL and body', {});
    }
    const msg = parseInput(inboundSchema, params);
    const phone = normalisePhone(msg.From);
    let reply = '';
    if (phone && SMS_ACK_REPLY.test(msg.Body)) {
      const result = await acknowledge(db, bus, { phone }, 'sms');
      if (result.acknowledged) {
        reply = '已确认收到，谢谢。Acknowledged, thank you.';
      }
    }
    const twiml = new twilio.twiml.MessagingResponse();
    if (reply) twiml.message(reply);
    res.type('text/xml').send(twiml.toString());
  });

  router.get('/api/warnings/:id/acknowledgements', async (req, res) => {
    const row = await opts.warnings.forDeliveries(actorOf(req), req.params.id);
    const { rows: people } = await db.pool.query(
      `SELECT recipient_id AS "recipientId", name, phone, escalation_name AS "escalationName", due_at AS "dueAt", acked_at AS "ackedAt", via,
              CASE WHEN acked_at IS NULL THEN NULL ELSE (extract(epoch FROM acked_at - $2::timestamptz) * 1000)::bigint END AS "ackMs"
         FROM warning_acks WHERE warning_id = $1 ORDER BY acked_at NULLS LAST, name, id`,
      [row.id, row.approved_at],
    );
    res.json({
      warningId: row.id,
      summary: await ackSummary(db.pool, row.id, row.approved_at),
      people: people.map((p) => ({ ...p, ackMs: p.ackMs === null ? null : Number(p.ackMs) })),
      steps: await escalationSteps(db.pool, row.id),
    });
  });
  return router;
}
