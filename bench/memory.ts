/**
 * npm run bench:memory — idle resident memory of one server node, as `npm start` runs it.
 *
 * Builds the server as `npm start` does and spawns `node dist/server/main.mjs` on the embedded
 * database twice on one data directory
 * (the first start creates the cluster, the second is an ordinary restart), and on real PostgreSQL
 * when BENCH_DATABASE_URL or TEST_DATABASE_URL is set; lets each sit idle (BENCH_IDLE_SECONDS, default 20)
 * and reads VmRSS from /proc. The reference in the same run is a bare node:http server process.
 * Target (issue 16): idle RSS on the embedded database ≤ 300 MiB.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { buildServer, SERVER_BUNDLE, START_ENV } from '../scripts/server-build.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 20);
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** Runs a process until it prints `ready`, waits idle, returns its RSS, then stops it. */
async function idleRss(args: string[], env: Record<string, string | undefined>, ready: RegExp): Promise<number> {
  // An undefined value removes the variable.
  const merged = Object.fromEntries(Object.entries({ ...process.env, ...env }).filter((e): e is [string, string] => e[1] !== undefined));
  const child = spawn(process.execPath, args, { cwd: ROOT, env: merged, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (c: Buffer) => {
      out += c.toString();
      if (ready.test(out)) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited ${code} before ready:\n${out}`)));
  });
  await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
  const rss = await rssMiB(child.pid!);
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return rss;
}

await buildServer();
const server = (env: Record<string, string | undefined>) =>
  idleRss(['--enable-source-maps', SERVER_BUNDLE], { PORT: '0', HOST: '127.0.0.1', ADMIN_PASSWORD: 'bench-password-1', LOG_LEVEL: 'info', LOG_FORMAT: 'json', ...START_ENV, ...env }, /Yingji listening/);

const dataDir = await mkdtemp(path.join(os.tmpdir(), 'yingji-bench-memory-'));
try {
  const bare = await idleRss(['-e', "require('node:http').createServer((q,s)=>s.end()).listen(0,()=>console.log('ready'))"], {}, /ready/);
  const embeddedFirst = await server({ DATA_DIR: dataDir });
  const embeddedRestart = await server({ DATA_DIR: dataDir });
  const rows: [string, number][] = [
    ['bare node:http (reference)', bare],
    ['embedded PGlite, first start', embeddedFirst],
    ['embedded PGlite, restart', embeddedRestart],
    // The same restart without npm start's malloc thresholds: what they are worth.
    ['embedded, restart, glibc defaults', await server({ DATA_DIR: dataDir, MALLOC_TRIM_THRESHOLD_: undefined, MALLOC_MMAP_THRESHOLD_: undefined })],
  ];
  if (ADMIN_URL) {
    const name = `yingji_bench_mem_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    try {
      const url = new URL(ADMIN_URL);
      url.pathname = `/${name}`;
      rows.push(['real PostgreSQL', await server({ DATA_DIR: dataDir, DATABASE_URL: url.toString() })]);
    } finally {
      await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
      await admin.end();
    }
  }
  console.log(`idle ${IDLE_SECONDS} s; embedded shared_buffers ${process.env.EMBEDDED_SHARED_BUFFERS ?? '32MB (default)'}; durability unchanged`);
  for (const [what, mib] of rows) console.log(`${what.padEnd(32)} ${mib.toFixed(0).padStart(5)} MiB   ${(mib / bare).toFixed(1)}× bare`);
  console.log(`target: embedded ≤ 300 MiB — first start ${embeddedFirst <= 300 ? 'met' : 'NOT met'}, restart ${embeddedRestart <= 300 ? 'met' : 'NOT met'}`);
} finally {
  await rm(dataDir, { recursive: true, force: true });
}
