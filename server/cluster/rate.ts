import { RateLimiterPostgres, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Queryable } from '../db/database.js';
import { sharedLimitStore } from '../http/rate-limit.js';
import type { Logger } from '../log.js';
import { RateLimiter } from '../warnings/rate-limit.js';
import type { Cluster } from './cluster.js';

/** Something that hands out one send at a time, at a rate. */
export interface Throttle {
  take(): Promise<void>;
}

/**
 * A send rate that holds across every node (issue 14): the counter lives in Redis when the cluster
 * runs on Redis, in PostgreSQL (`rate_limits`) otherwise; one node (embedded PGlite) keeps the local
 * token bucket. Fixed one-second windows of `ratePerSecond` sends (rate-limiter-flexible): a caller
 * over the window waits for the next. If the shared store fails, this node falls back to its local
 * bucket (then N nodes may send N × the rate) and says so once in the log.
 */
export function clusterThrottle(cluster: Cluster, db: Queryable, name: string, ratePerSecond: number, log: Logger): Throttle {
  const local = new RateLimiter(ratePerSecond);
  if (!cluster.multiNode) return local;
  const [points, duration] = ratePerSecond >= 1 ? [Math.floor(ratePerSecond), 1] : [1, Math.ceil(1 / ratePerSecond)];
  const keyPrefix = `yingji:${cluster.namespace}:rate:${name}`;
  const limiter: RateLimiterAbstract = cluster.redis
    ? // Fail at once while Redis reconnects (node-redis would queue the call until it is back).
      new RateLimiterRedis({ storeClient: cluster.redis, useRedisPackage: true, rejectIfRedisNotReady: true, keyPrefix, points, duration })
    : new RateLimiterPostgres({ ...sharedLimitStore(db), keyPrefix, points, duration, clearExpiredByTimeout: true });
  let degraded = false;
  return {
    async take() {
      for (;;) {
        try {
          await limiter.consume('all');
          if (degraded) log.info({ name }, 'cluster-wide send rate restored');
          degraded = false;
          return;
        } catch (err) {
          if (err instanceof RateLimiterRes) {
            await new Promise((r) => setTimeout(r, Math.max(5, err.msBeforeNext)));
            continue;
          }
          if (!degraded) log.warn({ err, name }, 'cluster-wide send rate unavailable; limiting per node until it is back');
          degraded = true;
          return local.take();
        }
      }
    },
  };
}
