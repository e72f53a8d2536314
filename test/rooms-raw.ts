/**
 * A y-websocket client made of raw frames over `ws`, with a Y.Doc the test controls: for clients
 * that misbehave on purpose (not a test file itself).
 */
import * as Y from 'yjs';
import WebSocket from 'ws';
import * as encoding from 'lib0/encoding';
import * as decoding from 'lib0/decoding';
import * as syncProtocol from 'y-protocols/sync';
import { CHECKLIST_ARRAY } from '../shared/checklist.js';
import { waitFor } from './helpers/wait.js';
import { yjsOrigin } from './rooms-helpers.js';

export interface RawClient {
  ws: WebSocket;
  /** Filled from the server's sync step 2 and updates. */
  doc: Y.Doc;
  /** Permission-denied reasons the server sent. */
  denied: string[];
  /** Awareness states as relayed by the server (client id → state; null once removed). */
  awareness: Map<number, unknown>;
  closed: Promise<{ code: number; reason: string }>;
  closeCode: number | null;
  items(): Y.Array<Y.Map<any>>;
  item(index: number): Y.Map<any>;
  /** Sends a y-websocket sync update frame (type 2) with the given Yjs update. */
  sendUpdate(update: Uint8Array): void;
  /** Runs `change` on a doc of the test's choosing (default: this client's) and sends the resulting update. */
  edit(change: () => void, doc?: Y.Doc): Uint8Array;
  /** Sends an awareness update (client id, clock, state). */
  sendAwareness(entries: { clientId: number; clock: number; state: unknown }[]): void;
}

export function syncFrame(syncType: number, payload: Uint8Array): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, 0);
  encoding.writeVarUint(e, syncType);
  encoding.writeVarUint8Array(e, payload);
  return encoding.toUint8Array(e);
}

export function awarenessFrame(entries: { clientId: number; clock: number; state: unknown }[]): Uint8Array {
  const inner = encoding.createEncoder();
  encoding.writeVarUint(inner, entries.length);
  for (const { clientId, clock, state } of entries) {
    encoding.writeVarUint(inner, clientId);
    encoding.writeVarUint(inner, clock);
    encoding.writeVarString(inner, JSON.stringify(state));
  }
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, 1);
  encoding.writeVarUint8Array(e, encoding.toUint8Array(inner));
  return encoding.toUint8Array(e);
}

/** Opens a raw connection, asks for the whole doc (sync step 1 with an empty state vector) and waits for it. */
export async function rawClient(httpUrl: string, incidentId: string, token: string, opts: { clientId?: number; sync?: boolean } = {}): Promise<RawClient> {
  const ws = new WebSocket(`${yjsOrigin(httpUrl)}/${incidentId}?token=${token}`);
  const doc = new Y.Doc();
  if (opts.clientId !== undefined) doc.clientID = opts.clientId;
  const denied: string[] = [];
  const awareness = new Map<number, unknown>();
  let synced = false;
  const client: RawClient = {
    ws,
    doc,
    denied,
    awareness,
    closeCode: null,
    closed: new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        client.closeCode = code;
        resolve({ code, reason: reason.toString() });
      }),
    ),
    items: () => doc.getArray<Y.Map<any>>(CHECKLIST_ARRAY),
    item: (index) => doc.getArray<Y.Map<any>>(CHECKLIST_ARRAY).get(index),
    sendUpdate: (update) => ws.send(syncFrame(syncProtocol.messageYjsUpdate, update)),
    edit(change, target = doc) {
      let captured: Uint8Array | null = null;
      const capture = (u: Uint8Array, origin: unknown) => {
        if (origin !== 'server') captured = captured ? Y.mergeUpdates([captured, u]) : u;
      };
      target.on('update', capture);
      try {
        target.transact(change);
      } finally {
        target.off('update', capture);
      }
      if (!captured) throw new Error('the change produced no update');
      client.sendUpdate(captured);
      return captured;
    },
    sendAwareness: (entries) => ws.send(awarenessFrame(entries)),
  };
  ws.on('message', (data: Buffer) => {
    const decoder = decoding.createDecoder(new Uint8Array(data));
    const type = decoding.readVarUint(decoder);
    if (type === 0) {
      const syncType = decoding.readVarUint(decoder);
      const payload = decoding.readVarUint8Array(decoder);
      if (syncType === syncProtocol.messageYjsSyncStep2 || syncType === syncProtocol.messageYjsUpdate) {
        Y.applyUpdate(doc, payload, 'server');
        if (syncType === syncProtocol.messageYjsSyncStep2) synced = true;
      }
    } else if (type === 1) {
      const update = decoding.readVarUint8Array(decoder);
      const d = decoding.createDecoder(update);
      const n = decoding.readVarUint(d);
      for (let i = 0; i < n; i++) {
        const id = decoding.readVarUint(d);
        decoding.readVarUint(d);
        awareness.set(id, JSON.parse(decoding.readVarString(d)));
      }
    } else if (type === 2) {
      if (decoding.readVarUint(decoder) === 0) denied.push(decoding.readVarString(decoder));
    }
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  if (opts.sync !== false) {
    ws.send(syncFrame(syncProtocol.messageYjsSyncStep1, Y.encodeStateVector(new Y.Doc())));
    await waitFor(() => synced || client.closeCode !== null, 'raw client synced');
  }
  return client;
}


/**
 * The stored doc, read with one statement: snapshot and update rows from the same snapshot of the
 * database, so a compaction committing in between cannot make it look empty (readStoredDoc reads
 * them with two statements).
 */
export async function storedDoc(db: { query: (text: string, values: unknown[]) => Promise<{ rows: any[] }> }, incidentId: string): Promise<Y.Doc> {
  const { rows } = await db.query(
    `SELECT d.snapshot, coalesce((SELECT array_agg(u.update ORDER BY u.id) FROM checklist_updates u WHERE u.incident_id = d.incident_id), '{}') AS updates
       FROM checklist_docs d WHERE d.incident_id = $1`,
    [incidentId],
  );
  const doc = new Y.Doc();
  if (rows[0]?.snapshot) Y.applyUpdate(doc, rows[0].snapshot);
  for (const u of (rows[0]?.updates ?? []) as Buffer[]) Y.applyUpdate(doc, u);
  return doc;
}
