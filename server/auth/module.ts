import type { Module, ServerContext } from '../module.js';
import { LoginLimits } from './login-limits.js';
import { authRoutes } from './routes.js';

/**
 * Login, users and sessions. Its router authenticates everything under /api mounted after it.
 * Keeps this node's view of sessions true: revocations other nodes announce (the cluster seam's
 * `sessions.revoked`, subscribed by SessionService) close this node's connections of those sessions; after a lost notification
 * connection, and every SESSION_RECHECK_MS anyway, every open connection is checked again.
 */
export function authModule(context: ServerContext): Module {
  const { sessions, db, log, config } = context;
  const loginLimits = new LoginLimits(db.pool, {
    maxFailuresPerUserIp: config.LOGIN_MAX_FAILURES_PER_USER_IP,
    maxFailuresPerUser: config.LOGIN_MAX_FAILURES_PER_USER,
    maxFailuresPerIp: config.LOGIN_MAX_FAILURES_PER_IP,
    windowSeconds: config.LOGIN_FAILURE_WINDOW_SECONDS,
    blockSeconds: config.LOGIN_BLOCK_SECONDS,
    blockMaxSeconds: config.LOGIN_BLOCK_MAX_SECONDS,
  }, log);
  let recheck: NodeJS.Timeout | undefined;
  return {
    name: 'auth',
    routers: [authRoutes(db, sessions, loginLimits)],
    async start() {
      await sessions.purgeOld().catch((err: unknown) => log.warn({ err }, 'purging old sessions failed'));
      recheck = setInterval(() => void sessions.recheckAll(), config.SESSION_RECHECK_MS).unref();
    },
    async stop() {
      clearInterval(recheck);
      sessions.stop();
    },
  };
}
