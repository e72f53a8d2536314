import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, ADMIN_PASSWORD, type TestServer } from './helpers/server.js';
import { collectErrors, DESKTOP, launchBrowser, loginThroughForm, screenshot, type Browser, type Page } from './helpers/browser.js';
import { FakeTwilio } from './fakes/twilio-api.js';
import { waitFor } from './helpers/wait.js';

/** The board in Chromium: 叫应率 and who has not answered, updated live as replies arrive. */
describe('board: 叫应 live', () => {
  let srv: TestServer;
  let browser: Browser;
  let board: Page;
  let errors: () => string[];
  const twilioFake = new FakeTwilio();

  beforeAll(async () => {
    await twilioFake.start();
    srv = await startTestServer({
      TWILIO_ACCOUNT_SID: twilioFake.accountSid,
      TWILIO_AUTH_TOKEN: twilioFake.authToken,
      TWILIO_FROM: '+15005550006',
      TWILIO_API_BASE_URL: twilioFake.url,
      WARNING_POLL_MS: '50',
    });
    browser = await launchBrowser();
    board = await (await browser.newContext(DESKTOP)).newPage();
    const e = collectErrors(board);
    errors = () => e;
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await srv?.close();
    await twilioFake.stop();
  }, 120_000);

  it('the warnings panel shows 叫应率 and the names still to answer, and follows SMS replies without a reload', async () => {
    const rows = Array.from({ length: 10 }, (_, i) => `社区书记${i},+86133${String(i).padStart(8, '0')},responder,chief,true,街道主任,+8613300009999`);
    expect((await srv.admin.post('/api/recipients/import', { list: 'chiefs', csv: ['name,phone,kind,role,responsible,escalation_name,escalation_phone', ...rows].join('\n') })).status).toBe(200);
    const inc = (await srv.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' })).body.incident;
    const staff = await srv.user('staff');
    const draft = await staff.post(`/api/incidents/${inc.id}/warnings`, {
      template: 'wl-iii-yellow',
      audience: { description: { zh: '社区书记', en: 'Community heads' }, roles: ['chief'] },
      channels: ['sms'],
      acknowledgement: { withinMinutes: 30 },
    });
    expect(draft.status).toBe(201);
    expect((await srv.admin.post(`/api/warnings/${draft.body.warning.id}/approve`)).status).toBe(200);
    await waitFor(() => twilioFake.messages.filter((m) => m.to.startsWith('+86133')).length === 10, '10 SMS');

    await loginThroughForm(board, srv.url + '/', 'admin', ADMIN_PASSWORD);
    await board.goto(`${srv.url}/#/incidents/${inc.id}`);
    const card = board.locator(`article[data-warning="${draft.body.warning.id}"]`);
    await card.getByTestId('ack-rate').waitFor();
    expect(await card.getByTestId('ack-rate').textContent()).toBe('0%');

    for (let i = 0; i < 8; i++) expect((await twilioFake.inbound(`${srv.url}/webhooks/twilio/inbound`, `+86133${String(i).padStart(8, '0')}`, '1')).status).toBe(200);
    await board.waitForFunction((id) => document.querySelector(`article[data-warning="${id}"] [data-testid=ack-rate]`)?.textContent === '80%', draft.body.warning.id, { timeout: 30_000 });
    const pending = await card.getByTestId('ack-pending').textContent();
    expect(pending).toContain('社区书记8');
    expect(pending).toContain('社区书记9');
    expect(pending).not.toContain('社区书记7');
    await card.scrollIntoViewIfNeeded();
    await screenshot(board, 'command-acks');
    expect(errors()).toEqual([]);
  }, 120_000);
});
