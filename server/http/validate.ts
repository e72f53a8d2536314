import type { RequestHandler } from 'express';
import type { z } from 'zod';
import { AppError } from './errors.js';
import { formatPath } from '../plans/loader.js';

/** Ids of incidents, users, stock lines, warnings…: checked before a query, so a malformed one is a plain 404. */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Parses untrusted input with a zod schema; on failure a 400 whose details name each field. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, where: 'body' | 'query' | 'params' = 'body'): z.infer<S> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({ path: formatPath(i.path) || where, message: i.message, code: i.code }));
  throw new AppError('validation_failed', `invalid ${where}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, { issues });
}

/** Where the first NUL sits in a parsed JSON value or query (keys count too), or null. */
function findNul(value: unknown, path: string, depth = 0): string | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path : null;
  if (depth > 64 || value === null || typeof value !== 'object') return null;
  for (const [key, v] of Object.entries(value)) {
    const here = path ? `${path}.${key}` : key;
    if (key.includes('\u0000')) return here;
    const found = findNul(v, here, depth + 1);
    if (found) return found;
  }
  return null;
}

/**
 * NUL is refused in every body and query string, whatever the route's schema says: PostgreSQL
 * cannot store it in text or jsonb, so it would otherwise surface as a 500 after partial work.
 */
export const refuseNul: RequestHandler = (req, _res, next) => {
  const where = findNul(req.body, 'body') ?? findNul(req.query, 'query');
  if (where) throw new AppError('validation_failed', `invalid ${where.split('.')[0]}: ${where}: must not contain NUL characters`, { issues: [{ path: where, message: 'must not contain NUL characters', code: 'custom' }] });
  next();
};
