import { randomBytes } from 'node:crypto';
import type { Database, Queryable } from '../db/database.js';
import { withTransaction } from '../db/database.js';
import type { IncidentEventBus } from '../incidents/event-log.js';
import { WARNING_EVENT_TYPES } from '../../shared/events.js';
import type { AckSummary, WarningFields } from '../../shared/warnings.js';

export type AckVia = 'sms' | 'push' | 'link';
export const ACK_SUBJECT = 'warning-ack';
export const ACK_STEPS = ['resend', 'call', 'escalate'] as const;
export type AckStep = (typeof ACK_STEPS)[number];

/** The personal one-tap secret: 32 random bytes, base64url (43 characters). */
export const newAckToken = () => randomBytes(32).toString('base64url');
export const ACK_TOKEN = /^[A-Za-z0-9_-]{43}$/;

/**
 * In the approving transaction: one acknowledgement row per responsible person among the warning's
 * SMS recipients, and that person's three escalation steps (resend at N, call N+C, superior N+C+E),
 * all due unless the person answers first. Returns how many must answer.
 */
export async function createAcks(tx: Queryable, input: { warningId: string; incidentId: string; fields: WarningFields; approvedAt: Date; exercise: boolean }): Promise<number> {
  const policy = input.fields.acknowledgement;
  if (!policy || !input.fields.channels.includes('sms')) return 0;
  const { rows } = await tx.query<{ id: string; name: string | null; phone: string; escalation_name: string | null; escalation_phone: string | null }>(
    `SELECT DISTINCT ON (r.phone) r.id, r.name, r.phone, r.escalation_name, r.escalation_phone
       FROM warning_recipients r JOIN warning_deliveries d ON d.warning_id = $1 AND d.channel = 'sms' AND d.address = r.phone
      WHERE r.responsible
      ORDER BY r.phone, r.created_at`,
    [input.warningId],
  );
  if (rows.length === 0) return 0;
  const n = policy.withinMinutes * 60_000;
  const c = (policy.callAfterMinutes ?? policy.withinMinutes) * 60_000;
  const e = (policy.escalateAfterMinutes ?? policy.withinMinutes) * 60_000;
  const t0 = input.approvedAt.getTime();
  const due = new Date(t0 + n);
  const { rows: acks } = await tx.query<{ id: string }>(
    `INSERT INTO warning_acks (warning_id, incident_id, recipient_id, name, phone, escalation_name, escalation_phone, token, due_at)
     SELECT $1, $2, u.*, $8::timestamptz FROM unnest($3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $9::text[]) AS u
     RETURNING id::text`,
    [input.warningId, input.incidentId, rows.map((r) => r.id), rows.map((r) => r.name), rows.map((r) => r.phone), rows.map((r) => r.escalation_name), rows.map((r) => r.escalation_phone), due, rows.map(() => newAckToken())],
  );
  const offsets: Record<AckStep, number> = { resend: n, call: n + c, escalate: n + c + e };
  const ids: string[] = [];
  const steps: string[] = [];
  const dues: Date[] = [];
  for (const a of acks) {
    for (const step of ACK_STEPS) {
      ids.push(a.id);
      steps.push(step);
      dues.push(new Date(t0 + offsets[step]));
    }
  }
  await tx.query(
    `INSERT INTO escalation_steps (incident_id, subject, subject_id, step, exercise, due_at, status)
     SELECT $1, '${ACK_SUBJECT}', s.id, s.step, $2, s.due, 'queued' FROM unnest($3::text[], $4::text[], $5::timestamptz[]) AS s(id, step, due)`,
    [input.incidentId, input.exercise, ids, steps, dues],
  );
  return acks.length;
}

export interface AckResult {
  acknowledged: boolean;
  /** The person had answered before (this answer changes nothing). */
  already: boolean;
  warningId?: string;
  at?: string;
}

/**
 * Records one answer — by personal token (link, push action) or by phone (SMS reply: that number's
 * latest open request) — with its event in the same transaction and the person's remaining
 * escalation steps withdrawn. A second answer is a no-op.
 */
export async function acknowledge(db: Database, bus: IncidentEventBus, by: { token: string } | { phone: string }, via: AckVia): Promise<AckResult> {
  return withTransaction(db.pool, async (tx) => {
    const { rows } = await tx.query<{ id: string; warning_id: string; incident_id: string; recipient_id: string; name: string | null; acked_at: Date }>(
      'token' in by
        ? `UPDATE warning_acks SET acked_at = clock_timestamp(), via = $2 WHERE token = $1 AND acked_at IS NULL RETURNING id::text, warning_id, incident_id, recipient_id, name, acked_at`
        : `UPDATE warning_acks SET acked_at = clock_timestamp(), via = $2
            WHERE id = (SELECT id FROM warning_acks WHERE phone = $1 AND acked_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 1 FOR UPDATE)
              AND acked_at IS NULL
          RETURNING id::text, warning_id, incident_id, recipient_id, name, acked_at`,
      ['token' in by ? by.token : by.phone, via],
    );
    const ack = rows[0];
    if (!ack) {
      if ('token' in by) {
        const prior = await tx.query<{ warning_id: string; acked_at: Date }>('SELECT warning_id, acked_at FROM warning_acks WHERE token = $1', [by.token]);
        if (prior.rows[0]) return { acknowledged: true, already: true, warningId: prior.rows[0].warning_id, at: prior.rows[0].acked_at.toISOString() };
      }
      return { acknowledged: false, already: false };
    }
    await tx.query(`UPDATE escalation_steps SET status = 'cancelled' WHERE subject = '${ACK_SUBJECT}' AND subject_id = $1 AND status = 'queued'`, [ack.id]);
    const at = ack.acked_at.toISOString();
    const event = await bus.record(tx, {
      incidentId: ack.incident_id,
      type: WARNING_EVENT_TYPES.ackReceived,
      actor: null,
      data: { warningId: ack.warning_id, recipientId: ack.recipient_id, name: ack.name, via, at },
    });
    return { acknowledged: true, already: false, warningId: ack.warning_id, at };
  });
}

/** 叫应率 and who has not answered, for the board. */
export async function ackSummary(db: Queryable, warningId: string, approvedAt: Date | null): Promise<AckSummary | null> {
  const { rows } = await db.query<{ required: number; acknowledged: number; due_at: Date | null }>(
    `SELECT count(*)::int AS required, count(acked_at)::int AS acknowledged, min(due_at) AS due_at FROM warning_acks WHERE warning_id = $1`,
    [warningId],
  );
  const r = rows[0]!;
  if (r.required === 0) return null;
  const k = Math.ceil(r.required * 0.95);
  let p95AckMs: number | null = null;
  if (approvedAt && r.acknowledged >= k) {
    const q = await db.query<{ acked_at: Date }>('SELECT acked_at FROM warning_acks WHERE warning_id = $1 AND acked_at IS NOT NULL ORDER BY acked_at OFFSET $2 LIMIT 1', [warningId, k - 1]);
    if (q.rows[0]) p95AckMs = q.rows[0].acked_at.getTime() - approvedAt.getTime();
  }
  const pending = await db.query<{ recipient_id: string; name: string | null; steps: string[] | null }>(
    `SELECT a.recipient_id, a.name, array_remove(array_agg(s.step ORDER BY s.due_at), NULL) AS steps
       FROM warning_acks a LEFT JOIN escalation_steps s ON s.subject = '${ACK_SUBJECT}' AND s.subject_id = a.id::text AND s.status IN ('done', 'unknown')
      WHERE a.warning_id = $1 AND a.acked_at IS NULL
      GROUP BY a.id, a.recipient_id, a.name ORDER BY a.name NULLS LAST, a.id LIMIT 200`,
    [warningId],
  );
  return {
    required: r.required,
    acknowledged: r.acknowledged,
    ratePercent: Math.round((r.acknowledged / r.required) * 1000) / 10,
    dueAt: r.due_at ? r.due_at.toISOString() : null,
    p95AckMs,
    pending: pending.rows.map((p) => ({ recipientId: p.recipient_id, name: p.name, steps: p.steps ?? [] })),
  };
}

/** The line each 叫应 SMS ends with: how to answer, and the personal link. */
export function ackSmsSuffix(base: string | null, token: string): string {
  return `【叫应】收到请回复1确认 Reply 1 to confirm${base ? ` ${base}/a/${token}` : ''}`;
}
