import type { Database } from '../db/database.js';
import type { DrillReviewSection } from '../../shared/drill-review.js';
import type { Actor } from '../auth/policy.js';
import { drillByIncident, drillView } from './service.js';

/** The review reads as the drill staff would (everything of the drill); it is never a participant's view. */
const REVIEWER: Actor = { userId: '00000000-0000-0000-0000-000000000000', username: 'review', role: 'evaluator', teamId: null };

/**
 * The drill section of an incident's after-action review (shared/drill-review.ts), or null when no
 * drill started that incident. The caller decides who may read the review.
 */
export async function drillReviewSection(db: Database, incidentId: string): Promise<DrillReviewSection | null> {
  const row = await drillByIncident(db.pool, incidentId);
  if (!row) return null;
  const view = await drillView(db.pool, REVIEWER, row);
  return {
    drillId: view.id,
    kind: view.kind,
    scenarioId: row.scenario_id,
    scenarioTitle: { zh: row.scenario.title.zh, en: row.scenario.title.en },
    startedAt: view.startedAt,
    endedAt: view.endedAt,
    injects: view.injects.map((i) => ({ id: i.id, form: i.form, status: i.status, releasedAt: i.releasedAt })),
    expectedActions: view.expectedActions.map((e) => ({
      id: e.id,
      injectId: e.injectId,
      action: e.action,
      withinSeconds: e.withinSeconds,
      status: e.status,
      metAt: e.metAt,
      secondsAfterInject: e.secondsAfterInject,
    })),
    observations: view.observations,
  };
}
