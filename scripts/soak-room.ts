/**
 * `npm run soak:room -- --minutes N`: the live checklist fault-injection soak, long form, with
 * its figures printed. Database: with TEST_DATABASE_URL (or else DATABASE_URL) set, the soak
 * creates a fresh PostgreSQL database of its own on that server and drops it afterwards (it
 * never writes into the database the URL names); without either, embedded PGlite in a temporary
 * directory. Exits 1 when a relayed edit was lost, an item has no valid status, or the clients
 * did not converge.
 */
import { parseArgs } from 'node:util';
import { createTestDatabase } from '../test/helpers/database.js';
import { formatSoakReport, runRoomSoak } from '../test/helpers/room-soak.js';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '3' }, writers: { type: 'string', default: '4' } } });
const minutes = Number(values.minutes);
const writers = Number(values.writers);
if (!(minutes > 0) || !Number.isInteger(writers) || writers < 2) {
  console.error('usage: npm run soak:room -- --minutes N [--writers W≥2]');
  process.exit(2);
}
if (!process.env.TEST_DATABASE_URL && process.env.DATABASE_URL) process.env.TEST_DATABASE_URL = process.env.DATABASE_URL;
const database = await createTestDatabase();
const at = () => new Date().toISOString().slice(11, 19);
console.log(`${at()} soak: ${minutes} min, ${writers} writers, ${database.url ? 'PostgreSQL (own database)' : 'embedded PGlite'}`);
try {
  const report = await runRoomSoak({ durationMs: minutes * 60_000, databaseUrl: database.url, writers, log: (line) => console.log(`${at()} ${line}`) });
  console.log(formatSoakReport(report));
  const ok = report.lostRelayedEdits.length === 0 && report.invalidItems.length === 0 && report.converged;
  process.exitCode = ok ? 0 : 1;
} finally {
  await database.drop();
}
process.exit();
