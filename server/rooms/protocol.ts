/**
 * The y-websocket wire protocol (the one the stock WebsocketProvider speaks): each frame is a
 * varuint message type followed by its payload, encoded with lib0. Incoming frames are decoded
 * whole here, so a malformed frame is rejected before anything acts on it.
 */
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import * as decoding from 'lib0/decoding';
import * as syncProtocol from 'y-protocols/sync';
import * as awarenessProtocol from 'y-protocols/awareness';
import * as authProtocol from 'y-protocols/auth';

export const MESSAGE_SYNC = 0;
export const MESSAGE_AWARENESS = 1;
export const MESSAGE_AUTH = 2;
export const MESSAGE_QUERY_AWARENESS = 3;

export type ClientMessage =
  | { kind: 'syncStep1'; stateVector: Uint8Array }
  /** Sync step 2 and update carry the same payload: a Yjs update (decoded once, here). */
  | { kind: 'update'; update: Uint8Array; decoded: DecodedUpdate }
  | { kind: 'awareness'; update: Uint8Array }
  | { kind: 'queryAwareness' }
  /** A message type this server does not handle (e.g. auth from a client); ignored like the reference server does. */
  | { kind: 'ignored'; type: number };

export type DecodedUpdate = ReturnType<typeof Y.decodeUpdate>;

export class MalformedMessage extends Error {
  constructor(reason: string) {
    super(`malformed y-websocket message: ${reason}`);
    this.name = 'MalformedMessage';
  }
}

/** Decodes and validates one frame. Throws MalformedMessage. */
export function decodeClientMessage(data: Uint8Array): ClientMessage {
  try {
    const decoder = decoding.createDecoder(data);
    const type = decoding.readVarUint(decoder);
    switch (type) {
      case MESSAGE_SYNC: {
        const syncType = decoding.readVarUint(decoder);
        const payload = decoding.readVarUint8Array(decoder);
        expectEnd(decoder);
        if (syncType === syncProtocol.messageYjsSyncStep1) {
          Y.decodeStateVector(payload);
          return { kind: 'syncStep1', stateVector: payload };
        }
        if (syncType === syncProtocol.messageYjsSyncStep2 || syncType === syncProtocol.messageYjsUpdate) {
          // Parses every struct and the delete set: a truncated or garbled update throws here.
          return { kind: 'update', update: payload, decoded: Y.decodeUpdate(payload) };
        }
        throw new MalformedMessage(`unknown sync message type ${syncType}`);
      }
      case MESSAGE_AWARENESS: {
        const update = decoding.readVarUint8Array(decoder);
        expectEnd(decoder);
        validateAwarenessUpdate(update);
        return { kind: 'awareness', update };
      }
      case MESSAGE_QUERY_AWARENESS:
        return { kind: 'queryAwareness' };
      default:
        return { kind: 'ignored', type };
    }
  } catch (err) {
    if (err instanceof MalformedMessage) throw err;
    throw new MalformedMessage(err instanceof Error ? err.message : String(err));
  }
}

function expectEnd(decoder: decoding.Decoder): void {
  if (decoding.hasContent(decoder)) throw new MalformedMessage('trailing bytes after the message');
}

/** Reads an awareness update as applyAwarenessUpdate will, without applying it. */
function validateAwarenessUpdate(update: Uint8Array): void {
  const decoder = decoding.createDecoder(update);
  const count = decoding.readVarUint(decoder);
  for (let i = 0; i < count; i++) {
    decoding.readVarUint(decoder); // clientID
    decoding.readVarUint(decoder); // clock
    JSON.parse(decoding.readVarString(decoder));
  }
  expectEnd(decoder);
}

export function encodeSyncStep1(doc: Y.Doc): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, MESSAGE_SYNC);
  syncProtocol.writeSyncStep1(encoder, doc);
  return encoding.toUint8Array(encoder);
}

export function encodeSyncStep2(doc: Y.Doc, stateVector: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, MESSAGE_SYNC);
  syncProtocol.writeSyncStep2(encoder, doc, stateVector);
  return encoding.toUint8Array(encoder);
}

export function encodeUpdate(update: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, MESSAGE_SYNC);
  syncProtocol.writeUpdate(encoder, update);
  return encoding.toUint8Array(encoder);
}

export function encodeAwareness(awareness: awarenessProtocol.Awareness, clients: number[]): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, MESSAGE_AWARENESS);
  encoding.writeVarUint8Array(encoder, awarenessProtocol.encodeAwarenessUpdate(awareness, clients));
  return encoding.toUint8Array(encoder);
}

/** The protocol's own way to say "not allowed": the stock client logs the reason. */
export function encodePermissionDenied(reason: string): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, MESSAGE_AUTH);
  authProtocol.writePermissionDenied(encoder, reason);
  return encoding.toUint8Array(encoder);
}
