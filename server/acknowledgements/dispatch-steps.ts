import type { Queryable } from '../db/database.js';

export const DISPATCH_SUBJECT = 'dispatch';
export const DISPATCH_STEPS = ['leader', 'deputy', 'board'] as const;

export interface DispatchEscalation {
  /** Minutes a team has to acknowledge (接令) an order before its leader is alerted; 0 = never. */
  ackMinutes: number;
  deputyAfterMinutes: number;
  boardAfterMinutes: number;
}

/**
 * In the dispatching transaction: the order's escalation steps — team leader at N, deputy at N+D,
 * a board alert for the commander at N+D+B — each withdrawn as soon as the team acknowledges.
 */
export async function scheduleDispatchSteps(tx: Queryable, input: { incidentId: string; dispatchId: string; exercise: boolean; at: Date; policy: DispatchEscalation }): Promise<void> {
  const { ackMinutes, deputyAfterMinutes, boardAfterMinutes } = input.policy;
  if (ackMinutes <= 0) return;
  const t0 = input.at.getTime();
  const due = [ackMinutes, ackMinutes + deputyAfterMinutes, ackMinutes + deputyAfterMinutes + boardAfterMinutes].map((m) => new Date(t0 + m * 60_000));
  await tx.query(
    `INSERT INTO escalation_steps (incident_id, subject, subject_id, step, exercise, due_at, status)
     SELECT $1, '${DISPATCH_SUBJECT}', $2, s.step, $3, s.due, 'queued' FROM unnest($4::text[], $5::timestamptz[]) AS s(step, due)
     ON CONFLICT DO NOTHING`,
    [input.incidentId, input.dispatchId, input.exercise, [...DISPATCH_STEPS], due],
  );
}

/** The order left `dispatched` (acknowledged, cancelled …): nothing more to chase. */
export async function cancelDispatchSteps(tx: Queryable, dispatchId: string): Promise<void> {
  await tx.query(`UPDATE escalation_steps SET status = 'cancelled' WHERE subject = '${DISPATCH_SUBJECT}' AND subject_id = $1 AND status = 'queued'`, [dispatchId]);
}
