import { randomUUID } from 'node:crypto';
import type { Database, Queryable } from '../db/database.js';
import { withTransaction } from '../db/database.js';
import { authorize, can, type Actor } from '../auth/policy.js';
import { AppError } from '../http/errors.js';
import type { IncidentEventBus } from '../incidents/event-log.js';
import type { IncidentService } from '../incidents/incidents.js';
import { RESOURCE_EVENT_TYPES } from '../../shared/events.js';
import {
  DISPATCH_STATUS_LABELS,
  DISPATCH_TRANSITIONS,
  type DispatchStatus,
  type DispatchView,
  type TeamStatus,
} from '../../shared/resources.js';
import { incidentForResourceChange, isUniqueViolation } from './incident-access.js';
import { UUID } from '../http/validate.js';
import { districtCentre } from './district.js';
import { cancelDispatchSteps, scheduleDispatchSteps, type DispatchEscalation } from '../acknowledgements/dispatch-steps.js';
import { recordTeamFix, type FixInput } from './team-position.js';

export interface DispatchInput {
  teamId: string;
  task?: string;
  location?: { lat: number; lon: number; address?: string };
  contact?: { name: string; phone: string };
}

/** Which timestamp column records reaching each status. */
const STATUS_COLUMN: Partial<Record<DispatchStatus, string>> = {
  acknowledged: 'acknowledged_at',
  en_route: 'en_route_at',
  on_scene: 'on_scene_at',
  released: 'released_at',
  returned: 'returned_at',
  cancelled: 'cancelled_at',
};

/** The team status a dispatch status puts its team in (when it is the team's current dispatch). */
const TEAM_STATUS_AFTER: Record<DispatchStatus, TeamStatus> = {
  dispatched: 'dispatched',
  acknowledged: 'acknowledged',
  en_route: 'en_route',
  on_scene: 'on_scene',
  released: 'released',
  returned: 'available',
  cancelled: 'available',
};

const dispatchNotFound = (id: string) => new AppError('not_found', `dispatch ${id} not found`, { dispatchId: id });

const iso = (d: Date | null) => d?.toISOString() ?? null;

const SELECT_DISPATCH = `
  SELECT d.*, t.name_zh AS team_name_zh, t.name_en AS team_name_en, i.title AS incident_title
  FROM dispatches d JOIN teams t ON t.id = d.team_id JOIN incidents i ON i.id = d.incident_id`;

export function dispatchView(r: Record<string, any>): DispatchView {
  return {
    id: r.id,
    incidentId: r.incident_id,
    incidentTitle: r.incident_title,
    teamId: r.team_id,
    teamName: { zh: r.team_name_zh, en: r.team_name_en },
    task: r.task,
    location: { lat: r.location_lat, lon: r.location_lon, address: r.location_address },
    contact: { name: r.contact_name, phone: r.contact_phone },
    status: r.status,
    statusLabel: DISPATCH_STATUS_LABELS[r.status as DispatchStatus],
    createdAt: r.created_at.toISOString(),
    createdBy: r.created_by,
    acknowledgedAt: iso(r.acknowledged_at),
    enRouteAt: iso(r.en_route_at),
    onSceneAt: iso(r.on_scene_at),
    releasedAt: iso(r.released_at),
    returnedAt: iso(r.returned_at),
    cancelledAt: iso(r.cancelled_at),
    updatedAt: r.updated_at.toISOString(),
  };
}

/**
 * Dispatch orders (任务单): a team sent to an incident, then acknowledged and moved through
 * its statuses by the team or HQ. The team row lock plus a partial unique index keep a team on
 * one incident at a time across every server node.
 */
export class DispatchService {
  constructor(
    private readonly db: Database,
    private readonly incidents: IncidentService,
    private readonly bus: IncidentEventBus,
    /** 叫应 of dispatch orders: when the team leader, deputy and commander are alerted (none when absent). */
    private readonly escalation?: DispatchEscalation,
  ) {}

  async create(actor: Actor, incidentId: string, input: DispatchInput): Promise<DispatchView> {
    return withTransaction(this.db.pool, async (tx) => {
      const incident = await incidentForResourceChange(tx, actor, 'dispatch.create', incidentId);
      const { rows: teams } = await tx.query('SELECT * FROM teams WHERE id = $1 FOR UPDATE', [input.teamId]);
      const team = teams[0];
      if (!team) throw new AppError('not_found', `team ${input.teamId} not found`, { teamId: input.teamId });
      if (team.status !== 'available' && team.status !== 'released') {
        throw await this.unavailable(tx, actor, input.teamId, team.status);
      }
      const location = input.location ?? (incident.location ? { ...incident.location, address: incident.areaDescription ?? undefined } : await districtCentre(tx));
      const contact = input.contact ?? (await this.commandCentreContact(tx));
      const task = input.task ?? `${incident.title}：按指挥部要求赶赴现场处置`;
      const id = randomUUID();
      const teamName = { zh: team.name_zh as string, en: team.name_en as string };
      const orderLocation = { lat: location.lat, lon: location.lon, address: location.address ?? null };
      // The event first: recording it locks the incident row FOR UPDATE; inserting the dispatch before it would take a
      // FOR KEY SHARE (foreign key) lock on that row, and two dispatches to one incident would deadlock.
      const event = await this.bus.record(tx, {
        incidentId: incident.id,
        type: RESOURCE_EVENT_TYPES.dispatchCreated,
        actor,
        data: { dispatchId: id, teamId: input.teamId, teamName, task, location: orderLocation, contact, teamStatusBefore: team.status },
      });
      try {
        await tx.query('SAVEPOINT dispatch_insert');
        await tx.query(
          `INSERT INTO dispatches (id, incident_id, team_id, task, location_lat, location_lon, location_address, contact_name, contact_phone, status, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'dispatched', $10)`,
          [id, incident.id, input.teamId, task, location.lat, location.lon, location.address ?? null, contact.name, contact.phone, actor.userId],
        );
      } catch (err) {
        if (!isUniqueViolation(err, 'dispatches_one_active_per_team')) throw err;
        await tx.query('ROLLBACK TO SAVEPOINT dispatch_insert');
        throw await this.unavailable(tx, actor, input.teamId, team.status);
      }
      await tx.query(`UPDATE teams SET status = 'dispatched', status_since = now(), current_dispatch_id = $2 WHERE id = $1`, [input.teamId, id]);
      if (this.escalation) await scheduleDispatchSteps(tx, { incidentId: incident.id, dispatchId: id, exercise: incident.mode === 'exercise', at: new Date(), policy: this.escalation });
      const dispatch = await this.mustGet(tx, id);
      return dispatch;
    });
  }

  async changeStatus(actor: Actor, dispatchId: string, to: DispatchStatus, note?: string, position?: FixInput): Promise<DispatchView> {
    if (!UUID.test(dispatchId)) throw dispatchNotFound(dispatchId);
    return withTransaction(this.db.pool, async (tx) => {
      const { rows } = await tx.query('SELECT * FROM dispatches WHERE id = $1 FOR UPDATE', [dispatchId]);
      const row = rows[0];
      const incident = row ? await this.incidents.find(tx, row.incident_id) : undefined;
      if (!row || !incident) throw dispatchNotFound(dispatchId);
      // Demobilising (release, return, cancel) still works after the incident is closed: the policy knows.
      authorize(actor, 'dispatch.change', { incident, teamId: row.team_id, to }, () => dispatchNotFound(dispatchId));
      const from = row.status as DispatchStatus;
      const allowed = DISPATCH_TRANSITIONS[from];
      if (!allowed.includes(to)) {
        throw new AppError('illegal_transition', `a dispatch that is ${from} cannot become ${to}`, { from, to, allowed });
      }
      // Only the team's own phone says where the team is; a commander's position is not the team's.
      if (position && actor.teamId !== row.team_id) throw new AppError('forbidden', "only the team's own members can report its position", { teamId: row.team_id });
      const { rows: teams } = await tx.query('SELECT status, current_dispatch_id, name_zh, name_en FROM teams WHERE id = $1 FOR UPDATE', [row.team_id]);
      await tx.query(`UPDATE dispatches SET status = $2, ${STATUS_COLUMN[to]} = now(), updated_at = now() WHERE id = $1`, [dispatchId, to]);
      if (from === 'dispatched') await cancelDispatchSteps(tx, dispatchId);
      const teamFollows = teams[0]?.current_dispatch_id === dispatchId;
      const teamStatus = teamFollows ? TEAM_STATUS_AFTER[to] : (teams[0]?.status as TeamStatus);
      if (teamFollows) await tx.query('UPDATE teams SET status = $2, status_since = now() WHERE id = $1', [row.team_id, teamStatus]);
      const fix = position ? await recordTeamFix(tx, row.team_id, position) : null;
      const event = await this.bus.record(tx, {
        incidentId: incident.id,
        type: RESOURCE_EVENT_TYPES.dispatchStatusChanged,
        actor,
        data: { dispatchId, teamId: row.team_id, teamName: teams[0] ? { zh: teams[0].name_zh, en: teams[0].name_en } : null, from, to, teamStatus, note: note ?? null, byRole: actor.role, ...(position ? { position: { ...position, latest: fix !== null } } : {}) },
      });
      return this.mustGet(tx, dispatchId);
    });
  }

  async get(actor: Actor, dispatchId: string): Promise<DispatchView> {
    const dispatch = UUID.test(dispatchId) ? await this.find(this.db.pool, dispatchId) : undefined;
    const incident = dispatch ? await this.incidents.find(this.db.pool, dispatch.incidentId) : undefined;
    if (!dispatch || !incident) throw dispatchNotFound(dispatchId);
    authorize(actor, 'dispatch.read', { incident, teamId: dispatch.teamId }, () => dispatchNotFound(dispatchId));
    return dispatch;
  }

  async listForIncident(actor: Actor, incidentId: string): Promise<DispatchView[]> {
    const incident = await this.incidents.get(actor, incidentId);
    const { rows } = await this.db.pool.query(`${SELECT_DISPATCH} WHERE d.incident_id = $1 ORDER BY d.created_at, d.id`, [incidentId]);
    return rows.map(dispatchView).filter((d) => can(actor, 'dispatch.read', { incident, teamId: d.teamId }));
  }

  /** A field user's orders: his team's, newest first (a team has at most one active order). */
  async listForTeam(teamId: string, opts: { activeOnly?: boolean } = {}): Promise<DispatchView[]> {
    const { rows } = await this.db.pool.query(
      `${SELECT_DISPATCH} WHERE d.team_id = $1 AND ($2::boolean = false OR d.status NOT IN ('returned', 'cancelled'))
       ORDER BY d.created_at DESC LIMIT 200`,
      [teamId, opts.activeOnly ?? false],
    );
    return rows.map(dispatchView);
  }

  async find(db: Queryable, id: string): Promise<DispatchView | undefined> {
    const { rows } = await db.query(`${SELECT_DISPATCH} WHERE d.id = $1`, [id]);
    return rows[0] ? dispatchView(rows[0]) : undefined;
  }

  private async mustGet(db: Queryable, id: string): Promise<DispatchView> {
    const d = await this.find(db, id);
    if (!d) throw new Error(`dispatch ${id} vanished inside its own transaction`);
    return d;
  }

  /** Says where the team is busy only to someone who may see that order. */
  private async unavailable(db: Queryable, actor: Actor, teamId: string, status: string): Promise<AppError> {
    const { rows } = await db.query(
      `SELECT d.id, d.incident_id, i.mode, i.status FROM dispatches d JOIN incidents i ON i.id = d.incident_id
       WHERE d.team_id = $1 AND d.status IN ('dispatched', 'acknowledged', 'en_route', 'on_scene') LIMIT 1`,
      [teamId],
    );
    const busy = rows[0];
    const visible = busy && can(actor, 'dispatch.read', { incident: { mode: busy.mode, status: busy.status }, teamId });
    return new AppError('team_unavailable', `team ${teamId} is ${status} and cannot be dispatched until released`, {
      teamId,
      status,
      incidentId: visible ? busy.incident_id : null,
      dispatchId: visible ? busy.id : null,
    });
  }

  private async commandCentreContact(db: Queryable): Promise<{ name: string; phone: string }> {
    const { rows } = await db.query<{ value: { name: { zh: string }; dutyPhone: string } }>(`SELECT value FROM settings WHERE key = 'command_centre'`);
    const cc = rows[0]?.value;
    return cc ? { name: `${cc.name.zh}值班室`, phone: cc.dutyPhone } : { name: '指挥部值班室', phone: '12350' };
  }
}
