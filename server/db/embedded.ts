import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedPostgres {
  /** A postgres:// URL the ordinary `pg` client connects to. */
  url: string;
  close(): Promise<void>;
}

/**
 * Embedded PostgreSQL: PGlite persisted under dataDir, served on a loopback port by
 * pglite-socket so the server uses exactly the same `pg` code path as against a real server.
 * PGlite is single-connection: its pool must have size 1 (see openDatabase).
 */
export async function startEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgres> {
  const dir = path.join(dataDir, 'pglite');
  await mkdir(dir, { recursive: true });
  const db = await PGlite.create(dir);
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0 });
  await server.start();
  const address = (server as unknown as { server: import('node:net').Server }).server.address();
  if (!address || typeof address === 'string') throw new Error('embedded PostgreSQL did not bind a TCP port');
  return {
    url: `postgresql://postgres@127.0.0.1:${address.port}/postgres`,
    async close() {
      await server.stop();
      await db.close();
    },
  };
}
