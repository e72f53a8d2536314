import type { Server, Socket } from 'socket.io';
import type { Actor } from '../auth/policy.js';
import type { ClientToServerEvents, ServerToClientEvents } from '../../shared/live.js';

export interface LiveSocketData {
  actor: Actor;
  /** The session the connection was admitted with; revoking it disconnects the socket. */
  sessionId: string;
  /** When the token the socket connected with expires (ms since epoch); the socket is closed then. */
  tokenExpiresAt: number;
  /** Messages refused so far on this connection (malformed, unknown); too many and it is closed. */
  badMessages: number;
  /**
   * Written at `disconnecting`, before Socket.IO persists the session (this object goes with it,
   * msgpack-encoded when the adapter is Redis): incident id → the highest seq this node had
   * broadcast to the socket's room. The node that recovers the session resumes the feed after it.
   */
  sentSeq?: Record<string, number>;
}

export type LiveServer = Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, LiveSocketData>;
export type LiveSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, LiveSocketData>;

/** Who may see what among drill entries depends on these two only (shared/drill.ts eventReaches). */
export interface AudienceClass {
  role: string;
  teamId: string | null;
}

/**
 * The Socket.IO rooms of an incident are node-scoped: each node fans the log out to its own
 * sockets (EventFanout), and with the Redis streams adapter every broadcast is also seen by every
 * other node; a room only one node's sockets join keeps each entry to one delivery. The broadcast
 * still lands in the adapter's stream, which is what lets another node recover a session.
 *
 * - `incident:<id>@<node>`: everyone in the incident on that node (entries everyone sees, presence);
 * - `incident:<id>@<node>~<role>~<teamId>`: those of one audience class (drill entries).
 */
export const roomOf = (incidentId: string, nodeId: string) => `incident:${incidentId}@${nodeId}`;
export const audienceRoomOf = (incidentId: string, nodeId: string, who: AudienceClass) => `${roomOf(incidentId, nodeId)}~${who.role}~${who.teamId ?? ''}`;

export interface FeedRoom {
  incidentId: string;
  nodeId: string;
  /** Set for an audience room. */
  audience?: AudienceClass;
}

/** Parses a room name of the live feed (anything else, such as a socket's own room, is undefined). */
export function parseRoom(room: string): FeedRoom | undefined {
  if (!room.startsWith('incident:')) return undefined;
  // Incident and node ids are UUIDs and roles have neither '@' nor '~'; a team id may have either.
  const at = room.indexOf('@');
  if (at <= 'incident:'.length) return undefined;
  const incidentId = room.slice('incident:'.length, at);
  const [nodeId, role, ...team] = room.slice(at + 1).split('~');
  if (!nodeId) return undefined;
  if (role === undefined) return { incidentId, nodeId };
  const teamId = team.join('~');
  return { incidentId, nodeId, audience: { role, teamId: teamId === '' ? null : teamId } };
}

/** The incident of a room that stands for membership (a main room, on any node); undefined for audience rooms. */
export const incidentOfRoom = (room: string): string | undefined => {
  const parsed = parseRoom(room);
  return parsed && !parsed.audience ? parsed.incidentId : undefined;
};
