import { rm } from 'node:fs/promises';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../server/db/database.js';
import { tempDir } from './helpers/server.js';

// The embedded database on its own: the suite's other files use it only when TEST_DATABASE_URL is
// unset, but `npm start` always can, so this file runs in both of the suite's runs.
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
const log = pino({ level: 'silent' });

describe('embedded database', () => {
  it('creates a new cluster in a process of its own, runs with the configured shared buffers and keeps its data across a reopen', async () => {
    const dataDir = await tempDir();
    dirs.push(dataDir);
    const first = await openDatabase({ dataDir, poolSize: 1, embeddedSharedBuffers: '24MB', log });
    expect(first.embedded).toBe(true);
    expect((await first.pool.query('SHOW shared_buffers')).rows[0].shared_buffers).toBe('24MB');
    await first.pool.query('CREATE TABLE kept (v text)');
    await first.pool.query(`INSERT INTO kept VALUES ('物资 3')`);
    await first.close();

    const again = await openDatabase({ dataDir, poolSize: 1, log });
    expect((await again.pool.query('SHOW shared_buffers')).rows[0].shared_buffers).toBe('32MB');
    expect((await again.pool.query('SELECT v FROM kept')).rows).toEqual([{ v: '物资 3' }]);
    await again.close();
  }, 120_000);

  it('refuses a shared_buffers setting that is not a size', async () => {
    const { loadConfig, ConfigError } = await import('../server/config.js');
    expect(() => loadConfig({ EMBEDDED_SHARED_BUFFERS: '32MB; DROP TABLE x' })).toThrow(ConfigError);
    expect(loadConfig({ EMBEDDED_SHARED_BUFFERS: '64MB' }).EMBEDDED_SHARED_BUFFERS).toBe('64MB');
  });
});
