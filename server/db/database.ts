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
  log: Logger;
}): Promise<Database> {
  if (opts.databaseUrl) {
    const pool = new pg.Pool({ connectionString: opts.databaseUrl, max: opts.poolSize });
    pool.on('error', (err) => opts.log.error({ err }, 'idle database client error'));
    await pool.query('SELECT 1');
    return { pool, embedded: false, url: opts.databaseUrl, close: () => pool.end() };
  }
  const embedded = await startEmbeddedPostgres(opts.dataDir);
  const pool = new pg.Pool({ connectionString: embedded.url, max: 1 });
  pool.on('error', (err) => opts.log.error({ err }, 'idle database client error'));
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
 * Runs fn in one transaction. Callbacks registered with `afterCommit` run only once the
 * transaction has committed (e.g. publishing an event to live clients), never on rollback.
 */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient, afterCommit: (cb: () => void) => void) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  const callbacks: (() => void)[] = [];
  try {
    await client.query('BEGIN');
    const result = await fn(client, (cb) => callbacks.push(cb));
    await client.query('COMMIT');
    for (const cb of callbacks) cb();
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
