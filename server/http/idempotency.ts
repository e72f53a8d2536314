import { createHash } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import type { Database } from '../db/database.js';
import { AppError } from './errors.js';

export const IDEMPOTENCY_HEADER = 'idempotency-key';
const KEY_PATTERN = /^[\x21-\x7e]{1,200}$/;
/** A claim still unfinished after this long belongs to a request whose node died; it may be taken over. */
const STALE_CLAIM_MS = 120_000;
/** How long a duplicate waits for the first request to finish before it is told to retry. */
const WAIT_FOR_FIRST_MS = 10_000;
const POLL_MS = 100;

interface StoredKey {
  request_hash: string;
  status_code: number | null;
  response_body: unknown;
  claimed_at: Date;
}

function requestHash(req: Request): string {
  return createHash('sha256')
    .update(`${req.method} ${req.originalUrl.split('?', 1)[0]}\n${JSON.stringify(req.body ?? null)}`)
    .digest('hex');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `Idempotency-Key` on a POST under /api: the request runs once per (user, key). The claim row is
 * inserted first (INSERT … ON CONFLICT DO NOTHING), so of two concurrent duplicates only one
 * executes; the other waits for the stored answer. 2xx and 4xx answers are stored and replayed
 * (with `Idempotent-Replayed: true`); a 5xx releases the claim so the client may retry.
 * Must be mounted after authentication (the key is scoped to the user).
 */
export function idempotencyRoutes(db: Database): Router {
  const router = Router();
  router.use('/api', async (req, res, next) => {
    const key = req.get(IDEMPOTENCY_HEADER);
    if (req.method !== 'POST' || key === undefined) return next();
    if (!KEY_PATTERN.test(key)) {
      throw new AppError('validation_failed', 'Idempotency-Key must be 1–200 printable ASCII characters', {
        issues: [{ path: 'Idempotency-Key', message: '1–200 printable ASCII characters', code: 'invalid_format' }],
      });
    }
    const userId = req.actor?.userId;
    if (!userId) return next();
    const hash = requestHash(req);

    const claimed = await claim(db, userId, key, hash);
    if (!claimed) {
      const stored = await waitForAnswer(db, userId, key);
      if (stored && stored.request_hash !== hash) {
        throw new AppError('idempotency_key_reused', 'this Idempotency-Key was used for a different request', { idempotencyKey: key });
      }
      if (stored?.status_code != null) return replay(res, stored);
      if (stored && Date.now() - stored.claimed_at.getTime() > STALE_CLAIM_MS && (await takeOver(db, userId, key))) {
        // fall through: this request now owns the claim
      } else if (stored) {
        throw new AppError('idempotency_in_progress', 'a request with this Idempotency-Key is still running; retry later', { idempotencyKey: key });
      } else if (!(await claim(db, userId, key, hash))) {
        throw new AppError('idempotency_in_progress', 'a request with this Idempotency-Key is still running; retry later', { idempotencyKey: key });
      }
    }
    recordAnswer(db, res, userId, key);
    next();
  });
  return router;
}

async function claim(db: Database, userId: string, key: string, hash: string): Promise<boolean> {
  const { rowCount } = await db.pool.query(
    `INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES ($1, $2, $3) ON CONFLICT (user_id, key) DO NOTHING`,
    [userId, key, hash],
  );
  return rowCount === 1;
}

/**
 * Takes over a stale claim. The staleness test is in the UPDATE itself, so of several retries
 * racing for one dead claim only the first wins (the others see the renewed claimed_at).
 */
async function takeOver(db: Database, userId: string, key: string): Promise<boolean> {
  const { rowCount } = await db.pool.query(
    `UPDATE idempotency_keys SET claimed_at = now()
     WHERE user_id = $1 AND key = $2 AND status_code IS NULL AND claimed_at < now() - make_interval(secs => $3)`,
    [userId, key, STALE_CLAIM_MS / 1000],
  );
  return rowCount === 1;
}

async function read(db: Database, userId: string, key: string): Promise<StoredKey | undefined> {
  const { rows } = await db.pool.query<StoredKey>(
    'SELECT request_hash, status_code, response_body, claimed_at FROM idempotency_keys WHERE user_id = $1 AND key = $2',
    [userId, key],
  );
  return rows[0];
}

/** Polls until the first request stored its answer (or released its claim), or the wait is over. */
async function waitForAnswer(db: Database, userId: string, key: string): Promise<StoredKey | undefined> {
  const deadline = Date.now() + WAIT_FOR_FIRST_MS;
  for (;;) {
    const stored = await read(db, userId, key);
    if (!stored || stored.status_code != null || Date.now() > deadline) return stored;
    if (Date.now() - stored.claimed_at.getTime() > STALE_CLAIM_MS) return stored;
    await sleep(POLL_MS);
  }
}

function replay(res: Response, stored: StoredKey): void {
  res.set('Idempotent-Replayed', 'true');
  res.status(stored.status_code!).json(stored.response_body);
}

/** Stores the answer before it is sent, so a replay can never find an answered request unanswered. */
function recordAnswer(db: Database, res: Response, userId: string, key: string): void {
  const send = res.json.bind(res);
  res.json = (body: unknown) => {
    const status = res.statusCode;
    const write =
      status >= 500
        ? db.pool.query('DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND status_code IS NULL', [userId, key])
        : db.pool.query(
            `UPDATE idempotency_keys SET status_code = $3, response_body = $4, completed_at = now() WHERE user_id = $1 AND key = $2`,
            [userId, key, status, JSON.stringify(body ?? null)],
          );
    write.then(
      () => send(body),
      () => {
        res.status(503);
        send({ error: { code: 'unavailable', message: 'could not record the idempotent answer; retry with the same key', details: {} } });
      },
    );
    return res;
  };
}

/** Removes answers older than `maxAgeMs` (kept long enough for an offline phone to come back). */
export async function pruneIdempotencyKeys(db: Database, maxAgeMs: number): Promise<number> {
  const { rowCount } = await db.pool.query(`DELETE FROM idempotency_keys WHERE claimed_at < now() - make_interval(secs => $1)`, [maxAgeMs / 1000]);
  return rowCount ?? 0;
}
