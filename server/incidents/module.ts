import type { Module, ServerContext } from '../module.js';
import { incidentRoutes } from './routes.js';

/** Incidents (activate, level, close, read) and their timeline's read API. */
export function incidentsModule(ctx: ServerContext): Module {
  return { name: 'incidents', routers: [incidentRoutes(ctx.db, ctx.incidents)] };
}
