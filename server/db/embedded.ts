import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/** Connection slots of the embedded server: the pool's one client plus replacements overlapping a closing one. */
const EMBEDDED_CONNECTION_SLOTS = 4;

export interface EmbeddedPostgres {
  /** A postgres:// URL the ordinary `pg` client connects to. */
  url: string;
  close(): Promise<void>;
}

/**
 * Embedded PostgreSQL: PGlite persisted under dataDir, served on a loopback port by
 * pglite-socket so the server uses exactly the same `pg` code path as against a real server.
 * PGlite is single-session: its pool must have size 1, and nothing may assume per-connection
 * state — prepared statement names, SETs, temp tables and session advisory locks are shared by
 * every connection (see openDatabase).
 */
export async function startEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgres> {
  const dir = path.join(dataDir, 'pglite');
  await mkdir(dir, { recursive: true });
  const db = await PGlite.create(dir);
  // The pool uses one connection at a time (PGlite serialises queries, and interleaved
  // extended-protocol messages of two live connections would mix). But when the pool replaces a
  // broken client, the new connection arrives before the server has seen the old one close; with
  // room for just one it is refused ("Connection terminated unexpectedly"). A few spare slots
  // let the replacement in while the old socket winds down.
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: EMBEDDED_CONNECTION_SLOTS });
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
