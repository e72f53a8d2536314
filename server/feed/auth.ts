import type { ExtendedError, Socket } from 'socket.io';
import type { SessionService } from '../auth/sessions.js';
import { authenticateCredential, hasCredential } from '../auth/ws-credentials.js';
import { LIVE_EVENTS } from '../../shared/live.js';
import type { LiveSocket, LiveSocketData } from './types.js';

function unauthorized(message: string): ExtendedError {
  const err: ExtendedError = new Error('unauthorized');
  // The client sees err.message === 'unauthorized' and err.data on its connect_error.
  err.data = { code: 'unauthorized', message };
  return err;
}

/** Socket.IO middleware: `io(origin, { auth: { ticket } })` (or `{ token }`) whose session stands, or connect_error `unauthorized`. */
export function authenticate(sessions: SessionService) {
  return (socket: Socket<any, any, any, LiveSocketData>, next: (err?: ExtendedError) => void): void => {
    const auth = (socket.handshake.auth ?? {}) as Record<string, unknown>;
    if (!hasCredential(auth)) {
      next(unauthorized('missing credentials: connect with io(origin, { auth: { ticket } }) or { auth: { token } }'));
      return;
    }
    authenticateCredential(sessions, auth).then(
      (session) => {
        if (!session) return next(unauthorized('invalid, used or expired ticket or token, or the session has ended'));
        socket.data.actor = session.actor;
        socket.data.sessionId = session.sessionId;
        socket.data.tokenExpiresAt = session.expiresAt;
        next();
      },
      () => next(unauthorized('invalid or expired token')),
    );
  };
}

/** Registers a connected socket so that revoking (or the expiry of) its session disconnects it. */
export function closeWithSession(sessions: SessionService, socket: LiveSocket): void {
  const unregister = sessions.connections.register({
    sessionId: socket.data.sessionId,
    userId: socket.data.actor.userId,
    actor: socket.data.actor,
    expiresAt: socket.data.tokenExpiresAt,
    close(reason) {
      if (reason === 'revoked') socket.emit(LIVE_EVENTS.error, { code: 'session_revoked', message: 'the session was ended; log in again', details: {} });
      else socket.emit(LIVE_EVENTS.error, { code: 'unauthorized', message: 'the token has expired; reconnect with a new one', details: {} });
      socket.disconnect(true);
    },
  });
  // Already gone (it disconnected while being set up): no 'disconnect' will come to unregister it.
  if (!socket.connected) unregister();
  else socket.once('disconnect', unregister);
}
