import { describe, expect, it } from 'vitest';
import { usingRealPostgres } from './helpers/database.js';
import { runClusterDrill } from './helpers/cluster-drill.js';

/**
 * The failure drill, bounded (the long form is `npm run drill:cluster`). Several nodes need one
 * shared PostgreSQL, so — as the other cross-node tests — it is registered only when
 * TEST_DATABASE_URL is set; with REDIS_URL the nodes use the Redis transport, else NOTIFY.
 */
if (usingRealPostgres()) {
  describe('cluster failure drill', () => {
    it('three nodes, one SIGKILLed mid-run: no relayed edit lost, no event missing or doubled in any feed, one SMS per recipient, every push subscriber reached', async () => {
      const r = await runClusterDrill({ feedClients: 9, docClients: 6, editsBefore: 10, editsAfter: 10, reportsBefore: 8, reportsAfter: 8, recipients: 1000, log: (l) => console.log(l) });
      console.log(`cluster drill: ${JSON.stringify(r)}`);
      expect(r.transport).toBe(process.env.REDIS_URL ? 'redis' : 'postgres-notify');
      expect(r.edits).toBe(6 * 20);
      expect(r.lostEdits).toBe(0);
      expect(r.duplicatedEdits).toBe(0);
      expect(r.missingEvents).toBe(0);
      expect(r.duplicatedEvents).toBe(0);
      // the victim's clients (one in three) moved to the survivors
      expect(r.failovers.feed).toBeGreaterThanOrEqual(3);
      expect(r.failovers.doc).toBeGreaterThanOrEqual(2);
      // every recipient × channel settled once; the built-in sink got at most one message per number
      expect(r.deliveries.total).toBe(1000);
      expect(r.deliveries.queued ?? 0).toBe(0);
      expect(r.deliveries.sending ?? 0).toBe(0);
      expect(r.recipientsWithMoreThanOne).toBe(0);
      expect(r.smsMessages).toBe(r.deliveries.delivered! + (r.deliveries.sent ?? 0));
      expect(r.deliveries.failed ?? 0).toBe(0);
      expect(r.deliveries.unknown ?? 0).toBe(0);
      // Web Push to the same 1,000: every subscriber reached and shown one notification; a push
      // the victim sent but did not record is sent again (at-least-once), replacing its copy by tag.
      expect(r.deliveredAtKill.push, 'the kill landed while pushes were going out').toBeLessThan(1000);
      expect(r.push.deliveries).toMatchObject({ total: 1000, delivered: 1000 });
      expect(r.push.subscribersReached).toBe(1000);
      expect(r.push.notificationsShown).toBe(1000);
      expect(r.push.received).toBeGreaterThanOrEqual(1000);
      // Twice only what the victim had claimed when it died: at most one batch (WARNING_BATCH_SIZE 25).
      expect(r.push.subscribersWithMoreThanOne).toBeLessThanOrEqual(25);
      expect(r.recoveryMs).toBeGreaterThan(0);
    }, 600_000);
  });
}
else {
  describe('cluster failure drill', () => {
    it('on embedded PGlite there is one node: the drill refuses to run rather than pretend', async () => {
      await expect(runClusterDrill({ feedClients: 1, docClients: 1, editsBefore: 1, editsAfter: 1, reportsBefore: 1, reportsAfter: 1, recipients: 1 })).rejects.toThrow(/TEST_DATABASE_URL/);
    });
  });
}
