import { z } from 'zod';
import { scenarioSchema } from '../../shared/drill.js';

/** The published JSON Schema for drill scenario files, derived from the runtime schema. */
export function scenarioJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(scenarioSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return {
    ...schema,
    $id: 'https://yingji.dev/schemas/scenario.schema.json',
    title: 'Yingji drill scenario (演练脚本 / MSEL)',
    description:
      'A drill scenario as data. Cross-references (plan and level, checklist items, teams, team kinds, unique ids, at-or-manual) are checked by `npm run plans:check` and the API, not all by this schema.',
  };
}
