/**
 * Connection limits of the live feed: sockets per user (checked at the handshake, refused with a
 * connect_error `too_many_connections`) and sockets per incident room (checked at `incident:join`,
 * refused in its acknowledgement). Counting is the ConnectionLimiter's, so it can move to Redis.
 */
import type { ExtendedError } from 'socket.io';
import type { ConnectionLease, ConnectionLimiter } from '../connection-limiter.js';
import { LIVE_EVENTS, type JoinAck } from '../../shared/live.js';
import { incidentOfRoom, type LiveSocket } from './types.js';

export function limitConnections(limiter: ConnectionLimiter) {
  /** Socket id → incident id → its slot. */
  const leases = new Map<string, Map<string, ConnectionLease>>();
  let watching = false;
  const give = (socketId: string, incidentId: string) => {
    const held = leases.get(socketId);
    held?.get(incidentId)?.release();
    held?.delete(incidentId);
  };
  return {
    /** Socket.IO middleware (after authentication). */
    perUser(socket: LiveSocket, next: (err?: ExtendedError) => void): void {
      limiter.acquire(socket.data.actor.userId, null).then(
        (slot) => {
          if (!slot.ok) {
            const err: ExtendedError = new Error('too_many_connections');
            err.data = { code: 'too_many_connections', message: slot.reason };
            return next(err);
          }
          // A socket refused or dropped after this point never emits 'disconnect': the transport's close covers it.
          socket.conn.once('close', () => slot.lease.release());
          socket.once('disconnect', () => slot.lease.release());
          next();
        },
        (err: unknown) => next(err instanceof Error ? err : new Error(String(err))),
      );
    },

    /** Holds a slot of the incident for as long as the socket is in its room. */
    perIncident(socket: LiveSocket): void {
      if (!watching) {
        watching = true;
        // One listener for every socket of the namespace (sockets leave rooms on disconnect too).
        socket.nsp.adapter.on('leave-room', (room: string, id: string) => {
          const incidentId = incidentOfRoom(room);
          if (incidentId) give(id, incidentId);
        });
      }
      const held = new Map<string, ConnectionLease>();
      leases.set(socket.id, held);
      socket.use((packet, next) => {
        const [event, payload, ack] = packet as [unknown, unknown, unknown];
        const incidentId = event === LIVE_EVENTS.join && typeof (payload as { incidentId?: unknown } | null)?.incidentId === 'string' ? (payload as { incidentId: string }).incidentId.toLowerCase() : null;
        if (incidentId === null || held.has(incidentId) || typeof ack !== 'function') return next();
        limiter.acquire(null, incidentId).then(
          (slot) => {
            if (!slot.ok) {
              const refusal: JoinAck = { ok: false, error: { code: 'too_many_connections', message: slot.reason, details: { incidentId } } };
              (ack as (result: JoinAck) => void)(refusal);
              return;
            }
            if (!socket.connected) return slot.lease.release();
            held.set(incidentId, slot.lease);
            // The join handler answers through the ack; a join that did not end in the room (not
            // found, a page with more to come) gives the slot back then.
            packet[2] = (result: JoinAck) => {
              if (![...socket.rooms].some((room) => incidentOfRoom(room) === incidentId)) give(socket.id, incidentId);
              (ack as (result: JoinAck) => void)(result);
            };
            next();
          },
          (err: unknown) => next(err instanceof Error ? err : new Error(String(err))),
        );
      });
      socket.once('disconnect', () => {
        for (const incidentId of [...held.keys()]) give(socket.id, incidentId);
        leases.delete(socket.id);
      });
    },

    /**
     * A recovered socket comes back into its incidents without `incident:join`: it holds a slot of
     * each again, or is refused (the reason). Called after `perIncident(socket)`.
     */
    async resume(socket: LiveSocket, incidentId: string): Promise<string | null> {
      const held = leases.get(socket.id);
      if (!held) return 'the connection is closed';
      if (held.has(incidentId)) return null;
      const slot = await limiter.acquire(null, incidentId);
      if (!slot.ok) return slot.reason;
      if (!socket.connected || leases.get(socket.id) !== held) {
        slot.lease.release();
        return 'the connection is closed';
      }
      held.set(incidentId, slot.lease);
      return null;
    },

    /** Gives back the slot of an incident the socket did not end up in. */
    release(socket: LiveSocket, incidentId: string): void {
      give(socket.id, incidentId);
    },
  };
}
