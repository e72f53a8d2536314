import { Router } from 'express';
import type { Module, ServerContext } from '../module.js';
import { healthRoutes, httpMetrics, metricsRoutes, readinessRoutes } from './health.js';
import { idempotencyRoutes } from './idempotency.js';

/**
 * Liveness, readiness and metrics; mounted first, needs no session token (metrics: loopback or
 * METRICS_TOKEN). Its middleware times every request for the HTTP latency histogram.
 */
export function healthModule(ctx: ServerContext): Module {
  let draining = false;
  const timing = Router();
  timing.use(httpMetrics(ctx.metrics));
  return {
    name: 'health',
    routers: [timing, healthRoutes(ctx.db), readinessRoutes(ctx.db, ctx.cluster, () => draining), metricsRoutes(ctx.metrics, ctx.config.METRICS_TOKEN)],
    // Not ready from the first moment of shutdown (the composition root calls every `drain` first).
    drain() {
      draining = true;
    },
  };
}

/** The `Idempotency-Key` middleware for POSTs under /api; listed after the auth module (keys are per user). */
export function idempotencyModule(ctx: ServerContext): Module {
  return { name: 'idempotency', routers: [idempotencyRoutes(ctx.db)] };
}
