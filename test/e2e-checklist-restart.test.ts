import { rm } from 'node:fs/promises';
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { Api } from './helpers/api.js';
import { createTestDatabase } from './helpers/database.js';
import { ADMIN_PASSWORD, spawnServer, tempDir, testEnv, type SpawnedServer } from './helpers/server.js';
import { DESKTOP, collectErrors, launchBrowser, loginThroughForm, screenshot, type Browser } from './helpers/browser.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/**
 * Issue 9 finding 1, as a duty officer met it, in the browser: a level change, an ordinary
 * database error (creating a user whose name exists), another level change, edits on the board,
 * then the server is killed and restarted. Every edit the board showed is still there, and the
 * board loads its checklist again (not 正在连接检查单… for ever).
 */
describe('the board keeps what it accepted through a database error and a restart', () => {
  let browser: Browser | undefined;
  afterAll(async () => {
    await browser?.close();
  });

  it('level Ⅲ, a 409 on the Users page, level Ⅱ, edits, SIGKILL and restart: every edit is there', async () => {
    const dataDir = await tempDir();
    const database = await createTestDatabase();
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }), () => database.drop());
    // One port for both lives of the server, so the open board reconnects by itself.
    const env = testEnv(dataDir, database.url, { PORT: String(await freePort()) });
    let server: SpawnedServer = await spawnServer(env);
    cleanups.push(() => server.kill());
    const admin = await new Api(server.url).login('admin', ADMIN_PASSWORD);
    const id = (await admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'IV', mode: 'actual', title: '北一路下穿桥积水' })).body.incident.id as string;

    browser = await launchBrowser();
    const page = await (await browser.newContext(DESKTOP)).newPage();
    const errors = collectErrors(page);
    await loginThroughForm(page, server.url + '/', 'admin', ADMIN_PASSWORD);
    await page.locator('a[href^="#/incidents/"]').first().waitFor();
    await page.goto(`${server.url}/#/incidents/${id}`);
    await page.locator('[data-panel=checklist] tr.item').first().waitFor();

    const changeLevel = async (level: string, name: RegExp) => {
      await page.locator('form.steer select[name=level]').selectOption(level);
      await page.getByRole('button', { name: '调整级别' }).click();
      await expect.poll(() => page.getByTestId('incident-level').textContent(), { timeout: 20_000 }).toMatch(name);
    };
    await changeLevel('III', /Ⅲ级/);

    // The ordinary database error: a user whose name exists (unique violation, 409).
    await page.getByTestId('nav-users').click();
    await page.locator('form.new-user input[name=username]').fill('admin');
    await page.locator('form.new-user input[name=password]').fill('password-123');
    await page.locator('form.new-user button[type=submit]').click();
    await page.locator('[data-panel=users] .error').waitFor();
    await page.goto(`${server.url}/#/incidents/${id}`);
    await page.locator('[data-panel=checklist] tr.item').first().waitFor();
    await changeLevel('II', /Ⅱ级/);
    await expect.poll(() => page.locator('[data-panel=checklist] tr.item').count(), { timeout: 20_000 }).toBeGreaterThan(20);

    // Edits on the board, each shown there.
    const rows = page.locator('[data-panel=checklist] tr.item');
    const edited: { id: string; assignee: string }[] = [];
    for (let i = 0; i < 4; i++) {
      const row = rows.nth(i);
      const itemId = (await row.getAttribute('data-item'))!;
      const assignee = `值班员${i + 1}`;
      await row.locator('select[name=status]').selectOption('done');
      await row.locator('input[name=assignee]').fill(assignee);
      await row.locator('input[name=assignee]').press('Enter');
      edited.push({ id: itemId, assignee });
    }
    for (const e of edited) {
      await expect.poll(() => page.locator(`tr[data-item="${e.id}"] input[name=assignee]`).inputValue()).toBe(e.assignee);
    }
    // What the board shows has been stored: a second reader sees it from the server.
    const reader = await (await browser.newContext(DESKTOP)).newPage();
    await loginThroughForm(reader, server.url + '/', 'admin', ADMIN_PASSWORD);
    await reader.locator('a[href^="#/incidents/"]').first().waitFor();
    await reader.goto(`${server.url}/#/incidents/${id}`);
    for (const e of edited) await expect.poll(() => reader.locator(`tr[data-item="${e.id}"] input[name=assignee]`).inputValue(), { timeout: 20_000 }).toBe(e.assignee);

    expect(await server.kill('SIGKILL')).toBe('SIGKILL');
    server = await spawnServer(env);
    await page.reload();
    await page.locator('[data-panel=checklist] tr.item').first().waitFor({ timeout: 30_000 });
    for (const e of edited) {
      const row = page.locator(`tr[data-item="${e.id}"]`);
      await expect.poll(() => row.locator('input[name=assignee]').inputValue(), { timeout: 20_000 }).toBe(e.assignee);
      expect(await row.locator('select[name=status]').inputValue()).toBe('done');
    }
    await screenshot(page, 'checklist-after-restart');
    // The log agrees: four milestones, after both level changes.
    const events = (await (await new Api(server.url).login('admin', ADMIN_PASSWORD)).get(`/api/incidents/${id}/events`)).body.events as { type: string }[];
    expect(events.filter((e) => e.type === 'checklist.item_status')).toHaveLength(4);
    expect(events.filter((e) => e.type === 'incident.level_changed')).toHaveLength(2);
    expect(errors).toEqual([]);
  }, 240_000);
});
