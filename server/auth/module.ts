import type { Module, ServerContext } from '../app.js';
import { NotificationListener } from '../db/notification-listener.js';
import { SESSIONS_CHANNEL } from './sessions.js';

/**
 * Keeps this node's view of sessions true: revocations other nodes announce (NOTIFY, real
 * PostgreSQL) close this node's connections of those sessions; after a lost notification
 * connection, and every SESSION_RECHECK_MS anyway, every open connection is checked again.
 */
export function sessionsModule(context: ServerContext): Module {
  const { sessions, db, log, config } = context;
  let listener: NotificationListener | undefined;
  let recheck: NodeJS.Timeout | undefined;
  return {
    name: 'sessions',
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
