import { randomUUID, createHash } from 'node:crypto';
import { Router } from 'express';
import { z } from 'zod';
import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import { actorOf } from '../auth/middleware.js';
import { requirePermission } from '../auth/policy.js';
import { AppError } from '../http/errors.js';
import { parseInput } from '../http/validate.js';
import { draftInputSchema, editInputSchema } from '../../shared/warnings.js';
import { userText } from '../../shared/text.js';
import { atomFeed } from './feed.js';
import { exportRecipientsCsv, importBodySchema, importRecipients, parseRecipientsCsv } from './recipients.js';
import { findWarning } from './store.js';
import type { VapidKeys } from './vapid.js';
import type { WarningService } from './warnings.js';
import { publicBaseUrl } from './public-url.js';
import { isP256PublicKey, isPushAuthSecret, PushEndpointPolicy } from './push-endpoint.js';
import { SharedRateLimit } from '../http/rate-limit.js';
import { isHttpUrl, normaliseTargetUrl } from './targets.js';

const subscriptionSchema = z
  .object({
    endpoint: z.string().url().max(2000).refine((u) => u.startsWith('https://'), 'push endpoints are https URLs'),
    keys: z
      .object({
        p256dh: z.string().max(100).refine(isP256PublicKey, 'must be a base64url uncompressed P-256 public key (a point on the curve)'),
        auth: z.string().max(32).refine(isPushAuthSecret, 'must be a base64url 16-byte auth secret'),
      })
      .strict(),
    expirationTime: z.number().nullable().optional(),
    location: z.object({ lat: z.number().min(-90).max(90), lon: z.number().min(-180).max(180) }).strict().optional(),
  })
  .strict();
const accountSubscriptionSchema = subscriptionSchema.extend({ drill: z.boolean().optional() }).strict();

const endpointSchema = z
  .object({
    name: userText({ max: 100 }),
    url: z.string().url().max(2000).refine(isHttpUrl, 'http(s) URL'),
    secret: z.string().min(16).max(200).optional(),
    exercise: z.boolean().default(false),
    /** What the head-end speaks: OASIS CAP 1.2 or GB/T 35965.1-2018. */
    format: z.enum(['cap', 'gbt35965']).default('cap'),
  })
  .strict();
const sinkQuery = z.object({ limit: z.coerce.number().int().min(1).max(10_000).default(1000), afterId: z.coerce.number().int().min(0).default(0) }).strict();

export function warningRoutes(opts: { db: Database; config: Config; warnings: WarningService; vapid: () => VapidKeys; listenUrl: () => string | null; pushEndpoints: PushEndpointPolicy }): Router {
  const { db, warnings, config } = opts;
  const router = Router();
  const perIp = new SharedRateLimit(db.pool, 'push-subscribe-ip', config.PUSH_SUBSCRIBE_LIMIT_PER_IP, config.PUSH_SUBSCRIBE_WINDOW_SECONDS);
  const overall = new SharedRateLimit(db.pool, 'push-subscribe-all', config.PUSH_SUBSCRIBE_LIMIT_TOTAL, config.PUSH_SUBSCRIBE_WINDOW_SECONDS);
  const checkEndpoint = async (endpoint: string) => {
    const refusal = await opts.pushEndpoints.refusal(endpoint);
    if (refusal) throw new AppError('validation_failed', `invalid body: endpoint: ${refusal}`, { issues: [{ path: 'endpoint', message: refusal, code: 'custom' }] });
  };

  router.post('/api/incidents/:id/warnings', async (req, res) => {
    const warning = await warnings.draft(actorOf(req), req.params.id, parseInput(draftInputSchema, req.body));
    res.status(201).json({ warning });
  });
  router.get('/api/incidents/:id/warnings', async (req, res) => {
    res.json({ warnings: await warnings.list(actorOf(req), req.params.id) });
  });
  router.get('/api/warnings/:id', async (req, res) => {
    res.json({ warning: (await warnings.get(actorOf(req), req.params.id)).view });
  });
  router.patch('/api/warnings/:id', async (req, res) => {
    res.json({ warning: await warnings.edit(actorOf(req), req.params.id, parseInput(editInputSchema, req.body)) });
  });
  router.post('/api/warnings/:id/approve', async (req, res) => {
    parseInput(z.object({}).strict(), req.body);
    res.json({ warning: await warnings.approve(actorOf(req), req.params.id) });
  });
  router.post('/api/warnings/:id/update', async (req, res) => {
    res.status(201).json({ warning: await warnings.follow(actorOf(req), req.params.id, 'Update', parseInput(editInputSchema, req.body)) });
  });
  router.post('/api/warnings/:id/cancel', async (req, res) => {
    res.status(201).json({ warning: await warnings.follow(actorOf(req), req.params.id, 'Cancel', parseInput(editInputSchema, req.body)) });
  });
  router.get('/api/warnings/:id/cap.xml', async (req, res) => {
    const { row } = await warnings.get(actorOf(req), req.params.id);
    if (!row.cap_xml) throw new AppError('warning_not_sent', 'a draft has no CAP alert yet; approve it first', { status: row.status });
    res.type('application/cap+xml; charset=utf-8').send(row.cap_xml);
  });
  router.get('/api/warnings/:id/gbt35965.xml', async (req, res) => {
    const { row } = await warnings.get(actorOf(req), req.params.id);
    if (!row.gbt_xml) throw new AppError('warning_not_sent', 'a draft has no GB/T 35965.1 message yet (or it was approved before the format existed); approve it first', { status: row.status });
    res.type('application/xml; charset=utf-8').send(row.gbt_xml);
  });
  router.get('/api/warnings/:id/sink', async (req, res) => {
    const row = await warnings.forDeliveries(actorOf(req), req.params.id);
    const q = parseInput(sinkQuery, req.query, 'query');
    const { rows } = await db.pool.query(
      `SELECT id, delivery_id AS "deliveryId", channel, address, body, created_at AS "createdAt" FROM warning_sink_messages
        WHERE warning_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
      [row.id, q.afterId, q.limit],
    );
    res.json({ warningId: row.id, messages: rows });
  });
  router.get('/api/warnings/:id/deliveries', async (req, res) => {
    const row = await warnings.forDeliveries(actorOf(req), req.params.id);
    const q = parseInput(sinkQuery, req.query, 'query');
    const { rows } = await db.pool.query(
      `SELECT id, channel, target_id AS "targetId", address, status, attempts, provider_id AS "providerId", last_error AS "lastError", receipt, segments,
              sent_at AS "sentAt", delivered_at AS "deliveredAt" FROM warning_deliveries WHERE warning_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
      [row.id, q.afterId, q.limit],
    );
    res.json({ warningId: row.id, deliveries: rows });
  });

  // Recipients and endpoints.
  router.post('/api/recipients/import', requirePermission('recipients.manage'), async (req, res) => {
    const body = parseInput(importBodySchema, req.body);
    const rows = parseRecipientsCsv(body.csv);
    res.json({ list: body.list, imported: await importRecipients(db, body.list, rows, body.drill ?? false) });
  });
  router.get('/api/recipients/export', requirePermission('recipients.manage'), async (req, res) => {
    const q = parseInput(z.object({ list: userText({ max: 100 }) }).strict(), req.query, 'query');
    res.type('text/csv; charset=utf-8').send(await exportRecipientsCsv(db, q.list));
  });
  router.get('/api/recipients', requirePermission('recipients.manage'), async (_req, res) => {
    const { rows } = await db.pool.query(
      `SELECT list, kind, count(*)::int AS count, count(*) FILTER (WHERE drill)::int AS drill FROM warning_recipients GROUP BY list, kind ORDER BY list, kind`,
    );
    res.json({ lists: rows });
  });
  router.get('/api/broadcast-endpoints', requirePermission('broadcast-endpoint.read'), async (_req, res) => {
    const { rows } = await db.pool.query(`SELECT id, name, url, exercise, source, active, format FROM broadcast_endpoints ORDER BY source, id`);
    res.json({ endpoints: rows });
  });
  router.post('/api/broadcast-endpoints', requirePermission('broadcast-endpoint.register'), async (req, res) => {
    const body = parseInput(endpointSchema, req.body);
    if (!body.secret && !config.BROADCAST_SECRET && !config.BROADCAST_ALLOW_UNSIGNED) {
      throw new AppError('validation_failed', 'invalid body: secret: required while no BROADCAST_SECRET is configured (broadcasts are signed)', { issues: [{ path: 'secret', message: 'required: broadcasts are signed', code: 'custom' }] });
    }
    // Stored normalised, so one head-end cannot be registered twice as real and as drill target.
    body.url = normaliseTargetUrl(body.url);
    const id = `api-${randomUUID().slice(0, 8)}`;
    const { rows } = await db.pool.query(
      `INSERT INTO broadcast_endpoints (id, name, url, secret, exercise, source, format) VALUES ($1, $2, $3, $4, $5, 'api', $6)
       ON CONFLICT (url) DO NOTHING RETURNING id, name, url, exercise, source, active, format`,
      [id, body.name, body.url, body.secret ?? null, body.exercise, body.format],
    );
    if (!rows[0]) throw new AppError('conflict', `an endpoint with url ${body.url} is already registered`, { url: body.url });
    res.status(201).json({ endpoint: rows[0] });
  });

  // Web Push.
  router.get('/api/push/vapid-public-key', (_req, res) => {
    res.json({ publicKey: opts.vapid().publicKey });
  });
  router.post('/api/push/subscriptions', async (req, res) => {
    const actor = actorOf(req);
    const body = parseInput(accountSubscriptionSchema, req.body);
    await checkEndpoint(body.endpoint);
    res.status(201).json({ subscription: await saveSubscription(db, body, actor.userId, body.drill ?? false) });
  });
  router.get('/public/push/vapid-public-key', (_req, res) => {
    res.json({ publicKey: opts.vapid().publicKey });
  });
  router.post('/public/push/subscriptions', async (req, res) => {
    // Counted before anything else: refused attempts cost DNS lookups too. The overall budget
    // is spent only by requests the per-address limit lets through.
    await perIp.consume(req.ip ?? 'unknown', 'push subscriptions from your address');
    await overall.consume('all', 'push subscriptions right now');
    const body = parseInput(subscriptionSchema, req.body);
    await checkEndpoint(body.endpoint);
    res.status(201).json({ subscription: await saveSubscription(db, body, null, false) });
  });

  // Public CAP for aggregators: current alerts of actual incidents only.
  router.get('/cap/feed.atom', async (req, res) => {
    const base = publicBaseUrl(opts.config, opts.listenUrl) ?? `${req.protocol}://${req.get('host')}`;
    res.type('application/atom+xml; charset=utf-8').send(await atomFeed(db.pool, base));
  });
  router.get('/cap/alerts/:file', async (req, res) => {
    const id = /^(.+)\.xml$/.exec(req.params.file)?.[1] ?? '';
    const row = await findWarning(db.pool, id);
    if (!row || row.mode !== 'actual' || !row.cap_xml) throw new AppError('not_found', `no public alert ${req.params.file}`, {});
    res.type('application/cap+xml; charset=utf-8').send(row.cap_xml);
  });
  return router;
}

async function saveSubscription(
  db: Database,
  body: z.infer<typeof subscriptionSchema>,
  userId: string | null,
  drill: boolean,
): Promise<{ id: string; endpointHash: string; drill: boolean }> {
  // An existing endpoint changes only for its own account, or — while no account holds it — for
  // a caller who knows its keys (the browser that made it): nobody else can re-point or re-key it.
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO push_subscriptions AS s (id, endpoint, p256dh, auth, user_id, lat, lon, drill) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (endpoint) DO UPDATE SET p256dh = EXCLUDED.p256dh, auth = EXCLUDED.auth, user_id = EXCLUDED.user_id,
       lat = EXCLUDED.lat, lon = EXCLUDED.lon, drill = EXCLUDED.drill
       WHERE s.user_id = EXCLUDED.user_id OR (s.user_id IS NULL AND s.p256dh = EXCLUDED.p256dh AND s.auth = EXCLUDED.auth)
     RETURNING id`,
    [randomUUID(), body.endpoint, body.keys.p256dh, body.keys.auth, userId, body.location?.lat ?? null, body.location?.lon ?? null, drill],
  );
  if (!rows[0]) throw new AppError('conflict', 'this push endpoint is already registered by someone else', {});
  return { id: rows[0]!.id, endpointHash: createHash('sha256').update(body.endpoint).digest('hex').slice(0, 16), drill };
}
