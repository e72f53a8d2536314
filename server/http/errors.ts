import { ERROR_CODES, type ErrorCode } from '../../shared/errors.js';

/** An error the API reports to the client as it is: a catalogued code, a message and details. */
export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    /** Sent as Retry-After (429 rate limits, 503 outages). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'AppError';
    this.status = ERROR_CODES[code].status;
  }
}

export const notFound = (what: string, id: string) => new AppError('not_found', `${what} ${id} not found`, { [what]: id });
export const forbidden = (message: string) => new AppError('forbidden', message);

export const databaseUnavailable = (retryAfterSeconds: number) =>
  new AppError('unavailable', 'the database is unavailable; retry later', {}, retryAfterSeconds);
