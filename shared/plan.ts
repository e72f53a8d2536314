import { z } from 'zod';
import {
  HAZARD_TYPES,
  PHASES,
  PLAN_TIERS,
  RESPONSE_LEVELS,
  WARNING_CHANNELS,
  WARNING_COLOURS,
  levelSeverity,
  type ResponseLevel,
} from './labels.js';
import { MATERIAL_ITEM_CODES, SPECIALTY_CODES } from './catalogue.js';

const slug = z
  .string()
  .regex(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, 'must be lower-case letters, digits and single hyphens (URL-safe)');

export const bilingualSchema = z
  .object({
    zh: z.string().trim().min(1, 'Chinese text is required'),
    en: z.string().trim().min(1, 'English text is required'),
  })
  .strict()
  .describe('A text in Chinese (zh) and English (en).');

export const latLonSchema = z
  .tuple([z.number().min(-90).max(90), z.number().min(-180).max(180)])
  .describe('[latitude, longitude] in WGS-84 degrees');

export const areaSchema = z
  .object({
    description: bilingualSchema.describe('Area description (areaDesc in CAP)'),
    polygon: z
      .array(latLonSchema)
      .min(4, 'a polygon needs at least 4 points, the first repeated as the last')
      .optional()
      .describe('Closed ring of [lat, lon] points; first equals last'),
    circle: z
      .object({ lat: z.number().min(-90).max(90), lon: z.number().min(-180).max(180), radiusKm: z.number().positive() })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((area, ctx) => {
    const ring = area.polygon;
    if (ring && ring.length >= 4) {
      const first = ring[0]!;
      const last = ring[ring.length - 1]!;
      if (first[0] !== last[0] || first[1] !== last[1]) {
        ctx.addIssue({ code: 'custom', path: ['polygon'], message: 'polygon is not closed: the last point must equal the first' });
      }
    }
  });

export const unitSchema = z
  .object({
    id: slug.describe('Stable unit id, referenced by checklist items'),
    name: bilingualSchema,
    dutyContact: z
      .object({ name: z.string().min(1), phone: z.string().regex(/^\+[1-9]\d{6,14}$/, 'an E.164 mobile number like +8613800000000') })
      .strict()
      .optional()
      .describe('值班联系人: reminded by SMS when one of the unit\'s checklist items reaches its due time still open'),
  })
  .strict();

export const checklistItemSchema = z
  .object({
    id: slug.describe('Stable item id, unique in the plan; the live checklist keys on it'),
    text: bilingualSchema,
    unit: slug.describe('Responsible unit (责任单位): an id from command.units'),
    phase: z.enum(PHASES),
    dueMinutes: z.number().int().min(0).max(60 * 24 * 30).describe('Due offset in minutes from activation'),
    dependsOn: z.array(slug).optional().describe('Ids of items that must be done first'),
    includeInHigherLevels: z
      .boolean()
      .optional()
      .describe('Default true: more severe levels include this item. Set false for an item a more severe level replaces.'),
  })
  .strict();

export const teamRequirementSchema = z
  .object({
    specialty: z.enum(SPECIALTY_CODES),
    count: z.number().int().positive().describe('Number of teams'),
    note: bilingualSchema.optional(),
  })
  .strict();

export const materialRequirementSchema = z
  .object({
    item: z.enum(MATERIAL_ITEM_CODES),
    quantity: z.number().positive(),
    unit: z.string().min(1).describe('Unit as written in the plan (must match the catalogue unit, zh)'),
  })
  .strict();

export const warningTemplateSchema = z
  .object({
    id: slug,
    colour: z.enum(WARNING_COLOURS).describe('blue 蓝 = level 4 … red 红 = level 1'),
    area: areaSchema,
    audience: z
      .object({
        description: bilingualSchema,
        roles: z.array(z.string()).optional(),
        public: z.boolean().optional().describe('Include public subscriber lists'),
      })
      .strict(),
    channels: z.array(z.enum(WARNING_CHANNELS)).min(1),
    headline: bilingualSchema,
    text: bilingualSchema,
    instruction: bilingualSchema.optional(),
    validHours: z.number().int().min(1).max(720).optional().describe('How long the warning stands once sent (CAP expires); default WARNING_DEFAULT_VALID_HOURS'),
    acknowledgement: z
      .object({
        withinMinutes: z.number().min(0.01).max(1440),
        callAfterMinutes: z.number().min(0.01).max(1440).optional(),
        escalateAfterMinutes: z.number().min(0.01).max(1440).optional(),
      })
      .strict()
      .optional()
      .describe('叫应: responsible-person recipients must acknowledge within N minutes; then resend, voice call, superior alerted'),
  })
  .strict();

export const levelSchema = z
  .object({
    activationCriteria: z.array(bilingualSchema).min(1, 'a level needs at least one activation criterion'),
    checklist: z.array(checklistItemSchema),
    teams: z.array(teamRequirementSchema),
    materials: z.array(materialRequirementSchema),
    warningTemplates: z.array(warningTemplateSchema),
  })
  .strict();

const levelsSchema = z
  .object({
    I: levelSchema.optional(),
    II: levelSchema.optional(),
    III: levelSchema.optional(),
    IV: levelSchema.optional(),
  })
  .strict()
  .refine((levels) => Object.values(levels).some(Boolean), 'a plan needs at least one response level');

export const planSchema = z
  .object({
    $schema: z.string().optional(),
    id: slug,
    version: z.string().min(1).describe('Revision of the plan, e.g. 2026-11'),
    title: bilingualSchema,
    summary: bilingualSchema,
    hazard: z.enum(HAZARD_TYPES),
    tier: z.enum(PLAN_TIERS).describe('总体 overall / 专项 special / 部门 department / 基层 grass-roots'),
    ownerUnit: slug.describe('Unit that owns and revises the plan'),
    command: z
      .object({
        headquarters: bilingualSchema.describe('指挥部 name'),
        commander: bilingualSchema.describe('指挥长 post'),
        leadUnit: slug.describe('牵头单位: an id from units'),
        responsibleUnits: z.array(slug).min(1).describe('责任单位: ids from units'),
        units: z.array(unitSchema).min(1).describe('Member units (成员单位)'),
      })
      .strict(),
    levels: levelsSchema,
  })
  .strict()
  .superRefine((plan, ctx) => checkPlanReferences(plan, ctx));

export type Plan = z.infer<typeof planSchema>;
export type PlanLevel = z.infer<typeof levelSchema>;
export type ChecklistItemTemplate = z.infer<typeof checklistItemSchema>;
export type WarningTemplate = z.infer<typeof warningTemplateSchema>;
export type Area = z.infer<typeof areaSchema>;

/** Cross-references that a JSON Schema cannot express: unit ids, unique ids, dependencies, no cycles. */
function checkPlanReferences(plan: z.infer<typeof planSchema>, ctx: z.RefinementCtx): void {
  const unitIds = new Set<string>();
  plan.command.units.forEach((unit, i) => {
    if (unitIds.has(unit.id)) ctx.addIssue({ code: 'custom', path: ['command', 'units', i, 'id'], message: `duplicate unit id "${unit.id}"` });
    unitIds.add(unit.id);
  });
  const requireUnit = (id: string, path: (string | number)[]) => {
    if (!unitIds.has(id)) ctx.addIssue({ code: 'custom', path, message: `unknown unit "${id}" (not in command.units)` });
  };
  requireUnit(plan.ownerUnit, ['ownerUnit']);
  requireUnit(plan.command.leadUnit, ['command', 'leadUnit']);
  plan.command.responsibleUnits.forEach((id, i) => requireUnit(id, ['command', 'responsibleUnits', i]));

  const itemLevel = new Map<string, ResponseLevel>();
  const templateIds = new Set<string>();
  // Least severe first, so a duplicate is reported where it is repeated, not where it is defined.
  for (const level of [...RESPONSE_LEVELS].reverse()) {
    const content = plan.levels[level];
    if (!content) continue;
    content.checklist.forEach((item, i) => {
      const path = ['levels', level, 'checklist', i];
      if (itemLevel.has(item.id)) ctx.addIssue({ code: 'custom', path: [...path, 'id'], message: `duplicate checklist item id "${item.id}" (also at level ${itemLevel.get(item.id)})` });
      itemLevel.set(item.id, level);
      requireUnit(item.unit, [...path, 'unit']);
    });
    content.warningTemplates.forEach((t, i) => {
      if (templateIds.has(t.id)) ctx.addIssue({ code: 'custom', path: ['levels', level, 'warningTemplates', i, 'id'], message: `duplicate warning template id "${t.id}"` });
      templateIds.add(t.id);
    });
  }
  for (const level of RESPONSE_LEVELS) {
    const content = plan.levels[level];
    if (!content) continue;
    const visible = new Set(effectiveChecklist(plan, level).map((item) => item.id));
    content.checklist.forEach((item, i) => {
      (item.dependsOn ?? []).forEach((dep, j) => {
        const path = ['levels', level, 'checklist', i, 'dependsOn', j];
        if (dep === item.id) ctx.addIssue({ code: 'custom', path, message: `item "${item.id}" depends on itself` });
        else if (!visible.has(dep)) ctx.addIssue({ code: 'custom', path, message: `unknown dependency "${dep}": no such item at level ${level} or the levels it includes` });
      });
    });
    const cycle = findCycle(effectiveChecklist(plan, level));
    if (cycle) ctx.addIssue({ code: 'custom', path: ['levels', level, 'checklist'], message: `dependency cycle: ${cycle.join(' → ')}` });
  }
}

function findCycle(items: ChecklistItemTemplate[]): string[] | null {
  const deps = new Map(items.map((item) => [item.id, item.dependsOn ?? []]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): string[] | null => {
    if (state.get(id) === 'done') return null;
    if (state.get(id) === 'visiting') return [...stack.slice(stack.indexOf(id)), id];
    state.set(id, 'visiting');
    stack.push(id);
    for (const dep of deps.get(id) ?? []) {
      const found = deps.has(dep) ? visit(dep) : null;
      if (found) return found;
    }
    stack.pop();
    state.set(id, 'done');
    return null;
  };
  for (const id of deps.keys()) {
    const found = visit(id);
    if (found) return found;
  }
  return null;
}

export interface EffectiveChecklistItem extends ChecklistItemTemplate {
  /** The level whose section of the plan defines this item. */
  level: ResponseLevel;
}

/**
 * The checklist of one response level: its own items plus those of every less
 * severe level, unless an item says it is not carried up. Ordered from the
 * least severe level's items to the level's own, each in plan order.
 */
export function effectiveChecklist(plan: Pick<Plan, 'levels'>, level: ResponseLevel): EffectiveChecklistItem[] {
  const target = levelSeverity(level);
  const items: EffectiveChecklistItem[] = [];
  for (const l of [...RESPONSE_LEVELS].reverse()) {
    const severity = levelSeverity(l);
    if (severity > target) break;
    const content = plan.levels[l];
    if (!content) continue;
    for (const item of content.checklist) {
      if (severity < target && item.includeInHigherLevels === false) continue;
      items.push({ ...item, level: l });
    }
  }
  return items;
}
