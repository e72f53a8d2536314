import type { Module, ServerContext } from '../module.js';
import { AllocationService } from './allocations.js';
import { allocationRoutes } from './allocation-routes.js';
import { DispatchService } from './dispatches.js';
import { dispatchRoutes } from './dispatch-routes.js';
import { StockWatch } from './stock-watch.js';
import { stockRoutes } from './stock-routes.js';
import { resourceRoutes } from './routes.js';

/** The organisation (reads, CSV), teams, dispatch orders, material allocation and the stock watch. */
export function resourcesModule(ctx: ServerContext): Module {
  const dispatches = new DispatchService(ctx.db, ctx.incidents, ctx.bus, {
    ackMinutes: ctx.config.DISPATCH_ACK_MINUTES,
    deputyAfterMinutes: ctx.config.DISPATCH_DEPUTY_AFTER_MINUTES,
    boardAfterMinutes: ctx.config.DISPATCH_BOARD_AFTER_MINUTES,
  });
  const allocations = new AllocationService(ctx.db, ctx.incidents, ctx.bus);
  allocations.batcher.onBatch = (size, ms) => {
    ctx.metrics.allocationBatchSize.observe(size);
    ctx.metrics.allocationBatchSeconds.observe(ms / 1000);
  };
  const watch = new StockWatch(ctx.db, ctx.bus, ctx.log, {
    schedule: ctx.config.STOCK_WATCH_CRON,
    expiryWarningDays: ctx.config.STOCK_EXPIRY_WARNING_DAYS,
    timeZone: ctx.config.TIMEZONE,
  });
  return {
    name: 'resources',
    routers: [resourceRoutes(ctx.db), dispatchRoutes(ctx.db, ctx.incidents, dispatches), allocationRoutes(ctx.incidents, allocations), stockRoutes(ctx.db, watch)],
    start: () => watch.start(),
    stop: () => watch.stop(),
  };
}
