import { randomUUID } from 'node:crypto';
import type { Database, Queryable } from '../db/database.js';
import { withTransaction } from '../db/database.js';
import type { Actor } from '../auth/policy.js';
import { authorize, can } from '../auth/policy.js';
import { AppError } from '../http/errors.js';
import { UUID } from '../http/validate.js';
import type { PlanLibrary } from '../plans/library.js';
import { planDigest } from '../plans/library.js';
import { RESPONSE_LEVEL_LABELS, levelSeverity, type IncidentMode, type ResponseLevel } from '../../shared/labels.js';
import type { Area, Plan } from '../../shared/plan.js';
import { EVENT_TYPES } from '../../shared/events.js';
import type { IncidentView } from '../../shared/incidents.js';
import { genesisHash, type IncidentEventBus } from './event-log.js';

interface IncidentRow {
  id: string;
  plan_id: string;
  plan_version: string;
  plan: Plan;
  title: string;
  mode: IncidentMode;
  status: 'active' | 'closed';
  level: ResponseLevel;
  location_lat: number | null;
  location_lon: number | null;
  area: Area | null;
  activated_at: Date;
  activated_by: string;
  closed_at: Date | null;
  closed_by: string | null;
  last_seq: number;
}

export interface IncidentRecord extends IncidentView {
  plan: Plan;
}

function toRecord(row: IncidentRow): IncidentRecord {
  const levelContent = row.plan.levels[row.level];
  return {
    id: row.id,
    planId: row.plan_id,
    planVersion: row.plan_version,
    planTitle: row.plan.title,
    hazard: row.plan.hazard,
    title: row.title,
    mode: row.mode,
    status: row.status,
    level: row.level,
    levels: (['I', 'II', 'III', 'IV'] as const).filter((l) => row.plan.levels[l]),
    location: row.location_lat === null || row.location_lon === null ? null : { lat: row.location_lat, lon: row.location_lon },
    area: row.area,
    activatedAt: row.activated_at.toISOString(),
    activatedBy: row.activated_by,
    closedAt: row.closed_at?.toISOString() ?? null,
    closedBy: row.closed_by,
    lastSeq: row.last_seq,
    activationCriteria: levelContent?.activationCriteria ?? [],
    plan: row.plan,
  };
}

export function publicView(record: IncidentRecord): IncidentView {
  const { plan: _plan, ...view } = record;
  return view;
}

/** Names only the id the caller gave: an invisible incident is reported exactly like a missing one. */
export const incidentNotFound = (id: string) => new AppError('not_found', `incident ${id} not found`, { incidentId: id });


export interface ActivateInput {
  planId: string;
  level: ResponseLevel;
  mode: IncidentMode;
  title?: string;
  location?: { lat: number; lon: number };
  area?: Area;
}

/**
 * Incidents: activation (响应启动), level changes (升级/降级) and close (响应终止).
 * Each change and its event-log entry commit in one transaction; committed events are
 * then published on the bus for live clients.
 */
export class IncidentService {
  constructor(
    private readonly db: Database,
    private readonly plans: PlanLibrary,
    private readonly bus: IncidentEventBus,
  ) {}

  async activate(actor: Actor, input: ActivateInput): Promise<IncidentRecord> {
    authorize(actor, 'incident.activate', { incident: { mode: input.mode, status: 'active' } });
    const plan = this.plans.get(input.planId);
    if (!plan) throw new AppError('unknown_plan', `no plan with id ${input.planId}`, { planId: input.planId, known: this.plans.list().map((p) => p.id) });
    if (!plan.levels[input.level]) {
      throw new AppError('level_not_in_plan', `plan ${plan.id} defines no level ${input.level}`, { planId: plan.id, level: input.level });
    }
    return withTransaction(this.db.pool, (tx) => this.activateIn(tx, actor, input));
  }

  /**
   * The same activation inside the caller's transaction (a drill starting its exercise incident
   * commits the incident, its first event and the drill's own rows together).
   */
  async activateIn(tx: Queryable, actor: Actor, input: ActivateInput): Promise<IncidentRecord> {
    authorize(actor, 'incident.activate', { incident: { mode: input.mode, status: 'active' } });
    const plan = this.plans.get(input.planId);
    if (!plan) throw new AppError('unknown_plan', `no plan with id ${input.planId}`, { planId: input.planId, known: this.plans.list().map((p) => p.id) });
    if (!plan.levels[input.level]) {
      throw new AppError('level_not_in_plan', `plan ${plan.id} defines no level ${input.level}`, { planId: plan.id, level: input.level });
    }
    const id = randomUUID();
    const now = new Date();
    const title = input.title ?? defaultTitle(plan, input.level);
    {
      await tx.query(
        `INSERT INTO incidents (id, plan_id, plan_version, plan, title, mode, status, level, location_lat, location_lon, area, activated_at, activated_by, last_hash)
         VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8, $9, $10, $11, $12, $13)`,
        [id, plan.id, `${plan.version}#${planDigest(plan)}`, JSON.stringify(plan), title, input.mode, input.level, input.location?.lat ?? null, input.location?.lon ?? null, input.area ? JSON.stringify(input.area) : null, now, actor.userId, genesisHash(id)],
      );
      const event = await this.bus.record(tx, {
        incidentId: id,
        type: EVENT_TYPES.incidentActivated,
        actor,
        data: { planId: plan.id, planVersion: plan.version, level: input.level, mode: input.mode, title, location: input.location ?? null, area: input.area ?? null },
      });
      return this.mustGet(tx, id);
    }
  }

  async changeLevel(actor: Actor, id: string, level: ResponseLevel, reason?: string): Promise<IncidentRecord> {
    return withTransaction(this.db.pool, async (tx) => {
      const current = await this.lockForChange(tx, actor, id);
      if (!current.plan.levels[level]) {
        throw new AppError('level_not_in_plan', `plan ${current.planId} defines no level ${level}`, { level, levels: current.levels });
      }
      if (current.level === level) throw new AppError('level_unchanged', `incident is already at level ${level}`, { level });
      const direction = levelSeverity(level) > levelSeverity(current.level) ? 'escalate' : 'de-escalate';
      // A title someone typed stays; the generated one names the level, so it follows it.
      const title = current.title === defaultTitle(current.plan, current.level) ? defaultTitle(current.plan, level) : current.title;
      await tx.query('UPDATE incidents SET level = $2, title = $3 WHERE id = $1', [id, level, title]);
      const event = await this.bus.record(tx, {
        incidentId: id,
        type: EVENT_TYPES.incidentLevelChanged,
        actor,
        data: { from: current.level, to: level, direction, reason: reason ?? null, ...(title !== current.title ? { title } : {}) },
      });
      return this.mustGet(tx, id);
    });
  }

  async close(actor: Actor, id: string, summary?: string): Promise<IncidentRecord> {
    return withTransaction(this.db.pool, async (tx) => {
      const current = await this.lockForChange(tx, actor, id);
      await tx.query(`UPDATE incidents SET status = 'closed', closed_at = now(), closed_by = $2 WHERE id = $1`, [id, actor.userId]);
      const event = await this.bus.record(tx, {
        incidentId: id,
        type: EVENT_TYPES.incidentClosed,
        actor,
        data: { level: current.level, summary: summary ?? null },
      });
      return this.mustGet(tx, id);
    });
  }

  /** Returns the incident if the actor may see it; 404 otherwise (no hint that it exists). */
  async get(actor: Actor, id: string, db: Queryable = this.db.pool): Promise<IncidentRecord> {
    const incident = await this.find(db, id);
    if (!incident) throw incidentNotFound(id);
    authorize(actor, 'incident.read', { incident }, () => incidentNotFound(id));
    return incident;
  }

  async find(db: Queryable, id: string): Promise<IncidentRecord | undefined> {
    if (!UUID.test(id)) return undefined;
    const { rows } = await db.query<IncidentRow>('SELECT * FROM incidents WHERE id = $1', [id]);
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  async list(actor: Actor, filter: { status?: 'active' | 'closed'; mode?: IncidentMode }): Promise<IncidentView[]> {
    const { rows } = await this.db.pool.query<IncidentRow>(
      `SELECT * FROM incidents WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR mode = $2)
       ORDER BY activated_at DESC LIMIT 500`,
      [filter.status ?? null, filter.mode ?? null],
    );
    return rows.map(toRecord).filter((incident) => can(actor, 'incident.read', { incident })).map(publicView);
  }

  private async mustGet(db: Queryable, id: string): Promise<IncidentRecord> {
    const incident = await this.find(db, id);
    if (!incident) throw new Error(`incident ${id} vanished inside its own transaction`);
    return incident;
  }

  /** Locks the incident row for a state change and checks the actor may steer it and it is open. */
  private async lockForChange(tx: Queryable, actor: Actor, id: string): Promise<IncidentRecord> {
    if (!UUID.test(id)) throw incidentNotFound(id);
    const { rows } = await tx.query<IncidentRow>('SELECT * FROM incidents WHERE id = $1 FOR UPDATE', [id]);
    const incident = rows[0] ? toRecord(rows[0]) : undefined;
    if (!incident) throw incidentNotFound(id);
    authorize(actor, 'incident.steer', { incident }, () => incidentNotFound(id));
    return incident;
  }
}

/** The title an incident gets when the activation names none: the plan and the response level. */
export function defaultTitle(plan: { title: { zh: string } }, level: ResponseLevel): string {
  return `${plan.title.zh} · ${RESPONSE_LEVEL_LABELS[level].zh}`;
}
