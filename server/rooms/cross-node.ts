/**
 * Rooms on several nodes: each stored update is announced with a NOTIFY on commit, and every
 * other node that has the doc loaded pulls the rows and relays them to its clients. Incident
 * changes (level, close) arrive on the event log's channel. Real PostgreSQL only: embedded PGlite
 * is one process, one node, and delivers no notifications across connections.
 */

/** Payload: `<nodeId> <incidentId> <id,id,…>` or `<nodeId> <incidentId> *` (too many ids: reload). */
export const CHECKLIST_UPDATES_CHANNEL = 'yingji_checklist_updates';

export interface UpdateNotice {
  nodeId: string;
  incidentId: string;
  /** null: read the doc's whole stored state. */
  ids: number[] | null;
}

export function parseUpdateNotice(payload: string): UpdateNotice | null {
  const [nodeId, incidentId, ids] = payload.split(' ');
  if (!nodeId || !incidentId || !ids) return null;
  if (ids === '*') return { nodeId, incidentId, ids: null };
  const parsed = ids.split(',').map(Number);
  return parsed.every(Number.isSafeInteger) ? { nodeId, incidentId, ids: parsed } : null;
}
