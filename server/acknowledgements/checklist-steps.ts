import { withTransaction } from '../db/database.js';
import type pg from 'pg';
import { effectiveChecklist, type Plan } from '../../shared/plan.js';
import type { ResponseLevel } from '../../shared/labels.js';

export const CHECKLIST_SUBJECT = 'checklist';

/**
 * Plans the overdue steps of every active incident's checklist: `remind` at each item's due time
 * (activation + dueMinutes, as the live checklist computes it) and `board` after the grace period.
 * Each (incident, level) is planned once (`checklist_step_plans`, written in the same transaction);
 * the steps' unique key keeps two nodes planning at once harmless. Whether the item is still open is
 * read from the stored checklist when the step comes due.
 */
export async function planChecklistSteps(pool: pg.Pool, graceMinutes: number): Promise<number> {
  const { rows } = await pool.query<{ id: string; plan: Plan; level: ResponseLevel; activated_at: Date; mode: string }>(
    `SELECT i.id, i.plan, i.level, i.activated_at, i.mode FROM incidents i
      WHERE i.status = 'active' AND NOT EXISTS (SELECT 1 FROM checklist_step_plans p WHERE p.incident_id = i.id AND p.level = i.level)
      LIMIT 100`,
  );
  let planned = 0;
  for (const inc of rows) {
    planned += await withTransaction(pool, (tx) => planOne(tx, inc, graceMinutes));
  }
  return planned;
}

async function planOne(db: pg.PoolClient, inc: { id: string; plan: Plan; level: ResponseLevel; activated_at: Date; mode: string }, graceMinutes: number): Promise<number> {
  await db.query('INSERT INTO checklist_step_plans (incident_id, level) VALUES ($1, $2) ON CONFLICT DO NOTHING', [inc.id, inc.level]);
  const items = effectiveChecklist(inc.plan, inc.level);
  if (items.length === 0) return 0;
  const ids: string[] = [];
  const steps: string[] = [];
  const dues: Date[] = [];
  for (const item of items) {
    const due = inc.activated_at.getTime() + item.dueMinutes * 60_000;
    ids.push(`${inc.id}/${item.id}`, `${inc.id}/${item.id}`);
    steps.push('remind', 'board');
    dues.push(new Date(due), new Date(due + graceMinutes * 60_000));
  }
  const res = await db.query(
    `INSERT INTO escalation_steps (incident_id, subject, subject_id, step, exercise, due_at, status)
     SELECT $1, '${CHECKLIST_SUBJECT}', s.id, s.step, $2, s.due, 'queued' FROM unnest($3::text[], $4::text[], $5::timestamptz[]) AS s(id, step, due)
     ON CONFLICT DO NOTHING`,
    [inc.id, inc.mode === 'exercise', ids, steps, dues],
  );
  return res.rowCount ?? 0;
}
