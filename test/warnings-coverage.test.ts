import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';
import { waitFor } from './helpers/wait.js';
import { validateCap } from './fakes/cap-schema.js';

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

  it('CAP carries expires (the draft validity or the default), web (the public copy) and contact', async () => {
    const incident = await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' });
    const staff = await t.user('staff');
    const draft = await staff.post(`/api/incidents/${incident.body.incident.id}/warnings`, { template: 'wl-iii-yellow', validHours: 6 });
    expect(draft.status, JSON.stringify(draft.body)).toBe(201);
    const id = draft.body.warning.id;
    expect((await t.admin.post(`/api/warnings/${id}/approve`)).status).toBe(200);
    const cap = (await t.admin.get(`/api/warnings/${id}/cap.xml`)).body as string;
    const check = await validateCap(cap);
    expect(check.errors).toEqual([]);
    const sent = /<sent>([^<]+)<\/sent>/.exec(cap)![1]!;
    const expires = [...cap.matchAll(/<expires>([^<]+)<\/expires>/g)].map((m) => m[1]!);
    expect(expires).toHaveLength(2); // one per <info> (zh-CN, en-US)
    expect(new Date(expires[0]!).getTime() - new Date(sent).getTime()).toBe(6 * 3600_000);
    expect(expires[0]).toMatch(/\+08:00$/);
    expect(cap).toContain('<contact>铁西区应急指挥中心值班室 024-25870110');
    const web = /<web>([^<]+)<\/web>/.exec(cap)![1]!;
    expect(web).toBe(`${t.url}/cap/alerts/${id}.xml`);
    const publicCopy = await fetch(web);
    expect(publicCopy.status).toBe(200);
    expect(await publicCopy.text()).toBe(cap);
  });

  it('an exercise alert has no public web link, and the default validity applies', async () => {
    const incident = await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'exercise' });
    const draft = await t.admin.post(`/api/incidents/${incident.body.incident.id}/warnings`, { template: 'wl-iii-yellow' });
    const id = draft.body.warning.id;
    expect((await t.admin.post(`/api/warnings/${id}/approve`)).status).toBe(200);
    const cap = (await t.admin.get(`/api/warnings/${id}/cap.xml`)).body as string;
    expect((await validateCap(cap)).errors).toEqual([]);
    expect(cap).not.toContain('<web>');
    const sent = /<sent>([^<]+)<\/sent>/.exec(cap)![1]!;
    const expires = /<expires>([^<]+)<\/expires>/.exec(cap)![1]!;
    expect(new Date(expires).getTime() - new Date(sent).getTime()).toBe(24 * 3600_000);
  });

  it('the approver sees exactly what goes out: the draft shows each channel\'s text, 【演练】 in exercises, and the sink receives that text', async () => {
    const csv = ['name,phone,kind,role,team,lat,lon,drill', '张三,+8613800000101,responder,staff,,,,', '演练员,+8613800000102,responder,staff,,,,true'].join('\n');
    expect((await t.admin.post('/api/recipients/import', { list: 'outgoing-test', csv })).status).toBe(200);
    const staff = await t.user('staff');
    const audience = { description: { zh: '指挥部工作人员', en: 'Command staff' }, roles: ['staff'] };
    for (const mode of ['actual', 'exercise'] as const) {
      const incident = (await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode })).body.incident;
      const draft = (await staff.post(`/api/incidents/${incident.id}/warnings`, { template: 'wl-iii-yellow', audience })).body.warning;
      const { outgoing } = draft;
      expect(outgoing.sms.body.startsWith('【演练】')).toBe(mode === 'exercise');
      expect(outgoing.push.title.startsWith('【演练】')).toBe(mode === 'exercise');
      expect(outgoing.broadcast.headline.en.startsWith('EXERCISE: ')).toBe(mode === 'exercise');
      expect(outgoing.sms.segments).toBeGreaterThan(0);
      expect((await t.admin.post(`/api/warnings/${draft.id}/approve`)).status).toBe(200);
      const sunk = await waitFor(async () => {
        const sms = (await t.admin.get(`/api/warnings/${draft.id}/sink`)).body.messages.filter((r: any) => r.channel === 'sms');
        return sms.length > 0 ? sms : null;
      }, 'the SMS in the sink');
      // A drill recipient is a real recipient too; an exercise reaches only the drill one.
      expect(sunk.map((m: any) => m.address).sort()).toEqual(mode === 'exercise' ? ['+8613800000102'] : ['+8613800000101', '+8613800000102']);
      for (const m of sunk) expect(m.body).toBe(outgoing.sms.body);
    }
  });
});
