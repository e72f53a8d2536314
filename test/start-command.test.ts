import { readdir, readFile, rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { Api } from './helpers/api.js';
import { ADMIN_PASSWORD, spawnServer, tempDir, type SpawnedServer } from './helpers/server.js';
import { START_ENV } from '../scripts/server-build.js';

// The README's `npm start`, as a user runs it: the web client and the server are built, and the
// built server (dist/server/main.mjs on plain node, not the sources under tsx) runs on the embedded
// database in a new data directory. What the bundle must still find beside the code — migrations,
// the embedded database's initdb script, the basemap, the built client — is used here.
const dirs: string[] = [];
let server: SpawnedServer | undefined;
afterAll(async () => {
  await server?.kill('SIGKILL');
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('npm start', () => {
  it('builds and runs the server on plain node with a new embedded database, serves the client and the basemap, and stops on SIGTERM', async () => {
    const dataDir = await tempDir();
    dirs.push(dataDir);
    const env = { PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, ADMIN_PASSWORD, DATABASE_URL: '', REDIS_URL: '', LOG_FORMAT: 'json' };
    server = await spawnServer(env, 120_000, { file: 'npm', args: ['start', '--silent'] });
    const s = server;
    expect(s.output()).toContain('"embeddedDatabase":true');

    // What runs is node on the bundle, not the sources under tsx, with npm start's malloc settings.
    const processes = await groupProcesses(s.child.pid!);
    const commands = processes.map((p) => p.command);
    // (The shell running the start script has the same ending; the server is the one without `&&`.)
    const bundle = processes.find((p) => p.command.endsWith(' dist/server/main.mjs') && !p.command.includes('&&'));
    expect(bundle, JSON.stringify(commands)).toBeDefined();
    expect(commands.filter((c) => c.includes('server/main.ts') || c.startsWith('node --import tsx'))).toEqual([]);
    for (const [name, value] of Object.entries(START_ENV)) expect(bundle!.environ).toContain(`${name}=${value}`);

    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    const page = await fetch(`${s.url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('应急指挥');
    const admin = await new Api(s.url).login('admin', ADMIN_PASSWORD);
    const plans = await admin.get('/api/plans');
    expect(plans.status).toBe(200);
    expect(plans.body.plans.length).toBeGreaterThan(0);
    const basemap = await admin.get('/api/map/basemap');
    expect(basemap.status).toBe(200);
    expect(basemap.body.features.length).toBeGreaterThan(0);

    await s.kill('SIGTERM');
    expect(s.output()).toContain('shutting down');
    server = undefined;
  }, 180_000);
});

/** The command lines and environments of the processes in a process group (Linux /proc). */
async function groupProcesses(pgid: number): Promise<{ command: string; environ: string[] }[]> {
  const found: { command: string; environ: string[] }[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // Fields after the parenthesised command name: state, ppid, pgrp, …
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (pgrp !== pgid) continue;
      const command = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0').filter(Boolean).join(' ');
      found.push({ command, environ: (await readFile(`/proc/${entry}/environ`, 'utf8')).split('\0') });
    } catch {
      // The process ended while it was being read.
    }
  }
  return found;
}
