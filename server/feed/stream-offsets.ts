import type { IncidentEvent } from '../../shared/events.js';
import { LIVE_EVENTS } from '../../shared/live.js';

/**
 * Offsets that say what the client has.
 *
 * With connection-state recovery each packet carries an offset, and a reconnecting client sends
 * back the last one it received; the streams adapter then restores every stream entry after it.
 * A stream id alone cannot say which feed entries reached the client when some were delivered
 * without one — Redis away (delivered locally, not in the stream), or an XADD whose connection
 * dropped before it answered (delivered without an offset, though the entry may have reached the
 * stream) — so the recovering node could only guess, and either skipped entries or sent them twice.
 *
 * So every packet of an incident room carries `<stream id>~<incident id>~<seq>`: the stream id
 * (the XADD's, or the last one this node had when the packet did not reach the stream) and the
 * highest entry of that incident the packet brings the client to. The recovering node restores
 * from the stream id and replays that incident from the log after `seq`: exactly once, whatever
 * reached the stream. The stock socket.io-client keeps whatever string arrives last as its offset,
 * so nothing changes for clients.
 */

const TAGGED = /^(\d{1,20}-\d{1,20})~([0-9A-Za-z-]{1,100})~(\d{1,15})$/;

/** What a client's last offset says it has: every entry of the incident up to `seq`. */
export interface ReportedPosition {
  incidentId: string;
  seq: number;
}

export function tagOffset(streamId: string, incidentId: string, seq: number): string {
  return `${streamId}~${incidentId}~${seq}`;
}

/** Splits an offset from a client; an untagged (or foreign) one passes through for the adapter to judge. */
export function parseOffset(offset: string): { streamId: string; reported?: ReportedPosition } {
  const match = TAGGED.exec(offset);
  if (!match) return { streamId: offset };
  return { streamId: match[1]!, reported: { incidentId: match[2]!, seq: Number(match[3]) } };
}

/** The parts of the cluster adapter (socket.io-adapter's ClusterAdapter) this module wraps. */
export interface PublishHook {
  publishAndReturnOffset(message: AdapterMessage): Promise<string>;
}

interface AdapterMessage {
  type: number;
  data?: { packet?: { type?: number; data?: unknown[] }; opts?: { rooms?: string[] } };
}

/** socket.io-adapter's MessageType.BROADCAST and socket.io-parser's PacketType.EVENT (transitive packages, not imported). */
export const BROADCAST_MESSAGE = 3;
export const EVENT_PACKET = 2;

/**
 * Wraps the adapter's publish so that feed packets get tagged offsets (see above), never wait for
 * a connection that is down, and reach this node's sockets in the order they were broadcast.
 *
 * `ready` says whether the stream connection can take an XADD now; `unstreamed` hears of each
 * feed entry delivered without reaching the stream (for sockets whose last offset names another
 * incident); `isIncidentRoom` tells a room broadcast from a replay sent to one socket.
 */
export function tagFeedOffsets(
  adapter: PublishHook,
  opts: { ready: () => boolean; unstreamed: (event: IncidentEvent) => void; isIncidentRoom: (room: string) => boolean },
): void {
  const publish = adapter.publishAndReturnOffset.bind(adapter);
  let lastStreamId = '0-0';
  /** Per incident, the highest entry delivered to its rooms, which a presence packet after it brings the client to. */
  const delivered = new Map<string, number>();
  let previous: Promise<unknown> = Promise.resolve();
  adapter.publishAndReturnOffset = (message) => {
    const packet = feedPacket(message);
    if (!packet) return publish(message);
    const prior = previous;
    const result = (async () => {
      let streamId: string | undefined;
      if (opts.ready()) {
        // A failure here is a connection that dropped before the XADD answered: the entry may or
        // may not be in the stream, and the tag makes that not matter.
        streamId = await publish(message).catch(() => undefined);
      }
      // Delivery follows the order of broadcasts: one delivered locally at once must not overtake
      // an earlier one still waiting for its XADD to answer or fail.
      await prior;
      if (streamId) lastStreamId = streamId;
      const roomBroadcast = (message.data?.opts?.rooms ?? []).some(opts.isIncidentRoom);
      if (packet.event) {
        if (!streamId) opts.unstreamed(packet.event);
        if (roomBroadcast) delivered.set(packet.incidentId, Math.max(delivered.get(packet.incidentId) ?? 0, packet.event.seq));
        return tagOffset(streamId ?? lastStreamId, packet.incidentId, packet.event.seq);
      }
      const seq = delivered.get(packet.incidentId);
      return seq === undefined ? (streamId ?? lastStreamId) : tagOffset(streamId ?? lastStreamId, packet.incidentId, seq);
    })();
    previous = result.catch(() => undefined);
    return result;
  };
}

/** The feed's own packets (an entry or a presence list of one incident), or undefined for anything else. */
function feedPacket(message: AdapterMessage): { incidentId: string; event?: IncidentEvent } | undefined {
  if (message.type !== BROADCAST_MESSAGE) return undefined;
  const packet = message.data?.packet;
  if (packet?.type !== EVENT_PACKET || !Array.isArray(packet.data)) return undefined;
  const [name, payload] = packet.data as [unknown, { incidentId?: unknown; seq?: unknown } | undefined];
  if (typeof payload?.incidentId !== 'string') return undefined;
  if (name === LIVE_EVENTS.event && typeof payload.seq === 'number') return { incidentId: payload.incidentId, event: payload as IncidentEvent };
  if (name === LIVE_EVENTS.presence) return { incidentId: payload.incidentId };
  return undefined;
}
