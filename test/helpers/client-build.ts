import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { build } from 'vite';

const ROOT = path.resolve(import.meta.dirname, '../..');
const OUT = path.join(ROOT, 'dist/client/index.html');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** Vitest globalSetup: builds the web client once per run when its sources are newer than dist/client. */
export default async function setup(): Promise<void> {
  const sources = Math.max(newestMtime(path.join(ROOT, 'client')), newestMtime(path.join(ROOT, 'shared')));
  if (existsSync(OUT) && statSync(OUT).mtimeMs >= sources) return;
  try {
    await build({ configFile: path.join(ROOT, 'client/vite.config.ts'), logLevel: 'warn' });
  } catch (err) {
    // Only the browser tests need the client: they fail on their own; every other test runs on.
    console.warn(`web client build failed; e2e tests will fail: ${String(err)}`);
  }
}
