import type { Queryable } from '../db/database.js';
import { authorize, type Actor } from '../auth/policy.js';
import { incidentNotFound } from '../incidents/incidents.js';
import type { IncidentMode } from '../../shared/labels.js';
import { UUID } from '../http/validate.js';

export interface IncidentHead {
  id: string;
  title: string;
  mode: IncidentMode;
  status: 'active' | 'closed';
  location: { lat: number; lon: number } | null;
  areaDescription: string | null;
}

/** Throws unless the actor may dispatch or allocate on this incident row (undefined: no such incident). */
export function requireResourceChange(
  actor: Actor,
  action: 'dispatch.create' | 'allocation.create',
  incidentId: string,
  row: { mode: IncidentMode; status: string } | undefined,
): void {
  if (!row) throw incidentNotFound(incidentId);
  const incident = { id: incidentId, mode: row.mode, status: row.status === 'active' ? ('active' as const) : ('closed' as const) };
  authorize(actor, action, { incident }, () => incidentNotFound(incidentId));
}

/**
 * The incident a dispatch or allocation is made for: visible to the actor (404 otherwise),
 * steerable by them (403), and still open (409 incident_closed). Reads only the row's head,
 * not the plan copy: this runs on every allocation.
 */
export async function incidentForResourceChange(db: Queryable, actor: Actor, action: 'dispatch.create' | 'allocation.create', incidentId: string): Promise<IncidentHead> {
  const { rows } = UUID.test(incidentId)
    ? await db.query(`SELECT id, title, mode, status, location_lat, location_lon, area->'description'->>'zh' AS area_zh FROM incidents WHERE id = $1`, [incidentId])
    : { rows: [] };
  const r = rows[0];
  requireResourceChange(actor, action, incidentId, r);
  return {
    id: r.id,
    title: r.title,
    mode: r.mode,
    status: r.status,
    location: r.location_lat === null || r.location_lon === null ? null : { lat: r.location_lat, lon: r.location_lon },
    areaDescription: r.area_zh ?? null,
  };
}

/** PostgreSQL unique_violation on a named constraint or index. */
export const isUniqueViolation = (err: unknown, constraint: string) =>
  (err as { code?: string; constraint?: string })?.code === '23505' && (err as { constraint?: string }).constraint === constraint;
