import { z } from 'zod';
import type { Queryable } from '../db/database.js';
import type { TeamFix } from '../../shared/resources.js';

/** How far ahead of the server's clock a phone's fix time may be (phones' clocks drift). */
export const FIX_CLOCK_SKEW_MS = 2 * 60_000;

/**
 * A position fix as the phone sends it (navigator.geolocation): WGS-84 degrees, the accuracy
 * radius in metres and the time the fix was taken — which may be long ago (a queued report),
 * but not in the future.
 */
export const fixSchema = z
  .object({
    lat: z.number().min(-90).max(90),
    lon: z.number().min(-180).max(180),
    accuracyM: z.number().min(0).max(100_000),
    at: z.iso.datetime({ offset: true }),
  })
  .strict()
  .refine((f) => Date.parse(f.at) <= Date.now() + FIX_CLOCK_SKEW_MS, { message: 'the fix time lies in the future', path: ['at'] });

export type FixInput = z.infer<typeof fixSchema>;

/**
 * Stores the fix as the team's last known position unless a newer one is already stored (an
 * offline queue replays old fixes after newer ones). Runs in the caller's transaction, beside the
 * event that carries the fix. Returns the stored fix, or null when the stored one was newer.
 */
export async function recordTeamFix(tx: Queryable, teamId: string, fix: FixInput): Promise<TeamFix | null> {
  const { rows } = await tx.query<{ fix_at: Date; fix_received_at: Date }>(
    `UPDATE teams SET fix_lat = $2, fix_lon = $3, fix_accuracy_m = $4, fix_at = $5, fix_received_at = now()
     WHERE id = $1 AND (fix_at IS NULL OR fix_at < $5::timestamptz)
     RETURNING fix_at, fix_received_at`,
    [teamId, fix.lat, fix.lon, fix.accuracyM, fix.at],
  );
  const r = rows[0];
  return r ? { lat: fix.lat, lon: fix.lon, accuracyM: fix.accuracyM, at: r.fix_at.toISOString(), receivedAt: r.fix_received_at.toISOString() } : null;
}
