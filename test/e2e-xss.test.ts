import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';
import { collectErrors, DESKTOP, launchBrowser, loginThroughForm, PHONE, screenshot, type Browser, type BrowserContext, type Page } from './helpers/browser.js';
import { connectClient, synced, type YClient } from './rooms-helpers.js';

/**
 * H2 / M7 in Chromium: markup and script planted in every text a user can write must show as
 * text on the board, the wall screen and the field app, and never run. Each payload would both
 * fetch /x/<tag> (seen even where the CSP blocks inline handlers, so an HTML injection is caught
 * on its own) and call xss('<tag>') (a script that actually ran).
 */
const payload = (tag: string) => `<img src=/x/${tag} onerror=xss('${tag}')><script>xss('${tag}')</script>`;
const TAGS = ['title', 'tzh', 'ten', 'asg', 'note', 'rep', 'head', 'text', 'dn', 'fdn', 'shzh', 'shen'] as const;
const P = Object.fromEntries(TAGS.map((t) => [t, payload(t)])) as Record<(typeof TAGS)[number], string>;
const TEAM_ID = 'T-XSS1';
const TEAM_HEADER = 'id,name_zh,name_en,tier,kind,specialties,headcount,base_lat,base_lon,base_address,contact_name,contact_phone';
const csvCell = (v: string) => `"${v.replace(/"/g, '""')}"`;

describe('no script injection (board, wall screen, field app)', () => {
  let srv: TestServer;
  let browser: Browser;
  let hq: BrowserContext;
  let phone: BrowserContext;
  let incidentId: string;
  let itemId: string;
  let y: YClient | undefined;
  const probes: string[] = [];
  const errors: string[] = [];
  const commander = { username: 'xss.cmd', password: 'password-123' };
  const fieldUser = { username: 'xss.field', password: 'password-123' };

  /** A page that records every probe request and every page error, with `xss()` as the tripwire. */
  async function watchedPage(ctx: BrowserContext): Promise<Page> {
    const page = await ctx.newPage();
    page.on('request', (r) => {
      if (new URL(r.url()).pathname.startsWith('/x/')) probes.push(r.url());
    });
    const pageErrors = collectErrors(page);
    page.on('close', () => errors.push(...pageErrors));
    return page;
  }

  const ran = (page: Page) => page.evaluate(() => (window as unknown as { __ran: string[] }).__ran);

  let orgDir: string;

  beforeAll(async () => {
    // A shelter named with markup, from the organisation file (shelters have no import route), beside the incident.
    orgDir = await mkdtemp(path.join(os.tmpdir(), 'yingji-xss-org-'));
    const organisation = parse(await readFile(path.join(import.meta.dirname, '../seed/demo-organisation.yaml'), 'utf8'));
    organisation.shelters.push({ id: 'SH-XSS', name: { zh: P.shzh, en: P.shen }, kind: 'park', capacity: 100, location: { lat: 41.8215, lon: 123.379, address: '铁西区测试路' } });
    await writeFile(path.join(orgDir, 'organisation.yaml'), stringify(organisation));
    srv = await startTestServer({ ORGANISATION_FILE: path.join(orgDir, 'organisation.yaml') });
    // The organisation: a team named with markup, imported by CSV, in the district.
    const csv = `${TEAM_HEADER}\n${TEAM_ID},${csvCell(P.tzh)},${csvCell(P.ten)},district,fire-rescue,firefighting,12,41.80,123.35,铁西区兴华街,王队长,+8613800000077`;
    const imported = await srv.admin.post('/api/csv/teams', { csv });
    expect(imported.status, JSON.stringify(imported.body)).toBe(200);
    for (const [u, role, displayName, teamId] of [
      [commander, 'commander', P.dn, undefined],
      [fieldUser, 'field', P.fdn, TEAM_ID],
    ] as const) {
      const res = await srv.admin.post('/api/users', { ...u, role, displayName, ...(teamId ? { teamId } : {}) });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }
    const incident = await srv.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual', title: P.title, location: { lat: 41.825, lon: 123.385 } }); // clear of other markers, so its own is on top
    expect(incident.status, JSON.stringify(incident.body)).toBe(201);
    incidentId = incident.body.incident.id;
    const dispatch = await srv.admin.post(`/api/incidents/${incidentId}/dispatches`, { teamId: TEAM_ID, task: '排涝' });
    expect(dispatch.status, JSON.stringify(dispatch.body)).toBe(201);

    // Checklist assignee and note through the stock y-websocket client.
    y = connectClient(srv.url, incidentId, srv.admin.token);
    await synced(y);
    const item = y.items().get(0);
    itemId = item.get('id');
    item.set('assignee', P.asg);
    item.get('note').insert(0, P.note);

    // A warning whose headline and text carry markup, sent (so the field app lists it too).
    const draft = await srv.admin.post(`/api/incidents/${incidentId}/warnings`, { template: 'wl-iii-yellow', channels: ['broadcast'], headline: { zh: P.head, en: P.head }, text: { zh: P.text, en: P.text } });
    expect(draft.status, JSON.stringify(draft.body)).toBe(201);
    const approver = await srv.user('commander');
    expect((await approver.post(`/api/warnings/${draft.body.warning.id}/approve`)).status).toBe(200);

    browser = await launchBrowser();
    hq = await browser.newContext(DESKTOP);
    phone = await browser.newContext({ ...PHONE, geolocation: { latitude: 41.7961, longitude: 123.3655, accuracy: 15 }, permissions: ['geolocation'] });
    for (const ctx of [hq, phone]) {
      await ctx.addInitScript(() => {
        const w = window as unknown as { __ran: string[]; __maps: unknown[]; xss: (tag: string) => void; L?: any };
        w.__ran = [];
        w.__maps = [];
        w.xss = (tag) => w.__ran.push(tag);
        // Leaflet publishes itself as window.L: keep a handle on every map it creates (to find markers).
        let leaflet: any;
        Object.defineProperty(w, 'L', {
          configurable: true,
          get: () => leaflet,
          set(v) {
            leaflet = v;
            if (v?.Map?.addInitHook && !v.__yingjiHooked) {
              v.__yingjiHooked = true;
              v.Map.addInitHook(function (this: unknown) {
                w.__maps.push(this);
              });
            }
          },
        });
      });
    }
  });

  afterAll(async () => {
    y?.destroy();
    await browser?.close();
    await srv?.close();
    if (orgDir) await rm(orgDir, { recursive: true, force: true });
  });

  /**
   * Hovers every map marker (they are drawn on a canvas, so by position: the init script keeps a
   * handle on each Leaflet map) and returns the tooltip text each one showed.
   */
  async function hoverEveryMarker(page: Page): Promise<{ expected: string; shown: string }[]> {
    const markers = () => page.evaluate(() => {
      const maps = (window as unknown as { __maps: any[] }).__maps.filter((m) => m._container.closest('.board-map'));
      const m = maps[maps.length - 1];
      const out: { x: number; y: number; text: string }[] = [];
      m.eachLayer((l: any) => {
        if (!l.getLatLng || !l.getTooltip?.()) return;
        const p = m.latLngToContainerPoint(l.getLatLng());
        const content = l.getTooltip().getContent();
        out.push({ x: p.x, y: p.y, text: typeof content === 'string' ? content : content.textContent });
      });
      return out;
    });
    // The markers arrive with the board's data and the map fits the district once its basemap is in.
    await expect.poll(async () => (await markers()).some((m) => m.text.includes(P.title)) && page.evaluate(() => document.querySelectorAll('.board-map path, .board-map canvas').length > 0)).toBe(true);
    await page.waitForTimeout(300); // fitBounds runs without animation, but after the basemap's layout
    const points = await markers();
    const box = (await page.locator('.board-map').boundingBox())!;
    const seen: { expected: string; shown: string }[] = [];
    for (const p of points) {
      if (p.x < 4 || p.y < 4 || p.x > box.width - 4 || p.y > box.height - 4) continue; // outside the visible map
      await page.mouse.move(box.x + p.x, box.y + p.y);
      // Leaflet's canvas throttles mouse moves (32 ms): a second move after that is always seen.
      await page.waitForTimeout(40);
      await page.mouse.move(box.x + p.x + 0.5, box.y + p.y);
      // The district outline has a tooltip of its own everywhere: wait for this marker's (markers drawn later may cover it).
      const shown = await page
        .waitForFunction((want) => [...document.querySelectorAll('.board-map .leaflet-tooltip')].some((el) => el.textContent === want) && want, p.text, { timeout: 1500 })
        .then(() => p.text)
        .catch(() => page.evaluate(() => [...document.querySelectorAll('.board-map .leaflet-tooltip')].map((el) => el.textContent).join(' | ')));
      seen.push({ expected: p.text, shown });
    }
    return seen;
  }

  async function checkBoard(page: Page, name: string) {
    const t0 = Date.now();
    const lap = (what: string) => process.env.XSS_DEBUG && console.log(name, what, Date.now() - t0);
    await page.locator('[data-panel=checklist] tr.item').first().waitFor();
    lap('checklist');
    await page.locator(`tr[data-item="${itemId}"]`).waitFor();
    // The board edits in place (inputs); the wall screen shows the values as text.
    const row = page.locator(`tr[data-item="${itemId}"]`);
    await expect.poll(async () => ((await row.locator('input[name=note]').count()) ? row.locator('input[name=note]').inputValue() : row.locator('td.note').innerText()), { timeout: 20_000 }).toBe(P.note);
    await page.locator('[data-testid=dispatch-table]').waitFor();
    await page.locator('.board-map canvas').first().waitFor();
    lap('map');
    const hovered = await hoverEveryMarker(page);
    lap('hovered');
    // Every marker was hovered; the incident's and the team's tooltips show the planted markup as text.
    expect(hovered.length).toBeGreaterThan(10);
    const own = hovered.filter((h) => h.shown === h.expected).map((h) => h.shown);
    expect(own.length, JSON.stringify(hovered)).toBeGreaterThan(hovered.length / 2);
    expect(own.filter((t) => t === P.title)).toHaveLength(1);
    // The team's label is its name (with the age of its fix or 驻地), not its id.
    expect(own.filter((t) => t.includes(P.tzh) || t.includes(P.ten))).toHaveLength(1);
    const text = await page.locator('body').innerText();
    for (const p of [P.title, P.head, P.text, P.dn]) expect(text, name).toContain(p);
    expect(text.includes(P.tzh) || text.includes(P.ten), `${name}: team name`).toBe(true);
    const assignee = await page.locator(`tr[data-item="${itemId}"]`).innerText() + (await page.locator(`tr[data-item="${itemId}"] input, tr[data-item="${itemId}"] select`).evaluateAll((els) => els.map((e) => (e as HTMLInputElement).value).join(' ')));
    expect(assignee).toContain(P.asg);
    expect(await page.locator('img[src^="/x/"], script:not([src])').count()).toBe(0);
    await screenshot(page, name);
    expect(await ran(page)).toEqual([]);
  }

  it('the board shows every planted text literally, in panels and map tooltips, and runs none of it', async () => {
    const board = await watchedPage(hq);
    await loginThroughForm(board, srv.url + '/', commander.username, commander.password);
    await board.locator('select[name=plan]').waitFor();
    await board.goto(`${srv.url}/#/incidents/${incidentId}`);
    await checkBoard(board, 'xss-board');
    expect(probes).toEqual([]);
  }, 180_000);

  it('the wall screen too', async () => {
    const wall = await watchedPage(hq);
    await wall.goto(`${srv.url}/?wall#/incidents/${incidentId}`);
    await expect.poll(() => wall.evaluate(() => document.body.classList.contains('wall'))).toBe(true);
    await checkBoard(wall, 'xss-wall');
    expect(probes).toEqual([]);
  }, 180_000);

  it('the field app shows the order, checklist, warning and its own report literally and runs none of it', async () => {
    const field = await watchedPage(phone);
    await loginThroughForm(field, srv.url + '/field', fieldUser.username, fieldUser.password);
    const order = field.locator('li.order').first();
    await order.waitFor();
    await field.getByRole('tab', { name: '现场情况' }).click();
    await field.locator('textarea[name=report]').fill(P.rep);
    await field.getByRole('button', { name: '上报' }).click();
    await field.locator('.sent-reports').getByTestId('sync-sent').waitFor();
    const reports = (await srv.admin.get(`/api/incidents/${incidentId}/reports`)).body.reports as { text: string }[];
    expect(reports.map((r) => r.text)).toContain(P.rep);
    let text = await field.locator('body').innerText();
    expect(text).toContain(P.rep);
    expect(text).toContain(P.fdn);
    expect(text).toContain(P.title);
    await field.getByRole('tab', { name: '检查单' }).click();
    await field.getByRole('checkbox', { name: '显示全部' }).check();
    await field.locator(`li[data-item="${itemId}"]`).waitFor();
    const item = await field.locator(`li[data-item="${itemId}"]`).innerText() + (await field.locator(`li[data-item="${itemId}"] input`).evaluateAll((els) => els.map((e) => (e as HTMLInputElement).value).join(' ')));
    expect(item).toContain(P.note);
    expect(item).toContain(P.asg);
    const warningsTab = field.getByRole('tab', { name: /预警/ });
    if (await warningsTab.count()) await warningsTab.first().click();
    await expect.poll(async () => (await field.locator('body').innerText()).includes(P.head)).toBe(true);
    text = await field.locator('body').innerText();
    expect(text).toContain(P.head);
    expect(await field.locator('img[src^="/x/"], script:not([src])').count()).toBe(0);
    await screenshot(field, 'xss-field');
    expect(await ran(field)).toEqual([]);
    expect(probes).toEqual([]);
    expect(errors.filter((e) => /xss/.test(e))).toEqual([]);
  });

  it("the field's report reaches the board and the wall screen as text, and runs there neither", async () => {
    for (const [url, name] of [[`${srv.url}/#/incidents/${incidentId}`, 'xss-board-report'], [`${srv.url}/?wall#/incidents/${incidentId}`, 'xss-wall-report']] as const) {
      const page = await watchedPage(hq);
      await page.goto(url);
      const timeline = page.locator('[data-testid=timeline]');
      await expect.poll(async () => ((await timeline.count()) ? timeline.first().innerText() : ''), { timeout: 20_000 }).toContain(P.rep);
      expect(await page.locator('img[src^="/x/"], script:not([src])').count()).toBe(0);
      await screenshot(page, name);
      expect(await ran(page)).toEqual([]);
      await page.close();
    }
    expect(probes).toEqual([]);
  });

  it("the field app's task map shows the planted incident title, team name and shelter name literally and runs none of it", async () => {
    const field = await watchedPage(phone);
    await field.goto(srv.url + '/field');
    await field.getByRole('tab', { name: '任务地图' }).click();
    const map = field.locator('.field-map');
    await map.and(field.locator('[data-basemap]')).waitFor({ timeout: 20_000 });
    await expect.poll(() => map.locator('.leaflet-tooltip.map-label.incident').textContent()).toBe(P.title);
    await expect.poll(() => map.locator('.leaflet-tooltip.map-label.team').textContent()).toContain(P.tzh);
    await expect.poll(() => field.getByTestId('near-places').locator('li[data-kind=shelter]').first().innerText()).toContain(P.shzh);
    expect(await field.getByTestId('site-distance').textContent()).toMatch(/^距现场 [\d.]+ (公里|米) · /);
    // Every tooltip on the map is a DOM node (Leaflet would put a string into innerHTML); the shelter's is tapped open.
    const layers = await field.evaluate(() => {
      const maps = (window as unknown as { __maps: any[] }).__maps.filter((m) => m._container.closest('.field-map'));
      const m = maps[maps.length - 1];
      const out: { x: number; y: number; text: string; isString: boolean }[] = [];
      m.eachLayer((l: any) => {
        const content = l.getTooltip?.()?.getContent();
        if (content === undefined) return;
        const p = l.getLatLng ? m.latLngToContainerPoint(l.getLatLng()) : { x: -1, y: -1 };
        out.push({ x: p.x, y: p.y, isString: typeof content === 'string', text: typeof content === 'string' ? content : content.textContent });
      });
      return out;
    });
    expect(layers.length).toBeGreaterThan(10);
    expect(layers.filter((l) => l.isString)).toEqual([]);
    const shelter = layers.find((l) => l.text === P.shzh);
    expect(shelter).toBeDefined();
    // Tapped where the marker is now: the map may still re-frame (a position arriving) between
    // reading the point and the tap, so the point is read again before each try.
    const shelterPoint = () =>
      field.evaluate((want) => {
        const maps = (window as unknown as { __maps: any[] }).__maps.filter((m) => m._container.closest('.field-map'));
        const m = maps[maps.length - 1];
        let point: { x: number; y: number } | undefined;
        m.eachLayer((l: any) => {
          const content = l.getTooltip?.()?.getContent();
          if (content && typeof content !== 'string' && content.textContent === want && l.getLatLng) point = m.latLngToContainerPoint(l.getLatLng());
        });
        return point;
      }, P.shzh);
    const labelShown = () => field.evaluate((want) => [...document.querySelectorAll('.field-map .leaflet-tooltip')].some((el) => el.textContent === want), P.shzh);
    await expect
      .poll(
        async () => {
          if (await labelShown()) return true; // a second tap would close it again
          const point = await shelterPoint();
          const box = (await map.boundingBox())!;
          if (point) await field.touchscreen.tap(box.x + point.x, box.y + point.y);
          await field.waitForTimeout(300);
          return labelShown();
        },
        { timeout: 20_000 },
      )
      .toBe(true);
    expect(await field.locator('img[src^="/x/"], script:not([src])').count()).toBe(0);
    await screenshot(field, 'xss-field-map');
    expect(await ran(field)).toEqual([]);
    expect(probes).toEqual([]);
  });

  it('the pages are served with the CSP that would have blocked the inline handler anyway', async () => {
    const res = await fetch(`${srv.url}/`);
    expect(res.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    const page = await watchedPage(hq);
    await page.goto(`${srv.url}/`);
    // A handler put into the DOM by hand (as an innerHTML bug would) is refused by the CSP.
    const blocked = await page.evaluate(async () => {
      const d = document.createElement('div');
      d.innerHTML = `<img src="/x/csp-check" onerror="xss('csp')">`;
      document.body.append(d);
      await new Promise((r) => setTimeout(r, 500));
      return (window as unknown as { __ran: string[] }).__ran;
    });
    expect(blocked).toEqual([]);
    expect(probes).toEqual([`${srv.url}/x/csp-check`]);
  });
});
