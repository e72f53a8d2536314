/**
 * npm run drill:cluster — the long form of the cluster failure drill (test/cluster-drill.test.ts):
 * three spawned nodes on one PostgreSQL (TEST_DATABASE_URL, default postgres://root@127.0.0.1:5432/test)
 * and Redis when REDIS_URL is set, more clients, more edits and events, a warning to
 * DRILL_RECIPIENTS (default 1,000) recipients; one node SIGKILLed mid-run, and with
 * `--redis-restart` (`npm run drill:cluster -- --redis-restart`) the nodes' Redis restarted before
 * that. Prints what it counted and `lost = 0` when nothing was lost; exits 1 otherwise.
 */
import { runClusterDrill } from '../test/helpers/cluster-drill.js';
import { OwnRedis, redisServerAvailable } from '../test/helpers/own-redis.js';

process.env.TEST_DATABASE_URL ??= 'postgres://root@127.0.0.1:5432/test';
const n = (name: string, d: number) => Number(process.env[name] ?? d);

// --redis-restart: the nodes get a Redis of the drill's own (DRILL_REDIS_PORT, default 6393; no
// persistence), which is SIGKILLed while the warning goes out and started again DRILL_REDIS_DOWN_MS
// (default 4,000) later. A shared REDIS_URL is never restarted.
let redis: OwnRedis | undefined;
if (process.argv.includes('--redis-restart')) {
  if (!redisServerAvailable()) {
    console.error('--redis-restart needs a redis-server binary on PATH');
    process.exit(2);
  }
  redis = new OwnRedis(n('DRILL_REDIS_PORT', 6393));
  await redis.start();
  process.env.REDIS_URL = redis.url;
}

const r = await runClusterDrill({
  feedClients: n('DRILL_FEED_CLIENTS', 30),
  docClients: n('DRILL_DOC_CLIENTS', 15),
  editsBefore: n('DRILL_EDITS_BEFORE', 40),
  editsAfter: n('DRILL_EDITS_AFTER', 40),
  reportsBefore: n('DRILL_REPORTS_BEFORE', 30),
  reportsAfter: n('DRILL_REPORTS_AFTER', 30),
  recipients: n('DRILL_RECIPIENTS', 1000),
  ...(redis ? { redisRestart: { stop: () => redis.kill(), start: () => redis.start(), downMs: n('DRILL_REDIS_DOWN_MS', 4000) } } : {}),
  log: (line) => console.log(line),
}).finally(() => redis?.kill());
// A push subscriber never reached is lost; one reached twice is the documented at-least-once, not doubled.
const lost = r.lostEdits + r.missingEvents + (r.recipients - r.push.subscribersReached);
console.log(`transport: ${r.transport}; nodes: ${r.nodes}; clients: ${r.feedClients} live feed + ${r.docClients} checklist; failovers: ${r.failovers.feed} feed, ${r.failovers.doc} checklist`);
console.log(`edits: ${r.edits} made, ${r.lostEdits} lost, ${r.duplicatedEdits} doubled`);
console.log(`events: ${r.events} in the log; across all feeds ${r.missingEvents} missing, ${r.duplicatedEvents} duplicated`);
console.log(`warning: ${r.recipients} recipients × sms; deliveries ${JSON.stringify(r.deliveries)}; sink messages ${r.smsMessages}; recipients with more than one: ${r.recipientsWithMoreThanOne}`);
console.log(`warning: ${r.recipients} subscribers × push; deliveries ${JSON.stringify(r.push.deliveries)}; pushes received ${r.push.received} by ${r.push.subscribersReached} subscribers (${r.push.subscribersWithMoreThanOne} twice: at-least-once), notifications shown ${r.push.notificationsShown}`);
if (r.redisRecoveryMs !== undefined) console.log(`redis restart: every client caught up ${r.redisRecoveryMs} ms after redis was back (work continued while it was down)`);
console.log(`recovery: ${r.recoveryMs} ms from SIGKILL to every client holding the whole log and the whole checklist (work continued meanwhile)`);
const doubled = r.duplicatedEdits + r.duplicatedEvents + r.recipientsWithMoreThanOne;
console.log(`lost = ${lost}; doubled = ${doubled}`);
process.exit(lost === 0 && doubled === 0 ? 0 : 1);
