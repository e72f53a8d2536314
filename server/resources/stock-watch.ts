import cron, { type ScheduledTask } from 'node-cron';
import type { Database } from '../db/database.js';
import { withTransaction } from '../db/database.js';
import type { Logger } from '../log.js';
import type { IncidentEventBus } from '../incidents/event-log.js';
import type { IncidentEvent } from '../../shared/events.js';
import { RESOURCE_EVENT_TYPES } from '../../shared/events.js';
import { MATERIAL_ITEMS, type MaterialItemCode } from '../../shared/catalogue.js';
import type { StockAlertKind, StockAlertView } from '../../shared/resources.js';

/** Advisory-lock key: one node at a time runs the watch; the others skip that round. */
const STOCK_WATCH_LOCK_KEY = 7_140_020;
/** At most this many alerts are listed in one incident event; the rest are in GET /api/stock-alerts. */
const MAX_ALERTS_PER_EVENT = 100;

export interface StockWatchRun {
  ran: boolean;
  raised: StockAlertView[];
  cleared: number;
}

/** 'YYYY-MM-DD' of today in the given time zone, plus some days. */
function isoDay(timeZone: string, plusDays = 0): string {
  const today = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date());
  const d = new Date(`${today}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + plusDays);
  return d.toISOString().slice(0, 10);
}

function alertView(r: Record<string, any>, today: string): StockAlertView {
  const item = MATERIAL_ITEMS[r.item as MaterialItemCode];
  const name = item?.name ?? { zh: r.item, en: r.item };
  const unit = item?.unit ?? { zh: r.unit, en: r.unit };
  const kind = r.kind as StockAlertKind;
  const expired = r.expires_on !== null && r.expires_on < today;
  const message =
    kind === 'low'
      ? {
          zh: `${r.warehouse_name_zh}${name.zh}库存${r.quantity}${unit.zh}，低于最低储备${r.min_quantity}${unit.zh}，请及时补充`,
          en: `${r.warehouse_name_en}: ${name.en} down to ${r.quantity} ${unit.en}, below the minimum of ${r.min_quantity}; restock`,
        }
      : {
          zh: `${r.warehouse_name_zh}${name.zh}批次${r.batch}${expired ? '已于' : '将于'}${r.expires_on}${expired ? '过期' : '到期'}，请轮换`,
          en: `${r.warehouse_name_en}: ${name.en} batch ${r.batch} ${expired ? 'expired on' : 'expires on'} ${r.expires_on}; rotate it`,
        };
  return {
    stockLineId: r.stock_line_id,
    warehouseId: r.warehouse_id,
    item: r.item,
    kind,
    quantity: r.quantity,
    minQuantity: r.min_quantity,
    expiresOn: r.expires_on,
    message,
    raisedAt: r.raised_at.toISOString(),
  };
}

const SELECT_ALERTS = `
  SELECT a.stock_line_id, a.kind, a.quantity, a.min_quantity, a.expires_on, a.raised_at,
         s.warehouse_id, s.item, s.unit, s.batch, w.name_zh AS warehouse_name_zh, w.name_en AS warehouse_name_en
  FROM stock_alerts a JOIN stock_lines s ON s.id = a.stock_line_id JOIN warehouses w ON w.id = s.warehouse_id`;

/**
 * Stock watch (库存监测): flags stock lines below their minimum and batches near or past expiry.
 * stock_alerts remembers what was reported, so a line alerts once until its condition clears.
 * New alerts go into every active incident's log (the command centre sees them in the room it
 * has open) and stay listed in GET /api/stock-alerts when no incident is running.
 */
export class StockWatch {
  private task: ScheduledTask | undefined;

  constructor(
    private readonly db: Database,
    private readonly bus: IncidentEventBus,
    private readonly log: Logger,
    private readonly opts: { schedule: string; expiryWarningDays: number; timeZone: string },
  ) {}

  start(): void {
    if (this.opts.schedule === 'off') return;
    this.task = cron.schedule(
      this.opts.schedule,
      async () => {
        try {
          const result = await this.run();
          if (result.raised.length) this.log.info({ raised: result.raised.length, cleared: result.cleared }, 'stock watch raised alerts');
        } catch (err) {
          this.log.error({ err }, 'stock watch failed');
        }
      },
      { timezone: this.opts.timeZone, noOverlap: true, name: 'stock-watch' },
    );
  }

  async stop(): Promise<void> {
    await this.task?.destroy();
    this.task = undefined;
  }

  async run(): Promise<StockWatchRun> {
    const today = isoDay(this.opts.timeZone);
    const horizon = isoDay(this.opts.timeZone, this.opts.expiryWarningDays);
    return withTransaction(this.db.pool, async (tx) => {
      const { rows: lock } = await tx.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [STOCK_WATCH_LOCK_KEY]);
      if (!lock[0]?.locked) return { ran: false, raised: [], cleared: 0 };
      const cleared = await tx.query(
        `DELETE FROM stock_alerts a USING stock_lines s WHERE a.stock_line_id = s.id AND (
           (a.kind = 'low' AND (s.min_quantity IS NULL OR s.quantity >= s.min_quantity)) OR
           (a.kind = 'expiry' AND (s.expires_on IS NULL OR s.expires_on > $1::date OR s.expires_on IS DISTINCT FROM a.expires_on)))`,
        [horizon],
      );
      const { rows: inserted } = await tx.query<{ stock_line_id: string; kind: string }>(
        `INSERT INTO stock_alerts (stock_line_id, kind, quantity, min_quantity, expires_on)
         SELECT id, 'low', quantity, min_quantity, expires_on FROM stock_lines WHERE min_quantity IS NOT NULL AND quantity < min_quantity
         UNION ALL
         SELECT id, 'expiry', quantity, min_quantity, expires_on FROM stock_lines WHERE expires_on IS NOT NULL AND expires_on <= $1::date
         ON CONFLICT (stock_line_id, kind) DO NOTHING
         RETURNING stock_line_id, kind`,
        [horizon],
      );
      if (inserted.length === 0) return { ran: true, raised: [], cleared: cleared.rowCount ?? 0 };
      const { rows } = await tx.query(
        `${SELECT_ALERTS} WHERE (a.stock_line_id, a.kind) IN (SELECT * FROM unnest($1::uuid[], $2::text[])) ORDER BY s.warehouse_id, s.item, a.kind`,
        [inserted.map((r) => r.stock_line_id), inserted.map((r) => r.kind)],
      );
      const raised = rows.map((r) => alertView(r, today));
      const { rows: active } = await tx.query<{ id: string }>(`SELECT id FROM incidents WHERE status = 'active' ORDER BY id`);
      const events: IncidentEvent[] = [];
      for (const incident of active) {
        events.push(
          await this.bus.record(tx, {
            incidentId: incident.id,
            type: RESOURCE_EVENT_TYPES.stockAlert,
            actor: null,
            data: { count: raised.length, alerts: raised.slice(0, MAX_ALERTS_PER_EVENT), expiryWarningDays: this.opts.expiryWarningDays },
          }),
        );
      }
      return { ran: true, raised, cleared: cleared.rowCount ?? 0 };
    });
  }

  async list(): Promise<StockAlertView[]> {
    const today = isoDay(this.opts.timeZone);
    const { rows } = await this.db.pool.query(`${SELECT_ALERTS} ORDER BY a.raised_at DESC, s.warehouse_id, s.item`);
    return rows.map((r) => alertView(r, today));
  }
}
