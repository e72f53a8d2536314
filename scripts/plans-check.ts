/** `npm run plans:check [dir]`: validates every plan file and prints each problem with file, line and path. */
import path from 'node:path';
import { loadPlans, PlanValidationError, formatProblem } from '../server/plans/loader.js';

const dir = path.resolve(process.argv[2] ?? 'plans');
try {
  const plans = await loadPlans(dir);
  for (const { plan, file } of plans.values()) {
    const levels = Object.keys(plan.levels).join(', ');
    console.log(`ok  ${path.relative(process.cwd(), file)}  ${plan.id}  ${plan.title.zh}  (levels ${levels})`);
  }
  console.log(`${plans.size} plan(s) valid`);
} catch (err) {
  if (err instanceof PlanValidationError) {
    for (const p of err.problems) console.error(formatProblem(p));
    console.error(`${err.problems.length} problem(s)`);
    process.exit(1);
  }
  throw err;
}
