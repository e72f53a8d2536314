/**
 * Login limits (issue 10, M1), shared by every node through PostgreSQL (rate-limiter-flexible's
 * Postgres store, table `rate_limits` under `login_*` key prefixes). Only failed logins count:
 *
 * - per username and address: LOGIN_MAX_FAILURES_PER_USER_IP consecutive failures block that
 *   pair for LOGIN_BLOCK_SECONDS, doubling with each further block within a day (up to
 *   LOGIN_BLOCK_MAX_SECONDS); a successful login resets the pair;
 * - per username from all addresses: LOGIN_MAX_FAILURES_PER_USER failures within
 *   LOGIN_FAILURE_WINDOW_SECONDS block the username for the rest of that window — never longer,
 *   and one address can add only a few failures before its own pair is blocked, so one address's
 *   flood cannot lock a user out elsewhere;
 * - per address over all usernames: LOGIN_MAX_FAILURES_PER_IP failures within the window block
 *   the address for the window (password spraying).
 *
 * While blocked, attempts are refused (429 + Retry-After) without checking the password and
 * without counting, so the right password after the limit gets 429 too, until the block passes.
 *
 * An attempt is counted before its password is checked (`begin`), and given back when it was
 * right (`succeeded`): attempts in flight at once count like attempts one after another, so of 40
 * parallel guesses only the first few are ever checked. The pair is counted first and alone gates
 * the others: a burst from one address adds at most its pair's few points to the username's count.
 */
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import type pg from 'pg';
import type { Logger } from '../log.js';
import { sharedLimitStore } from '../http/rate-limit.js';

export interface LoginLimitSettings {
  maxFailuresPerUserIp: number;
  maxFailuresPerUser: number;
  maxFailuresPerIp: number;
  windowSeconds: number;
  blockSeconds: number;
  blockMaxSeconds: number;
}

const BLOCK_HISTORY_SECONDS = 24 * 3600;

export class LoginLimits {
  private readonly userIp: RateLimiterPostgres;
  private readonly user: RateLimiterPostgres;
  private readonly ip: RateLimiterPostgres;
  /** How often a username+address pair was blocked within a day: the backoff exponent. */
  private readonly blocks: RateLimiterPostgres;

  constructor(
    pool: pg.Pool,
    private readonly settings: LoginLimitSettings,
    private readonly log: Logger,
  ) {
    const store = sharedLimitStore(pool);
    const window = settings.windowSeconds;
    this.userIp = new RateLimiterPostgres({ ...store, keyPrefix: 'login_user_ip', points: settings.maxFailuresPerUserIp, duration: window });
    // No blockDuration on the username and address counts: a count at its limit refuses by itself
    // until its window ends, and a block would outlast the window when attempts overlap.
    this.user = new RateLimiterPostgres({ ...store, keyPrefix: 'login_user', points: settings.maxFailuresPerUser, duration: window });
    this.ip = new RateLimiterPostgres({ ...store, keyPrefix: 'login_ip', points: settings.maxFailuresPerIp, duration: window });
    this.blocks = new RateLimiterPostgres({ ...store, keyPrefix: 'login_blocks', points: 1_000_000, duration: BLOCK_HISTORY_SECONDS });
  }

  /** Seconds until this username may try again from this address; 0 when it may now. */
  async retryAfter(username: string, ip: string): Promise<number> {
    const [pair, user, addr] = await Promise.all([this.userIp.get(pairKey(username, ip)), this.user.get(username.toLowerCase()), this.ip.get(ip)]);
    let ms = 0;
    if (pair && pair.consumedPoints >= this.settings.maxFailuresPerUserIp) ms = Math.max(ms, pair.msBeforeNext);
    if (user && user.consumedPoints >= this.settings.maxFailuresPerUser) ms = Math.max(ms, user.msBeforeNext);
    if (addr && addr.consumedPoints >= this.settings.maxFailuresPerIp) ms = Math.max(ms, addr.msBeforeNext);
    return ms > 0 ? Math.max(1, Math.ceil(ms / 1000)) : 0;
  }

  /**
   * Counts one attempt before its password is checked. `wait` > 0: refused, check nothing; else
   * pass the attempt to `failed` or `succeeded` once the password has been checked.
   */
  async begin(username: string, ip: string): Promise<{ wait: number; attempt: LoginAttempt | null }> {
    const refused = (wait: number) => ({ wait: Math.max(1, wait), attempt: null });
    const before = await this.retryAfter(username, ip);
    if (before > 0) return refused(before);
    const s = this.settings;
    const attempt: LoginAttempt = { key: pairKey(username, ip), user: username.toLowerCase(), ip, pairFailures: 0 };
    const pair = await consume(this.userIp, attempt.key);
    if (pair.consumedPoints > s.maxFailuresPerUserIp) {
      // Others from this address took the last tries while this one was in flight.
      return refused(Math.ceil(pair.msBeforeNext / 1000));
    }
    attempt.pairFailures = pair.consumedPoints;
    const [user, addr] = await Promise.all([consume(this.user, attempt.user), consume(this.ip, ip)]);
    if (user.consumedPoints > s.maxFailuresPerUser || addr.consumedPoints > s.maxFailuresPerIp) {
      // Not this pair's failure: give back what was counted within its limit.
      await Promise.all([
        this.userIp.reward(attempt.key, 1),
        user.consumedPoints <= s.maxFailuresPerUser ? this.user.reward(attempt.user, 1) : null,
        addr.consumedPoints <= s.maxFailuresPerIp ? this.ip.reward(ip, 1) : null,
      ]);
      return refused(Math.ceil(Math.max(user.consumedPoints > s.maxFailuresPerUser ? user.msBeforeNext : 0, addr.consumedPoints > s.maxFailuresPerIp ? addr.msBeforeNext : 0) / 1000));
    }
    return { wait: 0, attempt };
  }

  /** The password was wrong: the attempt stays counted; the pair is blocked once it reaches its limit. */
  async failed(attempt: LoginAttempt): Promise<void> {
    const { key, user: username, ip } = attempt;
    if (attempt.pairFailures >= this.settings.maxFailuresPerUserIp) {
      const blocksSoFar = (await consume(this.blocks, key)).consumedPoints;
      const seconds = Math.min(this.settings.blockMaxSeconds, this.settings.blockSeconds * 2 ** (blocksSoFar - 1));
      await this.userIp.block(key, seconds);
      this.log.warn({ username, ip, seconds, blocksToday: blocksSoFar }, 'login locked: too many failed attempts for this user from this address');
    }
    const user = await this.user.get(username);
    if (user && user.consumedPoints === this.settings.maxFailuresPerUser) {
      this.log.warn({ username, seconds: Math.ceil(user.msBeforeNext / 1000) }, 'login locked: too many failed attempts for this user from all addresses');
    }
    const addr = await this.ip.get(ip);
    if (addr && addr.consumedPoints === this.settings.maxFailuresPerIp) {
      this.log.warn({ ip, seconds: Math.ceil(addr.msBeforeNext / 1000) }, 'login locked: too many failed attempts from this address');
    }
  }

  /** The password was right: the pair starts afresh and the attempt no longer counts anywhere. */
  async succeeded(attempt: LoginAttempt): Promise<void> {
    await Promise.all([this.userIp.delete(attempt.key), this.blocks.delete(attempt.key), this.user.reward(attempt.user, 1), this.ip.reward(attempt.ip, 1)]);
  }
}

/** One counted attempt between `begin` and its outcome. */
export interface LoginAttempt {
  readonly key: string;
  readonly user: string;
  readonly ip: string;
  /** The pair's failures including this attempt, as counted when it began. */
  pairFailures: number;
}

const pairKey = (username: string, ip: string) => `${username.toLowerCase()}|${ip}`;

/** consume() rejects with a RateLimiterRes once over the limit; both mean "counted". */
async function consume(limiter: RateLimiterPostgres, key: string): Promise<RateLimiterRes> {
  try {
    return await limiter.consume(key);
  } catch (res) {
    if (res instanceof RateLimiterRes) return res;
    throw res;
  }
}
