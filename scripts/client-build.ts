/**
 * Builds the web client (Vite → dist/client) only when its inputs changed: a digest of every
 * file under client/ and shared/ plus the lock file is kept beside the build, so a warm
 * `npm start` skips the build and a checkout, edit or dependency change rebuilds. Content, not
 * mtimes: a fresh clone or a `git checkout` of the same content does not force a rebuild.
 *
 * `npm start` runs it as a script; the test suite's global setup imports it.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'vite';

const ROOT = path.resolve(import.meta.dirname, '..');
const OUT_DIR = path.join(ROOT, 'dist/client');
const DIGEST_FILE = path.join(OUT_DIR, '.inputs-digest');
const INPUTS = ['client', 'shared', 'package-lock.json'];

/** Every file of the inputs, relative to the repo, in a stable order. */
function inputFiles(): string[] {
  const files: string[] = [];
  for (const input of INPUTS) {
    const p = path.join(ROOT, input);
    if (!existsSync(p)) continue;
    if (!statSync(p).isDirectory()) files.push(p);
    else for (const e of readdirSync(p, { withFileTypes: true, recursive: true })) if (e.isFile()) files.push(path.join(e.parentPath, e.name));
  }
  return files.map((f) => path.relative(ROOT, f)).sort();
}

export function clientInputsDigest(): string {
  const hash = createHash('sha256');
  for (const file of inputFiles()) hash.update(file).update('\0').update(readFileSync(path.join(ROOT, file))).update('\0');
  return hash.digest('hex');
}

/** Returns true when it built, false when the existing build was current. */
export async function buildClientIfStale(opts: { logLevel?: 'info' | 'warn' } = {}): Promise<boolean> {
  const digest = clientInputsDigest();
  const current = existsSync(path.join(OUT_DIR, 'index.html')) && existsSync(DIGEST_FILE) && readFileSync(DIGEST_FILE, 'utf8') === digest;
  if (current) return false;
  await build({ configFile: path.join(ROOT, 'client/vite.config.ts'), logLevel: opts.logLevel ?? 'warn' });
  writeFileSync(DIGEST_FILE, digest);
  return true;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const started = Date.now();
  const built = await buildClientIfStale({ logLevel: 'warn' });
  console.log(built ? `web client built in ${((Date.now() - started) / 1000).toFixed(1)} s` : 'web client is up to date (dist/client)');
}
