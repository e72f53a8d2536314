/** `npm run plans:check [plansDir] [drillsDir]`: validates every plan and drill scenario file and prints each problem with file, line and path. */
import path from 'node:path';
import { loadPlans, PlanValidationError, formatProblem } from '../server/plans/loader.js';
import { loadScenarios, ScenarioValidationError } from '../server/drills/loader.js';
import { readOrganisationSeed } from '../server/resources/seed-file.js';

const dir = path.resolve(process.argv[2] ?? 'plans');
const drillsDir = path.resolve(process.argv[3] ?? 'drills');
try {
  const plans = await loadPlans(dir);
  for (const { plan, file } of plans.values()) {
    const levels = Object.keys(plan.levels).join(', ');
    console.log(`ok  ${path.relative(process.cwd(), file)}  ${plan.id}  ${plan.title.zh}  (levels ${levels})`);
  }
  console.log(`${plans.size} plan(s) valid`);
  const organisation = await readOrganisationSeed(path.resolve(process.env.ORGANISATION_FILE ?? 'seed/demo-organisation.yaml'));
  const scenarios = await loadScenarios(drillsDir, {
    plan: (id) => plans.get(id)?.plan,
    planIds: [...plans.keys()],
    teams: organisation.teams.map((t) => ({ id: t.id, kind: t.kind, specialties: t.specialties })),
  });
  for (const { scenario, file } of scenarios.values()) {
    console.log(`ok  ${file}  ${scenario.id}  ${scenario.title.zh}  (${scenario.injects.length} injects, plan ${scenario.planId} level ${scenario.level})`);
  }
  console.log(`${scenarios.size} drill scenario(s) valid`);
} catch (err) {
  if (err instanceof PlanValidationError || err instanceof ScenarioValidationError) {
    for (const p of err.problems) console.error(formatProblem(p));
    console.error(`${err.problems.length} problem(s)`);
    process.exit(1);
  }
  throw err;
}
