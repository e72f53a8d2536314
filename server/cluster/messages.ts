import { z } from 'zod';

/**
 * Every message one node sends the others. One enum, one discriminated union, one zod schema:
 * a message is validated on receipt (a wrong or foreign payload is dropped and counted), never
 * parsed with `split`.
 */
export enum ClusterMessageType {
  /** An incident's log grew to `seq` (committed): live feeds fill the gap from the log, rooms refresh the incident. */
  IncidentEvent = 'incident.event',
  /** Stored checklist updates: inline (`updates`) when small, else `ids` to read, or null to read the whole doc. */
  ChecklistUpdates = 'checklist.updates',
  /** A checklist client's awareness (stamped and ownership-checked on its node; never stored). */
  ChecklistAwareness = 'checklist.awareness',
  /** A node changed an incident's presence rows: re-read them. */
  PresenceChanged = 'presence.changed',
  /** Sessions were revoked: drop cached entries and close their connections. */
  SessionsRevoked = 'sessions.revoked',
  /** The sender failed to send some messages (its transport was down): catch up from the database. */
  Resync = 'cluster.resync',
}

const uuid = z.string().uuid();
const base = { from: uuid };

export const clusterMessageSchema = z.discriminatedUnion('type', [
  z.object({ ...base, type: z.literal(ClusterMessageType.IncidentEvent), incidentId: uuid, seq: z.number().int().positive() }).strict(),
  z
    .object({
      ...base,
      type: z.literal(ClusterMessageType.ChecklistUpdates),
      incidentId: uuid,
      ids: z.array(z.number().int().positive()).max(1000).nullable(),
      // The stored updates themselves, in order, when they fit the transport: applied without a read.
      updates: z.array(z.string().base64()).max(1000).optional(),
    })
    .strict(),
  z.object({ ...base, type: z.literal(ClusterMessageType.ChecklistAwareness), incidentId: uuid, userId: uuid, update: z.string().base64().max(64_000) }).strict(),
  z.object({ ...base, type: z.literal(ClusterMessageType.PresenceChanged), incidentId: uuid }).strict(),
  z.object({ ...base, type: z.literal(ClusterMessageType.SessionsRevoked), userId: uuid.optional(), sessionId: uuid.optional() }).strict(),
  z.object({ ...base, type: z.literal(ClusterMessageType.Resync) }).strict(),
]);

export type ClusterMessage = z.infer<typeof clusterMessageSchema>;
/** What a feature hands to `publish`: the seam stamps `from`. */
export type ClusterMessageBody = ClusterMessage extends infer M ? (M extends ClusterMessage ? Omit<M, 'from'> : never) : never;
export type MessageOf<T extends ClusterMessageType> = Extract<ClusterMessage, { type: T }>;

/** Parses a received payload; null for anything that is not one of our messages. */
export function parseClusterMessage(payload: string): ClusterMessage | null {
  let json: unknown;
  try {
    json = JSON.parse(payload);
  } catch {
    return null;
  }
  const parsed = clusterMessageSchema.safeParse(json);
  return parsed.success ? parsed.data : null;
}
