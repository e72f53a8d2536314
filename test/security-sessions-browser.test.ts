import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, startTestServer, type TestServer } from './helpers/server.js';
import { collectErrors, DESKTOP, launchBrowser, loginThroughForm, PHONE, screenshot, type Browser } from './helpers/browser.js';

/**
 * Issue 10 "done when": an admin disables a user whose command board (desktop) and field app
 * (phone) are open; both return to the login screen within 5 s. Neither page puts the token into
 * a WebSocket URL (they use one-use tickets).
 */
describe('revocation in the browser', () => {
  let srv: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    srv = await startTestServer();
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await srv?.close();
  });

  it('disabling a user logs out its open board and phone within 5 s', async () => {
    const created = await srv.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual', location: { lat: 41.8, lon: 123.36 } });
    expect(created.status).toBe(201);
    const incidentId = created.body.incident.id as string;
    const user = { username: 'revoked.field', password: 'password-123' };
    const made = await srv.admin.post('/api/users', { ...user, role: 'field', teamId: 'T-D01', displayName: '将被停用' });
    expect(made.status).toBe(201);

    const hq = await browser.newContext(DESKTOP);
    const phone = await browser.newContext(PHONE);
    const board = await hq.newPage();
    const field = await phone.newPage();
    const errors = [...collectErrors(board), ...collectErrors(field)];
    const wsUrls: string[] = [];
    for (const page of [board, field]) page.on('websocket', (ws) => wsUrls.push(ws.url()));

    await loginThroughForm(board, srv.url + '/', user.username, user.password);
    await board.locator('a[href^="#/incidents/"]').first().waitFor();
    await board.goto(`${srv.url}/#/incidents/${incidentId}`);
    await board.locator('[data-panel=checklist] tr.item').first().waitFor();
    await loginThroughForm(field, srv.url + '/field', user.username, user.password);
    await field.getByRole('tab', { name: '检查单' }).click();
    await field.getByTestId('checklist-sync').filter({ hasText: '已同步' }).waitFor();
    await screenshot(field, 'revocation-before');

    expect(wsUrls.length).toBeGreaterThanOrEqual(2);
    expect(wsUrls.filter((u) => /[?&]token=/.test(u))).toEqual([]);
    expect(wsUrls.some((u) => u.includes('/yjs/') && /[?&]ticket=/.test(u))).toBe(true);

    const disabledAt = Date.now();
    expect((await srv.admin.patch(`/api/users/${made.body.user.id}`, { disabled: true })).status).toBe(200);
    await Promise.all([board.locator('input[name=password]').waitFor({ timeout: 5_000 }), field.locator('input[name=password]').waitFor({ timeout: 5_000 })]);
    expect(Date.now() - disabledAt).toBeLessThan(5_000);
    await screenshot(board, 'revocation-board-login');
    await screenshot(field, 'revocation-field-login');
    expect(await board.evaluate(() => localStorage.getItem('yingji.session'))).toBeNull();
    expect(await field.evaluate(() => localStorage.getItem('yingji.session'))).toBeNull();
    expect(errors).toEqual([]);
    await hq.close();
    await phone.close();
  });

  it('a commander disables a user from the Users page; the board and phone of that user return to the login screen within 5 s', async () => {
    const user = { username: 'ui.disabled', password: 'password-123' };
    const made = await srv.admin.post('/api/users', { ...user, role: 'field', teamId: 'T-D02', displayName: '界面停用' });
    expect(made.status).toBe(201);
    const adminCtx = await browser.newContext(DESKTOP);
    const hq = await browser.newContext(DESKTOP);
    const phone = await browser.newContext(PHONE);
    const [admin, board, field] = [await adminCtx.newPage(), await hq.newPage(), await phone.newPage()];
    const errors = [...collectErrors(admin), ...collectErrors(board), ...collectErrors(field)];
    const incidentId = (await srv.admin.post('/api/incidents', { planId: 'heavy-snow', level: 'IV', mode: 'actual' })).body.incident.id as string;
    await loginThroughForm(board, srv.url + '/', user.username, user.password);
    await board.locator('a[href^="#/incidents/"]').first().waitFor();
    await board.goto(`${srv.url}/#/incidents/${incidentId}`);
    await board.locator('[data-panel=checklist] tr.item').first().waitFor();
    await loginThroughForm(field, srv.url + '/field', user.username, user.password);
    await field.getByRole('tab', { name: '检查单' }).click();
    await field.getByTestId('checklist-sync').filter({ hasText: '已同步' }).waitFor();

    await loginThroughForm(admin, srv.url + '/', 'admin', ADMIN_PASSWORD);
    await admin.getByTestId('nav-users').click();
    const row = admin.locator(`tr[data-user="${user.username}"]`);
    await row.waitFor();
    expect(await row.getByTestId('user-status').textContent()).toBe('正常');
    await screenshot(admin, 'users-page');
    const clickedAt = Date.now();
    await row.getByTestId('toggle-disabled').click();
    await Promise.all([board.locator('input[name=password]').waitFor({ timeout: 5_000 }), field.locator('input[name=password]').waitFor({ timeout: 5_000 })]);
    expect(Date.now() - clickedAt).toBeLessThan(5_000);
    await expect.poll(() => row.getByTestId('user-status').textContent()).toBe('已停用');
    // And the account stays shut: logging in again is refused.
    expect((await srv.api.post('/api/auth/login', user)).body.error.code).toBe('account_disabled');
    expect(errors).toEqual([]);
    await Promise.all([adminCtx.close(), hq.close(), phone.close()]);
  });

  it('a board left on the incident list shows an incident a colleague activated elsewhere, and returns to the login screen when its user is disabled, without a reload', async () => {
    const user = { username: 'list.watcher', password: 'password-123' };
    const made = await srv.admin.post('/api/users', { ...user, role: 'staff', displayName: '值班员' });
    expect(made.status).toBe(201);
    const hq = await browser.newContext(DESKTOP);
    const board = await hq.newPage();
    const errors = collectErrors(board);
    expect((await srv.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'IV', mode: 'actual' })).status).toBe(201);
    await loginThroughForm(board, srv.url + '/', user.username, user.password);
    await board.getByTestId('incident-link').first().waitFor();
    // Marks this page load: a reload would drop it.
    await board.evaluate(() => ((window as unknown as { sameLoad: boolean }).sameLoad = true));

    const title = '列表刷新测试 list refresh';
    const created = await srv.admin.post('/api/incidents', { planId: 'heavy-snow', level: 'IV', mode: 'actual', title });
    expect(created.status).toBe(201);
    // The list asks again every 10 s.
    await board.locator(`a[href="#/incidents/${created.body.incident.id}"]`).waitFor({ timeout: 15_000 });
    expect(await board.locator(`a[href="#/incidents/${created.body.incident.id}"] strong`).textContent()).toBe(title);

    expect((await srv.admin.patch(`/api/users/${made.body.user.id}`, { disabled: true })).status).toBe(200);
    await board.locator('input[name=password]').waitFor({ timeout: 15_000 });
    expect(await board.evaluate(() => localStorage.getItem('yingji.session'))).toBeNull();
    expect(await board.evaluate(() => (window as unknown as { sameLoad?: boolean }).sameLoad), 'no page reload').toBe(true);
    expect(errors).toEqual([]);
    await hq.close();
  }, 90_000);
});
