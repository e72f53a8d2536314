/** `npm run plans:schema`: regenerates plans/plan.schema.json from the zod plan schema (the single source). */
import { writeFile } from 'node:fs/promises';
import { planJsonSchema } from '../server/plans/json-schema.js';

await writeFile('plans/plan.schema.json', JSON.stringify(planJsonSchema(), null, 2) + '\n');
console.log('wrote plans/plan.schema.json');
