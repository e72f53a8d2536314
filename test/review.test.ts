import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { unzipSync, strFromU8 } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, tempDir, type TestServer } from './helpers/server.js';
import { FakeTwilio } from './fakes/twilio-api.js';
import { FakePushService } from './fakes/push-service.js';
import { FakeHeadEnd } from './fakes/broadcast-head-end.js';
import { waitFor } from './helpers/wait.js';
import { ARTIFACTS_DIR, launchBrowser } from './helpers/browser.js';
import { connectClient, synced, type YClient } from './rooms-helpers.js';
import { effectiveChecklist, type Plan } from '../shared/plan.js';
import { withTransaction } from '../server/db/database.js';
import { appendEvent } from '../server/incidents/event-log.js';
import { compactDoc } from '../server/checklist/doc-store.js';
import { renderReviewHtml } from '../server/review/html.js';
import { renderReviewDocx } from '../server/review/docx.js';
import type { DrillReviewSection } from '../shared/drill-review.js';
import type { Review } from '../shared/review.js';

const SECRET = 'broadcast-secret-for-tests-0123';
const HOSTILE = '<img src=x onerror=alert(1)>';
let t: TestServer;
const twilioFake = new FakeTwilio();
const push = new FakePushService();
const headEnd = new FakeHeadEnd(SECRET);
const drillHeadEnd = new FakeHeadEnd(SECRET);
const clients: YClient[] = [];
let staff: Awaited<ReturnType<TestServer['user']>>;
let field: Awaited<ReturnType<TestServer['user']>>;
let observer: Awaited<ReturnType<TestServer['user']>>;
let controller: Awaited<ReturnType<TestServer['user']>>;

beforeAll(async () => {
  await Promise.all([twilioFake.start(), push.start(), headEnd.start(), drillHeadEnd.start()]);
  const caFile = path.join(await tempDir('yingji-ca-'), 'push-ca.pem');
  await writeFile(caFile, push.cert);
  t = await startTestServer({
    TWILIO_ACCOUNT_SID: twilioFake.accountSid,
    TWILIO_AUTH_TOKEN: twilioFake.authToken,
    TWILIO_FROM: '+15005550006',
    TWILIO_API_BASE_URL: twilioFake.url,
    BROADCAST_ENDPOINTS: headEnd.url,
    BROADCAST_SECRET: SECRET,
    EXERCISE_BROADCAST_ENDPOINTS: drillHeadEnd.url,
    EXERCISE_SMS_NUMBERS: '+8613900000099',
    WEB_PUSH_CA_FILE: caFile,
    PUSH_ENDPOINT_ALLOWLIST: push.allowlistEntry,
    WARNING_RETRY_BASE_MS: '50',
    WARNING_POLL_MS: '50',
    WARNING_PROGRESS_INTERVAL_MS: '200',
    YJS_COMPACT_AFTER_UPDATES: '100000',
    YJS_MAX_CONNECTIONS_PER_USER: '100',
  });
  staff = await t.user('staff');
  field = await t.user('field', { teamId: 'T-D01' });
  observer = await t.user('observer');
  controller = await t.user('controller');
  const csv = [
    'name,phone,kind,role,team,lat,lon,drill',
    '张三,+8613800000001,public,,,41.80,123.35,',
    '李四,+8613800000002,public,,,41.81,123.36,',
    '赵六,+8613800000004,responder,staff,T-D01,,,',
  ].join('\n');
  expect((await t.admin.post('/api/recipients/import', { list: 'review-public', csv })).status).toBe(200);
});

afterAll(async () => {
  for (const c of clients) c.destroy();
  await t?.close();
  await Promise.all([twilioFake.stop(), push.stop(), headEnd.stop(), drillHeadEnd.stop()]);
});

const eventsOf = async (id: string) => (await t.admin.get(`/api/incidents/${id}/events?limit=5000`)).body.events as any[];
const minutes = (from: string, to: string) => Math.round((Date.parse(to) - Date.parse(from)) / 6_000) / 10;

async function walk(dispatchId: string, statuses: string[]) {
  for (const status of statuses) expect((await t.admin.post(`/api/dispatches/${dispatchId}/status`, { status })).status).toBe(200);
}

describe('after-action review of a scripted incident', () => {
  let id: string;
  let plan: Plan;
  let review: Review;
  const ticked = new Map<string, 'done' | 'skipped'>();
  let watcher: YClient;
  const seen: { at: string; items: any[] }[] = [];

  it('runs the incident: activate, warn, escalate, dispatch, allocate, tick items, report, close', async () => {
    const res = await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual', title: `立交桥积水 ${HOSTILE}` });
    expect(res.status).toBe(201);
    id = res.body.incident.id;
    plan = (await t.server.context.db.pool.query('SELECT plan FROM incidents WHERE id = $1', [id])).rows[0].plan;

    // A warning drafted by staff, approved by the commander, delivered through the fakes.
    const draft = await staff.post(`/api/incidents/${id}/warnings`, { template: 'wl-iii-yellow', audience: { description: { zh: '北部城区居民', en: 'Northern residents' }, public: true, roles: ['staff'] } });
    expect(draft.status, JSON.stringify(draft.body)).toBe(201);
    const warningId = draft.body.warning.id;
    expect((await t.admin.post(`/api/warnings/${warningId}/approve`)).status).toBe(200);
    // Settled and every receipt in: SMS receipts come after the first final summary, and the review's
    // curve (from the outbox rows) must end where the log's last summary does.
    const receiptsIn = (e: any) => e.data.final && e.data.channels.every((c: any) => c.sent === 0 && c.unknown === 0);
    await waitFor(async () => {
      const last = (await eventsOf(id)).filter((e) => e.type === 'warning.delivery_progress' && e.data.warningId === warningId).at(-1);
      return !!last && receiptsIn(last);
    }, 'final delivery progress with every receipt in');

    expect((await t.admin.post(`/api/incidents/${id}/level`, { level: 'II', reason: '积水加深' })).status).toBe(200);

    // Checklist ticks through real y-websocket clients; a second client watches what it sees.
    const writer = connectClient(t.url, id, staff.token);
    watcher = connectClient(t.url, id, observer.token);
    clients.push(writer, watcher);
    await Promise.all([synced(writer), synced(watcher)]);
    const record = () => seen.push({ at: new Date().toISOString(), items: watcher.items().toJSON() });
    const itemIds = writer.items().toArray().map((m) => m.get('id') as string);
    expect(itemIds.length).toBeGreaterThan(4);
    const tick = async (itemId: string, status: 'done' | 'skipped') => {
      writer.item(itemId)!.set('status', status);
      ticked.set(itemId, status);
      await waitFor(() => watcher.item(itemId)?.get('status') === status, `watcher sees ${itemId} ${status}`);
      await waitFor(async () => (await eventsOf(id)).some((e) => e.type === 'checklist.item_status' && e.data.itemId === itemId && e.data.to === status), `milestone of ${itemId}`);
    };
    await tick(itemIds[0]!, 'done');
    record();
    await new Promise((r) => setTimeout(r, 1100));
    await tick(itemIds[1]!, 'done');
    await tick(itemIds[2]!, 'skipped');
    record();
    await new Promise((r) => setTimeout(r, 1100));
    // Reopened and done again: doneAt is the second time.
    writer.item(itemIds[0]!)!.set('status', 'doing');
    await waitFor(async () => (await eventsOf(id)).some((e) => e.type === 'checklist.item_status' && e.data.itemId === itemIds[0] && e.data.to === 'doing'), 'reopen milestone');
    await tick(itemIds[0]!, 'done');
    record();

    // Two teams dispatched and walked through their statuses; one dispatch cancelled.
    const drainage = (await t.admin.get('/api/teams?status=available&specialty=drainage')).body.teams;
    const flood = (await t.admin.get('/api/teams?status=available&specialty=flood-rescue')).body.teams.filter((x: any) => x.id !== drainage[0].id);
    const d1 = (await t.admin.post(`/api/incidents/${id}/dispatches`, { teamId: drainage[0].id })).body.dispatch.id;
    const d2 = (await t.admin.post(`/api/incidents/${id}/dispatches`, { teamId: flood[0].id })).body.dispatch.id;
    await walk(d1, ['acknowledged', 'en_route', 'on_scene', 'released', 'returned']);
    await walk(d2, ['acknowledged', 'en_route', 'on_scene']);

    // Materials: allocate pumps twice, issue and deliver one, cancel the other.
    const line = (await t.admin.get('/api/stock?item=pump-mobile')).body.stock.find((l: any) => l.quantity >= 10);
    const a1 = (await t.admin.post(`/api/incidents/${id}/allocations`, { stockLineId: line.id, quantity: 6 })).body.allocation.id;
    const a2 = (await t.admin.post(`/api/incidents/${id}/allocations`, { stockLineId: line.id, quantity: 2 })).body.allocation.id;
    expect((await t.admin.post(`/api/allocations/${a1}/issue`)).status).toBe(200);
    expect((await t.admin.post(`/api/allocations/${a1}/deliver`)).status).toBe(200);
    expect((await t.admin.post(`/api/allocations/${a2}/cancel`, {})).status).toBe(200);

    // Situation reports, one of them hostile.
    expect((await field.post(`/api/incidents/${id}/reports`, { text: `桥下积水 1.2 米 ${HOSTILE}` })).status).toBe(201);
    expect((await field.post(`/api/incidents/${id}/reports`, { text: '排涝泵已到位' })).status).toBe(201);

    // 叫应 (another module writes these): appended through the real event log.
    await withTransaction(t.server.context.db.pool, async (tx) => {
      await appendEvent(tx, { incidentId: id, type: 'warning.ack_received', actor: null, data: { warningId, recipientId: 'r-1', name: '张三', via: 'sms', at: new Date().toISOString() } });
    });
    expect((await t.admin.post(`/api/incidents/${id}/close`, { summary: '积水排除，响应终止' })).status).toBe(200);
  });

  it('every figure equals what the timeline says', async () => {
    const res = await staff.get(`/api/incidents/${id}/review`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    review = res.body.review;
    const events = await eventsOf(id);
    const at = (type: string) => events.filter((e) => e.type === type);

    // summary
    const activated = at('incident.activated')[0];
    const closed = at('incident.closed')[0];
    const changed = at('incident.level_changed')[0];
    expect(review.final).toBe(true);
    expect(review.summary.activatedAt).toBe(activated.at);
    expect(review.summary.closedAt).toBe(closed.at);
    expect(review.summary.events).toBe(events.length);
    expect(review.summary.closeSummary).toBe('积水排除，响应终止');
    expect(review.summary.levels).toEqual([
      { level: 'III', from: activated.at, to: changed.at, minutes: minutes(activated.at, changed.at) },
      { level: 'II', from: changed.at, to: closed.at, minutes: minutes(changed.at, closed.at) },
    ]);
    const actors = new Map<string, number>();
    for (const e of events) if (e.actor) actors.set(e.actor.id, (actors.get(e.actor.id) ?? 0) + 1);
    expect(Object.fromEntries(review.summary.participants.map((p) => [p.id, p.events]))).toEqual(Object.fromEntries(actors));

    // checklist: every item the levels seeded; finishing times from the milestones
    const seeded = new Map([...effectiveChecklist(plan, 'III'), ...effectiveChecklist(plan, 'II')].map((i) => [i.id, i]));
    expect(new Set(review.checklist.items.map((i) => i.id))).toEqual(new Set(seeded.keys()));
    for (const item of review.checklist.items) {
      const last = at('checklist.item_status').filter((e) => e.data.itemId === item.id).at(-1);
      const expected = ticked.get(item.id);
      expect(item.status).toBe(expected ?? 'todo');
      expect(item.unit).toBe(seeded.get(item.id)!.unit);
      if (expected) {
        expect(item.doneAt).toBe(last.at);
        expect(item.by?.id).toBe(staff.userId);
        expect(item.minutesLate).toBe(expected === 'done' ? minutes(last.data.dueAt, last.at) : null);
        expect(item.dueAt).toBe(last.data.dueAt);
      } else expect(item.doneAt).toBeNull();
    }
    const units = new Map<string, { items: number; onTime: number; late: number; skipped: number; open: number }>();
    for (const [itemId, item] of seeded) {
      const u = units.get(item.unit) ?? { items: 0, onTime: 0, late: 0, skipped: 0, open: 0 };
      u.items++;
      const status = ticked.get(itemId);
      if (status === 'skipped') u.skipped++;
      else if (status === 'done') (review.checklist.items.find((i) => i.id === itemId)!.minutesLate! > 0 ? u.late++ : u.onTime++);
      else u.open++;
      units.set(item.unit, u);
    }
    expect(review.checklist.byUnit.map(({ unit, items, onTime, late, skipped, open, onTimePercent }) => ({ unit, items, onTime, late, skipped, open, onTimePercent })).sort((a, b) => a.unit.localeCompare(b.unit))).toEqual(
      [...units.entries()].map(([unit, u]) => ({ unit, ...u, onTimePercent: Math.round((u.onTime / u.items) * 1000) / 10 })).sort((a, b) => a.unit.localeCompare(b.unit)),
    );

    // dispatches
    for (const d of review.dispatches) {
      const created = at('dispatch.created').find((e) => e.data.dispatchId === d.dispatchId);
      const step = (to: string) => at('dispatch.status_changed').find((e) => e.data.dispatchId === d.dispatchId && e.data.to === to)?.at ?? null;
      expect(d.dispatchedAt).toBe(created.at);
      expect([d.acknowledgedAt, d.enRouteAt, d.onSceneAt, d.releasedAt, d.returnedAt]).toEqual(['acknowledged', 'en_route', 'on_scene', 'released', 'returned'].map(step));
      expect(d.durations.toOnScene).toBe(minutes(created.at, step('on_scene')!));
    }
    expect(review.dispatches).toHaveLength(at('dispatch.created').length);
    expect(review.dispatches.filter((d) => d.returnedAt)).toHaveLength(1);
    const levelII = plan.levels.II!;
    for (const req of review.teams.required) {
      expect(req.needed).toBe(levelII.teams.find((x) => x.specialty === req.specialty)!.count);
      const teams = await Promise.all(review.dispatches.map(async (d) => (await t.admin.get(`/api/teams/${d.teamId}`)).body.team));
      const matching = review.dispatches.filter((d, i) => teams[i].specialties.includes(req.specialty));
      expect(req.sent).toBe(new Set(matching.map((d) => d.teamId)).size);
      const first = matching.map((d) => d.onSceneAt).filter(Boolean).sort()[0] ?? null;
      expect(req.firstOnSceneAt).toBe(first);
    }

    // materials
    const pumps = review.materials.find((m) => m.item === 'pump-mobile')!;
    const sum = (type: string) => at(type).filter((e) => e.data.item === 'pump-mobile').reduce((s, e) => s + Number(e.data.quantity), 0);
    expect(pumps.required).toBe(levelII.materials.find((m) => m.item === 'pump-mobile')!.quantity);
    expect(pumps.allocated).toBe(sum('allocation.created') - sum('allocation.cancelled'));
    expect(pumps.issued).toBe(sum('allocation.issued'));
    expect(pumps.delivered).toBe(sum('allocation.delivered'));
    expect(pumps.firstDeliveredAt).toBe(at('allocation.delivered')[0].at);
    expect(pumps.fullyDeliveredAt).toBeNull(); // 6 of 20

    // warnings
    expect(review.warnings).toHaveLength(1);
    const w = review.warnings[0]!;
    const approved = at('warning.approved')[0];
    const final = at('warning.delivery_progress').filter((e) => e.data.final).at(-1);
    expect(w.draftedAt).toBe(at('warning.drafted')[0].at);
    expect(w.approvedAt).toBe(approved.at);
    expect(w.colour).toBe(approved.data.colour);
    expect(w.coveragePercent).toBe(final.data.coveragePercent);
    expect(w.coveragePercent).toBeGreaterThan(0);
    expect(w.firstDeliveryAt).toBe(new Date(Date.parse(final.data.approvedAt) + final.data.firstDeliveryMs).toISOString());
    expect(w.channels.map((c) => [c.channel, c.total, c.delivered])).toEqual(final.data.channels.map((c: any) => [c.channel, c.total, c.delivered]));
    expect(w.curve.at(-1)!.percent).toBe(final.data.coveragePercent);
    expect(review.minutesToFirstWarning).toBe(minutes(activated.at, approved.at));
    const ack = at('warning.ack_received')[0];
    expect(w.acks).toEqual([{ recipientId: 'r-1', name: '张三', via: 'sms', at: ack.data.at, secondsToAck: Math.round((Date.parse(ack.data.at) - Date.parse(approved.at)) / 100) / 10 }]);

    // reports, drill, chain
    expect(review.reports.count).toBe(at('field.report').length);
    expect(review.reports.items.map((r) => r.at)).toEqual(at('field.report').map((e) => e.at));
    expect(review.drill).toBeNull();
    expect(review.chain).toMatchObject({ ok: true, checked: events.length, lastSeq: events.length, headHash: events.at(-1).hash, brokenAt: null });
  });

  it('replays the checklist as a client saw it, also after compaction dropped the update rows', async () => {
    const pool = t.server.context.db.pool;
    expect(await compactDoc(pool, id)).toBeGreaterThan(0);
    expect(Number((await pool.query('SELECT count(*) AS n FROM checklist_updates WHERE incident_id = $1', [id])).rows[0].n)).toBe(0);
    for (const s of seen) {
      const res = await staff.get(`/api/incidents/${id}/checklist?at=${encodeURIComponent(s.at)}`);
      expect(res.status).toBe(200);
      expect(res.body.items).toEqual(s.items);
    }
    const before = await staff.get(`/api/incidents/${id}/checklist?at=${encodeURIComponent(review.summary.activatedAt.replace(/\.\d+Z$/, '.000Z').replace(/:\d\d\.000Z$/, ':00.000Z'))}`);
    expect(before.body.items.length).toBeLessThanOrEqual(seen[0]!.items.length);
    expect((await staff.get(`/api/incidents/${id}/checklist?at=yesterday`)).body.error.code).toBe('validation_failed');
    expect((await observer.get(`/api/incidents/${id}/checklist?at=${encodeURIComponent(seen[0]!.at)}`)).status).toBe(403);
  });

  it('printable HTML: escaped user text, inline SVG, nothing external (parsed and in Chromium)', async () => {
    for (const lang of ['zh', 'en']) {
      const res = await t.admin.request('GET', `/api/incidents/${id}/review.html${lang === 'en' ? '?lang=en' : ''}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/text\/html/);
      const html = res.body as string;
      expect(html).toContain(lang === 'zh' ? '<html lang="zh-CN">' : '<html lang="en">');
      expect(html).not.toContain('<img');
      expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
      expect(html).not.toMatch(/\b(src|href)\s*=\s*["']?\s*(https?:)?\/\//i);
      expect(html).not.toMatch(/<script|<link|@import|url\(/i);
      expect((html.match(/<svg /g) ?? []).length).toBeGreaterThanOrEqual(3); // Gantt, dispatch timeline, coverage curve
      expect(html).toContain('@page{size:A4');
      expect(html).toContain(review.chain.headHash);
    }
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.setExtraHTTPHeaders({ authorization: `Bearer ${t.admin.token}` });
      const requests: string[] = [];
      await page.route('**/*', (route) => {
        requests.push(route.request().url());
        return route.continue();
      });
      const dialogs: string[] = [];
      page.on('dialog', (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
      const url = `${t.url}/api/incidents/${id}/review.html`;
      await page.goto(url);
      await page.waitForLoadState('networkidle');
      expect(requests).toEqual([url]);
      expect(dialogs).toEqual([]);
      expect(await page.locator('img').count()).toBe(0);
      expect(await page.locator('h1').textContent()).toBe('突发事件应急处置总结评估');
      expect(await page.locator('svg').count()).toBeGreaterThanOrEqual(3);
      const pdf = await page.pdf({ format: 'A4' });
      await mkdir(ARTIFACTS_DIR, { recursive: true });
      await writeFile(path.join(ARTIFACTS_DIR, 'review-html.pdf'), pdf);
      await page.screenshot({ path: path.join(ARTIFACTS_DIR, 'review-html.png'), fullPage: true });
      expect(pdf.subarray(0, 4).toString()).toBe('%PDF');
    } finally {
      await browser.close();
    }
  });

  it('DOCX: a valid Office document with the headings and the figures', async () => {
    const res = await fetch(`${t.url}/api/incidents/${id}/review.docx`, { headers: { authorization: `Bearer ${t.admin.token}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('wordprocessingml');
    const bytes = new Uint8Array(await res.arrayBuffer());
    // Kept for a look (LibreOffice can render it); nothing below depends on the file.
    await mkdir(ARTIFACTS_DIR, { recursive: true });
    await writeFile(path.join(ARTIFACTS_DIR, 'review.docx'), bytes);
    const files = unzipSync(bytes);
    expect(strFromU8(files['[Content_Types].xml']!)).toContain('application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml');
    const doc = strFromU8(files['word/document.xml']!);
    for (const h of ['突发事件应急处置总结评估', '事件基本情况', '存在问题', '改进措施']) expect(doc).toContain(h);
    expect(doc).toContain(review.dispatches[0]!.teamName!.zh);
    expect(doc).toContain(review.chain.headHash);
    expect(doc).toContain(`${review.checklist.byUnit[0]!.onTimePercent}`);
    expect(doc).toContain('&lt;img src=x onerror=alert(1)&gt;'); // text, escaped by the XML writer
    const hseep = unzipSync(new Uint8Array(await (await fetch(`${t.url}/api/incidents/${id}/review.docx?format=hseep`, { headers: { authorization: `Bearer ${t.admin.token}` } })).arrayBuffer()));
    const en = strFromU8(hseep['word/document.xml']!);
    for (const h of ['After-Action Report / Improvement Plan', 'Executive Summary', 'Analysis of Capabilities', 'Improvement Plan']) expect(en).toContain(h);
    expect((await t.admin.get(`/api/incidents/${id}/review.docx?format=pdf`)).status).toBe(400);
  });

  it('improvement items: created from the review, moved to done with evidence, each in the log, listed per plan', async () => {
    const item = review.checklist.items.find((i) => i.status === 'todo')!;
    const bad = await staff.post(`/api/incidents/${id}/improvements`, { problem: '  ', unit: item.unit, dueDate: '2027-01-31' });
    expect(bad.status).toBe(400);
    const unknownUnit = await staff.post(`/api/incidents/${id}/improvements`, { problem: '排水泵调度慢', unit: 'nobody', dueDate: '2027-01-31' });
    expect(unknownUnit.body.error.code).toBe('validation_failed');
    expect((await observer.post(`/api/incidents/${id}/improvements`, { problem: 'x', unit: item.unit, dueDate: '2027-01-31' })).status).toBe(403);
    const created = await staff.post(`/api/incidents/${id}/improvements`, { problem: `排水泵调度慢 ${HOSTILE}`, unit: item.unit, dueDate: '2027-01-31', planItemId: item.id });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const imp = created.body.improvement;
    expect(imp).toMatchObject({ status: 'open', planId: 'waterlogging-underpass', planItemId: item.id, dueDate: '2027-01-31' });
    expect((await staff.post(`/api/improvements/${imp.id}/status`, { status: 'done', evidence: 'x' })).body.error.code).toBe('illegal_transition');
    expect((await staff.post(`/api/improvements/${imp.id}/status`, { status: 'in_progress' })).status).toBe(200);
    expect((await staff.post(`/api/improvements/${imp.id}/status`, { status: 'done' })).body.error.code).toBe('validation_failed');
    const done = await staff.post(`/api/improvements/${imp.id}/status`, { status: 'done', evidence: '已修订调度流程' });
    expect(done.body.improvement).toMatchObject({ status: 'done', evidence: '已修订调度流程' });
    const logged = (await eventsOf(id)).filter((e) => e.type.startsWith('improvement.'));
    expect(logged.map((e) => [e.type, e.data.to ?? null])).toEqual([['improvement.created', null], ['improvement.status_changed', 'in_progress'], ['improvement.status_changed', 'done']]);
    const open = await staff.post(`/api/incidents/${id}/improvements`, { problem: '预警覆盖不足', unit: item.unit, dueDate: '2027-02-28' });
    const perPlan = (await staff.get('/api/plans/waterlogging-underpass/improvements?status=open')).body.improvements;
    expect(perPlan.map((i: any) => i.id)).toEqual([open.body.improvement.id]);
    expect((await staff.get('/api/improvements')).body.improvements.map((i: any) => i.id).sort()).toEqual([imp.id, open.body.improvement.id].sort());
    // Controllers see only exercises: this actual incident's items are not theirs.
    expect((await controller.get(`/api/incidents/${id}/improvements`)).status).toBe(404);
    const again = (await staff.get(`/api/incidents/${id}/review`)).body.review as Review;
    expect(again.improvements.map((i) => i.id)).toEqual([imp.id, open.body.improvement.id]);
    expect(again.chain.ok).toBe(true);
  });

  it('says the chain is broken after a row of the log is edited in the database', async () => {
    await t.server.context.db.pool.query(`UPDATE incident_events SET data = jsonb_set(data, '{summary}', '"改过的"') WHERE incident_id = $1 AND type = 'incident.closed'`, [id]);
    const closedSeq = (await eventsOf(id)).find((e) => e.type === 'incident.closed').seq;
    const res = await staff.get(`/api/incidents/${id}/review`);
    expect(res.body.review.chain).toMatchObject({ ok: false, brokenAt: closedSeq, reason: 'entry content does not match its hash' });
    const html = (await t.admin.request('GET', `/api/incidents/${id}/review.html`)).body as string;
    expect(html).toContain(`哈希链在第 ${closedSeq} 条断开`);
  });
});

describe('review access and the drill section', () => {
  it('an exercise review is the 演练评估报告; controllers read it, observers do not; an open incident is live', async () => {
    const res = await controller.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'IV', mode: 'exercise' });
    const id = res.body.incident.id;
    const r = await controller.get(`/api/incidents/${id}/review`);
    expect(r.status).toBe(200);
    expect(r.body.review.final).toBe(false);
    expect(r.body.review.summary.closedAt).toBeNull();
    // Nobody opened the checklist: the plan's items, all open.
    expect(r.body.review.checklist.items.length).toBe(effectiveChecklist((await t.server.context.db.pool.query('SELECT plan FROM incidents WHERE id = $1', [id])).rows[0].plan, 'IV').length);
    expect((await observer.get(`/api/incidents/${id}/review`)).status).toBe(403);
    expect((await controller.get(`/api/incidents/00000000-0000-4000-8000-000000000000/review`)).status).toBe(404);
    const docx = await fetch(`${t.url}/api/incidents/${id}/review.docx`, { headers: { authorization: `Bearer ${controller.token}` } });
    const xml = strFromU8(unzipSync(new Uint8Array(await docx.arrayBuffer()))['word/document.xml']!);
    for (const h of ['演练评估报告', '一、演练基本情况', '二、演练执行情况', '三、目标达成情况', '四、存在问题', '五、改进建议']) expect(xml).toContain(h);
  });

  it('a live review taken while entries are appended reads one consistent chain (never a false "broken")', async () => {
    const id = (await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'IV', mode: 'actual' })).body.incident.id;
    const writes = Array.from({ length: 30 }, (_, i) => field.post(`/api/incidents/${id}/reports`, { text: `报告 ${i}` }));
    const reads = Array.from({ length: 6 }, () => staff.get(`/api/incidents/${id}/review`));
    const [written, read] = await Promise.all([Promise.all(writes), Promise.all(reads)]);
    expect(written.map((r) => r.status)).toEqual(written.map(() => 201));
    for (const r of read) {
      expect(r.body.review.chain.ok, JSON.stringify(r.body.review.chain)).toBe(true);
      // Every figure from the same snapshot: the reports counted are the entries checked, less activation.
      expect(r.body.review.reports.count).toBe(r.body.review.chain.checked - 1);
    }
    const last = (await staff.get(`/api/incidents/${id}/review`)).body.review;
    expect(last.reports.count).toBe(30);
  });

  it('renders a drill section handed in by the drills module (HTML and DOCX)', async () => {
    const id = (await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'IV', mode: 'exercise' })).body.incident.id;
    const base = (await t.admin.get(`/api/incidents/${id}/review`)).body.review as Review;
    const drill: DrillReviewSection = {
      drillId: 'd-1', kind: 'tabletop', scenarioId: 's-1', scenarioTitle: { zh: '暴雨内涝桌面推演', en: 'Rainstorm tabletop' },
      startedAt: base.summary.activatedAt, endedAt: null,
      injects: [{ id: 'inj-1', form: 'phone', status: 'released', releasedAt: base.summary.activatedAt }, { id: 'inj-2', form: 'sms', status: 'pending', releasedAt: null }],
      expectedActions: [
        { id: 'ea-1', injectId: 'inj-1', action: '启动排涝泵站', withinSeconds: 600, status: 'met', metAt: base.summary.activatedAt, secondsAfterInject: 42 },
        { id: 'ea-2', injectId: 'inj-1', action: '封闭下穿桥', withinSeconds: 300, status: 'missed', metAt: null, secondsAfterInject: null },
      ],
      observations: [{ id: 'o-1', at: base.summary.activatedAt, injectId: 'inj-1', text: `指挥部响应迅速 ${HOSTILE}`, rating: 4, by: '评估员甲' }],
    };
    const review = { ...base, drill };
    const html = renderReviewHtml(review, 'zh');
    expect(html).toContain('暴雨内涝桌面推演');
    expect(html).toContain('启动排涝泵站');
    expect(html).toContain('评估员甲');
    expect(html).toContain('指挥部响应迅速 &lt;img');
    expect(html).not.toContain('<img');
    const xml = strFromU8(unzipSync(new Uint8Array(await renderReviewDocx(review, 'aqt9009')))['word/document.xml']!);
    expect(xml).toContain('暴雨内涝桌面推演');
    expect(xml).toContain('预期行动「封闭下穿桥」未达成');
    expect(xml).toContain('评估员甲');
  });
});
