import { useEffect, useRef, useState } from 'preact/hooks';
import { io, type Socket } from 'socket.io-client';
import type { IncidentEvent } from '../../../shared/events.js';
import type { IncidentView } from '../../../shared/incidents.js';
import type { ClientToServerEvents, JoinAck, PresenceMember, ServerToClientEvents } from '../../../shared/live.js';
import { get, liveTicket, NetworkError } from './api.js';
import { endSession } from './session.js';

type LiveSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export interface LiveFeed {
  events: IncidentEvent[];
  incident: IncidentView | null;
  presence: PresenceMember[];
  connected: boolean;
}

/**
 * The incident's event log over Socket.IO: joins with afterSeq = the last entry applied, so a
 * reconnect replays exactly what was missed (pages of LIVE_JOIN_PAGE_SIZE until hasMore is false).
 * `onEvent` is called for each new entry (e.g. to refetch dispatches after dispatch.*).
 */
export function useLiveFeed(incidentId: string | null, token: string | null, onEvent?: (e: IncidentEvent) => void): LiveFeed {
  const [events, setEvents] = useState<IncidentEvent[]>([]);
  const [incident, setIncident] = useState<IncidentView | null>(null);
  const [presence, setPresence] = useState<PresenceMember[]>([]);
  const [connected, setConnected] = useState(false);
  const onEventRef = useRef(onEvent);
  onEventRef.current = onEvent;

  useEffect(() => {
    if (!incidentId || !token) return;
    let lastSeq = 0;
    let buffer: IncidentEvent[] = [];
    let frame = 0;
    setEvents([]);
    const flush = () => {
      frame = 0;
      const batch = buffer;
      buffer = [];
      setEvents((prev) => [...prev, ...batch]);
    };
    const apply = (e: IncidentEvent, live: boolean) => {
      if (e.seq <= lastSeq) return;
      lastSeq = e.seq;
      buffer.push(e);
      // One render per frame, at most ten a second: a burst of entries lands as one batch.
      if (!frame) frame = window.setTimeout(() => requestAnimationFrame(flush), 100);
      if (live) onEventRef.current?.(e);
    };
    // A fresh one-use ticket for every (re)connect; the token itself never leaves the Authorization header.
    const socket: LiveSocket = io({
      auth: (cb) => void liveTicket().then((ticket) => cb({ ticket }), () => cb({})),
      transports: ['websocket'],
    });
    socket.on('live:error', (e) => {
      if (e.code === 'session_revoked' || e.code === 'unauthorized') endSession();
    });
    // Refused at connect. Socket.IO does not retry a refusal by the server, so ask the API whether
    // the session still stands: a 401 there logs out; otherwise (the ticket request failed or raced)
    // try again shortly.
    let retry: ReturnType<typeof setTimeout> | undefined;
    let ended = false;
    socket.on('connect_error', (err) => {
      if (err.message !== 'unauthorized') return;
      get('/api/auth/me').then(
        () => !ended && (retry = setTimeout(() => !ended && socket.connect(), 2000)),
        (e: unknown) => e instanceof NetworkError && !ended && (retry = setTimeout(() => !ended && socket.connect(), 5000)),
      );
    });
    const join = () => {
      socket.emit('incident:join', { incidentId, afterSeq: lastSeq }, (ack: JoinAck) => {
        if (!ack.ok) return;
        setIncident(ack.incident);
        const wasLive = lastSeq > 0;
        ack.events.forEach((e) => apply(e, wasLive));
        if (ack.hasMore) join();
      });
    };
    socket.on('connect', () => {
      setConnected(true);
      join();
    });
    socket.on('disconnect', () => setConnected(false));
    socket.on('incident:event', (e) => {
      if (e.incidentId === incidentId) apply(e, true);
    });
    socket.on('presence:update', (u) => {
      if (u.incidentId === incidentId) setPresence(u.members);
    });
    const offline = () => socket.disconnect();
    const online = () => socket.connect();
    addEventListener('offline', offline);
    addEventListener('online', online);
    return () => {
      removeEventListener('offline', offline);
      removeEventListener('online', online);
      if (frame) clearTimeout(frame);
      ended = true;
      clearTimeout(retry);
      socket.disconnect();
    };
  }, [incidentId, token]);

  return { events, incident, presence, connected };
}
