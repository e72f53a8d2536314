import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';
import { FakeTwilio } from './fakes/twilio-api.js';
import { waitFor } from './helpers/wait.js';

/**
 * SMS receipts come after the outbox has settled: the first final summary says "sent", and the
 * after-action review reads coverage from the last summary in the log. Receipts that arrive after
 * it must reach the log as a new summary; a receipt that changes nothing must not add one.
 */
const twilio = new FakeTwilio();
let t: TestServer;
const phones = ['+8613600000001', '+8613600000002', '+8613600000003', '+8613600000004'];

beforeAll(async () => {
  await twilio.start();
  twilio.callbacks = false;
  t = await startTestServer({
    TWILIO_ACCOUNT_SID: twilio.accountSid,
    TWILIO_AUTH_TOKEN: twilio.authToken,
    TWILIO_FROM: '+15005550006',
    TWILIO_API_BASE_URL: twilio.url,
    WARNING_RATE_SMS: '1000',
    WARNING_POLL_MS: '50',
    WARNING_PROGRESS_INTERVAL_MS: '100',
    ACK_POLL_MS: '60000',
    STOCK_WATCH_CRON: 'off',
  });
});
afterAll(async () => {
  await t?.close();
  await twilio.stop();
});

describe('delivery progress after the outbox has settled', () => {
  it('late receipts are summarised in the log, the review agrees with the outbox, and an unchanged receipt adds nothing', async () => {
    const csv = ['name,phone,kind,role', ...phones.map((p, i) => `值班员${i},${p},responder,duty`)].join('\n');
    expect((await t.admin.post('/api/recipients/import', { list: 'receipts', csv })).status).toBe(200);
    const incident = (await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' })).body.incident;
    const staff = await t.user('staff');
    const draft = await staff.post(`/api/incidents/${incident.id}/warnings`, {
      template: 'wl-iii-yellow',
      audience: { description: { zh: '值班员', en: 'Duty officers' }, roles: ['duty'] },
      channels: ['sms'],
    });
    expect(draft.status, JSON.stringify(draft.body)).toBe(201);
    const warningId = draft.body.warning.id as string;
    expect((await t.admin.post(`/api/warnings/${warningId}/approve`)).status).toBe(200);

    const summaries = async () =>
      (await t.admin.get(`/api/incidents/${incident.id}/events?type=warning.delivery_progress`)).body.events.filter((e: any) => e.data.warningId === warningId);
    const smsOf = (e: any) => e.data.channels.find((c: any) => c.channel === 'sms');
    // Every SMS accepted by Twilio, no receipt yet: the first final summary says 0 % delivered.
    const first = await waitFor(async () => (await summaries()).find((e: any) => e.data.final) ?? null, 'the first final summary');
    expect(smsOf(first)).toMatchObject({ total: 4, sent: 4, delivered: 0 });
    expect(twilio.messages).toHaveLength(4);

    // Three receipts arrive later.
    for (const m of twilio.messages.slice(0, 3)) expect(await twilio.callback(m.statusCallback!, m.sid, m.to, 'delivered')).toBe(204);
    const later = await waitFor(async () => {
      const last = (await summaries()).at(-1);
      return last && smsOf(last).delivered === 3 ? last : null;
    }, 'a summary of the late receipts');
    expect(later.data).toMatchObject({ final: true, coveragePercent: 75 });

    // A repeated receipt changes no row: no new summary, however long we wait for one.
    const count = (await summaries()).length;
    expect(await twilio.callback(twilio.messages[0]!.statusCallback!, twilio.messages[0]!.sid, twilio.messages[0]!.to, 'delivered')).toBe(204);
    // The fourth receipt is the witness: once its summary is in, the repeat's would have been too.
    const fourth = twilio.messages[3]!;
    expect(await twilio.callback(fourth.statusCallback!, fourth.sid, fourth.to, 'delivered')).toBe(204);
    const all = await waitFor(async () => {
      const s = await summaries();
      return smsOf(s.at(-1)).delivered === 4 ? s : null;
    }, 'the summary of the fourth receipt');
    expect(all).toHaveLength(count + 1);

    // The review's coverage and its curve come from different sources (the log, the outbox rows): they agree.
    const review = (await t.admin.get(`/api/incidents/${incident.id}/review`)).body.review;
    const w = review.warnings.find((x: any) => x.id === warningId);
    expect(w.coveragePercent).toBe(100);
    expect(w.curve.at(-1).percent).toBe(100);
  });
});
