import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import type { Queryable } from '../db/database.js';
import { AppError } from './errors.js';

/**
 * rate-limiter-flexible's Postgres store over our pool, with its statements sent unnamed: on
 * embedded PGlite every pool client shares one session, where re-preparing a named statement
 * after the pool replaced a client fails for ever (42P05). Every limiter keeps its counters in the
 * one table `rate_limits` (migration 070), apart by key prefix.
 */
export function sharedLimitStore(db: Queryable) {
  return {
    storeClient: { query: (q: { text: string; values?: unknown[] }) => db.query(q.text, q.values) },
    storeType: 'pool',
    tableName: 'rate_limits',
    tableCreated: true,
  };
}

/**
 * A fixed-window limit whose counters live in PostgreSQL (table `rate_limits`, migration 070),
 * shared by every node, on rate-limiter-flexible.
 */
export class SharedRateLimit {
  private readonly limiter: RateLimiterPostgres;

  constructor(
    db: Queryable,
    readonly name: string,
    readonly points: number,
    readonly windowSeconds: number,
  ) {
    this.limiter = new RateLimiterPostgres({
      ...sharedLimitStore(db),
      keyPrefix: name,
      points,
      duration: windowSeconds,
      // the library deletes rows expired for an hour, hourly, on an unref'd timer
      clearExpiredByTimeout: true,
    });
  }

  /** Counts one hit for `key`; over the limit → 429 `rate_limited` with Retry-After. Database errors pass through (→ 503). */
  async consume(key: string, what: string): Promise<void> {
    try {
      await this.limiter.consume(key);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      const retryAfterSeconds = Math.max(1, Math.ceil(err.msBeforeNext / 1000));
      throw new AppError('rate_limited', `too many ${what}; retry in ${retryAfterSeconds} s`, { limit: this.points, windowSeconds: this.windowSeconds, retryAfterSeconds }, retryAfterSeconds);
    }
  }
}
