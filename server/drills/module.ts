import type { Module, ServerContext } from '../module.js';
import type { Scenario } from '../../shared/drill.js';
import type { OrganisationSeed } from '../resources/seed-schema.js';
import type { PlanLibrary } from '../plans/library.js';
import { ExerciseSinks } from '../warnings/exercise-sinks.js';
import { loadScenarios, type ScenarioReferences } from './loader.js';
import { DrillService } from './service.js';
import { idleSleepMs } from '../background/loops.js';
import { drillRoutes } from './routes.js';

/** Reads and checks the shipped scenarios (drills/*.yaml) against the plans and the organisation file; throws listing every problem. */
export async function loadDrillSeeds(dir: string, plans: PlanLibrary, organisation: OrganisationSeed): Promise<Scenario[]> {
  const loaded = await loadScenarios(dir, {
    plan: (id) => plans.get(id),
    planIds: plans.list().map((p) => p.id),
    teams: organisation.teams.map((t) => ({ id: t.id, kind: t.kind, specialties: t.specialties })),
  });
  return [...loaded.values()].map((l) => l.scenario);
}

/** How soon to look again when injects were due but none could be released. */
const STALLED_RETRY_MS = 250;

/**
 * Drills (issue 11): scenario and drill API, the seeds, and the scheduler that releases due
 * injects and fires sealed no-script drills (each node wakes when the next is due, and at least every
 * DRILL_POLL_MS; rows are claimed under FOR UPDATE SKIP LOCKED, so several nodes never release one
 * inject twice).
 */
export function drillsModule(ctx: ServerContext, seeds: Scenario[]): Module & { drills: DrillService } {
  const refs = async (): Promise<ScenarioReferences> => ({
    plan: (id) => ctx.plans.get(id),
    planIds: ctx.plans.list().map((p) => p.id),
    teams: (await ctx.db.pool.query<{ id: string; kind: string; specialties: string[] }>('SELECT id, kind, specialties FROM teams')).rows,
  });
  const drills = new DrillService(ctx.db, ctx.incidents, ctx.bus, refs, new ExerciseSinks(ctx.config), ctx.log);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  // Sleeps until the next inject or sealed drill is due (in the database's clock), at most
  // DRILL_POLL_MS: that cap is how late work scheduled on another node can be seen here. Work
  // scheduled on this node wakes it at once.
  const loop = () => {
    if (stopped) return;
    // Idle, a pass is one query (when is the next due?); the claiming transactions run only then.
    running = drills
      .nextDueInMs()
      .then(async (wait) => {
        if (wait === null || wait > 0) return wait;
        const { fired, released } = await drills.tick();
        // Due but nothing released: the drill is held by another node, or this node's clock is
        // behind the database's (the release re-checks the time) — look again shortly.
        return fired + released > 0 ? 0 : STALLED_RETRY_MS;
      })
      .then(
        (wait) => idleSleepMs(wait, ctx.config.DRILL_POLL_MS),
        (err: unknown) => {
          ctx.log.error({ err }, 'drills: scheduler pass failed');
          return ctx.config.DRILL_POLL_MS;
        },
      )
      .then((delay) => {
        running = undefined;
        if (stopped) return;
        timer = setTimeout(loop, again ? 0 : delay);
        again = false;
      });
  };
  drills.onScheduleChanged = () => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    clearTimeout(timer);
    loop();
  };
  return {
    name: 'drills',
    drills,
    routers: [drillRoutes(drills)],
    async start() {
      const seeded = await drills.seedScenarios(seeds);
      if (seeded > 0) ctx.log.info({ seeded }, 'drills: stored shipped scenarios');
      loop();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
