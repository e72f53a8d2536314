import { z } from 'zod';
import { planSchema } from '../../shared/plan.js';

/** The published JSON Schema for plan files, derived from the runtime schema so they cannot drift. */
export function planJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(planSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return {
    ...schema,
    $id: 'https://yingji.dev/schemas/plan.schema.json',
    title: 'Yingji digitized contingency plan (数字化应急预案)',
    description:
      'A contingency plan as data. Cross-references (unit ids, dependsOn, unique ids, no dependency cycles) are checked by `npm run plans:check`, not by this schema.',
  };
}
