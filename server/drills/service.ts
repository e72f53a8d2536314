import { randomInt, randomUUID } from 'node:crypto';
import type { Database, Queryable } from '../db/database.js';
import { withTransaction } from '../db/database.js';
import { msUntilDue } from '../background/loops.js';
import type { Logger } from '../log.js';
import type { Actor } from '../auth/policy.js';
import { authorize, can } from '../auth/policy.js';
import { AppError } from '../http/errors.js';
import { UUID } from '../http/validate.js';
import type { IncidentService } from '../incidents/incidents.js';
import { listEvents, type IncidentEventBus } from '../incidents/event-log.js';
import type { ExerciseSinks } from '../warnings/exercise-sinks.js';
import {
  DRILL_EVENT_TYPES,
  scenarioSchema,
  type DrillKind,
  type DrillStatus,
  type ExpectedAction,
  type Inject,
  type InjectReleasedData,
  type ReleasedAudience,
  type Scenario,
} from '../../shared/drill.js';
import type { IncidentEvent } from '../../shared/events.js';
import { checkScenarioReferences, type ScenarioReferences } from './loader.js';
import { formatPath } from '../plans/loader.js';

interface DrillRow {
  id: string;
  kind: DrillKind;
  status: DrillStatus;
  scenario_id: string;
  scenario_version: number;
  scenario: Scenario;
  incident_id: string | null;
  window_from: Date | null;
  window_to: Date | null;
  fire_at: Date | null;
  participants: Record<string, unknown> | null;
  started_at: Date | null;
  paused_at: Date | null;
  paused_ms: string | number;
  ended_at: Date | null;
  created_by: string;
  created_at: Date;
}

interface InjectRow {
  drill_id: string;
  inject_id: string;
  ord: number;
  offset_seconds: number | null;
  due_at: Date | null;
  released_at: Date | null;
  released_seq: number | null;
  scheduled_for: Date | null;
}

export interface StoredScenario {
  id: string;
  version: number;
  source: 'seed' | 'api';
  restricted: boolean;
  createdAt: string;
  scenario: Scenario;
}

export type ExpectedStatus = 'met' | 'late' | 'missed' | 'pending';

export interface ExpectedActionView {
  id: string;
  injectId: string;
  action: ExpectedAction['action'];
  criterion: ExpectedAction;
  withinSeconds: number;
  status: ExpectedStatus;
  metAt: string | null;
  secondsAfterInject: number | null;
}

export interface InjectView {
  id: string;
  form: Inject['form'];
  audience: Inject['audience'];
  at: number | null;
  manual: boolean;
  status: 'pending' | 'released';
  /** When the scheduler will release it (running drills, timed injects); null while paused. */
  dueAt: string | null;
  releasedAt: string | null;
  content: Inject['content'];
}

export interface ObservationView {
  id: string;
  at: string;
  injectId: string | null;
  text: string;
  rating: number | null;
  by: string;
}

export interface DrillView {
  id: string;
  kind: DrillKind;
  status: DrillStatus;
  incidentId: string | null;
  scenario: { id: string; version: number; title: Scenario['title']; planId: string; level: Scenario['level']; objectives: Scenario['objectives'] } | null;
  window: { from: string; to: string } | null;
  /** The drawn moment of a no-script drill (controllers only; null for others). */
  fireAt: string | null;
  participants: Record<string, unknown> | null;
  startedAt: string | null;
  pausedAt: string | null;
  pausedSeconds: number;
  endedAt: string | null;
  createdAt: string;
  injects: InjectView[];
  expectedActions: ExpectedActionView[];
  observations: ObservationView[];
}

export interface NoScriptInput {
  scenarioIds: string[];
  window: { from: string; to: string };
  participants: Record<string, unknown>;
}

const drillNotFound = (id: string) => new AppError('not_found', `drill ${id} not found`, { drillId: id });

/** Event types an expected action is matched against. */
const MATCH_TYPES = ['dispatch.created', 'checklist.item_status', 'warning.approved', 'incident.level_changed', 'field.report'];

/**
 * Drills (演练): stored, versioned scenarios; tabletop drills started by a controller; sealed
 * no-script drills drawn by the server; the inject schedule released exactly once (a row claimed
 * under a lock in the same transaction as its `drill.inject_released` event); evaluation of the
 * expected actions against the incident's event log.
 */
export class DrillService {
  constructor(
    private readonly db: Database,
    private readonly incidents: IncidentService,
    private readonly bus: IncidentEventBus,
    private readonly refs: () => Promise<ScenarioReferences>,
    private readonly sinks: ExerciseSinks,
    private readonly log: Logger,
  ) {}

  // ───────────── scenarios ─────────────

  /** Stores each shipped scenario as version 1 if no version of it is stored yet (seeds). */
  async seedScenarios(scenarios: Scenario[]): Promise<number> {
    let seeded = 0;
    for (const s of scenarios) {
      const { rowCount } = await this.db.pool.query(
        `INSERT INTO drill_scenarios (id, version, body, source, restricted) SELECT $1, 1, $2, 'seed', $3
         WHERE NOT EXISTS (SELECT 1 FROM drill_scenarios WHERE id = $1) ON CONFLICT DO NOTHING`,
        [s.id, JSON.stringify(s), s.restricted === true],
      );
      seeded += rowCount ?? 0;
    }
    return seeded;
  }

  /** Validates a scenario (schema and cross-references) and stores it as the next version of its id. */
  async createScenario(actor: Actor, body: unknown): Promise<StoredScenario> {
    authorize(actor, 'scenario.manage', undefined);
    const parsed = scenarioSchema.safeParse(body);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message }));
      throw new AppError('invalid_scenario', `invalid scenario: ${problems.map((p) => `${p.path || '(body)'}: ${p.message}`).join('; ')}`, { problems });
    }
    const scenario = parsed.data;
    const refProblems = checkScenarioReferences(scenario, await this.refs()).map((p) => ({ path: formatPath(p.path), message: p.message }));
    if (refProblems.length > 0) {
      throw new AppError('invalid_scenario', `invalid scenario: ${refProblems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, { problems: refProblems });
    }
    if (scenario.restricted && !can(actor, 'drill.manage')) {
      throw new AppError('forbidden', 'only drill controllers may store restricted scenarios', { role: actor.role });
    }
    return withTransaction(this.db.pool, async (tx) => {
      // One writer per scenario id at a time, on every node (released at commit).
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`drill-scenario:${scenario.id}`]);
      const prev = await tx.query<{ version: number; restricted: boolean }>('SELECT version, restricted FROM drill_scenarios WHERE id = $1 ORDER BY version DESC LIMIT 1', [scenario.id]);
      const latest = prev.rows[0];
      if (latest?.restricted && !can(actor, 'drill.manage')) throw new AppError('not_found', `scenario ${scenario.id} not found`, { scenarioId: scenario.id });
      const version = (latest?.version ?? 0) + 1;
      const { rows } = await tx.query<{ created_at: Date }>(
        `INSERT INTO drill_scenarios (id, version, body, source, restricted, created_by) VALUES ($1, $2, $3, 'api', $4, $5) RETURNING created_at`,
        [scenario.id, version, JSON.stringify(scenario), scenario.restricted === true, actor.userId],
      );
      return { id: scenario.id, version, source: 'api', restricted: scenario.restricted === true, createdAt: rows[0]!.created_at.toISOString(), scenario };
    });
  }

  /** The latest version of every scenario the actor may read (restricted ones: controllers only). */
  async listScenarios(actor: Actor): Promise<StoredScenario[]> {
    authorize(actor, 'scenario.read', undefined);
    const { rows } = await this.db.pool.query<{ id: string; version: number; source: 'seed' | 'api'; restricted: boolean; created_at: Date; body: Scenario }>(
      `SELECT DISTINCT ON (id) id, version, source, restricted, created_at, body FROM drill_scenarios
       WHERE ($1 OR NOT restricted) ORDER BY id, version DESC`,
      [can(actor, 'drill.manage')],
    );
    return rows.map((r) => ({ id: r.id, version: r.version, source: r.source, restricted: r.restricted, createdAt: r.created_at.toISOString(), scenario: r.body }));
  }

  async getScenario(actor: Actor, id: string, version?: number): Promise<StoredScenario & { versions: number[] }> {
    authorize(actor, 'scenario.read', undefined);
    const { rows } = await this.db.pool.query<{ id: string; version: number; source: 'seed' | 'api'; restricted: boolean; created_at: Date; body: Scenario }>(
      'SELECT id, version, source, restricted, created_at, body FROM drill_scenarios WHERE id = $1 AND ($2 OR NOT restricted) ORDER BY version DESC',
      [id, can(actor, 'drill.manage')],
    );
    const row = version === undefined ? rows[0] : rows.find((r) => r.version === version);
    if (!row) throw new AppError('not_found', `scenario ${id}${version === undefined ? '' : ` version ${version}`} not found`, { scenarioId: id });
    return { id: row.id, version: row.version, source: row.source, restricted: row.restricted, createdAt: row.created_at.toISOString(), scenario: row.body, versions: rows.map((r) => r.version) };
  }

  private async latestScenario(tx: Queryable, id: string): Promise<{ version: number; body: Scenario; restricted: boolean } | undefined> {
    const { rows } = await tx.query<{ version: number; body: Scenario; restricted: boolean }>('SELECT version, body, restricted FROM drill_scenarios WHERE id = $1 ORDER BY version DESC LIMIT 1', [id]);
    return rows[0];
  }

  // ───────────── drills ─────────────

  async createTabletop(actor: Actor, scenarioId: string): Promise<DrillView> {
    authorize(actor, 'drill.manage', undefined);
    return withTransaction(this.db.pool, async (tx) => {
      const s = await this.latestScenario(tx, scenarioId);
      if (!s) throw new AppError('unknown_scenario', `no scenario with id ${scenarioId}`, { scenarioId });
      const id = randomUUID();
      await tx.query(
        `INSERT INTO drills (id, kind, status, scenario_id, scenario_version, scenario, created_by) VALUES ($1, 'tabletop', 'ready', $2, $3, $4, $5)`,
        [id, scenarioId, s.version, JSON.stringify(s.body), actor.userId],
      );
      await this.insertInjects(tx, id, s.body);
      return this.view(tx, actor, (await this.row(tx, id))!);
    });
  }

  /** Called after a commit that made something due sooner (a drill started or resumed, a sealed one created): the scheduler looks again at once. */
  onScheduleChanged: (() => void) | undefined;

  /** How long until the next sealed drill fires or the next inject is due (see msUntilDue); null when nothing is scheduled. */
  nextDueInMs(): Promise<number | null> {
    return msUntilDue(
      this.db.pool,
      `SELECT LEAST(
         (SELECT min(fire_at) FROM drills WHERE status = 'sealed'),
         (SELECT min(i.due_at) FROM drill_injects i JOIN drills d ON d.id = i.drill_id WHERE i.released_at IS NULL AND d.status = 'running'))`,
    );
  }

  /**
   * A sealed no-script drill (无脚本演练): the server draws the scenario and the moment inside the
   * window (crypto random) and keeps both to itself until the moment comes.
   */
  async createNoScript(actor: Actor, input: NoScriptInput): Promise<DrillView> {
    const view = await this.createSealed(actor, input);
    this.onScheduleChanged?.();
    return view;
  }

  private async createSealed(actor: Actor, input: NoScriptInput): Promise<DrillView> {
    authorize(actor, 'drill.manage', undefined);
    const from = new Date(input.window.from);
    const to = new Date(input.window.to);
    const now = Date.now();
    if (!(to.getTime() > from.getTime())) throw new AppError('validation_failed', 'window.to must be after window.from', { issues: [{ path: 'window.to', message: 'must be after window.from' }] });
    if (to.getTime() <= now) throw new AppError('validation_failed', 'the window must end in the future', { issues: [{ path: 'window.to', message: 'must be in the future' }] });
    const start = Math.max(from.getTime(), now);
    return withTransaction(this.db.pool, async (tx) => {
      const candidates: { id: string; version: number; body: Scenario }[] = [];
      for (const sid of [...new Set(input.scenarioIds)]) {
        const s = await this.latestScenario(tx, sid);
        if (!s || !s.restricted) {
          throw new AppError('unknown_scenario', `no restricted scenario with id ${sid} (a no-script drill may only use restricted scenarios, which participants cannot read)`, { scenarioId: sid });
        }
        candidates.push({ id: sid, ...s });
      }
      const chosen = candidates[randomInt(candidates.length)]!;
      const span = to.getTime() - start;
      const fireAt = new Date(start + (span > 1 ? randomInt(Math.min(span, 2 ** 47)) : 0));
      const id = randomUUID();
      await tx.query(
        `INSERT INTO drills (id, kind, status, scenario_id, scenario_version, scenario, window_from, window_to, fire_at, participants, created_by)
         VALUES ($1, 'no-script', 'sealed', $2, $3, $4, $5, $6, $7, $8, $9)`,
        [id, chosen.id, chosen.version, JSON.stringify(chosen.body), from, to, fireAt, JSON.stringify(input.participants), actor.userId],
      );
      await this.insertInjects(tx, id, chosen.body);
      return this.view(tx, actor, (await this.row(tx, id))!);
    });
  }

  private async insertInjects(tx: Queryable, drillId: string, s: Scenario): Promise<void> {
    await tx.query(
      `INSERT INTO drill_injects (drill_id, inject_id, ord, offset_seconds) SELECT $1, * FROM unnest($2::text[], $3::int[], $4::int[])`,
      [drillId, s.injects.map((i) => i.id), s.injects.map((_, n) => n), s.injects.map((i) => (i.manual ? null : (i.at ?? null)))],
    );
  }

  async list(actor: Actor): Promise<DrillView[]> {
    authorize(actor, 'drill.read', undefined);
    const { rows } = await this.db.pool.query<DrillRow>(
      `SELECT * FROM drills WHERE ($1 OR status <> 'sealed') ORDER BY created_at DESC LIMIT 200`,
      [can(actor, 'drill.manage')],
    );
    return Promise.all(rows.map((r) => this.view(this.db.pool, actor, r)));
  }

  async get(actor: Actor, id: string): Promise<DrillView> {
    authorize(actor, 'drill.read', undefined);
    const row = await this.visibleRow(this.db.pool, actor, id);
    return this.view(this.db.pool, actor, row);
  }


  /** Starts a tabletop drill: activates its exercise incident through the normal activation path. */
  async start(actor: Actor, id: string): Promise<DrillView> {
    authorize(actor, 'drill.manage', undefined);
    const view = await withTransaction(this.db.pool, async (tx) => {
      const row = await this.lock(tx, actor, id);
      if (row.kind !== 'tabletop' || row.status !== 'ready') throw stateError(row, 'start', 'a ready tabletop drill');
      await this.launch(tx, actor, row, false);
      return this.view(tx, actor, (await this.row(tx, id))!);
    });
    this.onScheduleChanged?.();
    return view;
  }

  async pause(actor: Actor, id: string): Promise<DrillView> {
    return this.control(actor, id, 'pause', ['running'], async (tx, row) => {
      await tx.query(`UPDATE drills SET status = 'paused', paused_at = now() WHERE id = $1`, [id]);
      await tx.query('UPDATE drill_injects SET due_at = NULL WHERE drill_id = $1 AND released_at IS NULL', [id]);
      return { type: DRILL_EVENT_TYPES.paused, data: { drillId: row.id } };
    });
  }

  async resume(actor: Actor, id: string): Promise<DrillView> {
    const view = await this.resumeDrill(actor, id);
    this.onScheduleChanged?.();
    return view;
  }

  private resumeDrill(actor: Actor, id: string): Promise<DrillView> {
    return this.control(actor, id, 'resume', ['paused'], async (tx, row) => {
      const { rows } = await tx.query<{ paused_ms: string }>(
        `UPDATE drills SET status = 'running', paused_ms = paused_ms + (EXTRACT(EPOCH FROM (now() - paused_at)) * 1000)::bigint, paused_at = NULL
         WHERE id = $1 RETURNING paused_ms`,
        [id],
      );
      await this.schedule(tx, id);
      return { type: DRILL_EVENT_TYPES.resumed, data: { drillId: row.id, pausedSeconds: Math.round(Number(rows[0]!.paused_ms) / 1000) } };
    });
  }

  async end(actor: Actor, id: string): Promise<DrillView> {
    return this.control(actor, id, 'end', ['running', 'paused'], async (tx, row) => {
      await tx.query(
        `UPDATE drills SET status = 'ended', ended_at = now(),
           paused_ms = paused_ms + COALESCE((EXTRACT(EPOCH FROM (now() - paused_at)) * 1000)::bigint, 0), paused_at = NULL WHERE id = $1`,
        [id],
      );
      await tx.query('UPDATE drill_injects SET due_at = NULL WHERE drill_id = $1 AND released_at IS NULL', [id]);
      return { type: DRILL_EVENT_TYPES.ended, data: { drillId: row.id } };
    });
  }

  /** Releases one inject now (manual injects, or a timed one ahead of time). */
  async releaseNow(actor: Actor, id: string, injectId: string): Promise<DrillView> {
    authorize(actor, 'drill.manage', undefined);
    return withTransaction(this.db.pool, async (tx) => {
      const row = await this.lock(tx, actor, id);
      if (row.status !== 'running' && row.status !== 'paused') throw stateError(row, 'release an inject of', 'a running or paused drill');
      const { rows } = await tx.query<InjectRow>('SELECT * FROM drill_injects WHERE drill_id = $1 AND inject_id = $2 FOR UPDATE', [id, injectId]);
      const inj = rows[0];
      if (!inj) throw new AppError('not_found', `drill ${id} has no inject ${injectId}`, { drillId: id, injectId });
      if (inj.released_at) throw new AppError('inject_already_released', `inject ${injectId} was released at ${inj.released_at.toISOString()}`, { drillId: id, injectId, releasedAt: inj.released_at.toISOString() });
      await this.release(tx, row, inj, actor);
      return this.view(tx, actor, (await this.row(tx, id))!);
    });
  }

  async observe(actor: Actor, id: string, input: { text: string; injectId?: string; rating?: number }): Promise<ObservationView> {
    authorize(actor, 'drill.observe', undefined);
    return withTransaction(this.db.pool, async (tx) => {
      const row = await this.visibleRow(tx, actor, id, true);
      if (row.status === 'sealed' || row.status === 'ready') throw stateError(row, 'record observations on', 'a started drill');
      if (input.injectId && !row.scenario.injects.some((i) => i.id === input.injectId)) {
        throw new AppError('validation_failed', `the scenario has no inject ${input.injectId}`, { issues: [{ path: 'injectId', message: 'no such inject in this drill' }] });
      }
      const obsId = randomUUID();
      const byName = actor.displayName ?? actor.username;
      const { rows } = await tx.query<{ at: Date }>(
        'INSERT INTO drill_observations (id, drill_id, inject_id, text, rating, by_user, by_name) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING at',
        [obsId, id, input.injectId ?? null, input.text, input.rating ?? null, actor.userId, byName],
      );
      if (row.incident_id) {
        const event = await this.bus.record(tx, {
          incidentId: row.incident_id,
          type: DRILL_EVENT_TYPES.observation,
          actor,
          data: { drillId: id, observationId: obsId, injectId: input.injectId ?? null, text: input.text, rating: input.rating ?? null },
        });
      }
      return { id: obsId, at: rows[0]!.at.toISOString(), injectId: input.injectId ?? null, text: input.text, rating: input.rating ?? null, by: byName };
    });
  }

  /** What the exercise sink recorded for this drill's phone-message injects. */
  async sinkMessages(actor: Actor, id: string): Promise<{ injectId: string; channel: string; address: string | null; body: string; createdAt: string }[]> {
    authorize(actor, 'drill.read', undefined);
    await this.visibleRow(this.db.pool, actor, id);
    const { rows } = await this.db.pool.query<{ inject_id: string; channel: string; address: string | null; body: string; created_at: Date }>(
      'SELECT inject_id, channel, address, body, created_at FROM drill_sink_messages WHERE drill_id = $1 ORDER BY id',
      [id],
    );
    return rows.map((r) => ({ injectId: r.inject_id, channel: r.channel, address: r.address, body: r.body, createdAt: r.created_at.toISOString() }));
  }

  // ───────────── the scheduler ─────────────

  /**
   * One pass of the scheduler: fires sealed drills whose moment has come, then releases due
   * injects. Each is claimed with FOR UPDATE SKIP LOCKED in its own transaction, together with the
   * event it writes: whichever node claims it releases it, exactly once.
   */
  async tick(limit = 50): Promise<{ fired: number; released: number }> {
    let fired = 0;
    let released = 0;
    for (let n = 0; n < limit; n++) {
      let claimed: string | undefined;
      try {
        const done = await withTransaction(this.db.pool, async (tx) => {
          const { rows } = await tx.query<DrillRow>(
            `SELECT * FROM drills WHERE status = 'sealed' AND fire_at <= now() ORDER BY fire_at LIMIT 1 FOR UPDATE SKIP LOCKED`,
          );
          const row = rows[0];
          if (!row) return false;
          claimed = row.id;
          const actor = await this.creatorActor(tx, row.created_by);
          await this.launch(tx, actor, row, true);
          return true;
        });
        if (!done) break;
        fired++;
      } catch (err) {
        if (!claimed) throw err;
        // Nothing of it was written; try again later instead of blocking every drill behind it.
        this.log.error({ err, drillId: claimed }, 'drills: firing a sealed drill failed; retrying in 30 s');
        await this.db.pool.query(`UPDATE drills SET fire_at = now() + interval '30 seconds' WHERE id = $1 AND status = 'sealed'`, [claimed]);
      }
    }
    for (let n = 0; n < limit; n++) {
      let claimed: [string, string] | undefined;
      try {
        const outcome = await withTransaction(this.db.pool, async (tx) => {
          // Lock order everywhere: the drill row, then its inject rows (pause, end and manual release
          // do the same). SKIP LOCKED: a drill another node is working on is left to that node.
          const { rows } = await tx.query<DrillRow & { claim_inject: string }>(
            `SELECT d.*, i.inject_id AS claim_inject FROM drill_injects i JOIN drills d ON d.id = i.drill_id
             WHERE i.released_at IS NULL AND i.due_at <= now() AND d.status = 'running'
             ORDER BY i.due_at, i.ord LIMIT 1 FOR UPDATE OF d SKIP LOCKED`,
          );
          const row = rows[0];
          if (!row) return 'none';
          if (row.status !== 'running') return 'skipped';
          claimed = [row.id, row.claim_inject];
          // A fresh statement sees whatever committed before we held the drill: released is released.
          const again = await tx.query<InjectRow>('SELECT * FROM drill_injects WHERE drill_id = $1 AND inject_id = $2 FOR UPDATE', [row.id, row.claim_inject]);
          const fresh = again.rows[0];
          if (!fresh || fresh.released_at || !fresh.due_at || fresh.due_at.getTime() > Date.now() + 5) return 'skipped';
          await this.release(tx, row, fresh, null);
          return 'released';
        });
        if (outcome === 'none') break;
        if (outcome === 'released') released++;
      } catch (err) {
        if (!claimed) throw err;
        // The release rolled back whole; postpone this inject so the ones due after it still go.
        this.log.error({ err, drillId: claimed[0], injectId: claimed[1] }, 'drills: releasing an inject failed; retrying in 30 s');
        await this.db.pool.query(
          `UPDATE drill_injects SET due_at = now() + interval '30 seconds' WHERE drill_id = $1 AND inject_id = $2 AND released_at IS NULL AND due_at IS NOT NULL`,
          claimed,
        );
      }
    }
    return { fired, released };
  }

  // ───────────── internals ─────────────

  /** Activates the exercise incident and starts the clock (tabletop start; no-script at its moment). */
  private async launch(tx: Queryable, actor: Actor, row: DrillRow, noScript: boolean): Promise<void> {
    const s = row.scenario;
    const incident = await this.incidents.activateIn(tx, actor, {
      planId: s.planId,
      level: s.level,
      mode: 'exercise',
      ...(noScript ? {} : { title: `【演练】${s.title.zh}`.slice(0, 200) }),
      ...(s.location ? { location: s.location } : {}),
    });
    await tx.query(`UPDATE drills SET status = 'running', incident_id = $2, started_at = now() WHERE id = $1`, [row.id, incident.id]);
    const started = await this.bus.record(tx, { incidentId: incident.id, type: DRILL_EVENT_TYPES.started, actor, data: { drillId: row.id, kind: row.kind, scenarioId: row.scenario_id, scenarioVersion: row.scenario_version } });
    await this.schedule(tx, row.id);
    if (noScript) {
      // The first inject is the alarm that "arrives": released with the activation.
      const { rows } = await tx.query<InjectRow>('SELECT * FROM drill_injects WHERE drill_id = $1 ORDER BY ord LIMIT 1 FOR UPDATE', [row.id]);
      const updated = (await this.row(tx, row.id))!;
      if (rows[0]) await this.release(tx, updated, rows[0], null);
    }
  }

  /** Sets the wall-clock due time of every unreleased timed inject: start + offset + paused time. */
  private async schedule(tx: Queryable, drillId: string): Promise<void> {
    await tx.query(
      `UPDATE drill_injects i SET due_at = d.started_at + make_interval(secs => i.offset_seconds) + make_interval(secs => d.paused_ms / 1000.0),
         scheduled_for = d.started_at + make_interval(secs => i.offset_seconds) + make_interval(secs => d.paused_ms / 1000.0)
       FROM drills d WHERE d.id = i.drill_id AND i.drill_id = $1 AND i.released_at IS NULL AND i.offset_seconds IS NOT NULL`,
      [drillId],
    );
  }

  /** Releases one claimed inject: its event, its row, and for phone messages the exercise sink. */
  private async release(tx: Queryable, row: DrillRow, inj: InjectRow, actor: Actor | null): Promise<void> {
    const inject = row.scenario.injects.find((i) => i.id === inj.inject_id);
    if (!inject || !row.incident_id) throw new Error(`drill ${row.id}: inject ${inj.inject_id} has no script or incident`);
    let audience: ReleasedAudience = inject.audience;
    if (inject.audience.kind === 'unit') {
      const { rows } = await tx.query<{ id: string }>('SELECT id FROM teams WHERE kind = $1 ORDER BY id', [inject.audience.unit]);
      audience = { ...inject.audience, teamIds: rows.map((r) => r.id) };
    }
    let from: InjectReleasedData['from'] = inject.from ?? null;
    if (inject.from?.teamId) {
      // The team as people name it (for the 现场情况 line), as field reports carry it.
      const { rows } = await tx.query<{ name_zh: string; name_en: string }>('SELECT name_zh, name_en FROM teams WHERE id = $1', [inject.from.teamId]);
      if (rows[0]) from = { ...inject.from, teamName: { zh: rows[0].name_zh, en: rows[0].name_en } };
    }
    const data: InjectReleasedData = {
      drillId: row.id,
      injectId: inject.id,
      form: inject.form,
      audience,
      content: inject.content,
      from,
      scheduledAt: inj.scheduled_for?.toISOString() ?? null,
      manual: actor !== null,
    };
    const event = await this.bus.record(tx, { incidentId: row.incident_id, type: DRILL_EVENT_TYPES.injectReleased, actor, data: data as unknown as Record<string, unknown> });
    const claimed = await tx.query('UPDATE drill_injects SET released_at = $3, released_seq = $4, due_at = NULL WHERE drill_id = $1 AND inject_id = $2 AND released_at IS NULL', [row.id, inject.id, event.at, event.seq]);
    // Never twice: if the row was released meanwhile, the whole transaction (event included) rolls back.
    if (claimed.rowCount !== 1) throw new AppError('inject_already_released', `inject ${inject.id} was already released`, { drillId: row.id, injectId: inject.id });
    if (inject.form === 'phone-message') {
      // Exercise isolation: only the numbers configured for drills, or the recording sink alone.
      const addresses: (string | null)[] = this.sinks.smsNumbers.length > 0 ? this.sinks.smsNumbers : [null];
      for (const address of addresses) {
        await tx.query(
          `INSERT INTO drill_sink_messages (drill_id, inject_id, channel, address, body) VALUES ($1, $2, 'sms', $3, $4) ON CONFLICT DO NOTHING`,
          [row.id, inject.id, address, `【演练】${inject.content.zh}`],
        );
      }
    }
  }

  private async control(
    actor: Actor,
    id: string,
    verb: string,
    from: DrillStatus[],
    change: (tx: Queryable, row: DrillRow) => Promise<{ type: string; data: Record<string, unknown> }>,
  ): Promise<DrillView> {
    authorize(actor, 'drill.manage', undefined);
    return withTransaction(this.db.pool, async (tx) => {
      const row = await this.lock(tx, actor, id);
      if (!from.includes(row.status)) throw stateError(row, verb, `a ${from.join(' or ')} drill`);
      const { type, data } = await change(tx, row);
      if (row.incident_id) {
        const event = await this.bus.record(tx, { incidentId: row.incident_id, type, actor, data });
      }
      return this.view(tx, actor, (await this.row(tx, id))!);
    });
  }

  private async row(db: Queryable, id: string): Promise<DrillRow | undefined> {
    if (!UUID.test(id)) return undefined;
    const { rows } = await db.query<DrillRow>('SELECT * FROM drills WHERE id = $1', [id]);
    return rows[0];
  }

  /** A drill the actor may see: sealed ones only by controllers (anyone else: as if it did not exist). */
  private async visibleRow(db: Queryable, actor: Actor, id: string, forUpdate = false): Promise<DrillRow> {
    if (!UUID.test(id)) throw drillNotFound(id);
    const { rows } = await db.query<DrillRow>(`SELECT * FROM drills WHERE id = $1${forUpdate ? ' FOR UPDATE' : ''}`, [id]);
    const row = rows[0];
    if (!row || (row.status === 'sealed' && !can(actor, 'drill.manage'))) throw drillNotFound(id);
    return row;
  }

  private async lock(tx: Queryable, actor: Actor, id: string): Promise<DrillRow> {
    return this.visibleRow(tx, actor, id, true);
  }

  private async creatorActor(db: Queryable, userId: string): Promise<Actor> {
    const { rows } = await db.query<{ id: string; username: string; display_name: string }>('SELECT id, username, display_name FROM users WHERE id = $1', [userId]);
    const u = rows[0];
    // The drill's authority is the controller who sealed it; it acts in that role.
    return { userId, username: u?.username ?? 'drill', displayName: u?.display_name, role: 'controller', teamId: null };
  }

  view(db: Queryable, actor: Actor, row: DrillRow): Promise<DrillView> {
    return drillView(db, actor, row);
  }
}

/** A drill as the actor sees it, with its scoreboard computed from the incident's log. */
export async function drillView(db: Queryable, actor: Actor, row: DrillRow): Promise<DrillView> {
  const injects = (await db.query<InjectRow>('SELECT * FROM drill_injects WHERE drill_id = $1 ORDER BY ord', [row.id])).rows;
  const byId = new Map(injects.map((i) => [i.inject_id, i]));
  const observations = (
    await db.query<{ id: string; at: Date; inject_id: string | null; text: string; rating: number | null; by_name: string }>(
      'SELECT * FROM drill_observations WHERE drill_id = $1 ORDER BY at, id',
      [row.id],
    )
  ).rows.map((o) => ({ id: o.id, at: o.at.toISOString(), injectId: o.inject_id, text: o.text, rating: o.rating, by: o.by_name }));
  const expectedActions = await evaluate(db, row, byId);
  const controller = can(actor, 'drill.manage');
  return {
    id: row.id,
    kind: row.kind,
    status: row.status,
    incidentId: row.incident_id,
    scenario: { id: row.scenario_id, version: row.scenario_version, title: row.scenario.title, planId: row.scenario.planId, level: row.scenario.level, objectives: row.scenario.objectives },
    window: row.window_from && row.window_to ? { from: row.window_from.toISOString(), to: row.window_to.toISOString() } : null,
    fireAt: controller ? (row.fire_at?.toISOString() ?? null) : null,
    participants: row.participants,
    startedAt: row.started_at?.toISOString() ?? null,
    pausedAt: row.paused_at?.toISOString() ?? null,
    pausedSeconds: Math.round(Number(row.paused_ms) / 1000),
    endedAt: row.ended_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
    injects: row.scenario.injects.map((i) => {
      const r = byId.get(i.id);
      return {
        id: i.id,
        form: i.form,
        audience: i.audience,
        at: i.at ?? null,
        manual: i.manual === true,
        status: r?.released_at ? 'released' : 'pending',
        dueAt: r?.due_at?.toISOString() ?? null,
        releasedAt: r?.released_at?.toISOString() ?? null,
        content: i.content,
      };
    }),
    expectedActions,
    observations,
  };
}

/** Matches each expected action against the incident's log: met / late / missed / pending. */
async function evaluate(db: Queryable, row: DrillRow, injects: Map<string, InjectRow>): Promise<ExpectedActionView[]> {
  const events: IncidentEvent[] = row.incident_id ? await listEvents(db, row.incident_id, { limit: 5000, types: MATCH_TYPES }) : [];
  const needsTeams = row.scenario.injects.some((i) => (i.expect ?? []).some((e) => e.action === 'team-dispatched'));
  const specialties = new Map<string, string[]>();
  if (needsTeams) {
    for (const t of (await db.query<{ id: string; specialties: string[] }>('SELECT id, specialties FROM teams')).rows) specialties.set(t.id, t.specialties);
  }
  const out: ExpectedActionView[] = [];
  for (const inject of row.scenario.injects) {
    const released = injects.get(inject.id)?.released_at ?? null;
    for (const e of inject.expect ?? []) {
      let status: ExpectedStatus = row.status === 'ended' ? 'missed' : 'pending';
      let metAt: string | null = null;
      let secondsAfterInject: number | null = null;
      if (released) {
        const match = events.find((ev) => Date.parse(ev.at) >= released.getTime() && matches(e, ev, specialties));
        if (match) {
          const seconds = Math.max(0, Math.round((Date.parse(match.at) - released.getTime()) / 1000));
          status = seconds <= e.withinSeconds ? 'met' : 'late';
          metAt = match.at;
          secondsAfterInject = seconds;
        }
      }
      out.push({ id: e.id, injectId: inject.id, action: e.action, criterion: e, withinSeconds: e.withinSeconds, status, metAt, secondsAfterInject });
    }
  }
  return out;
}

/** The drill that started an incident, if any (for the review section). */
export async function drillByIncident(db: Queryable, incidentId: string): Promise<DrillRow | undefined> {
  if (!UUID.test(incidentId)) return undefined;
  const { rows } = await db.query<DrillRow>('SELECT * FROM drills WHERE incident_id = $1', [incidentId]);
  return rows[0];
}

function matches(e: ExpectedAction, ev: IncidentEvent, specialties: Map<string, string[]>): boolean {
  const d = ev.data;
  switch (e.action) {
    case 'team-dispatched':
      return ev.type === 'dispatch.created' && (specialties.get(String(d.teamId)) ?? []).includes(e.specialty);
    case 'checklist-item-done':
      return ev.type === 'checklist.item_status' && d.itemId === e.itemId && d.to === 'done';
    case 'warning-approved':
      return ev.type === 'warning.approved' && d.colour === e.colour;
    case 'level-changed':
      return ev.type === 'incident.level_changed' && d.to === e.level;
    case 'report-filed':
      return ev.type === 'field.report' && d.teamId === e.teamId;
  }
}

function stateError(row: DrillRow, verb: string, needs: string): AppError {
  return new AppError('drill_state', `cannot ${verb} drill ${row.id}: it is ${row.status}, this needs ${needs}`, { drillId: row.id, status: row.status });
}

export type { DrillRow };
