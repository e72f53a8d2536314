import type { Module, ServerContext } from '../module.js';
import { healthRoutes } from './health.js';
import { idempotencyRoutes } from './idempotency.js';

/** Liveness for load balancers; mounted first, needs no token. */
export function healthModule(ctx: ServerContext): Module {
  return { name: 'health', routers: [healthRoutes(ctx.db)] };
}

/** The `Idempotency-Key` middleware for POSTs under /api; listed after the auth module (keys are per user). */
export function idempotencyModule(ctx: ServerContext): Module {
  return { name: 'idempotency', routers: [idempotencyRoutes(ctx.db)] };
}
