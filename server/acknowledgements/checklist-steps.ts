import type { Queryable } from '../db/database.js';
import { effectiveChecklist, type Plan } from '../../shared/plan.js';
import type { ResponseLevel } from '../../shared/labels.js';

export const CHECKLIST_SUBJECT = 'checklist';

/**
 * Plans the overdue steps of every active incident's checklist: `remind` at each item's due time
 * (activation + dueMinutes, as the live checklist computes it) and `board` after the grace period.
 * Idempotent (the steps' unique key), so every node may run it; whether the item is still open is
 * read from the stored checklist when the step comes due.
 */
export async function planChecklistSteps(db: Queryable, graceMinutes: number): Promise<number> {
  const { rows } = await db.query<{ id: string; plan: Plan; level: ResponseLevel; activated_at: Date; mode: string }>(
    `SELECT id, plan, level, activated_at, mode FROM incidents WHERE status = 'active'`,
  );
  let planned = 0;
  for (const inc of rows) {
    const items = effectiveChecklist(inc.plan, inc.level);
    if (items.length === 0) continue;
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
    planned += res.rowCount ?? 0;
  }
  return planned;
}
