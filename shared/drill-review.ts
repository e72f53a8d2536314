/**
 * The drill section of an after-action review: what the drills module computes for an exercise
 * incident that a drill started, and what the review module renders. One shape, two modules.
 */
export interface DrillReviewSection {
  drillId: string;
  kind: 'tabletop' | 'no-script';
  scenarioId: string;
  scenarioTitle: { zh: string; en: string };
  startedAt: string | null;
  endedAt: string | null;
  injects: { id: string; form: string; status: 'pending' | 'released'; releasedAt: string | null }[];
  expectedActions: {
    id: string;
    injectId: string;
    action: string;
    withinSeconds: number;
    status: 'met' | 'late' | 'missed' | 'pending';
    metAt: string | null;
    secondsAfterInject: number | null;
  }[];
  observations: { id: string; at: string; injectId: string | null; text: string; rating: number | null; by: string }[];
}

/** Looks up the drill section for an incident; null when no drill started that incident. */
export type DrillReviewSource = (incidentId: string) => Promise<DrillReviewSection | null>;
