import type { Module, ServerContext } from '../module.js';
import { planRoutes } from './routes.js';

/** The plan library's read API (the library itself is loaded by the composition root: incidents copy from it). */
export function plansModule(ctx: ServerContext): Module {
  return { name: 'plans', routers: [planRoutes(ctx.plans)] };
}
