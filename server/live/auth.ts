import { decodeJwt } from 'jose';
import type { ExtendedError, Socket } from 'socket.io';
import type { TokenService } from '../auth/tokens.js';
import type { LiveSocketData } from './types.js';

function unauthorized(message: string): ExtendedError {
  const err: ExtendedError = new Error('unauthorized');
  // The client sees err.message === 'unauthorized' and err.data on its connect_error.
  err.data = { code: 'unauthorized', message };
  return err;
}

/** Socket.IO middleware: `io(origin, { auth: { token } })` with a valid token, or connect_error `unauthorized`. */
export function authenticate(tokens: TokenService) {
  return (socket: Socket<any, any, any, LiveSocketData>, next: (err?: ExtendedError) => void): void => {
    const token: unknown = (socket.handshake.auth as Record<string, unknown> | undefined)?.token;
    if (typeof token !== 'string' || token.length === 0 || token.length > 4096) {
      next(unauthorized('missing token: connect with io(origin, { auth: { token } })'));
      return;
    }
    tokens.verify(token).then(
      (claims) => {
        if (!claims) return next(unauthorized('invalid or expired token'));
        socket.data.actor = claims;
        socket.data.tokenExpiresAt = (decodeJwt(token).exp ?? 0) * 1000;
        next();
      },
      () => next(unauthorized('invalid or expired token')),
    );
  };
}
