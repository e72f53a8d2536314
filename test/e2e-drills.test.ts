import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, ADMIN_PASSWORD, type TestServer } from './helpers/server.js';
import { collectErrors, DESKTOP, launchBrowser, loginThroughForm, PHONE, screenshot, seriousAxeViolations, type Browser, type Page } from './helpers/browser.js';

/**
 * A tabletop drill in Chromium: a controller starts a shipped scenario from the console (#/drills),
 * the first inject appears on the commander's board and on the field phone, the commander's response
 * (a checklist item done on the board) turns the expected action `met` on the console.
 */
describe('drill console end to end', () => {
  let srv: TestServer;
  let browser: Browser;
  let consolePage: Page;
  let board: Page;
  let field: Page;
  let incidentId: string;
  const errors: string[][] = [];

  beforeAll(async () => {
    srv = await startTestServer({ DRILL_POLL_MS: '100' });
    browser = await launchBrowser();
    consolePage = await (await browser.newContext(DESKTOP)).newPage();
    board = await (await browser.newContext(DESKTOP)).newPage();
    field = await (await browser.newContext(PHONE)).newPage();
    for (const p of [consolePage, board, field]) errors.push(collectErrors(p));
    for (const [username, role, teamId] of [['e2e.controller', 'controller', undefined], ['e2e.d07', 'field', 'T-D07']] as const) {
      expect((await srv.admin.post('/api/users', { username, password: 'password-123', role, ...(teamId ? { teamId } : {}) })).status).toBe(201);
    }
  });

  afterAll(async () => {
    await browser?.close();
    await srv?.close();
  });

  it('a controller starts a shipped tabletop drill from the console', async () => {
    await loginThroughForm(consolePage, srv.url + '/', 'e2e.controller', 'password-123');
    await consolePage.getByTestId('nav-drills').click();
    await consolePage.getByTestId('drills-page').waitFor();
    await consolePage.getByTestId('tabletop-scenario').selectOption('wl-jianshe-underpass-tabletop');
    await consolePage.getByTestId('create-tabletop').click();
    await consolePage.getByTestId('drill-start').click();
    await consolePage.getByTestId('drill-incident').waitFor();
    incidentId = /#\/incidents\/([0-9a-f-]{36})/.exec((await consolePage.getByTestId('drill-incident').getAttribute('href'))!)![1]!;
    // The scheduler releases inj-01 (T+0); the console shows it released and the next one counting down.
    await expect.poll(() => consolePage.getByTestId('inject-inj-01').getByTestId('inject-when').textContent(), { timeout: 20_000 }).toContain('已发布');
    await expect.poll(() => consolePage.getByTestId('inject-inj-02').getByTestId('inject-when').textContent()).toContain('倒计时');
    expect(await consolePage.getByTestId('expect-exp-01').getByTestId('expect-status').textContent()).toContain('待观察');
    const incident = (await srv.admin.get(`/api/incidents/${incidentId}`)).body.incident;
    expect(incident).toMatchObject({ mode: 'exercise', planId: 'waterlogging-underpass', level: 'II' });
  });

  it('the inject appears on the board and on the field phone, and never the controller-only note', async () => {
    await loginThroughForm(board, srv.url + '/', 'admin', ADMIN_PASSWORD);
    // The console is not for participants: the shared policy hides its link.
    await board.locator('nav.topbar').waitFor();
    expect(await board.getByTestId('nav-drills').count()).toBe(0);
    await board.goto(`${srv.url}/#/incidents/${incidentId}`);
    const injectLine = board.locator('[data-testid=timeline] li[data-type="drill.inject_released"]');
    await expect.poll(() => injectLine.first().textContent(), { timeout: 20_000 }).toContain('建设大路下穿桥积水监测点报警');
    expect(await injectLine.first().textContent()).toContain('监测报警');

    await loginThroughForm(field, srv.url + '/field', 'e2e.d07', 'password-123');
    await expect.poll(() => field.getByTestId('field-inject').first().textContent(), { timeout: 20_000 }).toContain('积水深度0.32米');
    await screenshot(field, 'drill-field-inject');
    // A controller-only note, then a call for everyone: when the call is on the board, the note
    // (released before it) would have been too, had it reached the board.
    const controller = await srv.api.login('e2e.controller', 'password-123');
    const drillId = (await controller.get('/api/drills')).body.drills[0].id;
    expect((await controller.post(`/api/drills/${drillId}/injects/inj-08/release`)).status).toBe(200);
    expect((await controller.post(`/api/drills/${drillId}/injects/inj-03/release`)).status).toBe(200);
    await expect.poll(() => board.locator('[data-testid=timeline]').textContent(), { timeout: 20_000 }).toContain('市民来电');
    await expect.poll(() => field.getByTestId('field-injects').textContent(), { timeout: 20_000 }).toContain('市民来电');
    expect(await board.locator('body').textContent()).not.toContain('导调提示');
    expect(await field.locator('body').textContent()).not.toContain('导调提示');
    await expect.poll(() => consolePage.getByTestId('inject-inj-08').getByTestId('inject-when').textContent()).toContain('已发布');
    await screenshot(board, 'drill-board');
  });

  it("the participant's response turns the expected action met on the console", async () => {
    const item = board.locator('tr[data-item="wl-iii-underpass-close"] select[name=status]');
    await item.waitFor();
    await item.selectOption('done');
    await expect.poll(() => consolePage.getByTestId('expect-exp-01').getByTestId('expect-status').textContent(), { timeout: 20_000 }).toContain('达成');
    await consolePage.getByTestId('observation-text').fill('交警8分钟内完成双向封闭，处置规范');
    await consolePage.getByTestId('observation-save').click();
    await expect.poll(() => consolePage.getByTestId('observations').textContent()).toContain('交警8分钟内完成双向封闭');
    await screenshot(consolePage, 'drill-console');
    expect(await seriousAxeViolations(consolePage)).toEqual([]);
    expect(errors.flat()).toEqual([]);
  });

  it('inject texts are text, never markup, on the board, the phone and the console', async () => {
    const controller = await srv.api.login('e2e.controller', 'password-123');
    const evil = '<img src=x onerror="window.__drillXss=1">';
    const scenario = {
      id: 'e2e-xss',
      title: { zh: `注入测试${evil}`, en: `XSS ${evil}` },
      planId: 'waterlogging-underpass',
      level: 'IV',
      objectives: [{ zh: '文本', en: 'Text' }],
      injects: [{ id: 'inj-01', at: 0, audience: { kind: 'all' }, form: 'field-report', from: { teamId: 'T-D07' }, content: { zh: `现场${evil}`, en: `Field ${evil}` } }],
    };
    expect((await controller.post('/api/scenarios', scenario)).status).toBe(201);
    const drill = (await controller.post('/api/drills', { kind: 'tabletop', scenarioId: 'e2e-xss' })).body.drill;
    const started = (await controller.post(`/api/drills/${drill.id}/start`)).body.drill;
    await board.goto(`${srv.url}/#/incidents/${started.incidentId}`);
    await expect.poll(() => board.locator('[data-testid=timeline] li[data-type="drill.inject_released"]').first().textContent(), { timeout: 20_000 }).toContain(evil);
    await field.reload();
    await expect.poll(async () => (await field.locator('body').textContent()) ?? '', { timeout: 20_000 }).toContain(evil);
    await consolePage.reload();
    await consolePage.getByTestId('drills-page').waitFor();
    await expect.poll(async () => (await consolePage.getByTestId('drills-page').textContent()) ?? '').toContain(evil);
    for (const page of [board, field, consolePage]) {
      expect(await page.evaluate(() => (window as unknown as { __drillXss?: number }).__drillXss)).toBeUndefined();
      expect(await page.locator('img[src=x]').count()).toBe(0);
    }
  });
});
