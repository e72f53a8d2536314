import { withTransaction, type Database } from '../db/database.js';
import type { Logger } from '../log.js';
import type { IncidentEventBus } from '../incidents/event-log.js';
import { WARNING_EVENT_TYPES } from '../../shared/events.js';
import { isSettled, warningProgress } from './progress.js';
import type { WarningChannel } from '../../shared/labels.js';

/**
 * Delivery progress into the incident's event log, throttled: at most one
 * `warning.delivery_progress` per warning per interval, and a final one when nothing is
 * queued or sending any more. Never one event per recipient.
 */
export class ProgressReporter {
  private timers = new Map<string, NodeJS.Timeout>();
  private lastAt = new Map<string, number>();
  private finished = new Set<string>();
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
        const progress = await warningProgress(tx, warningId, w.approved_at, w.channels ?? []);
        const final = isSettled(progress);
        if (final && this.finished.has(warningId)) return;
        if (final) this.finished.add(warningId);
        const event = await this.bus.record(tx, { incidentId: w.incident_id, type: WARNING_EVENT_TYPES.deliveryProgress, actor: null, data: { warningId, final, ...progress } });
      });
    } catch (err) {
      this.log.error({ err, warningId }, 'delivery progress event failed');
    }
  }
}
