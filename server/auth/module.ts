import type { Module, ServerContext } from '../module.js';
import { NotificationListener } from '../db/notification-listener.js';
import { SESSIONS_CHANNEL } from './sessions.js';
import { LoginLimits } from './login-limits.js';
import { authRoutes } from './routes.js';

/**
 * Login, users and sessions. Its router authenticates everything under /api mounted after it.
 * Keeps this node's view of sessions true: revocations other nodes announce (NOTIFY, real
 * PostgreSQL) close this node's connections of those sessions; after a lost notification
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
  let listener: NotificationListener | undefined;
  let recheck: NodeJS.Timeout | undefined;
  return {
    name: 'auth',
    routers: [authRoutes(db, sessions, loginLimits)],
    async start() {
      await sessions.purgeOld().catch((err: unknown) => log.warn({ err }, 'purging old sessions failed'));
      if (!db.embedded) {
        listener = new NotificationListener('yingji-sessions-listener', db.url, { [SESSIONS_CHANNEL]: (p) => sessions.onNotification(p) }, () => void sessions.recheckAll(), log);
        await listener.start();
      }
      recheck = setInterval(() => void sessions.recheckAll(), config.SESSION_RECHECK_MS).unref();
    },
    async stop() {
      clearInterval(recheck);
      await listener?.stop();
      sessions.stop();
    },
  };
}
