import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import type { z } from 'zod';
import { planSchema, type Plan } from '../../shared/plan.js';

/** One problem in one plan file: where it is and what is wrong. */
export interface PlanProblem {
  file: string;
  /** JSON path inside the plan, e.g. "levels.II.checklist[3].unit". Empty for the whole file. */
  path: string;
  /** 1-based line in the file, when known. */
  line?: number;
  message: string;
}

export class PlanValidationError extends Error {
  constructor(readonly problems: PlanProblem[]) {
    super(`invalid plan files:\n${problems.map(formatProblem).join('\n')}`);
    this.name = 'PlanValidationError';
  }
}

export function formatProblem(p: PlanProblem): string {
  const where = p.line ? `${p.file}:${p.line}` : p.file;
  return `${where}: ${p.path || '(file)'}: ${p.message}`;
}

export interface LoadedPlan {
  plan: Plan;
  file: string;
}

export function formatPath(segments: readonly PropertyKey[]): string {
  return segments
    .map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? String(s) : `.${String(s)}`))
    .join('');
}

function lineOf(doc: Document, counter: LineCounter, segments: readonly PropertyKey[]): number | undefined {
  for (let n = segments.length; n >= 0; n--) {
    const node = doc.getIn(segments.slice(0, n) as unknown[], true);
    if (isNode(node) && node.range) return counter.linePos(node.range[0]).line;
  }
  return undefined;
}

/** Parses and validates one plan file's text. */
export function parsePlan(file: string, text: string): { plan?: Plan; problems: PlanProblem[] } {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false });
  if (doc.errors.length > 0) {
    return {
      problems: doc.errors.map((e) => ({
        file,
        path: '',
        line: e.linePos?.[0]?.line ?? counter.linePos(e.pos[0]).line,
        message: `YAML syntax: ${e.message.split('\n')[0]}`,
      })),
    };
  }
  const result = planSchema.safeParse(doc.toJS());
  if (result.success) return { plan: result.data, problems: [] };
  return {
    problems: result.error.issues.map((issue: z.core.$ZodIssue) => ({
      file,
      path: formatPath(issue.path),
      line: lineOf(doc, counter, issue.path),
      message: issue.message,
    })),
  };
}

/** Loads every *.yaml / *.yml plan in a directory; throws PlanValidationError listing every problem. */
export async function loadPlans(dir: string): Promise<Map<string, LoadedPlan>> {
  const names = (await readdir(dir)).filter((n) => /\.ya?ml$/.test(n)).sort();
  const plans = new Map<string, LoadedPlan>();
  const problems: PlanProblem[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    const parsed = parsePlan(path.relative(process.cwd(), file) || file, await readFile(file, 'utf8'));
    problems.push(...parsed.problems);
    if (!parsed.plan) continue;
    const existing = plans.get(parsed.plan.id);
    if (existing) {
      problems.push({ file, path: 'id', message: `duplicate plan id "${parsed.plan.id}" (also in ${existing.file})` });
      continue;
    }
    plans.set(parsed.plan.id, { plan: parsed.plan, file });
  }
  if (problems.length > 0) throw new PlanValidationError(problems);
  return plans;
}
