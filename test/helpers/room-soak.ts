/**
 * Fault-injection soak of the live checklist, shared by `test/rooms-soak.test.ts` (short) and
 * `npm run soak:room` (long). Real WebsocketProvider clients edit statuses, assignees and notes
 * of one incident on a server running as a child process, while faults are injected:
 *
 * - database errors: a request whose query fails (duplicate user, 409); on PGlite the pool
 *   replaces its connection every DB_CLIENT_MAX_USES checkouts; on PostgreSQL
 *   `pg_terminate_backend` kills every connection of the server;
 * - SIGKILL of the server and a restart on the same data and port;
 * - writers dropping their connection mid-edit and reconnecting;
 * - a client sending a refused update (invalid status) directly followed by a legal one.
 *
 * Afterwards, following a final SIGKILL and restart, a fresh client reads the stored doc: every
 * note token the server relayed to a client other than its writer must be there, every item
 * must have a valid status, and all writers and the fresh client must converge.
 */
import { createServer } from 'node:net';
import { rm } from 'node:fs/promises';
import * as Y from 'yjs';
import pg from 'pg';
import { Api } from './api.js';
import { ADMIN_PASSWORD, spawnServer, tempDir, testEnv, type SpawnedServer } from './server.js';
import { connectClient, type YClient } from '../rooms-helpers.js';
import { CHECKLIST_ARRAY, ITEM_FIELDS as F, ITEM_STATUSES, YJS_CLOSE_CODES } from '../../shared/checklist.js';

export interface SoakOptions {
  durationMs: number;
  /** A PostgreSQL database of the soak's own (it is written to and its connections killed); undefined: embedded PGlite. */
  databaseUrl?: string;
  writers?: number;
  /** Pause between two edits of one writer. */
  editEveryMs?: number;
  /** Mean time between server SIGKILLs. */
  killEveryMs?: number;
  log?: (line: string) => void;
}

export interface SoakReport {
  database: 'pglite' | 'postgresql';
  durationMs: number;
  editsSent: number;
  editsRelayed: number;
  faults: Record<string, number>;
  /** Faults that run all the time rather than at counted moments. */
  continuousFaults: string[];
  reconnects: number;
  serverRestarts: number;
  /** Writers closed with a permanent code although they only made legal edits (then replaced). */
  writersRefused: number;
  lostRelayedEdits: string[];
  invalidItems: { id: unknown; status: unknown }[];
  /** Times a writer saw an item left without a valid status during the run (healed later or not). */
  statusGaps: { id: unknown; status: unknown }[];
  converged: boolean;
  /** Warnings and errors the server logged, by message. */
  serverComplaints: Record<string, number>;
  /** Item count of the stored doc after the final restart. */
  items: number;
}

const TOKEN = /\[w(\d+)\.(\d+)\]/g;
const STATUSES = ITEM_STATUSES as readonly string[];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const jitter = (ms: number) => ms / 2 + Math.random() * ms;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(everyMs);
  }
  return false;
}

/** The checklist as JSON with sorted keys: a Y.Map's key order follows the order updates arrived in. */
const checklistJson = (c: YClient) =>
  JSON.stringify(
    (c.doc.getArray(CHECKLIST_ARRAY).toJSON() as Record<string, unknown>[]).map((item) => Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : 1)))),
  );

/** One editing client. It is replaced (new doc) only if the server closes it for good. */
class Writer {
  client!: YClient;
  sent = 0;
  connects = 0;
  private seq = 0;

  constructor(
    readonly index: number,
    private readonly url: () => string,
    private readonly incidentId: string,
    private readonly token: string,
    private readonly relayed: Set<string>,
    /** Items a writer saw left without a valid status by an update from the server. */
    private readonly statusGaps: { id: unknown; status: unknown }[],
  ) {
    this.open();
  }

  open(): void {
    const client = connectClient(this.url(), this.incidentId, this.token, { awareness: false });
    client.provider.on('status', ({ status }: { status: string }) => {
      if (status === 'connected') this.connects++;
    });
    // Note text the server sent (origin: the provider) that another writer typed counts as relayed.
    client.items().observeDeep((events, tr) => {
      if (tr.origin !== client.provider) return;
      for (const event of events) {
        if (event.target instanceof Y.Map && (event as Y.YMapEvent<unknown>).keysChanged.has(F.status)) {
          const status = event.target.get(F.status);
          if (typeof status !== 'string' || !STATUSES.includes(status)) this.statusGaps.push({ id: event.target.get(F.id), status: status ?? null });
        }
        if (!(event.target instanceof Y.Text)) continue;
        for (const op of event.delta) {
          if (typeof op.insert !== 'string') continue;
          for (const m of op.insert.matchAll(TOKEN)) if (Number(m[1]) !== this.index) this.relayed.add(m[0]);
        }
      }
    });
    this.client = client;
  }

  /** Closed with a permanent (44xx) code: the provider stopped reconnecting. */
  get refused(): boolean {
    return this.client.closes.some((e) => e.code >= 4400 && e.code < 4500);
  }

  /** The stock provider's URL is fixed at construction: after a restart it reconnects to the same port. */
  edit(): void {
    const items = this.client.items();
    if (items.length === 0) return;
    const item = items.get(Math.floor(Math.random() * items.length));
    const n = this.seq++;
    this.client.doc.transact(() => {
      const roll = Math.random();
      if (roll < 0.3) item.set(F.status, STATUSES[Math.floor(Math.random() * STATUSES.length)]!);
      else if (roll < 0.5) item.set(F.assignee, `队员 w${this.index}.${n}`);
      const note = item.get(F.note);
      if (note instanceof Y.Text) note.insert(note.length, `[w${this.index}.${n}]`);
    });
    this.sent++;
  }

  /** Drops the connection (maybe right after an edit) and reconnects a moment later. */
  async drop(): Promise<void> {
    if (Math.random() < 0.5) this.edit();
    this.client.provider.disconnect();
    await sleep(jitter(300));
    this.client.provider.connect();
  }
}

export async function runRoomSoak(opts: SoakOptions): Promise<SoakReport> {
  const log = opts.log ?? (() => undefined);
  const realPostgres = Boolean(opts.databaseUrl);
  const dataDir = await tempDir('yingji-soak-');
  const port = await freePort();
  const env = testEnv(dataDir, opts.databaseUrl, {
    PORT: String(port),
    // PGlite: the pool replaces its one connection every few checkouts (a discarded client).
    ...(realPostgres ? {} : { DB_CLIENT_MAX_USES: '25' }),
    YJS_COMPACT_AFTER_UPDATES: '50',
    YJS_COMPACT_INTERVAL_MS: '2000',
    // The writers append every edit's token to notes, so notes and the document outgrow the
    // limits meant for people in a long run; the soak tests durability, the limits have their tests.
    YJS_MAX_NOTE_LENGTH: '1000000',
    YJS_MAX_DOC_BYTES: String(64 * 1024 * 1024),
  });
  const faults: Record<string, number> = {
    'query error (409 duplicate user)': 0,
    ...(realPostgres ? { 'pg_terminate_backend (server connections)': 0 } : {}),
    'server SIGKILL + restart': 0,
    'writer dropped mid-edit': 0,
    'refused update + legal one (closed 4422)': 0,
  };
  const count = (kind: string) => (faults[kind] = (faults[kind] ?? 0) + 1);

  let server: SpawnedServer = await spawnServer(env, 120_000);
  let restarts = 0;
  let admin = await new Api(server.url).login('admin', ADMIN_PASSWORD);
  const created = await admin.post('/api/incidents', { planId: 'hazchem-leak', level: 'II', mode: 'exercise', title: '检查单浸泡测试' });
  if (created.status !== 201) throw new Error(`activation failed: ${created.status} ${JSON.stringify(created.body)}`);
  const incidentId = created.body.incident.id as string;
  const token = admin.token!;
  const url = () => server.url;

  const relayed = new Set<string>();
  const statusGaps: { id: unknown; status: unknown }[] = [];
  const writers = Array.from({ length: opts.writers ?? 4 }, (_, i) => new Writer(i, url, incidentId, token, relayed, statusGaps));
  let writersRefused = 0;
  const retired: Writer[] = [];
  await until(() => writers.every((w) => w.client.provider.synced && w.client.items().length > 0), 60_000);

  const pgAdmin = opts.databaseUrl ? new pg.Pool({ connectionString: opts.databaseUrl, max: 1 }) : null;
  let serverDown = false;
  let stopping = false;
  const started = Date.now();
  const running = () => !stopping && Date.now() - started < opts.durationMs;

  /** Warnings and errors the server logged, by message (what the faults made it say). */
  const serverComplaints: Record<string, number> = {};
  const collectComplaints = (output: string) => {
    for (const line of output.split('\n')) {
      // A crash prints its error outside the JSON log.
      if (/^\s*(\w*Error|Uncaught|node:)/.test(line)) serverComplaints[`stderr: ${line.trim().slice(0, 160)}`] = (serverComplaints[`stderr: ${line.trim().slice(0, 160)}`] ?? 0) + 1;
      if (!line.startsWith('{')) continue;
      try {
        const entry = JSON.parse(line) as { level?: number; msg?: string };
        if ((entry.level ?? 0) >= 40 && entry.msg) serverComplaints[entry.msg] = (serverComplaints[entry.msg] ?? 0) + 1;
      } catch {
        // not a log line
      }
    }
  };
  const restart = async (signal: NodeJS.Signals) => {
    serverDown = true;
    await server.kill(signal);
    collectComplaints(server.output());
    server = await spawnServer(env, 120_000);
    restarts++;
    admin = await new Api(server.url).login('admin', ADMIN_PASSWORD);
    serverDown = false;
  };

  const editing = writers.map(async (_, i) => {
    while (running()) {
      const w = writers[i]!;
      if (w.refused) {
        // Only legal edits were made: a permanent close here is a server bug (or finding 3). Replace it.
        writersRefused++;
        log(`writer ${i} refused: ${JSON.stringify(w.client.closes.at(-1))}`);
        w.client.provider.disconnect();
        retired.push(w);
        writers[i] = new Writer(i, url, incidentId, token, relayed, statusGaps);
        writers[i]!.sent = 0;
        continue;
      }
      w.edit();
      await sleep(jitter(opts.editEveryMs ?? 60));
    }
  });

  const rogue = async () => {
    const c = connectClient(server.url, incidentId, token, { awareness: false });
    try {
      if (!(await until(() => c.provider.synced && c.items().length > 1, 10_000))) return;
      const items = c.items();
      const a = items.get(Math.floor(Math.random() * items.length));
      let b = a;
      while (b === a) b = items.get(Math.floor(Math.random() * items.length));
      // Two updates from one client: the first is refused, the second is legal on its own but
      // builds on the first. Sent back to back (one server batch) or a moment apart (the next
      // batch, before the 4422 close has reached the client).
      a.set(F.status, 'bogus');
      const gapMs = [0, 0, 1, 3, 8][Math.floor(Math.random() * 5)]!;
      if (gapMs > 0) await sleep(gapMs);
      b.set(F.status, b.get(F.status) === 'done' ? 'doing' : 'done');
      if (await until(() => c.closes.some((e) => e.code === YJS_CLOSE_CODES.updateRefused), 10_000)) count('refused update + legal one (closed 4422)');
    } finally {
      c.destroy();
    }
  };

  const faultLoop = (async () => {
    const killEvery = opts.killEveryMs ?? 15_000;
    let nextKill = Date.now() + jitter(killEvery);
    while (running()) {
      await sleep(jitter(700));
      if (!running()) break;
      if (serverDown) continue;
      try {
        if (Date.now() >= nextKill) {
          log(`SIGKILL at ${Math.round((Date.now() - started) / 1000)} s (relayed so far: ${relayed.size})`);
          await restart('SIGKILL');
          count('server SIGKILL + restart');
          nextKill = Date.now() + jitter(killEvery);
          continue;
        }
        const roll = Math.random();
        if (roll < 0.35) {
          const res = await admin.post('/api/users', { username: 'admin', password: 'password-123', role: 'staff' });
          if (res.status === 409) count('query error (409 duplicate user)');
          else if (res.status >= 500) log(`409 probe answered ${res.status}: ${JSON.stringify(res.body)}`);
        } else if (roll < 0.6) {
          const w = writers[Math.floor(Math.random() * writers.length)]!;
          void w.drop();
          count('writer dropped mid-edit');
        } else if (roll < 0.8) {
          await rogue();
        } else if (pgAdmin) {
          await pgAdmin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
          count('pg_terminate_backend (server connections)');
        }
      } catch (err) {
        log(`fault step failed: ${(err as Error).message}`);
      }
    }
  })();

  await Promise.all([faultLoop, ...editing]);
  stopping = true;
  const editsSent = [...writers, ...retired].reduce((n, w) => n + w.sent, 0);
  // Let the writers hand in what they still hold, then kill the server one last time.
  const settling = Date.now();
  const connected = await until(() => writers.every((w) => w.client.provider.synced && w.client.provider.wsconnected), 60_000);
  const agreed = await until(() => new Set(writers.map((w) => checklistJson(w.client))).size === 1, 60_000, 200);
  log(`writers settled in ${Date.now() - settling} ms (all connected: ${connected}, all equal: ${agreed})`);
  if (!connected) {
    for (const w of writers) {
      const p = w.client.provider;
      log(`  writer ${w.index}: connected ${p.wsconnected}, synced ${p.synced}, last closes ${JSON.stringify(w.client.closes.slice(-3))}`);
    }
  }
  const relayedBeforeKill = [...relayed];
  await restart('SIGKILL');
  count('server SIGKILL + restart');

  const fresh = connectClient(server.url, incidentId, token, { awareness: false });
  await until(() => fresh.provider.synced && fresh.items().length > 0, 120_000);
  const freshTokens = new Set<string>();
  const invalidItems: { id: unknown; status: unknown }[] = [];
  for (const item of fresh.items()) {
    for (const m of String(item.get(F.note) ?? '').matchAll(TOKEN)) freshTokens.add(m[0]);
    const status = item.get(F.status);
    if (typeof status !== 'string' || !STATUSES.includes(status)) invalidItems.push({ id: item.get(F.id), status: status ?? null });
  }
  const lostRelayedEdits = relayedBeforeKill.filter((t) => !freshTokens.has(t));
  const converging = Date.now();
  const converged = await until(() => {
    const states = new Set([fresh, ...writers.map((w) => w.client)].map(checklistJson));
    return states.size === 1 && writers.every((w) => w.client.provider.synced);
  }, 90_000, 200);

  log(`after the final restart: ${converged ? 'converged' : 'not converged'} in ${Date.now() - converging} ms`);
  const report: SoakReport = {
    database: realPostgres ? 'postgresql' : 'pglite',
    durationMs: Date.now() - started,
    editsSent,
    editsRelayed: relayedBeforeKill.length,
    faults,
    continuousFaults: realPostgres ? [] : ['the pool replaces its database connection every 25 checkouts (DB_CLIENT_MAX_USES=25)'],
    reconnects: [...writers, ...retired].reduce((n, w) => n + Math.max(0, w.connects - 1), 0),
    serverRestarts: restarts,
    writersRefused,
    lostRelayedEdits,
    invalidItems,
    statusGaps,
    converged,
    serverComplaints: {},
    items: fresh.items().length,
  };
  fresh.destroy();
  for (const w of [...writers, ...retired]) w.client.destroy();
  await pgAdmin?.end();
  await server.kill('SIGTERM');
  collectComplaints(server.output());
  report.serverComplaints = serverComplaints;
  await rm(dataDir, { recursive: true, force: true });
  return report;
}

/** The figures, one per line, for the script and the test's failure messages. */
export function formatSoakReport(r: SoakReport): string {
  return [
    `database:             ${r.database}`,
    `duration:             ${Math.round(r.durationMs / 1000)} s`,
    `edits sent:           ${r.editsSent}`,
    `edits relayed:        ${r.editsRelayed} (note edits another client received from the server)`,
    `faults injected:`,
    ...Object.entries(r.faults).map(([kind, n]) => `  ${kind}: ${n}`),
    ...r.continuousFaults.map((f) => `  continuous: ${f}`),
    `reconnects:           ${r.reconnects}`,
    `server restarts:      ${r.serverRestarts}`,
    `writers refused:      ${r.writersRefused}`,
    `lost relayed edits:   ${r.lostRelayedEdits.length}${r.lostRelayedEdits.length ? ` (${r.lostRelayedEdits.slice(0, 10).join(' ')}…)` : ''}`,
    `invalid items:        ${r.invalidItems.length}${r.invalidItems.length ? ` (${JSON.stringify(r.invalidItems.slice(0, 5))})` : ''}`,
    `status gaps seen:     ${r.statusGaps.length}${r.statusGaps.length ? ` (${JSON.stringify(r.statusGaps.slice(0, 5))})` : ''}`,
    `items:                ${r.items}`,
    `converged:            ${r.converged ? 'yes' : 'no'}`,
    `server warnings/errors:`,
    ...Object.entries(r.serverComplaints).map(([msg, n]) => `  ${msg}: ${n}`),
  ].join('\n');
}
