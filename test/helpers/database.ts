import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface TestDatabase {
  /** DATABASE_URL for the server under test; undefined means embedded PGlite. */
  url: string | undefined;
  drop(): Promise<void>;
}

/**
 * With TEST_DATABASE_URL (CI: real PostgreSQL), each caller gets a fresh database of its own,
 * so test files and parallel runs never collide. Without it the server uses embedded PGlite.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const admin = process.env.TEST_DATABASE_URL;
  if (!admin) return { url: undefined, drop: async () => undefined };
  const name = `yingji_t_${process.pid}_${randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export const usingRealPostgres = () => Boolean(process.env.TEST_DATABASE_URL);
