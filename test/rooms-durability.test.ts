import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { Api } from './helpers/api.js';
import { createTestDatabase } from './helpers/database.js';
import { ADMIN_PASSWORD, spawnServer, tempDir, testEnv, type SpawnedServer } from './helpers/server.js';
import { connectClient, synced, waitFor, type YClient } from './rooms-helpers.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const TOKEN = /\[(\d+)\.(\d+)\]/g;

/** Tokens `[writer.n]` in every note of the doc. */
function tokensIn(c: YClient): string[] {
  const out: string[] = [];
  for (const item of c.items()) out.push(...(item.get('note')?.toString().match(TOKEN) ?? []));
  return out;
}

describe('live checklist durability', () => {
  it('a server SIGKILLed while clients edit has, after restart, every edit any client had received', async () => {
    const dataDir = await tempDir();
    const database = await createTestDatabase();
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }), () => database.drop());
    const env = testEnv(dataDir, database.url);

    let server: SpawnedServer = await spawnServer(env);
    cleanups.push(() => server.kill());
    const admin = await new Api(server.url).login('admin', ADMIN_PASSWORD);
    const res = await admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' });
    const id = res.body.incident.id as string;

    const writers = Array.from({ length: 3 }, () => connectClient(server.url, id, admin.token, { awareness: false }));
    cleanups.push(async () => writers.forEach((w) => w.destroy()));
    await Promise.all(writers.map(synced));
    await waitFor(() => writers.every((w) => w.items().length >= 3), 'seeded');

    // An edit counts as relayed once a client other than its writer has it.
    const relayed = new Set<string>();
    writers.forEach((w, k) =>
      w.doc.on('update', (_u: Uint8Array, origin: unknown) => {
        if (origin !== w.provider) return;
        for (const token of tokensIn(w)) if (!token.startsWith(`[${k}.`)) relayed.add(token);
      }),
    );
    let editing = true;
    const loops = writers.map(async (w, k) => {
      for (let n = 0; editing; n++) {
        const note = w.items().get(k).get('note');
        note.insert(note.length, `[${k}.${n}]`);
        await new Promise((r) => setTimeout(r, 3));
      }
    });
    await waitFor(() => relayed.size >= 60, 'edits flowing', 90_000);
    expect(await server.kill('SIGKILL')).toBe('SIGKILL');
    editing = false;
    await Promise.all(loops);
    // Take the clients away before the restart: their unsent edits must not paper over a loss.
    const seen = [...relayed];
    writers.forEach((w) => w.provider.destroy());

    server = await spawnServer(env);
    const reader = connectClient(server.url, id, admin.token, { awareness: false });
    cleanups.push(async () => reader.destroy());
    await waitFor(() => reader.provider.synced, 'reader synced', 90_000);
    await waitFor(() => reader.items().length >= 3, 'loaded after restart');
    const stored = new Set(tokensIn(reader));
    const missing = seen.filter((token) => !stored.has(token));
    expect(missing, `${missing.length} of ${seen.length} relayed edits lost`).toEqual([]);
    expect(seen.length).toBeGreaterThanOrEqual(60);
    // The event log survived intact too.
    const again = await new Api(server.url).login('admin', ADMIN_PASSWORD);
    expect((await again.get(`/api/incidents/${id}/events/verify`)).body.ok).toBe(true);
    expect(await server.kill('SIGTERM')).toBe(0);
  }, 240_000);
});
