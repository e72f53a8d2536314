import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTransaction } from '../server/db/database.js';
import { listEvents, verifyChain } from '../server/incidents/event-log.js';
import type { IncidentEvent } from '../shared/events.js';
import { startTestServer, type TestServer } from './helpers/server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

async function activate(): Promise<string> {
  const res = await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' });
  expect(res.status).toBe(201);
  return res.body.incident.id;
}

function listen(): { seen: IncidentEvent[]; stop(): void } {
  const seen: IncidentEvent[] = [];
  const on = (e: IncidentEvent) => seen.push(e);
  t.server.context.bus.on('event', on);
  return { seen, stop: () => t.server.context.bus.off('event', on) };
}

describe('the timeline: record(tx, event)', () => {
  it('appends the hash-chained entry in the transaction and publishes it only after commit, with the actor mapped once', async () => {
    const id = await activate();
    const { db, bus } = t.server.context;
    const l = listen();
    let seenInside = -1;
    const event = await withTransaction(db.pool, async (tx) => {
      const e = await bus.record(tx, { incidentId: id, type: 'test.recorded', actor: { userId: '00000000-0000-4000-8000-000000000001', username: 'wangfang', displayName: '王芳' }, data: { n: 1 } });
      seenInside = l.seen.length;
      return e;
    });
    l.stop();
    expect(seenInside).toBe(0);
    expect(l.seen).toEqual([event]);
    expect(event.actor).toEqual({ id: '00000000-0000-4000-8000-000000000001', name: 'wangfang', displayName: '王芳' });
    const stored = await listEvents(db.pool, id, { afterSeq: 1 });
    expect(stored).toEqual([event]);
    expect((await verifyChain(db.pool, id)).ok).toBe(true);
  });

  it('a rolled-back transaction leaves no entry and publishes nothing', async () => {
    const id = await activate();
    const { db, bus } = t.server.context;
    const l = listen();
    await expect(
      withTransaction(db.pool, async (tx) => {
        await bus.record(tx, { incidentId: id, type: 'test.recorded', actor: null, data: {} });
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    l.stop();
    expect(l.seen).toEqual([]);
    expect(await listEvents(db.pool, id, { afterSeq: 1 })).toEqual([]);
    expect((await verifyChain(db.pool, id)).ok).toBe(true);
  });

  it('recordAll writes several incidents in order and publishes each once after commit', async () => {
    const [a, b] = [await activate(), await activate()];
    const { db, bus } = t.server.context;
    const l = listen();
    const events = await withTransaction(db.pool, (tx) =>
      bus.recordAll(tx, [
        { incidentId: a, type: 'test.batch', actor: null, data: { i: 0 } },
        { incidentId: b, type: 'test.batch', actor: null, data: { i: 1 } },
        { incidentId: a, type: 'test.batch', actor: null, data: { i: 2 } },
      ]),
    );
    l.stop();
    expect(events.map((e) => [e.incidentId, e.seq])).toEqual([[a, 2], [b, 2], [a, 3]]);
    expect(l.seen).toEqual(events);
    expect((await verifyChain(db.pool, a)).ok).toBe(true);
    expect((await verifyChain(db.pool, b)).ok).toBe(true);
  });

  it('refuses to record outside a transaction (it could not publish on commit)', async () => {
    const id = await activate();
    const { db, bus } = t.server.context;
    await expect(bus.record(db.pool, { incidentId: id, type: 'test.recorded', actor: null, data: {} })).rejects.toThrow(/withTransaction/);
    expect(await listEvents(db.pool, id, { afterSeq: 1 })).toEqual([]);
  });
});
