import pg from 'pg';
import type { Logger } from '../log.js';
import { startEmbeddedPostgres } from './embedded.js';

// Return BIGINT (int8) as number: our counters and sequence numbers stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));
// DATE as the plain 'YYYY-MM-DD' text: a calendar day has no time zone.
pg.types.setTypeParser(1082, (v) => v);
// NUMERIC as number: quantities have at most 3 decimals.
pg.types.setTypeParser(1700, (v) => Number(v));

export type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

export interface Database {
  pool: pg.Pool;
  /** True when running on embedded PGlite (single connection, no LISTEN/NOTIFY across connections). */
  embedded: boolean;
  url: string;
  close(): Promise<void>;
}

export async function openDatabase(opts: {
  databaseUrl?: string;
  dataDir: string;
  poolSize: number;
  /** Replace a pooled connection after this many checkouts (0: never). */
  clientMaxUses?: number;
  /** shared_buffers of the embedded database. */
  embeddedSharedBuffers?: string;
  log: Logger;
}): Promise<Database> {
  const maxUses = opts.clientMaxUses || undefined;
  if (opts.databaseUrl) {
    const pool = new pg.Pool({ connectionString: opts.databaseUrl, max: opts.poolSize, maxUses });
    pool.on('error', (err) => opts.log.error({ err }, 'idle database client error'));
    survivesConnectionErrors(pool, opts.log);
    await pool.query('SELECT 1');
    return { pool, embedded: false, url: opts.databaseUrl, close: () => pool.end() };
  }
  const embedded = await startEmbeddedPostgres(opts.dataDir, { sharedBuffers: opts.embeddedSharedBuffers });
  // PGlite has one session behind every connection, so a replaced client gains nothing and
  // each replacement is a chance to race the old connection: keep the one client for good
  // (no idle timeout, kept after SQL errors) and replace it only when its connection broke.
  const pool = new pg.Pool({ connectionString: embedded.url, max: 1, idleTimeoutMillis: 0, maxUses });
  keepClientsOnSqlErrors(pool);
  pool.on('error', (err) => opts.log.error({ err }, 'idle database client error'));
  survivesConnectionErrors(pool, opts.log);
  await pool.query('SELECT 1');
  return {
    pool,
    embedded: true,
    url: embedded.url,
    async close() {
      await pool.end();
      await embedded.close();
    },
  };
}

/**
 * A checked-out client has no 'error' listener of the pool's, and pg emits 'error' when the
 * connection breaks (e.g. `pg_terminate_backend`, a failover) even between two queries of a
 * transaction: unheard, that event crashed the process. The failure still reaches whoever runs
 * the next query on the client, and the pool drops a broken client when it is released.
 */
function survivesConnectionErrors(pool: pg.Pool, log: Logger): void {
  pool.on('connect', (client) => {
    client.on('error', (err) => log.warn({ err: err.message }, 'database connection lost'));
  });
}

/**
 * pg-pool's own `query` discards the client after any error, even a constraint violation that
 * leaves the connection perfectly usable. Here a client goes back to the pool after an SQL
 * error; the pool still drops one whose connection broke (it checks that on release).
 */
function keepClientsOnSqlErrors(pool: pg.Pool): void {
  const query = async (config: string | pg.QueryConfig, values?: unknown[]) => {
    const client = await pool.connect();
    try {
      return await client.query(config, values);
    } finally {
      client.release();
    }
  };
  pool.query = query as unknown as pg.Pool['query'];
}

/**
 * Runs fn in one transaction. Callbacks registered with `afterCommit` run only once the
 * transaction has committed (e.g. publishing an event to live clients), never on rollback.
 */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient, afterCommit: (cb: () => void) => void) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  const callbacks: (() => void)[] = [];
  const afterCommit = (cb: () => void) => void callbacks.push(cb);
  openTransactions.set(client, afterCommit);
  try {
    await client.query('BEGIN');
    const result = await fn(client, afterCommit);
    await client.query('COMMIT');
    openTransactions.delete(client);
    for (const cb of callbacks) cb();
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    openTransactions.delete(client);
    client.release();
  }
}

/** The after-commit registry of each client inside `withTransaction`. */
const openTransactions = new WeakMap<object, (cb: () => void) => void>();

/**
 * The `afterCommit` of the transaction `tx` runs in, so code handed only `tx` (the timeline's
 * `record`) can defer work to the commit. Throws when `tx` is not a `withTransaction` client:
 * an event recorded outside a transaction would be published even if the change it records failed.
 */
export function afterCommitOf(tx: Queryable): (cb: () => void) => void {
  const afterCommit = openTransactions.get(tx);
  if (!afterCommit) throw new Error('record(tx, …) needs a client inside withTransaction');
  return afterCommit;
}
