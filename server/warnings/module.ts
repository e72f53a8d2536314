import { createHash } from 'node:crypto';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Module, ServerContext } from '../module.js';
import { clusterThrottle } from '../cluster/rate.js';
import type { Queryable } from '../db/database.js';
import { BroadcastChannel } from './channels/broadcast.js';
import { PushChannel } from './channels/push.js';
import { SmsChannel } from './channels/sms.js';
import { ExerciseSinks, parseUrlList } from './exercise-sinks.js';
import { ProgressReporter } from './progress-reporter.js';
import { publicBaseUrl } from './public-url.js';
import { PushEndpointPolicy } from './push-endpoint.js';
import { warningRoutes } from './routes.js';
import { twilioWebhookRoutes } from './twilio-webhook.js';
import { loadVapidKeys, type VapidKeys } from './vapid.js';
import { WarningService } from './warnings.js';
import { OutboxWorker } from './worker.js';
import { EscalationScheduler } from '../acknowledgements/scheduler.js';
import { acknowledgementRoutes } from '../acknowledgements/routes.js';
import { RESOURCE_EVENT_TYPES, WARNING_EVENT_TYPES, type IncidentEvent } from '../../shared/events.js';

/** Endpoints from BROADCAST_ENDPOINTS / EXERCISE_BROADCAST_ENDPOINTS, kept in step with the config. */
async function syncEnvEndpoints(db: Queryable, actual: string[], exercise: string[], gbt: string[]): Promise<void> {
  const all = [...actual.map((url) => ({ url, exercise: false })), ...exercise.map((url) => ({ url, exercise: true }))];
  for (const e of all) {
    const id = `env-${createHash('sha256').update(e.url).digest('hex').slice(0, 12)}`;
    await db.query(
      `INSERT INTO broadcast_endpoints (id, name, url, exercise, source, format) VALUES ($1, $2, $3, $4, 'env', $5)
       ON CONFLICT (url) DO UPDATE SET exercise = EXCLUDED.exercise, format = EXCLUDED.format, active = true`,
      [id, new URL(e.url).host, e.url, e.exercise, gbt.includes(e.url) ? 'gbt35965' : 'cap'],
    );
  }
  await db.query(`UPDATE broadcast_endpoints SET active = false WHERE source = 'env' AND NOT (url = ANY($1::text[]))`, [all.map((e) => e.url)]);
}

/** Warnings: compose → approve → send, CAP 1.2, the outbox and its channels. */
export function warningsModule(ctx: ServerContext): Module & { service: WarningService; worker: OutboxWorker; escalations: EscalationScheduler } {
  const { config, db, log } = ctx;
  let server: http.Server | undefined;
  let vapid: VapidKeys | undefined;
  const listenUrl = () => {
    const address = server?.address() as AddressInfo | null | undefined;
    return address ? `http://127.0.0.1:${address.port}` : null;
  };
  const vapidKeys = () => {
    if (!vapid) throw new Error('VAPID keys not loaded yet');
    return vapid;
  };
  const sinks = new ExerciseSinks(config);
  const pushEndpoints = new PushEndpointPolicy(config.PUSH_ENDPOINT_ALLOWLIST);
  const progress = new ProgressReporter(db, ctx.bus, config.WARNING_PROGRESS_INTERVAL_MS, log);
  const senders = {
    sms: new SmsChannel(config, () => publicBaseUrl(config, listenUrl), db.pool),
    push: new PushChannel(config, db.pool, vapidKeys, config.VAPID_SUBJECT, pushEndpoints, () => publicBaseUrl(config, listenUrl)),
    broadcast: new BroadcastChannel(db.pool, config.BROADCAST_SECRET, config.BROADCAST_ALLOW_UNSIGNED),
  };
  // The channels' rates hold across all nodes (Redis or PostgreSQL counters; see server/cluster/rate.ts).
  const workerLog = log.child({ module: 'warnings' });
  const limiters = {
    sms: clusterThrottle(ctx.cluster, db.pool, 'warning-sms', config.WARNING_RATE_SMS, workerLog),
    push: clusterThrottle(ctx.cluster, db.pool, 'warning-push', config.WARNING_RATE_PUSH, workerLog),
    broadcast: clusterThrottle(ctx.cluster, db.pool, 'warning-broadcast', config.WARNING_RATE_BROADCAST, workerLog),
  };
  const worker = new OutboxWorker(db, config, senders, sinks, progress, workerLog, limiters, ctx.cluster.nodeId);
  const escalations = new EscalationScheduler(db, config, ctx.bus, sinks, () => publicBaseUrl(config, listenUrl), log.child({ module: 'escalations' }), ctx.cluster.nodeId);
  const service = new WarningService(db, ctx.incidents, ctx.bus, config, sinks, () => worker.wake(), () => publicBaseUrl(config, listenUrl));
  // Escalation steps scheduled on this node (an approval's 叫应, a dispatch order's) wake the
  // scheduler, which then sleeps until the first is due: ACK_POLL_MS only bounds how late it sees
  // steps another node scheduled.
  const schedulesSteps = new Set<string>([WARNING_EVENT_TYPES.approved, RESOURCE_EVENT_TYPES.dispatchCreated]);
  const onEvent = (event: IncidentEvent) => {
    if (schedulesSteps.has(event.type)) escalations.wake();
  };
  return {
    name: 'warnings',
    service,
    worker,
    escalations,
    routers: [
      acknowledgementRoutes({ db, config, bus: ctx.bus, warnings: service, listenUrl }),
      warningRoutes({ db, config, warnings: service, vapid: vapidKeys, listenUrl, pushEndpoints }),
      twilioWebhookRoutes(db, config, progress, listenUrl),
    ],
    attach(s) {
      server = s;
    },
    async start() {
      vapid = await loadVapidKeys(db.pool);
      await syncEnvEndpoints(db.pool, parseUrlList(config.BROADCAST_ENDPOINTS), sinks.broadcastUrls, parseUrlList(config.BROADCAST_GBT35965_ENDPOINTS));
      if (config.WARNING_WORKERS) {
        worker.start();
        escalations.start();
        ctx.bus.on('event', onEvent);
      }
      log.info({ sms: senders.sms.toSink() ? 'sink' : 'twilio', workers: config.WARNING_WORKERS, node: worker.nodeId }, 'warnings ready');
    },
    async stop() {
      ctx.bus.off('event', onEvent);
      await Promise.all([worker.stop(), escalations.stop()]);
      progress.stop();
    },
  };
}
