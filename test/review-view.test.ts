import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, ADMIN_PASSWORD, type TestServer } from './helpers/server.js';
import { collectErrors, DESKTOP, launchBrowser, loginThroughForm, screenshot, seriousAxeViolations, type Browser } from './helpers/browser.js';
import { connectClient, synced, waitFor, type YClient } from './rooms-helpers.js';

const HOSTILE = '<img src=/x/review onerror=alert(1)>';

describe('review view in the command client', () => {
  let t: TestServer;
  let browser: Browser;
  let writer: YClient | undefined;
  let id: string;
  let itemId: string;

  beforeAll(async () => {
    t = await startTestServer();
    browser = await launchBrowser();
    id = (await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual', title: `积水 ${HOSTILE}` })).body.incident.id;
    writer = connectClient(t.url, id, t.admin.token);
    await synced(writer);
    itemId = writer.items().get(0).get('id');
    writer.item(itemId)!.set('status', 'done');
    await waitFor(async () => (await t.admin.get(`/api/incidents/${id}/events?type=checklist.item_status`)).body.events.length === 1, 'milestone');
  });
  afterAll(async () => {
    writer?.destroy();
    await browser?.close();
    await t?.close();
  });

  it('shows the live review, follows the close to final, replays, adds an improvement item that the board then shows beside its item', async () => {
    const ctx = await browser.newContext(DESKTOP);
    const page = await ctx.newPage();
    const errors = collectErrors(page);
    const probes: string[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname.startsWith('/x/')) probes.push(r.url());
    });
    await loginThroughForm(page, t.url, 'admin', ADMIN_PASSWORD);
    await page.goto(`${t.url}/#/incidents/${id}`);
    await page.locator('[data-testid=review-link]').click();
    await page.locator('[data-testid=review]').waitFor();
    await expect.poll(() => page.locator('[data-testid=review-state]').textContent()).toContain('实时');
    expect(await page.locator('h1').first().textContent()).toContain(HOSTILE); // as text

    // Closing the incident (another client) turns the live review final.
    expect((await t.admin.post(`/api/incidents/${id}/close`, {})).status).toBe(200);
    await expect.poll(() => page.locator('[data-testid=review-state]').textContent(), { timeout: 20_000 }).toContain('最终版');
    await expect.poll(() => page.locator('[data-testid=review-chain]').textContent()).toContain('事件链完整');

    // The scrubber at its end shows the item done; at its start nothing is finished.
    await expect.poll(() => page.locator(`[data-panel=review-replay] tr[data-item="${itemId}"]`).getAttribute('class')).toContain('status-done');
    const slider = page.locator('[data-panel=review-replay] input[type=range]');
    await slider.evaluate((el: HTMLInputElement) => {
      el.value = el.min;
      el.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await expect.poll(() => page.locator('[data-testid=replay-progress]').textContent()).toMatch(/已完成 0\//);

    // An improvement item for the item, with hostile text.
    await page.locator('.improvement-form input[aria-label=问题]').fill(`泵站响应慢 ${HOSTILE}`);
    await page.locator('.improvement-form select[aria-label=对应检查单事项]').selectOption(itemId);
    await page.locator('.improvement-form button[type=submit]').click();
    await expect.poll(() => page.locator('[data-testid=improvements] tbody tr').count()).toBe(1);
    expect(await page.locator('[data-testid=improvements] tbody td').first().textContent()).toBe(`泵站响应慢 ${HOSTILE}`);
    await screenshot(page, 'review-view');
    expect(await seriousAxeViolations(page)).toEqual([]);

    // The DOCX button downloads a Word file.
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('button', { hasText: '下载 DOCX' }).click()]);
    expect(download.suggestedFilename()).toBe(`review-${id}.docx`);

    // The next incident of the same plan shows the open item beside its checklist item.
    const next = (await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' })).body.incident.id;
    await page.goto(`${t.url}/#/incidents/${next}`);
    await expect.poll(() => page.locator(`tr[data-item="${itemId}"] [data-testid=item-improvement]`).textContent(), { timeout: 20_000 }).toContain('泵站响应慢');
    expect(probes).toEqual([]);
    expect(errors).toEqual([]);
    await ctx.close();
  });

  it('an incident closed while the review page is still joining its live feed still turns final', async () => {
    const other = (await t.admin.post('/api/incidents', { planId: 'heavy-snow', level: 'IV', mode: 'actual' })).body.incident.id as string;
    const ctx = await browser.newContext(DESKTOP);
    const page = await ctx.newPage();
    const errors = collectErrors(page);
    await loginThroughForm(page, t.url, 'admin', ADMIN_PASSWORD);
    // Hold the live feed's ticket: the page has its review by HTTP, but has not joined the feed yet.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    await page.route('**/api/live/ticket', async (route) => {
      await held;
      await route.continue();
    });
    await page.goto(`${t.url}/#/incidents/${other}/review`);
    await expect.poll(() => page.locator('[data-testid=review-state]').textContent()).toContain('实时');
    expect((await t.admin.post(`/api/incidents/${other}/close`, {})).status).toBe(200);
    // The close is now in the backlog the join will bring, not a live event.
    release();
    await expect.poll(() => page.locator('[data-testid=review-state]').textContent(), { timeout: 20_000 }).toContain('最终版');
    await page.unrouteAll({ behavior: 'ignoreErrors' });
    expect(errors).toEqual([]);
    await ctx.close();
  });
});
