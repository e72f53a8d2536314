import type { Module, ServerContext } from '../module.js';
import type { Scenario } from '../../shared/drill.js';
import type { OrganisationSeed } from '../resources/seed-schema.js';
import type { PlanLibrary } from '../plans/library.js';
import { ExerciseSinks } from '../warnings/exercise-sinks.js';
import { loadScenarios, type ScenarioReferences } from './loader.js';
import { DrillService } from './service.js';
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

/**
 * Drills (issue 11): scenario and drill API, the seeds, and the scheduler that releases due
 * injects and fires sealed no-script drills (a poll every DRILL_POLL_MS on every node; rows are
 * claimed under FOR UPDATE SKIP LOCKED, so several nodes never release one inject twice).
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
  let stopped = false;
  const loop = () => {
    if (stopped) return;
    running = drills
      .tick()
      .then(
        () => undefined,
        (err: unknown) => ctx.log.error({ err }, 'drills: scheduler pass failed'),
      )
      .finally(() => {
        running = undefined;
        if (!stopped) timer = setTimeout(loop, ctx.config.DRILL_POLL_MS);
      });
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
