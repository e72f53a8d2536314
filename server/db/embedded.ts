import { access, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { PROJECT_ROOT } from '../paths.js';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/**
 * PostgreSQL's default 128 MB of shared buffers live in PGlite's WebAssembly memory, which never
 * shrinks, and are all touched at start. A district's working set (incidents, checklists, outbox) is
 * far smaller; EMBEDDED_SHARED_BUFFERS raises it for a bigger installation.
 */
export const DEFAULT_SHARED_BUFFERS = '32MB';

/** PGlite's own start parameters (its `defaultStartParams`, which passing any replaces) plus ours. */
function embeddedStartParams(sharedBuffers: string): string[] {
  const pglite = ['--single', '-F', '-O', '-j', '-c', 'search_path=public', '-c', 'exit_on_error=false', '-c', 'log_checkpoints=false',
    '-c', 'max_worker_processes=0', '-c', 'max_parallel_workers=0', '-c', 'max_parallel_workers_per_gather=0', '-c', 'io_method=sync',
    '-c', 'max_parallel_maintenance_workers=0'];
  return [...pglite, '-c', `shared_buffers=${sharedBuffers}`];
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(() => true, () => false);
}

async function createClusterInChildProcess(dir: string, startParams: string[]): Promise<void> {
  // Plain node (no tsx or vitest loader flags): the script is JavaScript.
  const child = spawn(process.execPath, [EMBEDDED_INITDB_SCRIPT, dir, JSON.stringify(startParams)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`creating the embedded database failed (initdb exit ${code ?? signal}): ${stderr.trim()}`))));
  });
}

/** Creates a cluster and exits (see the script for why it is a process of its own). */
const EMBEDDED_INITDB_SCRIPT = path.join(PROJECT_ROOT, 'server/db/embedded-initdb.mjs');

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
export async function startEmbeddedPostgres(dataDir: string, opts: { sharedBuffers?: string } = {}): Promise<EmbeddedPostgres> {
  const dir = path.join(dataDir, 'pglite');
  await mkdir(dir, { recursive: true });
  const startParams = embeddedStartParams(opts.sharedBuffers ?? DEFAULT_SHARED_BUFFERS);
  if (!(await exists(path.join(dir, 'PG_VERSION')))) await createClusterInChildProcess(dir, startParams);
  const db = await PGlite.create(dir, { startParams });
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
