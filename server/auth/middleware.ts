import type { NextFunction, Request, Response } from 'express';
import { AppError } from '../http/errors.js';
import type { Actor } from './policy.js';
import type { AuthSession, SessionService } from './sessions.js';

declare module 'express-serve-static-core' {
  interface Request {
    actor?: Actor;
    /** The session the bearer token stands for (set with `actor`). */
    authSession?: AuthSession;
  }
}

export function bearerToken(header: string | undefined): string | null {
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  return match ? match[1]! : null;
}

/** Every /api route but login needs a valid bearer token whose session still stands. */
export function requireAuth(sessions: SessionService) {
  return async (req: Request, _res: Response, next: NextFunction) => {
    const token = bearerToken(req.headers.authorization);
    if (!token) throw new AppError('unauthorized', 'missing bearer token (Authorization: Bearer <token>)');
    const session = await sessions.authenticate(token);
    if (!session) throw new AppError('unauthorized', 'invalid, expired or revoked token; log in again');
    req.actor = session.actor;
    req.authSession = session;
    next();
  };
}

export function sessionOf(req: Request): AuthSession {
  if (!req.authSession) throw new AppError('unauthorized', 'not authenticated');
  return req.authSession;
}

export function actorOf(req: Request): Actor {
  if (!req.actor) throw new AppError('unauthorized', 'not authenticated');
  return req.actor;
}
