import type { WebSocket } from 'ws';
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
  ws.once('close', unregister);
}
