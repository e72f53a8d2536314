import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import type { z } from 'zod';
import { scenarioSchema, type Scenario } from '../../shared/drill.js';
import { effectiveChecklist, type Plan } from '../../shared/plan.js';
import { RESPONSE_LEVELS } from '../../shared/labels.js';
import { formatPath, formatProblem, type PlanProblem } from '../plans/loader.js';

/** One problem in one scenario file (same shape as a plan problem: file, line, path, message). */
export type ScenarioProblem = PlanProblem;
export { formatProblem };

export class ScenarioValidationError extends Error {
  constructor(readonly problems: ScenarioProblem[]) {
    super(`invalid drill scenarios:\n${problems.map(formatProblem).join('\n')}`);
    this.name = 'ScenarioValidationError';
  }
}

/** What scenarios refer to: the plan library and the organisation's teams. */
export interface ScenarioReferences {
  plan(id: string): Plan | undefined;
  planIds: string[];
  teams: { id: string; kind: string; specialties: string[] }[];
}

/** Cross-references a schema cannot check: the plan and its level, checklist items, teams, team kinds. */
export function checkScenarioReferences(s: Scenario, refs: ScenarioReferences): { path: (string | number)[]; message: string }[] {
  const problems: { path: (string | number)[]; message: string }[] = [];
  const plan = refs.plan(s.planId);
  if (!plan) {
    problems.push({ path: ['planId'], message: `no plan with id "${s.planId}" (known: ${refs.planIds.join(', ')})` });
  } else if (!plan.levels[s.level]) {
    problems.push({ path: ['level'], message: `plan ${plan.id} defines no level ${s.level}` });
  }
  // Any item of any level: the participants may escalate during the drill.
  const items = new Set(plan ? RESPONSE_LEVELS.filter((l) => plan.levels[l]).flatMap((l) => effectiveChecklist(plan, l).map((i) => i.id)) : []);
  const teams = new Set(refs.teams.map((t) => t.id));
  const kinds = new Set(refs.teams.map((t) => t.kind));
  const specialties = new Set(refs.teams.flatMap((t) => t.specialties));
  s.injects.forEach((inj, i) => {
    if (inj.from?.teamId && !teams.has(inj.from.teamId)) problems.push({ path: ['injects', i, 'from', 'teamId'], message: `no team ${inj.from.teamId} in the organisation` });
    if (inj.audience.kind === 'team' && !teams.has(inj.audience.teamId)) problems.push({ path: ['injects', i, 'audience', 'teamId'], message: `no team ${inj.audience.teamId} in the organisation` });
    if (inj.audience.kind === 'unit' && !kinds.has(inj.audience.unit)) problems.push({ path: ['injects', i, 'audience', 'unit'], message: `no team of kind ${inj.audience.unit} (known: ${[...kinds].join(', ')})` });
    (inj.expect ?? []).forEach((e, j) => {
      const at = ['injects', i, 'expect', j];
      if (e.action === 'checklist-item-done' && plan && !items.has(e.itemId)) problems.push({ path: [...at, 'itemId'], message: `plan ${plan.id} has no checklist item ${e.itemId}` });
      if (e.action === 'report-filed' && !teams.has(e.teamId)) problems.push({ path: [...at, 'teamId'], message: `no team ${e.teamId} in the organisation` });
      if (e.action === 'team-dispatched' && !specialties.has(e.specialty)) problems.push({ path: [...at, 'specialty'], message: `no team in the organisation has specialty ${e.specialty}` });
      if (e.action === 'level-changed' && plan && !plan.levels[e.level]) problems.push({ path: [...at, 'level'], message: `plan ${plan.id} defines no level ${e.level}` });
    });
  });
  return problems;
}

function lineOf(doc: Document, counter: LineCounter, segments: readonly PropertyKey[]): number | undefined {
  for (let n = segments.length; n >= 0; n--) {
    const node = doc.getIn(segments.slice(0, n) as unknown[], true);
    if (isNode(node) && node.range) return counter.linePos(node.range[0]).line;
  }
  return undefined;
}

/** Parses, validates and cross-checks one scenario file's text. */
export function parseScenario(file: string, text: string, refs?: ScenarioReferences): { scenario?: Scenario; problems: ScenarioProblem[] } {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false });
  if (doc.errors.length > 0) {
    return {
      problems: doc.errors.map((e) => ({ file, path: '', line: e.linePos?.[0]?.line ?? counter.linePos(e.pos[0]).line, message: `YAML syntax: ${e.message.split('\n')[0]}` })),
    };
  }
  const result = scenarioSchema.safeParse(doc.toJS());
  if (!result.success) {
    return {
      problems: result.error.issues.map((issue: z.core.$ZodIssue) => ({ file, path: formatPath(issue.path), line: lineOf(doc, counter, issue.path), message: issue.message })),
    };
  }
  const refProblems = refs ? checkScenarioReferences(result.data, refs) : [];
  if (refProblems.length > 0) {
    return { problems: refProblems.map((p) => ({ file, path: formatPath(p.path), line: lineOf(doc, counter, p.path), message: p.message })) };
  }
  return { scenario: result.data, problems: [] };
}

/** Loads every *.yaml scenario in a directory (none if it does not exist); throws listing every problem. */
export async function loadScenarios(dir: string, refs?: ScenarioReferences): Promise<Map<string, { scenario: Scenario; file: string }>> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => /\.ya?ml$/.test(n)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw err;
  }
  const out = new Map<string, { scenario: Scenario; file: string }>();
  const problems: ScenarioProblem[] = [];
  for (const name of names) {
    const file = path.relative(process.cwd(), path.join(dir, name)) || name;
    const parsed = parseScenario(file, await readFile(path.join(dir, name), 'utf8'), refs);
    problems.push(...parsed.problems);
    if (!parsed.scenario) continue;
    const existing = out.get(parsed.scenario.id);
    if (existing) {
      problems.push({ file, path: 'id', message: `duplicate scenario id "${parsed.scenario.id}" (also in ${existing.file})` });
      continue;
    }
    out.set(parsed.scenario.id, { scenario: parsed.scenario, file });
  }
  if (problems.length > 0) throw new ScenarioValidationError(problems);
  return out;
}
