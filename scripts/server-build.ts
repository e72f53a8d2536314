/**
 * Builds the server for `npm start`: one ES module (dist/server/main.mjs) bundled by esbuild from
 * server/main.ts, with every package left to node_modules. Running the sources under tsx keeps
 * tsx's loader thread and its compiled-TypeScript cache alive for the life of the server (about
 * 70 MiB of an idle node's memory, issue 16); the bundle runs on plain node. Tests keep running the
 * sources. Always rebuilt: it takes well under a second.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const ROOT = path.resolve(import.meta.dirname, '..');
export const SERVER_BUNDLE = path.join(ROOT, 'dist/server/main.mjs');

/**
 * The environment `npm start` runs the bundle with (package.json's start script sets the same):
 * glibc malloc thresholds fixed at 4 MiB. By default glibc raises its trim threshold as large
 * blocks are freed (up to 64 MiB) and keeps what PGlite's query work and V8's background WebAssembly
 * compilation freed: an idle embedded node held about 60 MiB more (`npm run bench:memory`: 317 → 257
 * MiB after a restart).
 * A deployment that runs `node dist/server/main.mjs` itself should set them too.
 */
export const START_ENV = { MALLOC_TRIM_THRESHOLD_: '4194304', MALLOC_MMAP_THRESHOLD_: '4194304' } as const;

export async function buildServer(): Promise<void> {
  await build({
    entryPoints: [path.join(ROOT, 'server/main.ts')],
    outfile: SERVER_BUNDLE,
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: true,
    logLevel: 'warning',
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const started = Date.now();
  await buildServer();
  console.log(`server built in ${((Date.now() - started) / 1000).toFixed(1)} s (dist/server/main.mjs)`);
}
