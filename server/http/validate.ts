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
