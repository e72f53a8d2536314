import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { migrate } from '../server/db/migrate.js';
import { startTestServer, type TestServer } from './helpers/server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

describe('migrations', () => {
  it('are idempotent and safe to run concurrently (advisory lock)', async () => {
    const pool = t.server.context.db.pool;
    const before = (await pool.query('SELECT version, applied_at FROM schema_migrations ORDER BY version')).rows;
    expect(before.length).toBeGreaterThan(0);
    const applied = await Promise.all([migrate(pool, pino({ level: 'silent' })), migrate(pool, pino({ level: 'silent' })), migrate(pool, pino({ level: 'silent' }))]);
    expect(applied).toEqual([0, 0, 0]);
    const after = (await pool.query('SELECT version, applied_at FROM schema_migrations ORDER BY version')).rows;
    expect(after).toEqual(before);
  });

  it('refuses to run when an applied migration was edited', async () => {
    const pool = t.server.context.db.pool;
    await pool.query(`UPDATE schema_migrations SET checksum = 'tampered' WHERE version = 1`);
    await expect(migrate(pool, pino({ level: 'silent' }))).rejects.toThrow(/changed after it was applied/);
    const { createHash } = await import('node:crypto');
    const { readFile } = await import('node:fs/promises');
    const sql = await readFile('server/db/migrations/001_foundation.sql', 'utf8');
    await pool.query(`UPDATE schema_migrations SET checksum = $1 WHERE version = 1`, [createHash('sha256').update(sql).digest('hex')]);
    await expect(migrate(pool, pino({ level: 'silent' }))).resolves.toBe(0);
  });
});
