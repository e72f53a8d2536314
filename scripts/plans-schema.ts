/** `npm run plans:schema`: regenerates plans/plan.schema.json and drills/scenario.schema.json from the zod schemas (the single source). */
import { writeFile } from 'node:fs/promises';
import { planJsonSchema } from '../server/plans/json-schema.js';
import { scenarioJsonSchema } from '../server/drills/json-schema.js';

await writeFile('plans/plan.schema.json', JSON.stringify(planJsonSchema(), null, 2) + '\n');
console.log('wrote plans/plan.schema.json');
await writeFile('drills/scenario.schema.json', JSON.stringify(scenarioJsonSchema(), null, 2) + '\n');
console.log('wrote drills/scenario.schema.json');
