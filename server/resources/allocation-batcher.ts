import { randomUUID } from 'node:crypto';
import type { Database, Queryable } from '../db/database.js';
import { withTransaction } from '../db/database.js';
import type { Actor } from '../auth/policy.js';
import { AppError } from '../http/errors.js';
import type { IncidentEventBus, RecordInput } from '../incidents/event-log.js';
import { RESOURCE_EVENT_TYPES } from '../../shared/events.js';
import type { AllocationView } from '../../shared/resources.js';
import { requireResourceChange } from './incident-access.js';
import { UUID } from '../http/validate.js';
import { q3, requireWholeIfCountable } from './quantities.js';

export interface AllocationRequest {
  actor: Actor;
  incidentId: string;
  stockLineId: string;
  quantity: number;
  note?: string;
}

interface Pending extends AllocationRequest {
  resolve(view: AllocationView): void;
  reject(err: unknown): void;
}

interface Grant {
  request: Pending;
  id: string;
  line: StockLine;
  remaining: number;
}

interface StockLine {
  id: string;
  item: string;
  unit: string;
  warehouse_id: string;
  quantity: number;
}

const MAX_BATCH = 200;

/**
 * Group commit for allocations. Requests that arrive while a batch is being committed wait and go
 * together into the next transaction: stock lines, then incidents, are locked in id order (the same
 * order as cancel and return, so nodes never deadlock), each request is granted or refused in
 * arrival order against what is left, and the stock, the allocations and the events are written
 * with one statement each. A refused request never affects the others; the stock is exactly as
 * consistent as with one transaction per request, because it is the same row locks, held by fewer
 * and shorter transactions.
 */
export class AllocationBatcher {
  private queue: Pending[] = [];
  private flushing = false;

  constructor(
    private readonly db: Database,
    private readonly bus: IncidentEventBus,
    private readonly allocationView: (row: Record<string, any>) => AllocationView,
  ) {}

  /** Called after each batch (metrics): how many requests it decided and how long it took. */
  onBatch: ((size: number, ms: number) => void) | null = null;

  allocate(request: AllocationRequest): Promise<AllocationView> {
    return new Promise<AllocationView>((resolve, reject) => {
      this.queue.push({ ...request, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.flushing || this.queue.length === 0) return;
    this.flushing = true;
    // One turn of the event loop lets requests that arrived together join the batch.
    setImmediate(() => {
      const batch = this.queue.splice(0, MAX_BATCH);
      const started = performance.now();
      this.commit(batch)
        .then(() => this.onBatch?.(batch.length, performance.now() - started))
        .catch((err: unknown) => batch.forEach((p) => p.reject(err)))
        .finally(() => {
          this.flushing = false;
          this.kick();
        });
    });
  }

  private async commit(batch: Pending[]): Promise<void> {
    const outcomes = new Map<Pending, AppError>();
    const refuse = (p: Pending, err: AppError) => outcomes.set(p, err);
    for (const p of batch) {
      if (!UUID.test(p.incidentId)) refuse(p, new AppError('not_found', `incident ${p.incidentId} not found`, { incidentId: p.incidentId }));
      else if (!UUID.test(p.stockLineId)) refuse(p, stockLineNotFound(p.stockLineId));
    }
    const live = () => batch.filter((p) => !outcomes.has(p));

    const granted = await withTransaction(this.db.pool, async (tx) => {
      const lines = await lockStockLines(tx, live().map((p) => p.stockLineId));
      const incidents = await lockIncidents(tx, live().map((p) => p.incidentId));
      const grants: Grant[] = [];
      for (const p of live()) {
        try {
          requireResourceChange(p.actor, 'allocation.create', p.incidentId, incidents.get(p.incidentId));
          const line = lines.get(p.stockLineId);
          if (!line) throw stockLineNotFound(p.stockLineId);
          requireWholeIfCountable(line.item, p.quantity, 'quantity');
          if (p.quantity > line.quantity) {
            throw new AppError('insufficient_stock', `only ${line.quantity} ${line.unit} of ${line.item} left on that stock line`, {
              available: line.quantity,
              requested: p.quantity,
              stockLineId: line.id,
              item: line.item,
              unit: line.unit,
            });
          }
          line.quantity = q3(line.quantity - p.quantity);
          grants.push({ request: p, id: randomUUID(), line, remaining: line.quantity });
        } catch (err) {
          if (!(err instanceof AppError)) throw err;
          refuse(p, err);
        }
      }
      if (grants.length === 0) return [];

      const touched = [...new Set(grants.map((g) => g.line))];
      await tx.query(
        'UPDATE stock_lines SET quantity = v.quantity FROM unnest($1::uuid[], $2::numeric[]) AS v(id, quantity) WHERE stock_lines.id = v.id',
        [touched.map((l) => l.id), touched.map((l) => l.quantity)],
      );
      // Events before the allocation rows (see lock order in docs/ARCHITECTURE.md).
      const events = await this.bus.recordAll(
        tx,
        grants.map<RecordInput>((g) => ({
          incidentId: g.request.incidentId,
          type: RESOURCE_EVENT_TYPES.allocationCreated,
          actor: g.request.actor,
          data: { allocationId: g.id, stockLineId: g.line.id, warehouseId: g.line.warehouse_id, item: g.line.item, quantity: g.request.quantity, unit: g.line.unit, remaining: g.remaining },
        })),
      );
      const { rows } = await tx.query(
        `INSERT INTO allocations (id, incident_id, stock_line_id, item, quantity, unit, status, note, created_by)
         SELECT id, incident_id, stock_line_id, item, quantity, unit, 'reserved', note, created_by
         FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::numeric[], $6::text[], $7::text[], $8::uuid[])
           AS v(id, incident_id, stock_line_id, item, quantity, unit, note, created_by)
         RETURNING *`,
        [
          grants.map((g) => g.id),
          grants.map((g) => g.request.incidentId),
          grants.map((g) => g.line.id),
          grants.map((g) => g.line.item),
          grants.map((g) => g.request.quantity),
          grants.map((g) => g.line.unit),
          grants.map((g) => g.request.note ?? null),
          grants.map((g) => g.request.actor.userId),
        ],
      );
      const byId = new Map(rows.map((r) => [r.id as string, r]));
      return grants.map((g) => ({ request: g.request, view: this.allocationView({ ...byId.get(g.id), warehouse_id: g.line.warehouse_id }) }));
    });
    // Answers only once the transaction has committed.
    for (const { request, view } of granted) request.resolve(view);
    for (const [p, err] of outcomes) p.reject(err);
  }
}

const stockLineNotFound = (id: string) => new AppError('not_found', `stock line ${id} not found`, { stockLineId: id });

async function lockStockLines(tx: Queryable, ids: string[]): Promise<Map<string, StockLine>> {
  if (ids.length === 0) return new Map();
  const { rows } = await tx.query<StockLine>(
    'SELECT id, item, unit, warehouse_id, quantity FROM stock_lines WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE',
    [[...new Set(ids)]],
  );
  return new Map(rows.map((r) => [r.id, r]));
}

async function lockIncidents(tx: Queryable, ids: string[]): Promise<Map<string, { id: string; mode: 'actual' | 'exercise'; status: string }>> {
  if (ids.length === 0) return new Map();
  const { rows } = await tx.query<{ id: string; mode: 'actual' | 'exercise'; status: string }>(
    'SELECT id, mode, status FROM incidents WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE',
    [[...new Set(ids)]],
  );
  return new Map(rows.map((r) => [r.id, r]));
}
