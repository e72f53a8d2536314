/**
 * npm run bench:cluster — what crossing nodes costs (issue 14). Two spawned nodes on one
 * PostgreSQL (TEST_DATABASE_URL or BENCH_DATABASE_URL; Redis when REDIS_URL is set). For the same
 * checklist edits, measured in the same run and interleaved round by round:
 *   one node:    the sender and the receivers on node A;
 *   cross node:  the sender on node A, the receivers on node B.
 * Reports server CPU per edit (user + system of both node processes, from /proc) and the p50/p99
 * from the sender's edit to each receiver seeing it. This machine has 2 cores: it measures cost,
 * not scaling. Targets: cross/one ≤ 1.3× CPU, ≤ +5 ms p99.
 */
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import * as Y from 'yjs';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import { CHECKLIST_ARRAY } from '../shared/checklist.js';
import { Api } from '../test/helpers/api.js';
import { createTestDatabase } from '../test/helpers/database.js';
import { ADMIN_PASSWORD, spawnServer, tempDir, testEnv, type SpawnedServer } from '../test/helpers/server.js';
import { waitFor } from '../test/helpers/wait.js';

process.env.TEST_DATABASE_URL ??= process.env.BENCH_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';
process.setMaxListeners(0);
const EDITS = Number(process.env.BENCH_EDITS ?? 300);
const RECEIVERS = Number(process.env.BENCH_RECEIVERS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const PACE_MS = Number(process.env.BENCH_PACE_MS ?? 5);
/** USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s on Linux. */
const TICK = 100;

function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICK;
}

interface Client {
  doc: Y.Doc;
  provider: WebsocketProvider;
}

function connect(url: string, incidentId: string, token: string): Client {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(url.replace(/^http/, 'ws') + '/yjs', incidentId, doc, {
    params: { token },
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
  });
  provider.awareness.setLocalState(null);
  return { doc, provider };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

async function round(nodes: SpawnedServer[], admin: Api, token: string, receiverNode: SpawnedServer): Promise<{ cpuPerEditMs: number; latencies: number[] }> {
  const incident = (await admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' })).body.incident;
  const sender = connect(nodes[0]!.url, incident.id, token);
  const receivers = Array.from({ length: RECEIVERS }, () => connect(receiverNode.url, incident.id, token));
  const all = [sender, ...receivers];
  await waitFor(() => all.every((c) => c.provider.synced && c.doc.getArray(CHECKLIST_ARRAY).length > 0), 'synced', 60_000);
  const sentAt = new Map<number, number>();
  const latencies: number[] = [];
  let seen = 0;
  for (const r of receivers) {
    const text = (r.doc.getArray<Y.Map<any>>(CHECKLIST_ARRAY).get(0).get('note') as Y.Text);
    text.observe((ev) => {
      const now = performance.now();
      for (const d of ev.delta) {
        if (typeof d.insert !== 'string') continue;
        for (const m of d.insert.matchAll(/e(\d+);/g)) {
          const at = sentAt.get(Number(m[1]));
          if (at !== undefined) latencies.push(now - at);
          seen++;
        }
      }
    });
  }
  const note = sender.doc.getArray<Y.Map<any>>(CHECKLIST_ARRAY).get(0).get('note') as Y.Text;
  await new Promise((r) => setTimeout(r, 300));
  const cpu0 = nodes.reduce((n, s) => n + cpuMs(s.child.pid!), 0);
  for (let k = 0; k < EDITS; k++) {
    sentAt.set(k, performance.now());
    note.insert(note.length, `e${k};`);
    await new Promise((r) => setTimeout(r, PACE_MS));
  }
  await waitFor(() => seen >= EDITS * RECEIVERS, 'all edits seen', 120_000, 5);
  await new Promise((r) => setTimeout(r, 300));
  const cpu1 = nodes.reduce((n, s) => n + cpuMs(s.child.pid!), 0);
  for (const c of all) {
    c.provider.destroy();
    c.doc.destroy();
  }
  return { cpuPerEditMs: (cpu1 - cpu0) / EDITS, latencies };
}

async function main() {
  const database = await createTestDatabase();
  const dirs: string[] = [];
  const nodes: SpawnedServer[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const dir = await tempDir('yingji-bench-cluster-');
      dirs.push(dir);
      nodes.push(await spawnServer(testEnv(dir, database.url, { ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}), YJS_MAX_CONNECTIONS_PER_USER: '1000', YJS_MAX_NOTE_LENGTH: '100000' })));
    }
    const admin = await new Api(nodes[0]!.url).login('admin', ADMIN_PASSWORD);
    const transport = (await admin.get('/api/live/status')).body.crossNode;
    console.log(`bench:cluster — 2 nodes on PostgreSQL, transport ${transport}; ${os.cpus().length} CPU cores; ${EDITS} edits × ${RECEIVERS} receivers per round, ${ROUNDS} rounds per placement, one edit every ${PACE_MS} ms`);
    const one = { cpu: [] as number[], lat: [] as number[] };
    const cross = { cpu: [] as number[], lat: [] as number[] };
    await round(nodes, admin, admin.token!, nodes[0]!); // warm-up
    for (let r = 0; r < ROUNDS; r++) {
      const a = await round(nodes, admin, admin.token!, nodes[0]!);
      one.cpu.push(a.cpuPerEditMs);
      one.lat.push(...a.latencies);
      const b = await round(nodes, admin, admin.token!, nodes[1]!);
      cross.cpu.push(b.cpuPerEditMs);
      cross.lat.push(...b.latencies);
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const f = (n: number) => n.toFixed(2);
    const oneCpu = mean(one.cpu);
    const crossCpu = mean(cross.cpu);
    console.log(`one node:   server CPU ${f(oneCpu)} ms/edit (both processes); edit → receiver p50 ${f(pct(one.lat, 50))} ms, p99 ${f(pct(one.lat, 99))} ms (${one.lat.length} deliveries)`);
    console.log(`cross node: server CPU ${f(crossCpu)} ms/edit (both processes); edit → receiver p50 ${f(pct(cross.lat, 50))} ms, p99 ${f(pct(cross.lat, 99))} ms (${cross.lat.length} deliveries)`);
    const ratio = crossCpu / oneCpu;
    const dp99 = pct(cross.lat, 99) - pct(one.lat, 99);
    console.log(`cross/one: CPU ${f(ratio)}× (target ≤ 1.3×: ${ratio <= 1.3 ? 'OK' : 'MISSED'}); p99 ${dp99 >= 0 ? '+' : ''}${f(dp99)} ms (target ≤ +5 ms: ${dp99 <= 5 ? 'OK' : 'MISSED'})`);
  } finally {
    await Promise.all(nodes.map((n) => n.kill('SIGTERM')));
    await database.drop();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}

await main();
