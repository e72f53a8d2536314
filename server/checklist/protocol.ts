/**
 * The y-websocket wire protocol (the one the stock WebsocketProvider speaks): each frame is a
 * varuint message type followed by its payload, encoded with lib0. Incoming frames are decoded
 * whole here, so a malformed frame is rejected before anything acts on it: an unknown message or
 * sync type, a truncated payload, and bytes left over after the message are all malformed.
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
  | { kind: 'update'; update: Uint8Array; decoded: DecodedUpdate; /** The client's answer to the server's sync step 1. */ syncReply: boolean }
  | { kind: 'awareness'; update: Uint8Array; entries: AwarenessEntry[] }
  | { kind: 'queryAwareness' }
  /** An auth message from a client (the protocol defines only the server's permission-denied): ignored like the reference server does. */
  | { kind: 'ignored'; type: number };

export type DecodedUpdate = ReturnType<typeof Y.decodeUpdate>;

/** One client's entry of an awareness update; `state` null removes it. */
export interface AwarenessEntry {
  clientId: number;
  clock: number;
  state: Record<string, unknown> | null;
}

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
          validateStateVector(payload);
          return { kind: 'syncStep1', stateVector: payload };
        }
        if (syncType === syncProtocol.messageYjsSyncStep2 || syncType === syncProtocol.messageYjsUpdate) {
          return { kind: 'update', update: payload, decoded: decodeWholeUpdate(payload), syncReply: syncType === syncProtocol.messageYjsSyncStep2 };
        }
        throw new MalformedMessage(`unknown sync message type ${syncType}`);
      }
      case MESSAGE_AWARENESS: {
        const update = decoding.readVarUint8Array(decoder);
        expectEnd(decoder);
        return { kind: 'awareness', update, entries: decodeAwarenessUpdate(update) };
      }
      case MESSAGE_QUERY_AWARENESS:
        expectEnd(decoder);
        return { kind: 'queryAwareness' };
      case MESSAGE_AUTH: {
        if (decoding.readVarUint(decoder) !== authProtocol.messagePermissionDenied) throw new MalformedMessage('unknown auth message type');
        decoding.readVarString(decoder);
        expectEnd(decoder);
        return { kind: 'ignored', type };
      }
      default:
        throw new MalformedMessage(`unknown message type ${type}`);
    }
  } catch (err) {
    if (err instanceof MalformedMessage) throw err;
    throw new MalformedMessage(err instanceof Error ? err.message : String(err));
  }
}

function expectEnd(decoder: decoding.Decoder): void {
  if (decoding.hasContent(decoder)) throw new MalformedMessage('trailing bytes after the message');
}

/** A state vector as Y.decodeStateVector reads it, but with nothing left over. */
function validateStateVector(payload: Uint8Array): void {
  const decoder = decoding.createDecoder(payload);
  const count = decoding.readVarUint(decoder);
  for (let i = 0; i < count; i++) {
    decoding.readVarUint(decoder); // client
    decoding.readVarUint(decoder); // clock
  }
  expectEnd(decoder);
}

/**
 * Y.decodeUpdate, which parses every struct and the delete set (a truncated or garbled update
 * throws), plus the check it leaves out: nothing may follow the delete set.
 */
function decodeWholeUpdate(payload: Uint8Array): DecodedUpdate {
  let reader: Y.UpdateDecoderV1 | null = null;
  const Capturing = class extends Y.UpdateDecoderV1 {
    constructor(decoder: decoding.Decoder) {
      super(decoder);
      reader = this;
    }
  };
  const decoded = Y.decodeUpdateV2(payload, Capturing);
  if (!reader || decoding.hasContent((reader as Y.UpdateDecoderV1).restDecoder)) throw new MalformedMessage('trailing bytes after the update');
  return decoded;
}

/** Reads an awareness update as applyAwarenessUpdate will, without applying it. */
function decodeAwarenessUpdate(update: Uint8Array): AwarenessEntry[] {
  const decoder = decoding.createDecoder(update);
  const count = decoding.readVarUint(decoder);
  const entries: AwarenessEntry[] = [];
  for (let i = 0; i < count; i++) {
    const clientId = decoding.readVarUint(decoder);
    const clock = decoding.readVarUint(decoder);
    const state: unknown = JSON.parse(decoding.readVarString(decoder));
    if (state !== null && (typeof state !== 'object' || Array.isArray(state))) throw new MalformedMessage('an awareness state is an object or null');
    entries.push({ clientId, clock, state: state as Record<string, unknown> | null });
  }
  expectEnd(decoder);
  return entries;
}

/** An awareness update for these entries, in the wire format applyAwarenessUpdate reads. */
export function encodeAwarenessEntries(entries: AwarenessEntry[]): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, entries.length);
  for (const { clientId, clock, state } of entries) {
    encoding.writeVarUint(encoder, clientId);
    encoding.writeVarUint(encoder, clock);
    encoding.writeVarString(encoder, JSON.stringify(state));
  }
  return encoding.toUint8Array(encoder);
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
