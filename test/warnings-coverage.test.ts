import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';
import { waitFor } from './helpers/wait.js';

let t: TestServer;
beforeAll(async () => {
  // No recipients imported and no push subscriptions: only broadcast (the built-in sink) has a target.
  t = await startTestServer({ WARNING_POLL_MS: '50', WARNING_PROGRESS_INTERVAL_MS: '100', STOCK_WATCH_CRON: 'off' });
});
afterAll(async () => {
  await t?.close();
});

describe('warning coverage', () => {
  it('counts only channels that had recipients and says which chosen channels had none', async () => {
    const incident = await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' });
    const staff = await t.user('staff');
    const draft = await staff.post(`/api/incidents/${incident.body.incident.id}/warnings`, { template: 'wl-iii-yellow' });
    expect(draft.status, JSON.stringify(draft.body)).toBe(201);
    expect(draft.body.warning.channels).toEqual(['sms', 'push', 'broadcast']);
    const id = draft.body.warning.id;
    expect((await t.admin.post(`/api/warnings/${id}/approve`)).status).toBe(200);
    const done = await waitFor(async () => {
      const w = (await t.admin.get(`/api/warnings/${id}`)).body.warning;
      return w.delivery.channels.every((c: any) => c.queued + c.sending === 0) ? w : null;
    }, 'the broadcast to settle');
    expect(done.delivery.channels.map((c: any) => c.channel)).toEqual(['broadcast']);
    expect(done.delivery.noRecipients).toEqual(['sms', 'push']);
    // The progress events in the timeline carry the same.
    const progress = await waitFor(async () => {
      const events = (await t.admin.get(`/api/incidents/${incident.body.incident.id}/events?type=warning.delivery_progress`)).body.events;
      return events.find((e: any) => e.data.final) ?? null;
    }, 'a final progress event');
    expect(progress.data.noRecipients).toEqual(['sms', 'push']);
  });
});
