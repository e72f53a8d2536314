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

/**
 * Awareness of a room's local clients, for the same room on other nodes. Payload:
 * `<nodeId> <incidentId> <owner userId> <base64 awareness update>`. Not stored: a missed one is
 * renewed by the client within its 15 s heartbeat.
 */
export const CHECKLIST_AWARENESS_CHANNEL = 'yingji_checklist_awareness';

/** NOTIFY payloads must stay under 8000 bytes; a bigger awareness update stays on its node. */
export const MAX_AWARENESS_NOTICE_BYTES = 7000;

export interface AwarenessNotice {
  nodeId: string;
  incidentId: string;
  userId: string;
  update: Uint8Array;
}

export function formatAwarenessNotice(notice: AwarenessNotice): string | null {
  const payload = `${notice.nodeId} ${notice.incidentId} ${notice.userId} ${Buffer.from(notice.update).toString('base64')}`;
  return payload.length <= MAX_AWARENESS_NOTICE_BYTES ? payload : null;
}

export function parseAwarenessNotice(payload: string): AwarenessNotice | null {
  const [nodeId, incidentId, userId, update] = payload.split(' ');
  if (!nodeId || !incidentId || !userId || !update) return null;
  return { nodeId, incidentId, userId, update: new Uint8Array(Buffer.from(update, 'base64')) };
}
