import type { Module, ServerContext } from '../module.js';
import { FieldReportService } from './reports.js';
import { fieldReportRoutes } from './routes.js';

export function fieldModule(ctx: ServerContext): Module {
  const reports = new FieldReportService(ctx.db, ctx.incidents, ctx.bus);
  return { name: 'field', routers: [fieldReportRoutes(reports)] };
}
