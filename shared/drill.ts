import { z } from 'zod';
import { RESPONSE_LEVELS, WARNING_COLOURS } from './labels.js';
import { ROLES } from './roles.js';
import { SPECIALTY_CODES } from './catalogue.js';
import { hasControlCharacters } from './text.js';

/**
 * Drill scenarios (演练脚本 / MSEL) as data: `drills/*.yaml` (seeds) and `POST /api/scenarios`.
 * One schema for both; cross-references (plan, checklist items, teams) are checked against the
 * plan library and the organisation by `checkScenarioReferences` (server side).
 */

const slug = z.string().regex(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, 'must be lower-case letters, digits and single hyphens (URL-safe)').max(100);
const teamId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,39}$/, 'must be a team id such as T-D07');

const text = (max: number) =>
  z
    .string()
    .trim()
    .min(1, 'text is required')
    .max(max)
    .refine((v) => !hasControlCharacters(v, true), 'must not contain control characters (tab and line breaks are fine)');

export const drillTextSchema = (max = 2000) =>
  z.object({ zh: text(max).describe('Chinese (first)'), en: text(max).describe('English') }).strict().describe('A text in Chinese (zh) and English (en).');

export { INJECT_FORMS, INJECT_FORM_LABELS, type InjectForm } from './drill-labels.js';
import { INJECT_FORMS, type InjectForm } from './drill-labels.js';

export const EXPECTED_ACTIONS = ['team-dispatched', 'checklist-item-done', 'warning-approved', 'level-changed', 'report-filed'] as const;
export type ExpectedActionKind = (typeof EXPECTED_ACTIONS)[number];

export const audienceSchema = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('all') }).strict(),
    z.object({ kind: z.literal('role'), role: z.enum(ROLES) }).strict(),
    z.object({ kind: z.literal('team'), teamId }).strict(),
    z.object({ kind: z.literal('unit'), unit: slug.describe('a team kind from the organisation, e.g. fire-rescue') }).strict(),
    z.object({ kind: z.literal('controller') }).strict(),
  ])
  .describe('Who receives the inject: all | role | team | unit (team kind) | controller (controllers and evaluators only)');
export type InjectAudience = z.infer<typeof audienceSchema>;

const within = z.number().int().min(1).max(7 * 24 * 3600).describe('Seconds after the inject is released');
export const expectedActionSchema = z.discriminatedUnion('action', [
  z.object({ id: slug, action: z.literal('team-dispatched'), specialty: z.enum(SPECIALTY_CODES), withinSeconds: within }).strict(),
  z.object({ id: slug, action: z.literal('checklist-item-done'), itemId: slug, withinSeconds: within }).strict(),
  z.object({ id: slug, action: z.literal('warning-approved'), colour: z.enum(WARNING_COLOURS), withinSeconds: within }).strict(),
  z.object({ id: slug, action: z.literal('level-changed'), level: z.enum(RESPONSE_LEVELS), withinSeconds: within }).strict(),
  z.object({ id: slug, action: z.literal('report-filed'), teamId, withinSeconds: within }).strict(),
]);
export type ExpectedAction = z.infer<typeof expectedActionSchema>;

export const injectSchema = z
  .object({
    id: slug.describe('Unique in the scenario'),
    at: z.number().int().min(0).max(7 * 24 * 3600).optional().describe('Seconds after the drill starts (paused time not counted)'),
    manual: z.boolean().optional().describe('Released by a controller only (no offset)'),
    audience: audienceSchema,
    form: z.enum(INJECT_FORMS),
    from: z
      .object({
        teamId: teamId.optional(),
        name: drillTextSchema(200).optional().describe('Caller, sensor or sender as the participants see it'),
        phone: z.string().regex(/^[0-9+\-() ]{3,30}$/).optional(),
      })
      .strict()
      .optional()
      .describe('Who the inject appears to come from'),
    content: drillTextSchema(2000),
    expect: z.array(expectedActionSchema).max(20).optional(),
  })
  .strict()
  .superRefine((inj, ctx) => {
    if ((inj.at === undefined) === (inj.manual !== true)) ctx.addIssue({ code: 'custom', path: ['at'], message: 'give exactly one of `at` (seconds) or `manual: true`' });
    if (inj.form === 'field-report' && !inj.from?.teamId) ctx.addIssue({ code: 'custom', path: ['from', 'teamId'], message: 'a field-report inject needs from.teamId (the team it appears to come from)' });
  });
export type Inject = z.infer<typeof injectSchema>;

export const scenarioSchema = z
  .object({
    $schema: z.string().optional(),
    id: slug,
    version: z.string().min(1).max(40).optional().describe('Revision label of the script; the server also numbers stored versions'),
    title: drillTextSchema(200),
    planId: slug.describe('The plan the exercise incident is activated from'),
    level: z.enum(RESPONSE_LEVELS).describe('The level the exercise incident starts at'),
    objectives: z.array(drillTextSchema(500)).min(1).max(20),
    restricted: z.boolean().optional().describe('Listed to controllers only (required for no-script drills, so participants can never read the script)'),
    location: z.object({ lat: z.number().min(-90).max(90), lon: z.number().min(-180).max(180) }).strict().optional(),
    injects: z.array(injectSchema).min(1).max(60),
  })
  .strict()
  .superRefine((s, ctx) => {
    const injects = new Set<string>();
    const expects = new Set<string>();
    s.injects.forEach((inj, i) => {
      if (injects.has(inj.id)) ctx.addIssue({ code: 'custom', path: ['injects', i, 'id'], message: `duplicate inject id "${inj.id}"` });
      injects.add(inj.id);
      (inj.expect ?? []).forEach((e, j) => {
        if (expects.has(e.id)) ctx.addIssue({ code: 'custom', path: ['injects', i, 'expect', j, 'id'], message: `duplicate expected-action id "${e.id}"` });
        expects.add(e.id);
      });
    });
  });
export type Scenario = z.infer<typeof scenarioSchema>;

export const DRILL_KINDS = ['tabletop', 'no-script'] as const;
export type DrillKind = (typeof DRILL_KINDS)[number];
export const DRILL_STATUSES = ['ready', 'sealed', 'running', 'paused', 'ended'] as const;
export type DrillStatus = (typeof DRILL_STATUSES)[number];

export const DRILL_EVENT_TYPES = {
  /** data: drillId, injectId, form, audience, content, from (+ scheduledAt, manual). */
  injectReleased: 'drill.inject_released',
  started: 'drill.started',
  paused: 'drill.paused',
  resumed: 'drill.resumed',
  ended: 'drill.ended',
  observation: 'drill.observation',
} as const;

/** The audience as written into the event, with team ids resolved (unit → its teams). */
export type ReleasedAudience = InjectAudience & { teamIds?: string[] };

export interface InjectReleasedData {
  drillId: string;
  injectId: string;
  form: InjectForm;
  audience: ReleasedAudience;
  content: { zh: string; en: string };
  from: (NonNullable<Inject['from']> & { teamName?: { zh: string; en: string } }) | null;
  scheduledAt: string | null;
  manual: boolean;
}

/** Roles that see every inject and every drill control event of an exercise. */
export const DRILL_STAFF_ROLES = ['controller', 'evaluator'] as const;

/**
 * Whether an event of an incident's log reaches this actor (REST /events, the live feed, the
 * board). Everything but drill control entries reaches everyone who sees the incident; an inject
 * reaches its audience (and the drill staff); drill control entries (start/pause/observation) only
 * the drill staff.
 */
export function eventReaches(actor: { role: string; teamId: string | null }, event: { type: string; data: Record<string, unknown> }): boolean {
  if (!event.type.startsWith('drill.')) return true;
  if ((DRILL_STAFF_ROLES as readonly string[]).includes(actor.role)) return true;
  if (event.type !== DRILL_EVENT_TYPES.injectReleased) return false;
  const audience = (event.data as unknown as InjectReleasedData).audience;
  if (!audience || typeof audience !== 'object') return false;
  switch (audience.kind) {
    case 'all':
      return true;
    case 'role':
      return actor.role === audience.role;
    case 'team':
      return actor.teamId !== null && actor.teamId === audience.teamId;
    case 'unit':
      return actor.teamId !== null && (audience.teamIds ?? []).includes(actor.teamId);
    default:
      return false;
  }
}
