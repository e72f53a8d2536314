import type { Database, Queryable } from '../db/database.js';
import { withTransaction } from '../db/database.js';
import { authorize, type Actor } from '../auth/policy.js';
import { AppError } from '../http/errors.js';
import type { IncidentEventBus } from '../incidents/event-log.js';
import type { IncidentRecord, IncidentService } from '../incidents/incidents.js';
import { RESOURCE_EVENT_TYPES } from '../../shared/events.js';
import type { AllocationStatus, AllocationView } from '../../shared/resources.js';
import { UUID } from '../http/validate.js';
import { q3, requireWholeIfCountable } from './quantities.js';
import { AllocationBatcher } from './allocation-batcher.js';

const iso = (d: Date | null) => d?.toISOString() ?? null;

export function allocationView(r: Record<string, any>): AllocationView {
  return {
    id: r.id,
    incidentId: r.incident_id,
    stockLineId: r.stock_line_id,
    warehouseId: r.warehouse_id,
    item: r.item,
    quantity: r.quantity,
    returnedQuantity: r.returned_quantity,
    unit: r.unit,
    status: r.status,
    note: r.note,
    createdAt: r.created_at.toISOString(),
    createdBy: r.created_by,
    issuedAt: iso(r.issued_at),
    deliveredAt: iso(r.delivered_at),
    closedAt: iso(r.closed_at),
  };
}

const allocationNotFound = (id: string) => new AppError('not_found', `allocation ${id} not found`, { allocationId: id });

const SELECT_ALLOCATION = `SELECT a.*, s.warehouse_id FROM allocations a JOIN stock_lines s ON s.id = a.stock_line_id`;


/**
 * Material allocation (物资调拨). Stock lines hold what is still free to allocate: reserving takes
 * it off under the stock line's row lock (which serialises concurrent requests on every node; the
 * CHECK keeps it ≥ 0), returning (入库) and cancelling put it back. Issue (出库) and delivery
 * only move the allocation along.
 */
export class AllocationService {
  readonly batcher: AllocationBatcher;

  constructor(
    private readonly db: Database,
    private readonly incidents: IncidentService,
    private readonly bus: IncidentEventBus,
  ) {
    this.batcher = new AllocationBatcher(db, bus, allocationView);
  }

  /** Reserves stock for an incident; concurrent requests are committed together (see AllocationBatcher). */
  allocate(actor: Actor, incidentId: string, input: { stockLineId: string; quantity: number; note?: string }): Promise<AllocationView> {
    return this.batcher.allocate({ actor, incidentId, ...input });
  }

  issue(actor: Actor, id: string): Promise<AllocationView> {
    return this.move(actor, id, ['reserved'], 'issued', RESOURCE_EVENT_TYPES.allocationIssued, 'issued_at');
  }

  deliver(actor: Actor, id: string): Promise<AllocationView> {
    return this.move(actor, id, ['issued'], 'delivered', RESOURCE_EVENT_TYPES.allocationDelivered, 'delivered_at');
  }

  /** Cancelling a reservation puts all of it back; once issued, goods come back by return instead. */
  async cancel(actor: Actor, id: string, reason?: string): Promise<AllocationView> {
    return withTransaction(this.db.pool, async (tx) => {
      const { row, incident } = await this.lockForChange(tx, actor, id, 'allocation.settle');
      this.requireStatus(row, ['reserved'], 'cancelled');
      const back = q3(row.quantity - row.returned_quantity);
      const { rows } = await tx.query<{ quantity: number }>('UPDATE stock_lines SET quantity = quantity + $2 WHERE id = $1 RETURNING quantity', [row.stock_line_id, back]);
      await tx.query(`UPDATE allocations SET status = 'cancelled', closed_at = now() WHERE id = $1`, [id]);
      const event = await this.bus.record(tx, {
        incidentId: incident.id,
        type: RESOURCE_EVENT_TYPES.allocationCancelled,
        actor,
        data: { allocationId: id, stockLineId: row.stock_line_id, item: row.item, quantity: back, unit: row.unit, remaining: rows[0]!.quantity, reason: reason ?? null },
      });
      return this.mustGet(tx, id);
    });
  }

  /** 入库: some or all of what is still out comes back onto its stock line. */
  async return(actor: Actor, id: string, quantity?: number): Promise<AllocationView> {
    return withTransaction(this.db.pool, async (tx) => {
      const { row, incident } = await this.lockForChange(tx, actor, id, 'allocation.settle');
      this.requireStatus(row, ['reserved', 'issued', 'delivered'], 'returned');
      const outstanding = q3(row.quantity - row.returned_quantity);
      const back = quantity ?? outstanding;
      requireWholeIfCountable(row.item, back, 'quantity');
      if (back > outstanding) {
        throw new AppError('conflict', `only ${outstanding} ${row.unit} of this allocation are still out`, { returnable: outstanding, requested: back });
      }
      const returned = q3(row.returned_quantity + back);
      const status: AllocationStatus = returned === row.quantity ? 'returned' : row.status;
      const { rows } = await tx.query<{ quantity: number }>('UPDATE stock_lines SET quantity = quantity + $2 WHERE id = $1 RETURNING quantity', [row.stock_line_id, back]);
      await tx.query(
        `UPDATE allocations SET returned_quantity = $2, status = $3, closed_at = CASE WHEN $3 = 'returned' THEN now() ELSE closed_at END WHERE id = $1`,
        [id, returned, status],
      );
      const event = await this.bus.record(tx, {
        incidentId: incident.id,
        type: RESOURCE_EVENT_TYPES.allocationReturned,
        actor,
        data: { allocationId: id, stockLineId: row.stock_line_id, item: row.item, quantity: back, unit: row.unit, returnedTotal: returned, outstanding: q3(row.quantity - returned), remaining: rows[0]!.quantity },
      });
      return this.mustGet(tx, id);
    });
  }

  async listForIncident(actor: Actor, incidentId: string): Promise<AllocationView[]> {
    await this.incidents.get(actor, incidentId);
    const { rows } = await this.db.pool.query(`${SELECT_ALLOCATION} WHERE a.incident_id = $1 ORDER BY a.created_at, a.id`, [incidentId]);
    return rows.map(allocationView);
  }

  async get(actor: Actor, id: string): Promise<AllocationView> {
    const allocation = UUID.test(id) ? await this.find(this.db.pool, id) : undefined;
    const incident = allocation ? await this.incidents.find(this.db.pool, allocation.incidentId) : undefined;
    if (!allocation || !incident) throw allocationNotFound(id);
    authorize(actor, 'incident.read', { incident }, () => allocationNotFound(id));
    return allocation;
  }

  private async move(actor: Actor, id: string, from: AllocationStatus[], to: AllocationStatus, type: string, column: string): Promise<AllocationView> {
    return withTransaction(this.db.pool, async (tx) => {
      const { row, incident } = await this.lockForChange(tx, actor, id, 'allocation.advance');
      this.requireStatus(row, from, to);
      await tx.query(`UPDATE allocations SET status = $2, ${column} = now() WHERE id = $1`, [id, to]);
      const event = await this.bus.record(tx, {
        incidentId: incident.id,
        type,
        actor,
        data: { allocationId: id, stockLineId: row.stock_line_id, item: row.item, quantity: row.quantity, unit: row.unit },
      });
      return this.mustGet(tx, id);
    });
  }

  private requireStatus(row: Record<string, any>, from: AllocationStatus[], to: AllocationStatus): void {
    if (!from.includes(row.status)) {
      throw new AppError('illegal_transition', `an allocation that is ${row.status} cannot become ${to}`, { from: row.status, to, allowedFrom: from });
    }
  }

  /** Locks the allocation; returns and cancellations (settle) stay possible on a closed incident (goods must come back). */
  private async lockForChange(
    tx: Queryable,
    actor: Actor,
    id: string,
    action: 'allocation.advance' | 'allocation.settle',
  ): Promise<{ row: Record<string, any>; incident: IncidentRecord }> {
    if (!UUID.test(id)) throw allocationNotFound(id);
    const { rows } = await tx.query('SELECT * FROM allocations WHERE id = $1 FOR UPDATE', [id]);
    const row = rows[0];
    const incident = row ? await this.incidents.find(tx, row.incident_id) : undefined;
    if (!row || !incident) throw allocationNotFound(id);
    authorize(actor, action, { incident }, () => allocationNotFound(id));
    return { row, incident };
  }

  async find(db: Queryable, id: string): Promise<AllocationView | undefined> {
    const { rows } = await db.query(`${SELECT_ALLOCATION} WHERE a.id = $1`, [id]);
    return rows[0] ? allocationView(rows[0]) : undefined;
  }

  private async mustGet(db: Queryable, id: string): Promise<AllocationView> {
    const a = await this.find(db, id);
    if (!a) throw new Error(`allocation ${id} vanished inside its own transaction`);
    return a;
  }
}
