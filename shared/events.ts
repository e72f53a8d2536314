/** One entry of an incident's append-only, hash-chained event log (the single timeline). */
export interface IncidentEvent {
  incidentId: string;
  seq: number;
  /** Dotted type, e.g. incident.activated, incident.level_changed, checklist.item_done. */
  type: string;
  /** ISO 8601 time the server recorded it. */
  at: string;
  actor: { id: string; name: string } | null;
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/** Event types written by the foundation; later modules add theirs. */
export const EVENT_TYPES = {
  incidentActivated: 'incident.activated',
  incidentLevelChanged: 'incident.level_changed',
  incidentClosed: 'incident.closed',
} as const;
