import { WebSocket } from 'ws';
import type { AuthSession, SessionService } from '../auth/sessions.js';
import { YJS_CLOSE_CODES } from '../../shared/checklist.js';

/** A Yjs connection lives no longer than its session: closed with 4401 when it is revoked or expires. */
export function closeWithSession(sessions: SessionService, ws: WebSocket, session: AuthSession): void {
  const unregister = sessions.connections.register({
    sessionId: session.sessionId,
    userId: session.actor.userId,
    actor: session.actor,
    expiresAt: session.expiresAt,
    close: (reason) => ws.close(YJS_CLOSE_CODES.unauthorized, reason === 'revoked' ? 'session revoked' : 'session expired'),
  });
  // A socket that closed before this ran (a storm, a room torn down mid-upgrade) fires no
  // 'close' any more: unregister now, or its expiry timer outlives it.
  if (ws.readyState === WebSocket.CLOSED) unregister();
  else ws.once('close', unregister);
}
