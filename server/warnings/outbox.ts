import type { Queryable } from '../db/database.js';
import type { WarningChannel } from '../../shared/labels.js';
import type { WarningFields } from '../../shared/warnings.js';
import { sqlAreaParams, sqlInArea } from './area.js';
import type { ExerciseSinks } from './exercise-sinks.js';

/**
 * Enqueues one delivery per recipient × channel, inside the caller's (approving) transaction:
 * one INSERT … SELECT per channel, however many recipients. Each SELECT yields every target at
 * most once (DISTINCT phone numbers, subscription and endpoint ids), and approval enqueues a
 * warning once (its row is locked and must still be a draft), so the inserts carry no
 * ON CONFLICT clause: speculative insertion probes the unique index once more per row, a
 * fifth of a 100,000-row enqueue (EXPLAIN ANALYZE). The UNIQUE (warning, channel, target) key still stands;
 * a duplicate would roll the approval back, not pass silently. SMS targets are phone numbers,
 * so a phone on two lists gets one message. Exercise warnings only ever select drill targets.
 */
export async function enqueueDeliveries(
  tx: Queryable,
  input: { warningId: string; fields: WarningFields; exercise: boolean; sinks: ExerciseSinks },
): Promise<Record<WarningChannel, number>> {
  const { warningId, fields, exercise } = input;
  const counts: Record<WarningChannel, number> = { sms: 0, push: 0, broadcast: 0 };
  const roles = fields.audience.roles ?? [];
  const teams = fields.audience.teams ?? [];
  const isPublic = fields.audience.public === true;
  const area = sqlAreaParams(fields.area);

  if (fields.channels.includes('sms')) {
    const inArea = sqlInArea('r.lat', 'r.lon', { poly: '$6', clat: '$7', clon: '$8', crad: '$9' });
    const recipients = `SELECT DISTINCT r.phone FROM warning_recipients r
          WHERE ((r.kind = 'public' AND $3::boolean AND ${inArea})
             OR (r.kind = 'responder' AND (r.role = ANY($4::text[]) OR r.team_id = ANY($5::text[]))))
            -- a number is a drill target only if no list has it as a real recipient
            AND (NOT $2::boolean OR (r.drill AND NOT EXISTS (SELECT 1 FROM warning_recipients x WHERE x.phone = r.phone AND NOT x.drill)))`;
    // The exercise numbers are a UNION (deduplicated against the lists) only for exercises: even
    // when its other arm is empty, the UNION hashes every selected number a second time.
    const targets = exercise ? `${recipients}\n         UNION\n         SELECT n FROM unnest($10::text[]) n` : recipients;
    // In key order: rows in hash order land on random leaves of the (warning, channel, target)
    // index, which cost more than the sort that puts them in order (EXPLAIN ANALYZE: ~15 % of the insert).
    const res = await tx.query(
      `INSERT INTO warning_deliveries (warning_id, channel, target_id, address, exercise, status)
       SELECT $1, 'sms', 'tel:' || t.phone, t.phone, $2, 'queued' FROM (
         ${targets}
       ) t
       ORDER BY t.phone`,
      [warningId, exercise, isPublic, roles, teams, ...area, ...(exercise ? [input.sinks.smsNumbers] : [])],
    );
    counts.sms = res.rowCount ?? 0;
  }

  if (fields.channels.includes('push')) {
    const inArea = sqlInArea('s.lat', 's.lon', { poly: '$6', clat: '$7', clon: '$8', crad: '$9' });
    const res = await tx.query(
      `INSERT INTO warning_deliveries (warning_id, channel, target_id, address, exercise, status)
       SELECT $1, 'push', s.id::text, s.endpoint, $2, 'queued'
         FROM push_subscriptions s LEFT JOIN users u ON u.id = s.user_id
        WHERE ((s.user_id IS NULL AND $3::boolean AND (s.lat IS NULL OR ${inArea}))
            OR (u.role = ANY($4::text[]) OR u.team_id = ANY($5::text[])))
          AND (NOT $2::boolean OR s.drill)`,
      [warningId, exercise, isPublic, roles, teams, ...area],
    );
    counts.push = res.rowCount ?? 0;
  }

  if (fields.channels.includes('broadcast')) {
    // Real endpoints of the warning's kind (drill endpoints for an exercise); none → the built-in sink.
    const res = await tx.query(
      `INSERT INTO warning_deliveries (warning_id, channel, target_id, address, exercise, status)
       SELECT $1, 'broadcast', e.id, e.url, $2, 'queued' FROM broadcast_endpoints e
        WHERE e.active AND e.url IS NOT NULL AND e.exercise = $2::boolean`,
      [warningId, exercise],
    );
    counts.broadcast = res.rowCount ?? 0;
    if (counts.broadcast === 0) {
      await tx.query(
        `INSERT INTO warning_deliveries (warning_id, channel, target_id, address, exercise, status)
         VALUES ($1, 'broadcast', 'sink', NULL, $2, 'queued')`,
        [warningId, exercise],
      );
      counts.broadcast = 1;
    }
  }
  return counts;
}
