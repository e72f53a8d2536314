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
}

export type LiveServer = Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, LiveSocketData>;
export type LiveSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, LiveSocketData>;

/** The Socket.IO room of an incident. */
export const roomOf = (incidentId: string) => `incident:${incidentId}`;
export const incidentOfRoom = (room: string): string | undefined => (room.startsWith('incident:') ? room.slice('incident:'.length) : undefined);
