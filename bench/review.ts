/**
 * npm run bench:review — how long the after-action review takes for an incident with 10,000
 * events (BENCH_EVENTS), against a reference: one plain SELECT of the incident's events.
 *
 * Starts a real server in this process (embedded PGlite, or a fresh database on the PostgreSQL
 * server named by BENCH_DATABASE_URL / TEST_DATABASE_URL), activates a waterlogging incident and
 * appends a realistic mix through the real event log (appendEvents: dispatches and their status
 * changes, allocations, checklist milestones, situation reports, warning progress), then times
 * computeReview (which also verifies the whole hash chain) and the HTML rendering, median of 5.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { loadConfig } from '../server/config.js';
import { createLogger } from '../server/log.js';
import { startServer } from '../server/app.js';
import { withTransaction } from '../server/db/database.js';
import { appendEvents, type EventInput } from '../server/incidents/event-log.js';
import { computeReview } from '../server/review/compute.js';
import { renderReviewHtml } from '../server/review/html.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 10_000);
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
const ROOT = path.resolve(import.meta.dirname, '..');

async function median(runs: number, fn: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

async function main() {
  let dbName: string | undefined;
  let databaseUrl: string | undefined;
  if (ADMIN_URL) {
    dbName = `yingji_bench_review_${randomBytes(4).toString('hex')}`;
    const c = new pg.Client({ connectionString: ADMIN_URL });
    await c.connect();
    await c.query(`CREATE DATABASE ${dbName}`);
    await c.end();
    const u = new URL(ADMIN_URL);
    u.pathname = `/${dbName}`;
    databaseUrl = u.toString();
  }
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'yingji-bench-review-'));
  const config = loadConfig({
    PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, ADMIN_PASSWORD: 'bench-password-123', LOG_LEVEL: 'silent',
    PLANS_DIR: path.join(ROOT, 'plans'), ORGANISATION_FILE: path.join(ROOT, 'seed/demo-organisation.yaml'),
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  });
  const server = await startServer(config, createLogger('silent'));
  try {
    const { db, incidents } = server.context;
    const { rows: admins } = await db.pool.query<{ id: string; username: string; role: 'commander' }>(`SELECT id, username, role FROM users WHERE username = 'admin'`);
    const actor = { userId: admins[0]!.id, username: 'admin', role: 'commander' as const, teamId: null };
    const incident = await incidents.activate(actor, { planId: 'waterlogging-underpass', level: 'II', mode: 'exercise' });
    const { rows: teams } = await db.pool.query<{ id: string; name_zh: string; name_en: string }>('SELECT id, name_zh, name_en FROM teams ORDER BY id LIMIT 40');
    const items = (incident.plan.levels.II?.checklist ?? []).map((i) => i.id);
    const ev = { id: actor.userId, name: 'admin' };
    const inputs: EventInput[] = [];
    const dispatches: { id: string; team: (typeof teams)[number] }[] = [];
    for (let i = 0; inputs.length < EVENTS - 1; i++) {
      const k = i % 10;
      const base = { incidentId: incident.id, actor: ev };
      if (k === 0 || dispatches.length === 0) {
        const team = teams[i % teams.length]!;
        const d = { id: randomUUID(), team };
        dispatches.push(d);
        inputs.push({ ...base, type: 'dispatch.created', data: { dispatchId: d.id, teamId: team.id, teamName: { zh: team.name_zh, en: team.name_en }, task: '排涝', location: null, contact: null, teamStatusBefore: 'available' } });
      } else if (k <= 3) {
        const d = dispatches[dispatches.length - 1]!;
        const to = ['acknowledged', 'en_route', 'on_scene'][k - 1]!;
        inputs.push({ ...base, type: 'dispatch.status_changed', data: { dispatchId: d.id, teamId: d.team.id, teamName: { zh: d.team.name_zh, en: d.team.name_en }, from: null, to, teamStatus: to, note: null, byRole: 'commander' } });
      } else if (k <= 5) {
        inputs.push({ ...base, type: k === 4 ? 'allocation.created' : 'allocation.delivered', data: { allocationId: randomUUID(), stockLineId: randomUUID(), item: 'sandbag', quantity: 10, unit: '条', remaining: 100 } });
      } else if (k <= 7) {
        const itemId = items[i % items.length]!;
        inputs.push({ ...base, type: 'checklist.item_status', data: { itemId, text: itemId, from: k === 6 ? 'todo' : 'done', to: k === 6 ? 'done' : 'doing', by: { id: actor.userId, name: 'admin', role: 'commander' }, dueAt: incident.activatedAt, minutesLate: 1 } });
      } else if (k === 8) {
        inputs.push({ ...base, type: 'field.report', data: { reportId: randomUUID(), teamId: null, teamName: null, role: 'commander', text: `第 ${i} 份现场报告`, location: null } });
      } else {
        inputs.push({ ...base, actor: null, type: 'warning.delivery_progress', data: { warningId: randomUUID(), final: true, channels: [], noRecipients: [], coveragePercent: 100, approvedAt: incident.activatedAt, firstDeliveryMs: 1000, p95DeliveredMs: 5000 } });
      }
    }
    for (let i = 0; i < inputs.length; i += 500) await withTransaction(db.pool, (tx) => appendEvents(tx, inputs.slice(i, i + 500)));
    const fresh = (await incidents.find(db.pool, incident.id))!;
    const count = Number((await db.pool.query('SELECT count(*) AS n FROM incident_events WHERE incident_id = $1', [incident.id])).rows[0].n);

    const reference = await median(5, () => db.pool.query('SELECT * FROM incident_events WHERE incident_id = $1 ORDER BY seq', [incident.id]));
    let review!: Awaited<ReturnType<typeof computeReview>>;
    const compute = await median(5, async () => (review = await computeReview(db.pool, fresh)));
    const html = await median(5, async () => renderReviewHtml(review));
    if (!review.chain.ok || review.summary.events !== count) throw new Error(`review is wrong: chain ${JSON.stringify(review.chain)}, events ${review.summary.events} of ${count}`);
    console.log(`database: ${databaseUrl ? 'PostgreSQL' : 'embedded PGlite'}; events: ${count}`);
    console.log(`reference (SELECT * of the events): ${reference.toFixed(1)} ms`);
    console.log(`computeReview (incl. chain verification): ${compute.toFixed(1)} ms  (${(compute / reference).toFixed(1)}× the reference)`);
    console.log(`renderReviewHtml: ${html.toFixed(1)} ms`);
  } finally {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
    if (dbName && ADMIN_URL) {
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await c.end();
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
