/**
 * Limits of the live checklist and the live feed (issue 9, finding 5): note length, document
 * size, connections per user and per incident — each refused with its reason and code.
 */
import * as Y from 'yjs';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';
import { connectClient, synced, waitFor, type YClient } from './rooms-helpers.js';
import { rawClient, storedDoc, type RawClient } from './rooms-raw.js';
import { CHECKLIST_ARRAY, YJS_CLOSE_CODES } from '../shared/checklist.js';

import { checklistOf } from '../server/checklist/module.js';
import type { JoinAck } from '../shared/live.js';

const NOTE = 3000;
const DOC_BYTES = 64 * 1024;
let t: TestServer;
const yClients: YClient[] = [];
const raws: RawClient[] = [];
const sockets: Socket[] = [];

beforeAll(async () => {
  t = await startTestServer({
    YJS_MAX_NOTE_LENGTH: String(NOTE),
    YJS_MAX_DOC_BYTES: String(DOC_BYTES),
    YJS_MAX_CONNECTIONS_PER_USER: '3',
    YJS_MAX_CONNECTIONS_PER_INCIDENT: '5',
    LIVE_MAX_CONNECTIONS_PER_USER: '2',
    LIVE_MAX_CONNECTIONS_PER_INCIDENT: '2',
  });
});
afterAll(async () => {
  for (const c of yClients) c.destroy();
  for (const r of raws) r.ws.terminate();
  for (const s of sockets) s.disconnect();
  await t?.close();
});

async function activate(level = 'III'): Promise<string> {
  const res = await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level, mode: 'actual' });
  expect(res.status).toBe(201);
  return res.body.incident.id;
}
const raw = async (incidentId: string, token: string) => {
  const r = await rawClient(t.url, incidentId, token);
  raws.push(r);
  return r;
};
const yClient = (incidentId: string, token: string) => {
  const c = connectClient(t.url, incidentId, token, { awareness: false });
  yClients.push(c);
  return c;
};
const storedNote = async (incidentId: string, index: number) => {
  const doc = await storedDoc(t.server.context.db.pool, incidentId);
  const note = doc.getArray<Y.Map<any>>(CHECKLIST_ARRAY).get(index).get('note').toString();
  doc.destroy();
  return note;
};

describe('note length', () => {
  it('a note may grow to the limit, not past it; replacing text at the limit is fine', async () => {
    const id = await activate();
    const staff = await t.user('staff');
    const r = await raw(id, staff.token!);
    const note = () => r.item(0).get('note') as Y.Text;
    r.edit(() => note().insert(0, 'a'.repeat(NOTE - 10)));
    r.edit(() => note().insert(0, 'b'.repeat(10)));
    r.edit(() => {
      note().delete(0, NOTE);
      note().insert(0, 'c'.repeat(NOTE));
    });
    await waitFor(async () => (await storedNote(id, 0)) === 'c'.repeat(NOTE), 'the note at the limit stored');
    r.edit(() => note().insert(NOTE, 'd'));
    expect((await r.closed).code).toBe(YJS_CLOSE_CODES.updateRefused);
    expect(r.denied[0]).toBe(`update refused: a note holds at most ${NOTE} characters`);
    expect(await storedNote(id, 0)).toBe('c'.repeat(NOTE));
  });

  it('the limit holds for one update that inserts more than the limit at once', async () => {
    const id = await activate();
    const staff = await t.user('staff');
    const r = await raw(id, staff.token!);
    r.edit(() => (r.item(1).get('note') as Y.Text).insert(0, '泵'.repeat(NOTE + 1)));
    expect((await r.closed).code).toBe(YJS_CLOSE_CODES.updateRefused);
    expect(await storedNote(id, 1)).toBe('');
  });
});

describe('document size', () => {
  it('an update that would take the doc over YJS_MAX_DOC_BYTES is refused with 4413; what was stored stays', async () => {
    const id = await activate('I');
    const staff = await t.user('staff');
    const r = await raw(id, staff.token!);
    const count = r.items().length;
    let accepted = 0;
    // Notes at the limit, 3 bytes a character, until the server refuses one.
    for (let i = 0; i < count && r.closeCode === null; i++) {
      r.edit(() => (r.item(i).get('note') as Y.Text).insert(0, '泵'.repeat(NOTE)));
      await waitFor(async () => r.closeCode !== null || (await storedNote(id, i)).length === NOTE, `note ${i} stored or refused`);
      if (r.closeCode === null) accepted++;
    }
    expect(r.closeCode).toBe(YJS_CLOSE_CODES.documentTooLarge);
    expect(r.denied[0]).toMatch(/would exceed 65536 bytes/);
    expect(accepted).toBeGreaterThan(0);
    const doc = await storedDoc(t.server.context.db.pool, id);
    expect(Y.encodeStateAsUpdate(doc).length).toBeLessThanOrEqual(DOC_BYTES);
    doc.destroy();
  });
});

describe('Yjs connections', () => {
  it('per user and per incident: the next one is told why and closed with 4429; a freed slot can be used again', async () => {
    const id = await activate();
    const u = await t.user('staff');
    const v = await t.user('staff');
    const w = await t.user('staff');
    const mine = [yClient(id, u.token!), yClient(id, u.token!), yClient(id, u.token!)];
    await Promise.all(mine.map(synced));
    const fourth = await rawClient(t.url, id, u.token!, { sync: false });
    raws.push(fourth);
    expect((await fourth.closed).code).toBe(YJS_CLOSE_CODES.tooManyConnections);
    expect(fourth.denied[0]).toMatch(/this user has 3 open live checklist connections/);
    expect(fourth.doc.getArray(CHECKLIST_ARRAY).length).toBe(0);

    const theirs = [yClient(id, v.token!), yClient(id, v.token!)];
    await Promise.all(theirs.map(synced));
    const sixth = await rawClient(t.url, id, w.token!, { sync: false });
    raws.push(sixth);
    expect((await sixth.closed).code).toBe(YJS_CLOSE_CODES.tooManyConnections);
    expect(sixth.denied[0]).toMatch(/this incident has 5 open/);
    // Another incident is not affected by this one's count.
    const other = yClient(await activate(), w.token!);
    await synced(other);

    mine[0]!.destroy();
    await waitFor(() => checklistOf(t.server.context).limiter.count('user', u.userId) === 2, 'slot given back');
    const again = yClient(id, u.token!);
    await synced(again);
    expect(again.closes).toEqual([]);
  });
});

describe('Socket.IO connections', () => {
  const connect = (token: string) =>
    new Promise<{ socket: Socket; error: any }>((resolve) => {
      const socket = io(t.url, { auth: { token }, transports: ['websocket'], reconnection: false });
      sockets.push(socket);
      socket.once('connect', () => resolve({ socket, error: null }));
      socket.once('connect_error', (error: any) => resolve({ socket, error }));
    });

  it('per user: the third socket gets connect_error too_many_connections; after a disconnect one may connect again', async () => {
    const u = await t.user('staff');
    const first = await connect(u.token!);
    const second = await connect(u.token!);
    expect([first.error, second.error]).toEqual([null, null]);
    const third = await connect(u.token!);
    expect(third.error?.data?.code).toBe('too_many_connections');
    expect(third.error?.data?.message).toMatch(/this user has 2 open live feed connections/);
    first.socket.disconnect();
    await waitFor(async () => {
      const next = await connect(u.token!);
      if (next.error) return false;
      return true;
    }, 'a socket connects again');
  });

  it('per incident: a join over the limit is refused in its ack; a leave frees the slot', async () => {
    const id = await activate();
    const join = (s: Socket) => new Promise<JoinAck>((resolve) => s.emit('incident:join', { incidentId: id }, resolve));
    const users = await Promise.all([t.user('staff'), t.user('staff'), t.user('staff')]);
    const socks: Socket[] = [];
    for (const u of users) {
      const c = await connect(u.token!);
      expect(c.error).toBeNull();
      socks.push(c.socket);
    }
    expect((await join(socks[0]!)).ok).toBe(true);
    expect((await join(socks[1]!)).ok).toBe(true);
    expect((await join(socks[1]!)).ok).toBe(true); // joining again holds no second slot
    const refused = await join(socks[2]!);
    expect(refused).toMatchObject({ ok: false, error: { code: 'too_many_connections' } });
    await new Promise((resolve) => socks[0]!.emit('incident:leave', { incidentId: id }, resolve));
    expect((await join(socks[2]!)).ok).toBe(true);
    socks[1]!.disconnect();
    await waitFor(async () => {
      const c = await connect(users[0]!.token!);
      const ack = await join(c.socket);
      c.socket.disconnect();
      return ack.ok;
    }, 'slot of a disconnected socket given back');
  });
});
