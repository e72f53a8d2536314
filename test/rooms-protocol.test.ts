/** Garbled y-websocket frames (issue 9, finding 7): every one closes its connection with 4400, and nothing of it is applied. */
import * as Y from 'yjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';
import { rawClient, syncFrame, awarenessFrame, type RawClient } from './rooms-raw.js';
import { waitFor } from './helpers/wait.js';
import { YJS_CLOSE_CODES } from '../shared/checklist.js';

let t: TestServer;
let incidentId: string;
let token: string;
const raws: RawClient[] = [];

beforeAll(async () => {
  t = await startTestServer();
  const res = await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' });
  incidentId = res.body.incident.id;
  token = (await t.user('staff')).token!;
});
afterAll(async () => {
  for (const r of raws) r.ws.terminate();
  await t?.close();
});

/** A legal update of a fresh client: its status change on item 0. */
async function legalUpdate(): Promise<{ update: Uint8Array; clientId: number }> {
  const r = await rawClient(t.url, incidentId, token);
  raws.push(r);
  const doc = new Y.Doc();
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(r.doc));
  r.ws.terminate();
  let update: Uint8Array | null = null;
  doc.on('update', (u: Uint8Array) => (update = u));
  doc.getArray<Y.Map<any>>('checklist').get(0).set('status', 'doing');
  return { update: update!, clientId: doc.clientID };
}

describe('garbled frames', () => {
  it('each closes with 4400 before anything else of that connection is handled', async () => {
    const { update, clientId } = await legalUpdate();
    const stateVector = Y.encodeStateVector(new Y.Doc());
    const frames: [string, Uint8Array][] = [
      ['ff ff ff ff 0f (an unknown message type)', Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f])],
      ['09 01 02 (an unknown message type)', Uint8Array.from([0x09, 0x01, 0x02])],
      ['a truncated sync step 1', Uint8Array.from([0, 0, 5, 1])],
      ['a truncated update', syncFrame(2, update.slice(0, update.length - 3))],
      ['trailing bytes after a sync message', Uint8Array.from([...syncFrame(0, stateVector), 7])],
      ['trailing bytes inside an update', syncFrame(2, Uint8Array.from([...update, 1, 2]))],
      ['trailing bytes inside a sync step 2', syncFrame(1, Uint8Array.from([...update, 0]))],
      ['trailing bytes inside a state vector', syncFrame(0, Uint8Array.from([1, 5, 3, 9]))],
      ['a query-awareness with a payload', Uint8Array.from([3, 0])],
      ['an awareness state that is not an object', awarenessFrame([{ clientId: 5, clock: 1, state: 5 }])],
      ['an auth message that is not permission-denied', Uint8Array.from([2, 7])],
      ['an auth message without its reason', Uint8Array.from([2, 0])],
    ];
    for (const [what, frame] of frames) {
      const r = await rawClient(t.url, incidentId, token, { sync: false });
      raws.push(r);
      const framesBefore = r.awareness.size;
      let answered = false;
      r.ws.on('message', (d: Buffer) => {
        if (d[0] === 1) answered = true; // the awareness answer to the query below
      });
      r.ws.send(frame);
      r.ws.send(Uint8Array.from([3])); // query awareness: an open connection answers it
      await waitFor(() => r.closeCode !== null || answered, `close or answer after ${what}`);
      expect({ what, code: r.closeCode, answered }).toEqual({ what, code: YJS_CLOSE_CODES.malformedMessage, answered: false });
      expect(r.awareness.size).toBe(framesBefore);
    }
    // None of the updates with trailing bytes was applied.
    const check = await rawClient(t.url, incidentId, token);
    raws.push(check);
    expect(Y.decodeStateVector(Y.encodeStateVector(check.doc)).has(clientId)).toBe(false);
    expect(check.item(0).get('status')).toBe('todo');
  });

  it('a well-formed client auth message is ignored, as the reference server does', async () => {
    const r = await rawClient(t.url, incidentId, token, { sync: false });
    raws.push(r);
    const reason = new TextEncoder().encode('x');
    let answered = false;
    r.ws.on('message', (d: Buffer) => {
      if (d[0] === 1) answered = true;
    });
    r.ws.send(Uint8Array.from([2, 0, reason.length, ...reason]));
    r.ws.send(Uint8Array.from([3]));
    await waitFor(() => answered || r.closeCode !== null, 'answer');
    expect(r.closeCode).toBeNull();
  });
});
