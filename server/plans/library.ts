import { createHash } from 'node:crypto';
import type { Plan } from '../../shared/plan.js';
import { effectiveChecklist } from '../../shared/plan.js';
import { RESPONSE_LEVELS, type ResponseLevel } from '../../shared/labels.js';
import { loadPlans } from './loader.js';

export interface PlanSummary {
  id: string;
  version: string;
  title: Plan['title'];
  summary: Plan['summary'];
  hazard: Plan['hazard'];
  tier: Plan['tier'];
  levels: { level: ResponseLevel; activationCriteria: Plan['title'][]; checklistItems: number }[];
}

/** The validated plans the server was started with, read-only for its lifetime. */
export class PlanLibrary {
  private constructor(private readonly plans: Map<string, Plan>) {}

  static async load(dir: string): Promise<PlanLibrary> {
    const loaded = await loadPlans(dir);
    return new PlanLibrary(new Map([...loaded].map(([id, { plan }]) => [id, plan])));
  }

  get(id: string): Plan | undefined {
    return this.plans.get(id);
  }

  list(): PlanSummary[] {
    return [...this.plans.values()].map(summarise);
  }

  get size(): number {
    return this.plans.size;
  }
}

export function summarise(plan: Plan): PlanSummary {
  return {
    id: plan.id,
    version: plan.version,
    title: plan.title,
    summary: plan.summary,
    hazard: plan.hazard,
    tier: plan.tier,
    levels: RESPONSE_LEVELS.filter((l) => plan.levels[l]).map((level) => ({
      level,
      activationCriteria: plan.levels[level]!.activationCriteria,
      checklistItems: effectiveChecklist(plan, level).length,
    })),
  };
}

/** A short digest of the plan's content, recorded with each incident activated from it. */
export function planDigest(plan: Plan): string {
  return createHash('sha256').update(JSON.stringify(plan)).digest('hex').slice(0, 16);
}
