import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';
import { connectClient, synced, waitFor } from './rooms-helpers.js';
import { eventSentence } from '../client/src/common/events.js';
import { CHECKLIST_EVENT_TYPES, EVENT_TYPES, FIELD_EVENT_TYPES, RESOURCE_EVENT_TYPES, WARNING_EVENT_TYPES, type IncidentEvent } from '../shared/events.js';

/** What a duty officer must never have to read in the timeline: codes, ids and JSON. */
const RAW = /[{}[\]]|\b(en_route|on_scene|pump-mobile|rescue-boat|T-[DSX]\d+|undefined|null|NaN)\b/;
/** In the Chinese sentence, not even the English status codes. */
const RAW_IN_ZH = /\b(todo|doing|done|skipped|dispatched|acknowledged|released|returned|reserved|issued|delivered)\b/;

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ STOCK_WATCH_CRON: 'off', WARNING_POLL_MS: '50', WARNING_PROGRESS_INTERVAL_MS: '100' });
});
afterAll(async () => {
  await t?.close();
});

describe('timeline sentences', () => {
  it('every event type the server writes has its own sentence in both languages', () => {
    const types = [EVENT_TYPES, WARNING_EVENT_TYPES, RESOURCE_EVENT_TYPES, FIELD_EVENT_TYPES, CHECKLIST_EVENT_TYPES].flatMap((m) => Object.values(m));
    for (const type of types) {
      const s = eventSentence({ type, data: {} });
      expect(s.zh, type).not.toMatch(/^其他记录/);
      expect(s.en, type).not.toMatch(/^Other entry/);
    }
    expect(eventSentence({ type: 'something.new', data: { a: 1 } })).toEqual({ zh: '其他记录（something.new）', en: 'Other entry (something.new)' });
  });

  it('a scripted response reads as sentences: no codes, ids or JSON, team and material names, Chinese first', async () => {
    const incident = (await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual', location: { lat: 41.8001, lon: 123.3803 } })).body.incident;
    const id = incident.id as string;
    expect((await t.admin.post(`/api/incidents/${id}/level`, { level: 'II', reason: '积水深度超过50厘米' })).status).toBe(200);

    const dispatch = (await t.admin.post(`/api/incidents/${id}/dispatches`, { teamId: 'T-D07' })).body.dispatch;
    const field = await t.user('field', { teamId: 'T-D07' });
    for (const status of ['acknowledged', 'en_route', 'on_scene']) expect((await field.post(`/api/dispatches/${dispatch.id}/status`, { status })).status).toBe(200);
    expect((await field.post(`/api/incidents/${id}/reports`, { text: '桥下积水0.6米，已设置警戒' })).status).toBe(201);

    const line = (await t.admin.get('/api/stock?item=rescue-boat')).body.stock.find((s: any) => s.quantity >= 2);
    const allocation = (await t.admin.post(`/api/incidents/${id}/allocations`, { stockLineId: line.id, quantity: 2 })).body.allocation;
    expect((await t.admin.post(`/api/allocations/${allocation.id}/issue`, {})).status).toBe(200);
    expect((await t.admin.post(`/api/allocations/${allocation.id}/deliver`, {})).status).toBe(200);

    const staff = await t.user('staff');
    const draft = (await staff.post(`/api/incidents/${id}/warnings`, { template: 'wl-ii-orange' })).body.warning;
    expect((await staff.patch(`/api/warnings/${draft.id}`, { headline: { zh: '铁西区发布城市内涝橙色预警', en: 'Orange urban waterlogging warning' } })).status).toBe(200);
    expect((await t.admin.post(`/api/warnings/${draft.id}/approve`)).status).toBe(200);

    const editor = connectClient(t.url, id, t.admin.token);
    await synced(editor);
    const item = editor.items().get(0);
    item.set('status', 'done');
    await waitFor(async () => (await t.admin.get(`/api/incidents/${id}/events?type=checklist.item_status`)).body.events.length > 0, 'the milestone');
    editor.destroy();
    await waitFor(async () => (await t.admin.get(`/api/incidents/${id}/events?type=warning.delivery_progress`)).body.events.some((e: any) => e.data.final), 'final delivery progress');
    expect((await t.admin.post(`/api/incidents/${id}/close`, { summary: '积水已排除，交通恢复' })).status).toBe(200);

    const events = (await t.admin.get(`/api/incidents/${id}/events`)).body.events as IncidentEvent[];
    const seen = new Set(events.map((e) => e.type));
    for (const type of ['incident.activated', 'incident.level_changed', 'dispatch.created', 'dispatch.status_changed', 'field.report', 'allocation.created', 'allocation.issued', 'allocation.delivered', 'warning.drafted', 'warning.edited', 'warning.approved', 'warning.delivery_progress', 'checklist.item_status', 'incident.closed']) {
      expect(seen, type).toContain(type);
    }
    const lines = events.map((e) => ({ type: e.type, ...eventSentence(e) }));
    for (const l of lines) {
      expect(l.zh, `${l.type}: ${l.zh}`).not.toMatch(RAW);
      expect(l.zh, `${l.type}: ${l.zh}`).not.toMatch(RAW_IN_ZH);
      expect(l.en, `${l.type}: ${l.en}`).not.toMatch(RAW);
      expect(l.zh, l.type).toMatch(/[\u4e00-\u9fff]/);
    }
    const zh = lines.map((l) => l.zh);
    const teamName = (await t.admin.get('/api/teams/T-D07')).body.team.name.zh as string;
    expect(zh).toContain(`${teamName}：已到场`);
    expect(zh).toContain(`现场情况（${teamName}）：桥下积水0.6米，已设置警戒`);
    expect(zh).toContain('调拨 冲锋舟 2 艘');
    expect(zh.some((s) => s.startsWith('响应升级：Ⅲ级响应（较大） → Ⅱ级响应'))).toBe(true);
    expect(zh.some((s) => s.startsWith('修改预警草稿（标题）'))).toBe(true);
    expect(zh.some((s) => /^检查单「.+」：待办 → 已完成/.test(s))).toBe(true);
  });

  it('the log names people by their display name beside the username', async () => {
    const created = await t.admin.post('/api/users', { username: 'wang.fang', password: 'password-123', role: 'staff', displayName: '王芳' });
    expect(created.status).toBe(201);
    const wang = await t.api.login('wang.fang', 'password-123');
    const id = (await wang.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'IV', mode: 'actual' })).body.incident.id;
    const [activated] = (await t.admin.get(`/api/incidents/${id}/events`)).body.events as IncidentEvent[];
    expect(activated!.actor).toEqual({ id: created.body.user.id, name: 'wang.fang', displayName: '王芳' });
    // A renamed account: the next entry carries the new name, the old entry keeps the name of its time.
    expect((await t.admin.patch(`/api/users/${created.body.user.id}`, { displayName: '王芳（值班）' })).status).toBe(200);
    const report = await wang.post(`/api/incidents/${id}/reports`, { text: '指挥部已接报' });
    expect(report.status).toBe(201);
    expect(report.body.report.author).toMatchObject({ name: 'wang.fang', displayName: '王芳（值班）' });
    const events = (await t.admin.get(`/api/incidents/${id}/events`)).body.events as IncidentEvent[];
    expect(events[0]!.actor!.displayName).toBe('王芳');
  });
});
