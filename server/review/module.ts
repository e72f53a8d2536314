import type { Module, ServerContext } from '../module.js';
import type { DrillReviewSource } from '../../shared/drill-review.js';
import { ImprovementService } from './improvements.js';
import { reviewRoutes } from './routes.js';

/** The after-action review (issue 12): review JSON/HTML/DOCX, checklist replay, improvement items. */
export function reviewModule(ctx: ServerContext, opts: { drillSource?: DrillReviewSource } = {}): Module {
  const improvements = new ImprovementService(ctx.db, ctx.incidents, ctx.bus);
  return { name: 'review', routers: [reviewRoutes(ctx.db, ctx.incidents, improvements, { drillSource: opts.drillSource, timeZone: ctx.config.TIMEZONE })] };
}
