/**
 * Improvement items (整改事项): findings of a review, each owned by a responsible unit, moved
 * open → in_progress → done (done needs evidence). Every change and its event-log entry commit in
 * one transaction; the event is published after commit.
 */
import { randomUUID } from 'node:crypto';
import type { Database, Queryable } from '../db/database.js';
import { withTransaction } from '../db/database.js';
import type { Actor } from '../auth/policy.js';
import { authorize, can } from '../auth/policy.js';
import { AppError } from '../http/errors.js';
import { UUID } from '../http/validate.js';
import type { IncidentEventBus } from '../incidents/event-log.js';
import type { IncidentService } from '../incidents/incidents.js';
import { effectiveChecklist } from '../../shared/plan.js';
import { RESPONSE_LEVELS } from '../../shared/labels.js';
import type { ImprovementStatus, ReviewImprovement } from '../../shared/review.js';

export const IMPROVEMENT_EVENT_TYPES = {
  created: 'improvement.created',
  statusChanged: 'improvement.status_changed',
} as const;

const NEXT: Record<ImprovementStatus, ImprovementStatus[]> = { open: ['in_progress'], in_progress: ['done'], done: [] };

interface Row {
  id: string;
  incident_id: string;
  plan_id: string;
  plan_item_id: string | null;
  problem: string;
  unit: string;
  due_date: string | Date;
  status: ImprovementStatus;
  evidence: string | null;
  created_at: Date;
  created_by: string;
  updated_at: Date;
}

const dateOnly = (d: string | Date) => (typeof d === 'string' ? d.slice(0, 10) : `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`);

function toView(r: Row): ReviewImprovement {
  return {
    id: r.id, incidentId: r.incident_id, planId: r.plan_id, planItemId: r.plan_item_id, problem: r.problem, unit: r.unit,
    dueDate: dateOnly(r.due_date), status: r.status, evidence: r.evidence, createdAt: r.created_at.toISOString(), createdBy: r.created_by, updatedAt: r.updated_at.toISOString(),
  };
}

// due_date::text: the calendar date as stored, never shifted by a client time zone.
const SELECT = `SELECT id, incident_id, plan_id, plan_item_id, problem, unit, due_date::text AS due_date, status, evidence, created_at, created_by, updated_at FROM improvement_items`;

export interface ImprovementInput {
  problem: string;
  unit: string;
  dueDate: string;
  planItemId?: string | null;
}

export const improvementNotFound = (id: string) => new AppError('not_found', `improvement item ${id} not found`, { improvementId: id });

export class ImprovementService {
  constructor(
    private readonly db: Database,
    private readonly incidents: IncidentService,
    private readonly bus: IncidentEventBus,
  ) {}

  async create(actor: Actor, incidentId: string, input: ImprovementInput): Promise<ReviewImprovement> {
    return withTransaction(this.db.pool, async (tx) => {
      const incident = await this.incidents.get(actor, incidentId, tx);
      authorize(actor, 'improvement.manage', { incident });
      const plan = incident.plan;
      if (!plan.command.units.some((u) => u.id === input.unit)) {
        throw new AppError('validation_failed', `invalid body: unit: not a unit of plan ${plan.id}`, { issues: [{ path: 'unit', message: `not a unit of plan ${plan.id}`, code: 'custom' }] });
      }
      if (input.planItemId) {
        const known = RESPONSE_LEVELS.some((l) => plan.levels[l] && effectiveChecklist(plan, l).some((i) => i.id === input.planItemId));
        if (!known) throw new AppError('validation_failed', `invalid body: planItemId: not an item of plan ${plan.id}`, { issues: [{ path: 'planItemId', message: `not a checklist item of plan ${plan.id}`, code: 'custom' }] });
      }
      const id = randomUUID();
      // The event first: recording it locks the incident row (see the lock order in docs/ARCHITECTURE.md).
      const event = await this.bus.record(tx, {
        incidentId: incident.id,
        type: IMPROVEMENT_EVENT_TYPES.created,
        actor,
        data: { improvementId: id, planId: plan.id, planItemId: input.planItemId ?? null, problem: input.problem, unit: input.unit, dueDate: input.dueDate },
      });
      await tx.query(
        `INSERT INTO improvement_items (id, incident_id, plan_id, plan_item_id, problem, unit, due_date, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [id, incident.id, plan.id, input.planItemId ?? null, input.problem, input.unit, input.dueDate, actor.userId],
      );
      return (await this.find(tx, id))!;
    });
  }

  async changeStatus(actor: Actor, id: string, to: ImprovementStatus, evidence?: string): Promise<ReviewImprovement> {
    if (!UUID.test(id)) throw improvementNotFound(id);
    return withTransaction(this.db.pool, async (tx) => {
      const current = await this.find(tx, id);
      if (!current) throw improvementNotFound(id);
      const incident = await this.incidents.find(tx, current.incidentId);
      if (!incident) throw improvementNotFound(id);
      authorize(actor, 'improvement.manage', { incident }, () => improvementNotFound(id));
      // Lock the incident (by recording the event) before the item row: one order for every writer.
      const event = await this.bus.record(tx, {
        incidentId: incident.id,
        type: IMPROVEMENT_EVENT_TYPES.statusChanged,
        actor,
        data: { improvementId: id, from: current.status, to, evidence: evidence ?? null },
      });
      const { rows } = await tx.query<{ status: ImprovementStatus }>('SELECT status FROM improvement_items WHERE id = $1 FOR UPDATE', [id]);
      const from = rows[0]!.status;
      if (!NEXT[from].includes(to)) throw new AppError('illegal_transition', `an improvement item that is ${from} cannot become ${to}`, { from, to, allowed: NEXT[from] });
      if (to === 'done' && !evidence) {
        throw new AppError('validation_failed', 'invalid body: evidence: required to mark an item done', { issues: [{ path: 'evidence', message: 'required to mark an item done', code: 'custom' }] });
      }
      await tx.query('UPDATE improvement_items SET status = $2, evidence = COALESCE($3, evidence), updated_at = now() WHERE id = $1', [id, to, evidence ?? null]);
      return (await this.find(tx, id))!;
    });
  }

  async find(db: Queryable, id: string): Promise<ReviewImprovement | undefined> {
    const { rows } = await db.query<Row>(`${SELECT} WHERE id = $1`, [id]);
    return rows[0] ? toView(rows[0]) : undefined;
  }

  async forIncident(incidentId: string): Promise<ReviewImprovement[]> {
    const { rows } = await this.db.pool.query<Row>(`${SELECT} WHERE incident_id = $1 ORDER BY created_at, id`, [incidentId]);
    return rows.map(toView);
  }

  /** Across incidents (or one plan's), only of incidents the actor may see. */
  async list(actor: Actor, filter: { planId?: string; status?: ImprovementStatus }): Promise<ReviewImprovement[]> {
    const { rows } = await this.db.pool.query<Row & { mode: 'actual' | 'exercise'; incident_status: 'active' | 'closed' }>(
      `SELECT i.*, x.mode, x.status AS incident_status FROM (${SELECT}) i JOIN incidents x ON x.id = i.incident_id
       WHERE ($1::text IS NULL OR i.plan_id = $1) AND ($2::text IS NULL OR i.status = $2)
       ORDER BY i.due_date, i.created_at, i.id LIMIT 2000`,
      [filter.planId ?? null, filter.status ?? null],
    );
    return rows.filter((r) => can(actor, 'review.read', { incident: { mode: r.mode, status: r.incident_status } })).map(toView);
  }
}
