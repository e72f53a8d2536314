/**
 * The Socket.IO live feed's contract: event names, payloads and acknowledgements, shared by the
 * server (server/live) and its clients so the two can't drift.
 *
 *   const socket: LiveClientSocket = io(origin, { auth: { token } });
 *   socket.emit('incident:join', { incidentId, afterSeq }, (ack) => …);
 *   socket.on('incident:event', (event) => …);
 */
import type { IncidentEvent } from './events.js';
import type { IncidentView } from './incidents.js';
import type { Role } from './roles.js';

/** Socket.IO's default path; the Yjs endpoint lives beside it at /yjs/. */
export const LIVE_PATH = '/socket.io/';

/** At most this many log entries come back in one `incident:join` acknowledgement. */
export const LIVE_JOIN_PAGE_SIZE = 500;

export const LIVE_EVENTS = {
  join: 'incident:join',
  leave: 'incident:leave',
  event: 'incident:event',
  presence: 'presence:update',
  error: 'live:error',
} as const;

export interface LiveError {
  /** A code from shared/errors.ts: validation_failed, not_found, unknown_event, too_many_bad_messages, internal. */
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

export type LiveFailure = { ok: false; error: LiveError };

export interface JoinRequest {
  incidentId: string;
  /** Replay only entries after this seq (the last one the client applied); absent = from the start. */
  afterSeq?: number;
}

export type JoinAck =
  | {
      ok: true;
      incident: IncidentView;
      /** Log entries after `afterSeq`, in seq order, at most LIVE_JOIN_PAGE_SIZE. */
      events: IncidentEvent[];
      /**
       * More entries follow: join again with afterSeq = the seq of the last entry received. A socket
       * not yet in the room enters it only with the page that has hasMore: false, so from then on
       * `incident:event` continues exactly where the pages ended.
       */
      hasMore: boolean;
    }
  | LiveFailure;

export interface LeaveRequest {
  incidentId: string;
}

export type LeaveAck = { ok: true } | LiveFailure;

/** One person in an incident room; a user with several tabs or devices appears once. */
export interface PresenceMember {
  userId: string;
  username: string;
  /** 王芳, as people know each other (the username when the account is gone). */
  displayName: string;
  role: Role;
  teamId: string | null;
  /** ISO time this user's first open connection joined the room. */
  since: string;
  /** Open connections (tabs, devices) of this user in the room. */
  connections: number;
}

export interface PresenceUpdate {
  incidentId: string;
  members: PresenceMember[];
}

export interface ClientToServerEvents {
  'incident:join': (request: JoinRequest, ack: (result: JoinAck) => void) => void;
  'incident:leave': (request: LeaveRequest, ack?: (result: LeaveAck) => void) => void;
}

export interface ServerToClientEvents {
  /** Every entry of the incident's event log, in seq order; the shape of GET /api/incidents/:id/events entries. */
  'incident:event': (event: IncidentEvent) => void;
  /** The full member list of a room, after every join, leave and disconnect. */
  'presence:update': (update: PresenceUpdate) => void;
  /** A message the server could not accept and could not answer with an acknowledgement. */
  'live:error': (error: LiveError & { event?: string }) => void;
}
