import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, ADMIN_PASSWORD, type TestServer } from './helpers/server.js';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ARTIFACTS_DIR, collectErrors, DESKTOP, launchBrowser, loginThroughForm, PHONE, screenshot, seriousAxeViolations, type Browser, type BrowserContext, type Page } from './helpers/browser.js';

/**
 * End to end in the system's Chromium: the command-centre board and the field app (phone
 * viewport, service worker, IndexedDB, offline queue) against one real server.
 */
describe('web client end to end', () => {
  let srv: TestServer;
  let browser: Browser;
  let hq: BrowserContext;
  let phone: BrowserContext;
  let board: Page;
  let field: Page;
  let incidentId: string;
  let teamId: string;
  const fieldUser = { username: 'e2e.field', password: 'password-123' };

  beforeAll(async () => {
    srv = await startTestServer();
    browser = await launchBrowser();
    hq = await browser.newContext(DESKTOP);
    phone = await browser.newContext({ ...PHONE, geolocation: { latitude: 41.7961, longitude: 123.3655, accuracy: 15 }, permissions: ['geolocation'] });
    board = await hq.newPage();
    field = await phone.newPage();
    const a = collectErrors(board);
    const b = collectErrors(field);
    afterAllErrors = () => [...a, ...b];
  });
  let afterAllErrors = () => [] as string[];

  afterAll(async () => {
    await browser?.close();
    await srv?.close();
  });

  const events = async (type: string) => {
    const res = await srv.admin.get(`/api/incidents/${incidentId}/events?type=${type}`);
    expect(res.status).toBe(200);
    return res.body.events as { type: string; data: Record<string, unknown> }[];
  };

  it('a commander activates a plan from the board', async () => {
    await loginThroughForm(board, srv.url + '/', 'admin', ADMIN_PASSWORD);
    await board.locator('select[name=plan]').selectOption('waterlogging-underpass');
    await board.locator('input[name=level][value=II]').check();
    // The location by name: a road of the offline basemap, then fine-tuned on the map.
    await board.locator('input[name=place]').fill('建设');
    await board.getByTestId('place-matches').getByRole('button', { name: /建设大路/ }).click();
    await expect.poll(() => board.getByTestId('picked-place').textContent()).toContain('建设大路');
    await board.locator('.pick-map').click({ position: { x: 260, y: 150 } });
    await expect.poll(() => board.getByTestId('picked-location').textContent()).toMatch(/^41\.\d+, 123\.\d+$/);
    // Actual vs exercise has no default, and an actual response asks once more.
    expect(await board.locator('form.activate-form button[type=submit]').isDisabled()).toBe(true);
    await board.locator('input[name=mode][value=actual]').check();
    await board.locator('form.activate-form button[type=submit]').click();
    await board.getByTestId('confirm-actual').waitFor();
    await screenshot(board, 'command-activate');
    expect(board.url()).not.toMatch(/#\/incidents\//);
    await board.getByTestId('confirm-actual').click();
    await board.waitForURL(/#\/incidents\/[0-9a-f-]{36}$/);
    incidentId = /#\/incidents\/([0-9a-f-]{36})$/.exec(board.url())![1]!;
    await board.locator('[data-panel=checklist] tr.item').first().waitFor();
    await expect.poll(() => board.locator('[data-panel=checklist] tr.item').count()).toBeGreaterThan(5);
    await expect.poll(() => board.locator('[data-testid=timeline] li[data-type="incident.activated"]').count()).toBe(1);
    const incident = (await srv.admin.get(`/api/incidents/${incidentId}`)).body.incident;
    expect(incident).toMatchObject({ planId: 'waterlogging-underpass', level: 'II', mode: 'actual', status: 'active' });
    expect(incident.location.lat).toBeGreaterThan(41.7);
    await screenshot(board, 'command-board');
  });

  it('the commander dispatches a recommended team with one confirmation; the field user sees the order on a phone and acknowledges it, live on the board', async () => {
    const recs = (await srv.admin.get(`/api/incidents/${incidentId}/recommendations`)).body.recommendations;
    const candidate = recs.teams.flatMap((r: any) => r.candidates).find((c: any) => c.proposed && c.available);
    expect(candidate).toBeDefined();
    teamId = candidate.teamId;
    const created = await srv.admin.post('/api/users', { ...fieldUser, role: 'field', teamId, displayName: '现场队员' });
    expect(created.status).toBe(201);

    await board.getByTestId(`dispatch-${teamId}`).first().click();
    await board.getByTestId(`dispatch-${teamId}-confirm`).first().click();
    await board.locator('[data-testid=dispatch-table] tr[data-status=dispatched]').waitFor();

    await loginThroughForm(field, srv.url + '/field', fieldUser.username, fieldUser.password);
    const order = field.locator('li.order').first();
    await order.waitFor();
    await expect.poll(() => order.getByTestId('order-status').textContent()).toBe('已下达');
    // The phone names the team as people know it, and navigates to the task site in the phone's map app.
    await expect.poll(() => field.getByTestId('field-who').textContent()).toContain(candidate.name.zh);
    expect(await field.getByTestId('field-who').textContent()).not.toContain(teamId);
    expect(await order.getByTestId('navigate').getAttribute('href')).toMatch(/^geo:41\.\d{6},123\.\d{6}\?q=41\.\d{6},123\.\d{6}\(.+\)$/);
    await screenshot(field, 'field-order');
    await order.getByTestId('order-next').click();
    await order.getByTestId('sync-sent').waitFor();
    await board.locator('[data-testid=dispatch-table] tr[data-status=acknowledged]').waitFor();
    expect((await events('dispatch.status_changed')).map((e) => e.data.to)).toEqual(['acknowledged']);
  });

  it("the phone's task map shows the site, the team and the phone, the straight-line distance and direction, and still draws offline", async () => {
    const dispatch = (await srv.admin.get(`/api/incidents/${incidentId}/dispatches`)).body.dispatches.find((d: any) => d.teamId === teamId);
    const site = dispatch.location as { lat: number; lon: number };
    const title = (await srv.admin.get(`/api/incidents/${incidentId}`)).body.incident.title as string;
    const { zh: teamName, en: teamNameEn } = (await srv.admin.get(`/api/teams/${teamId}`)).body.team.name as { zh: string; en: string };
    await field.getByRole('tab', { name: '任务单' }).click();
    await field.locator('li.order').first().getByTestId('show-on-map').click();
    const map = field.locator('.field-map');
    const drawn = async () => {
      await map.and(field.locator('[data-basemap]')).waitFor({ timeout: 20_000 });
      await expect.poll(() => map.getAttribute('data-kinds')).toContain('incident');
      await expect.poll(() => map.getAttribute('data-kinds')).toMatch(/team/);
      // The permanent labels are Leaflet tooltips: the site is named by its incident, the team by its name.
      await expect.poll(() => map.locator('.leaflet-tooltip.map-label.incident').textContent()).toBe(title);
      await expect.poll(() => map.locator('.leaflet-tooltip.map-label.team').textContent()).toContain(teamName);
    };
    await drawn();
    // This phone is at the context's geolocation (the fix it also sent with 已接令).
    await expect.poll(() => map.getAttribute('data-kinds')).toContain('device');
    await expect.poll(() => field.getByTestId('site-distance').textContent()).toBe(expectedDistance({ lat: 41.7961, lon: 123.3655 }, site));
    expect(await field.getByTestId('distance-basis').textContent()).toContain('按本机定位（±15 米）');
    expect(await field.getByTestId('map-navigate').getAttribute('href')).toMatch(/^geo:41\.\d{6},123\.\d{6}\?q=/);
    expect(await seriousAxeViolations(field)).toEqual([]);
    await field.waitForTimeout(300); // the last label placement, for the picture
    await screenshot(field, 'field-task-map');
    await field.getByRole('button', { name: 'English', exact: true }).click();
    await expect.poll(() => field.getByTestId('site-distance').textContent()).toBe(expectedDistance({ lat: 41.7961, lon: 123.3655 }, site, 'en'));
    await expect.poll(() => map.locator('.leaflet-tooltip.map-label.team').textContent()).toContain(teamNameEn);
    expect(await map.locator('.leaflet-tooltip.map-label.device').textContent()).toBe('This phone');
    await field.waitForTimeout(300);
    await screenshot(field, 'field-task-map-en');
    await field.getByRole('button', { name: '中文', exact: true }).click();

    // The phone moves: the line and the words follow its new fix; the team stays where it last reported.
    const moved = { latitude: 41.8052, longitude: 123.3421, accuracy: 30 };
    await phone.setGeolocation(moved);
    await expect.poll(() => field.getByTestId('site-distance').textContent()).toBe(expectedDistance({ lat: moved.latitude, lon: moved.longitude }, site));
    expect(await field.getByTestId('distance-basis').textContent()).toContain('±30 米');
    await phone.setGeolocation({ latitude: 41.7961, longitude: 123.3655, accuracy: 15 });

    // A phone that may not use the location measures from the team's last known position.
    const blind = await browser.newContext(PHONE);
    try {
      const login = (await srv.api.post('/api/auth/login', fieldUser)).body;
      await blind.addInitScript((s: string) => localStorage.setItem('yingji.session', s), JSON.stringify(login));
      const page = await blind.newPage();
      await page.goto(`${srv.url}/field`);
      await page.getByRole('tab', { name: '任务地图' }).click();
      await expect.poll(() => page.getByTestId('site-distance').textContent(), { timeout: 20_000 }).toBe(expectedDistance({ lat: 41.7961, lon: 123.3655 }, site));
      expect(await page.getByTestId('distance-basis').textContent()).toContain('按本队最后位置');
      expect(await page.locator('.field-map').getAttribute('data-kinds')).not.toContain('device');
    } finally {
      await blind.close();
    }

    // Offline after the first load: the shell, the map's code and its data all come from the phone.
    await field.evaluate(async () => {
      await navigator.serviceWorker.ready;
      for (let i = 0; i < 50 && !navigator.serviceWorker.controller; i++) await new Promise((r) => setTimeout(r, 100));
    });
    await phone.setOffline(true);
    try {
      await field.reload();
      await field.getByTestId('net-status').filter({ hasText: '离线' }).waitFor();
      await field.getByRole('tab', { name: '任务地图' }).click();
      await drawn();
      expect(Number(await map.getAttribute('data-basemap'))).toBeGreaterThan(3);
      await expect.poll(() => field.getByTestId('site-distance').textContent()).toBe(expectedDistance({ lat: 41.7961, lon: 123.3655 }, site));
      expect(await field.getByTestId('near-places').locator('li[data-kind=shelter]').count()).toBe(3);
      await field.waitForTimeout(300);
      await screenshot(field, 'field-task-map-offline');
    } finally {
      await phone.setOffline(false);
    }
    await field.getByRole('tab', { name: '任务单' }).click();
  });

  it('a checklist edit in one browser appears in the other', async () => {
    await field.getByRole('tab', { name: '检查单' }).click();
    await field.getByRole('checkbox', { name: '显示全部' }).check();
    const firstId = await board.locator('[data-panel=checklist] tr.item').first().getAttribute('data-item');
    await board.locator(`tr[data-item="${firstId}"] select[name=status]`).selectOption('doing');
    await field.locator(`li[data-item="${firstId}"] button[data-status=doing][aria-pressed=true]`).waitFor();

    const note = field.locator(`li[data-item="${firstId}"] input.note`);
    await note.fill('泵车已到位');
    await note.press('Enter');
    await expect.poll(() => board.locator(`tr[data-item="${firstId}"] input[name=note]`).inputValue()).toBe('泵车已到位');
    await field.getByTestId('checklist-sync').filter({ hasText: '已同步' }).waitFor();
    await screenshot(field, 'field-checklist');
  });

  it('offline, the field edits a checklist item and queues a status change and a situation report; back online all reach the board exactly once', async () => {
    // The app shell must be controlled by the service worker before the network goes.
    await field.evaluate(async () => {
      await navigator.serviceWorker.ready;
      for (let i = 0; i < 50 && !navigator.serviceWorker.controller; i++) await new Promise((r) => setTimeout(r, 100));
    });
    const itemId = await board.locator('[data-panel=checklist] tr.item').nth(1).getAttribute('data-item');
    await phone.setOffline(true);
    await field.getByTestId('net-status').filter({ hasText: '离线' }).waitFor();

    await field.locator(`li[data-item="${itemId}"] button[data-status=done]`).click();
    await field.getByTestId('checklist-sync').filter({ hasText: '待同步' }).waitFor();
    await field.getByRole('tab', { name: '任务单' }).click();
    const order = field.locator('li.order').first();
    await order.getByTestId('order-next').click(); // 出发
    await order.getByTestId('sync-pending').waitFor();
    await expect.poll(() => order.getByTestId('order-status').textContent()).toBe('出发途中');
    await field.getByRole('tab', { name: '现场情况' }).click();
    await field.locator('textarea[name=report]').fill('下穿桥积水约60厘米，已封闭交通');
    await field.getByRole('button', { name: '上报' }).click();
    await field.locator('.sent-reports').getByTestId('sync-pending').waitFor();
    await field.getByTestId('outbox-status').filter({ hasText: '2 项待发送' }).waitFor();
    await field.getByRole('tab', { name: '任务单' }).click();
    await screenshot(field, 'field-offline-queued');
    // Nothing reached the server while offline.
    expect(await events('dispatch.status_changed')).toHaveLength(1);
    expect(await events('field.report')).toHaveLength(0);
    expect(await board.locator(`tr[data-item="${itemId}"] select[name=status]`).inputValue()).toBe('todo');

    await phone.setOffline(false);
    await order.getByTestId('sync-sent').waitFor({ timeout: 20_000 });
    await board.locator('[data-testid=dispatch-table] tr[data-status=en_route]').waitFor();
    await expect.poll(() => board.locator(`tr[data-item="${itemId}"] select[name=status]`).inputValue(), { timeout: 20_000 }).toBe('done');
    await field.getByTestId('outbox-status').filter({ hasText: '全部已送达' }).waitFor({ timeout: 20_000 });
    await board.locator('[data-testid=timeline] li[data-type="field.report"]').waitFor();
    // Give any duplicate a chance to arrive, then count.
    await board.waitForTimeout(1500);
    expect((await events('dispatch.status_changed')).map((e) => e.data.to)).toEqual(['acknowledged', 'en_route']);
    const done = (await events('checklist.item_status')).filter((e) => e.data.itemId === itemId && e.data.to === 'done');
    expect(done).toHaveLength(1);
    const reports = await events('field.report');
    expect(reports).toHaveLength(1);
    expect(reports[0]!.data).toMatchObject({ text: '下穿桥积水约60厘米，已封闭交通', teamId, location: { lat: 41.7961, lon: 123.3655 } });
    await screenshot(board, 'command-board-after-sync');
  });

  it('a reload of the field app while offline still shows the app and the cached incident', async () => {
    await field.getByRole('tab', { name: '检查单' }).click();
    await field.locator('li[data-item]').first().waitFor();
    const title = (await srv.admin.get(`/api/incidents/${incidentId}`)).body.incident.title as string;
    // What the phone showed before it lost the network (the replayed 出发 has come back from the server).
    await field.getByRole('tab', { name: '任务单' }).click();
    await expect.poll(() => field.locator('li.order').first().getByTestId('order-status').textContent(), { timeout: 20_000 }).toBe('出发途中');
    await phone.setOffline(true);
    await field.reload();
    await field.getByTestId('field-incident').filter({ hasText: title }).waitFor();
    await field.locator('li.order').first().waitFor();
    await expect.poll(() => field.locator('li.order').first().getByTestId('order-status').textContent()).toBe('出发途中');
    await field.getByRole('tab', { name: '检查单' }).click();
    await field.locator('li[data-item]').first().waitFor();
    await screenshot(field, 'field-offline-reload');
    await phone.setOffline(false);
  });

  it('a warning drafted from the plan template is approved on the board and its delivery counters appear', async () => {
    const staff = await srv.user('staff');
    const detail = (await srv.admin.get(`/api/incidents/${incidentId}`)).body;
    const template = detail.plan.warningTemplates[0];
    expect(template).toBeDefined();
    const draft = await staff.post(`/api/incidents/${incidentId}/warnings`, { template: template.id });
    expect(draft.status).toBe(201);
    const card = board.locator(`article[data-warning="${draft.body.warning.id}"]`);
    await card.waitFor();
    await card.getByTestId('approve-warning').click();
    await card.getByTestId('approve-warning-confirm').click();
    await board.locator(`article[data-warning="${draft.body.warning.id}"][data-status=sent]`).waitFor();
    await card.getByTestId('delivery').waitFor();
    await board.locator('[data-panel=warnings]').scrollIntoViewIfNeeded();
    await screenshot(board, 'command-warnings');
    await board.evaluate(() => localStorage.setItem('yingji.lang', 'en'));
    await board.reload();
    await board.locator('[data-panel=checklist] tr.item').first().waitFor();
    await board.getByRole('button', { name: 'Wall screen' }).click();
    await board.waitForTimeout(500);
    await screenshot(board, 'command-wall-en');
    await board.getByRole('button', { name: 'Wall screen' }).click();
    await board.getByRole('button', { name: '中文', exact: true }).click();
    await board.getByRole('heading', { name: '处置检查单' }).waitFor();
  });

  it('"dispatch all proposed" sends the whole proposal after one confirmation and shows each team\'s result', async () => {
    const res = await srv.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'II', mode: 'actual', title: '全部调派测试', location: { lat: 41.8001, lon: 123.3803 } });
    const id = res.body.incident.id as string;
    const proposed = (await srv.admin.get(`/api/incidents/${id}/recommendations`)).body.recommendations.teams.flatMap((r: any) => r.candidates.filter((c: any) => c.proposed)).length;
    expect(proposed).toBeGreaterThan(5);
    await board.goto(`${srv.url}/#/incidents/${id}`);
    await board.getByTestId('dispatch-all').click();
    await board.getByTestId('dispatch-all-confirm').click();
    const outcome = board.getByTestId('batch-outcome');
    await outcome.waitFor();
    await expect.poll(() => outcome.locator('li.ok').count()).toBe(proposed);
    expect(await outcome.locator('li.bad').count()).toBe(0);
    await screenshot(board, 'command-dispatch-all');
    const dispatches = (await srv.admin.get(`/api/incidents/${id}/dispatches`)).body.dispatches;
    expect(dispatches).toHaveLength(proposed);
    // Released again, so the teams stay free for the tests that follow.
    for (const d of dispatches) expect((await srv.admin.post(`/api/dispatches/${d.id}/status`, { status: 'cancelled' })).status).toBe(200);
  });

  it('a new situation report raises an alert with a chime that stays until acknowledged, and stays acknowledged after a reload', async () => {
    await board.goto(`${srv.url}/#/incidents/${incidentId}`);
    await board.locator('[data-panel=checklist] tr.item').first().waitFor();
    // Nothing old alarms when the board opens.
    expect(await board.locator('[data-alert-kind=report]').count()).toBe(0);
    const reporter = await srv.user('field', { teamId: 'T-D09' });
    expect((await reporter.post(`/api/incidents/${incidentId}/reports`, { text: '北一路桥下积水深0.7米，一辆公交车熄火' })).status).toBe(201);
    const alert = board.locator('[data-alert-kind=report]');
    await alert.waitFor();
    expect(await alert.textContent()).toContain('北一路桥下积水深0.7米，一辆公交车熄火');
    await expect.poll(async () => Number(await board.getByTestId('alert-center').getAttribute('data-sounds'))).toBeGreaterThan(0);
    await screenshot(board, 'command-alert');
    await alert.getByTestId('acknowledge-alert').click();
    await expect.poll(() => board.locator('[data-alert-kind=report]').count()).toBe(0);
    await board.reload();
    await board.locator('[data-panel=checklist] tr.item').first().waitFor();
    await board.waitForTimeout(500);
    expect(await board.locator('[data-alert-kind=report]').count()).toBe(0);
  });

  it('board, wall screen and field app have no serious accessibility violations (axe-core)', async () => {
    const found: Record<string, unknown> = {};
    await board.goto(`${srv.url}/#/incidents/${incidentId}`);
    await board.locator('[data-panel=checklist] tr.item').first().waitFor();
    found.board = await seriousAxeViolations(board);
    await board.getByRole('button', { name: '大屏模式' }).click();
    await board.locator('body.wall [data-panel=checklist] tr.item').first().waitFor();
    found.wall = await seriousAxeViolations(board);
    await board.getByRole('button', { name: '大屏模式' }).click();
    await board.goto(`${srv.url}/#/`);
    await board.locator('form.activate-form').waitFor();
    found.incidentList = await seriousAxeViolations(board);
    await field.goto(srv.url + '/field');
    await field.getByRole('tab', { name: '检查单' }).waitFor();
    found.field = await seriousAxeViolations(field);
    await board.goto(`${srv.url}/#/incidents/${incidentId}`);
    await writeFile(path.join(ARTIFACTS_DIR, 'axe-violations.json'), JSON.stringify(found, null, 2));
    expect(found).toEqual({ board: [], wall: [], incidentList: [], field: [] });
  });

  it('an exercise incident shows its banner on the board and in the field app; its level is changed and it is closed from the board', async () => {
    const res = await srv.admin.post('/api/incidents', { planId: 'heavy-snow', level: 'IV', mode: 'exercise', title: '暴雪演练' });
    expect(res.status).toBe(201);
    const exerciseId = res.body.incident.id as string;
    await board.goto(`${srv.url}/#/incidents/${exerciseId}`);
    await board.getByTestId('exercise-banner').waitFor();
    expect(await board.getByTestId('exercise-banner').isVisible()).toBe(true);
    await screenshot(board, 'command-exercise');

    await field.goto(srv.url + '/field');
    await field.locator('select.incident-pick').selectOption(exerciseId);
    await field.getByTestId('exercise-banner').waitFor();
    expect(await field.getByTestId('exercise-banner').textContent()).toContain('演练 EXERCISE');
    await screenshot(field, 'field-exercise');
    // The banner of the actual incident's board is absent.
    await board.goto(`${srv.url}/#/incidents/${incidentId}`);
    await board.locator('[data-panel=checklist]').waitFor();
    expect(await board.getByTestId('exercise-banner').count()).toBe(0);

    // Level change and close from the board header (commander).
    await board.goto(`${srv.url}/#/incidents/${exerciseId}`);
    await board.locator('form.steer select[name=level]').selectOption('III');
    await board.getByRole('textbox', { name: '理由' }).fill('雪量增大');
    await board.getByRole('button', { name: '调整级别' }).click();
    await expect.poll(() => board.getByTestId('incident-level').textContent()).toContain('Ⅲ级');
    await board.getByRole('button', { name: '响应终止' }).click();
    await board.getByRole('button', { name: '确认终止响应' }).click();
    await expect.poll(() => board.getByTestId('incident-status').textContent()).toBe('响应已终止');
    const log = (await srv.admin.get(`/api/incidents/${exerciseId}/events`)).body.events.map((e: { type: string; data: any }) => [e.type, e.data.to ?? null]);
    expect(log).toEqual([['incident.activated', null], ['incident.level_changed', 'III'], ['incident.closed', null]]);
    expect(await board.getByTestId('exercise-banner').isVisible()).toBe(true);
    expect(afterAllErrors()).toEqual([]);
  });
});

/** 「距现场 1.2 公里 · 东北」 computed here on its own (haversine, initial bearing), not with the app's helpers. */
function expectedDistance(from: { lat: number; lon: number }, to: { lat: number; lon: number }, lang: 'zh' | 'en' = 'zh'): string {
  const r = (d: number) => (d * Math.PI) / 180;
  const h = Math.sin(r(to.lat - from.lat) / 2) ** 2 + Math.cos(r(from.lat)) * Math.cos(r(to.lat)) * Math.sin(r(to.lon - from.lon) / 2) ** 2;
  const km = 2 * 6371.0088 * Math.asin(Math.sqrt(h));
  const y = Math.sin(r(to.lon - from.lon)) * Math.cos(r(to.lat));
  const x = Math.cos(r(from.lat)) * Math.sin(r(to.lat)) - Math.sin(r(from.lat)) * Math.cos(r(to.lat)) * Math.cos(r(to.lon - from.lon));
  const deg = ((Math.atan2(y, x) * 180) / Math.PI + 360) % 360;
  const sector = Math.floor(((deg + 22.5) % 360) / 45);
  const m = Math.round(km * 100) * 10;
  if (lang === 'en') {
    const words = m < 1000 ? `${m} m` : `${km.toFixed(1)} km`;
    return km < 0.05 ? `${words} to the site · on site` : `${words} to the site · ${['N', 'NE', 'E', 'SE', 'S', 'SW', 'W', 'NW'][sector]}`;
  }
  const words = m < 1000 ? `${m} 米` : `${km.toFixed(1)} 公里`;
  return km < 0.05 ? `距现场 ${words} · 已在现场` : `距现场 ${words} · ${['北', '东北', '东', '东南', '南', '西南', '西', '西北'][sector]}`;
}
