import type { NextFunction, Request, Response } from 'express';
import { AppError } from '../http/errors.js';
import type { Actor } from './policy.js';
import type { TokenService } from './tokens.js';

declare module 'express-serve-static-core' {
  interface Request {
    actor?: Actor;
  }
}

export function bearerToken(header: string | undefined): string | null {
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  return match ? match[1]! : null;
}

/** Every /api route but login needs a valid bearer token. */
export function requireAuth(tokens: TokenService) {
  return async (req: Request, _res: Response, next: NextFunction) => {
    const token = bearerToken(req.headers.authorization);
    if (!token) throw new AppError('unauthorized', 'missing bearer token (Authorization: Bearer <token>)');
    const claims = await tokens.verify(token);
    if (!claims) throw new AppError('unauthorized', 'invalid or expired token');
    req.actor = claims;
    next();
  };
}

export function actorOf(req: Request): Actor {
  if (!req.actor) throw new AppError('unauthorized', 'not authenticated');
  return req.actor;
}
