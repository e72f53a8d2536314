import { withTransaction, type Database } from '../db/database.js';
import type { Logger } from '../log.js';
import type { IncidentEventBus } from '../incidents/event-log.js';
import { WARNING_EVENT_TYPES } from '../../shared/events.js';
import { isSettled, warningProgress } from './progress.js';
import type { WarningChannel } from '../../shared/labels.js';
import type { ChannelProgress } from '../../shared/warnings.js';

/**
 * Delivery progress into the incident's event log, throttled: at most one
 * `warning.delivery_progress` per warning per interval, and a final one when nothing is
 * queued or sending any more. Never one event per recipient.
 *
 * "Final" is not the end: SMS receipts (and late webhooks) keep turning `sent` into `delivered`
 * after it, and the after-action review reads its coverage from the last summary in the log. So a
 * settled summary is recorded again whenever its counts differ from the last one recorded, and
 * never twice the same. That comparison reads the log, not this process's memory, so it holds
 * whichever node's worker or webhook touched the warning.
 */
export class ProgressReporter {
  private timers = new Map<string, NodeJS.Timeout>();
  private lastAt = new Map<string, number>();
  private stopped = false;

  constructor(
    private readonly db: Database,
    private readonly bus: IncidentEventBus,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  touch(warningId: string): void {
    if (this.stopped || this.timers.has(warningId)) return;
    const wait = Math.max(0, (this.lastAt.get(warningId) ?? 0) + this.intervalMs - Date.now());
    this.timers.set(warningId, setTimeout(() => void this.emit(warningId), wait));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private async emit(warningId: string): Promise<void> {
    this.timers.delete(warningId);
    try {
      this.lastAt.set(warningId, Date.now());
      await withTransaction(this.db.pool, async (tx) => {
        const { rows } = await tx.query<{ incident_id: string; approved_at: Date | null; channels: WarningChannel[] }>(
          `SELECT incident_id, approved_at, fields->'channels' AS channels FROM warnings WHERE id = $1`,
          [warningId],
        );
        const w = rows[0];
        if (!w) return;
        // One summary at a time per warning, on any node: the count and the comparison below see
        // what the previous summary committed.
        await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`yingji:warning-progress:${warningId}`]);
        const progress = await warningProgress(tx, warningId, w.approved_at, w.channels ?? []);
        const final = isSettled(progress);
        if (final) {
          const last = await tx.query<{ data: { final?: boolean; channels?: ChannelProgress[] } }>(
            `SELECT data FROM incident_events WHERE incident_id = $1 AND type = $2 AND data->>'warningId' = $3 ORDER BY seq DESC LIMIT 1`,
            [w.incident_id, WARNING_EVENT_TYPES.deliveryProgress, warningId],
          );
          const previous = last.rows[0]?.data;
          if (previous?.final && countsKey(previous.channels ?? []) === countsKey(progress.channels)) return;
        }
        await this.bus.record(tx, { incidentId: w.incident_id, type: WARNING_EVENT_TYPES.deliveryProgress, actor: null, data: { warningId, final, ...progress } });
      });
    } catch (err) {
      this.log.error({ err, warningId }, 'delivery progress event failed');
    }
  }
}

/** The counts of a summary, independent of key order (the log stores `jsonb`, which reorders keys). */
function countsKey(channels: readonly ChannelProgress[]): string {
  return JSON.stringify(channels.map((c) => [c.channel, c.total, c.queued, c.sending, c.sent, c.delivered, c.failed, c.blocked, c.unknown, c.cancelled]));
}
