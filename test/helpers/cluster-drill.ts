/**
 * The cluster failure drill (issue 14): three spawned nodes on one PostgreSQL (and one Redis when
 * REDIS_URL is set), clients spread over them with client-side failover, editing one checklist,
 * streaming events and a warning to many recipients — SMS through the built-in sink, Web Push to a
 * loopback push service (real encryption, VAPID checked) — one node is SIGKILLed mid-run. Used
 * bounded by test/cluster-drill.test.ts and long by `npm run drill:cluster`.
 */
import { randomUUID } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import * as Y from 'yjs';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import { io, type Socket } from 'socket.io-client';
import { CHECKLIST_ARRAY } from '../../shared/checklist.js';
import type { IncidentEvent } from '../../shared/events.js';
import type { PresenceUpdate } from '../../shared/live.js';
import { Api } from './api.js';
import { createTestDatabase } from './database.js';
import { ADMIN_PASSWORD, spawnServer, tempDir, testEnv, type SpawnedServer } from './server.js';
import { waitFor } from './wait.js';
import { FakePushService } from '../fakes/push-service.js';

process.setMaxListeners(0);

export interface DrillOptions {
  feedClients: number;
  docClients: number;
  editsBefore: number;
  editsAfter: number;
  reportsBefore: number;
  reportsAfter: number;
  recipients: number;
  /**
   * Also restart the nodes' Redis mid-run (before the node kill, while the warning is being
   * delivered): stopped, `downMs` of edits and reports, started again. Its own server, never a
   * shared one: a restart loses everything in it.
   */
  redisRestart?: { stop(): Promise<void>; start(): Promise<void>; downMs: number };
  log?: (line: string) => void;
}

export interface DrillResult {
  transport: string;
  nodes: number;
  feedClients: number;
  docClients: number;
  edits: number;
  lostEdits: number;
  duplicatedEdits: number;
  events: number;
  missingEvents: number;
  duplicatedEvents: number;
  failovers: { feed: number; doc: number };
  recipients: number;
  deliveries: Record<string, number>;
  smsMessages: number;
  recipientsWithMoreThanOne: number;
  /** The same recipients' phones subscribed to Web Push: the push deliveries and what the push service saw. */
  push: {
    deliveries: Record<string, number>;
    /** Pushes the push service accepted (a push resent after the kill counts twice: at-least-once). */
    received: number;
    subscribersReached: number;
    subscribersWithMoreThanOne: number;
    /** Notifications a phone would show: one per tag, so a resent push replaces its first copy. */
    notificationsShown: number;
  };
  /** Delivered per channel just before the kill: it should land mid-delivery. */
  deliveredAtKill: Record<string, number>;
  recoveryMs: number;
  /** With `redisRestart`: from Redis started again to every client holding the whole log and doc. */
  redisRecoveryMs?: number;
}

const ITEMS_TO_EDIT = 4;

/** A live-feed client that fails over to the next node and rejoins with afterSeq. */
export class FeedClient {
  events: IncidentEvent[] = [];
  /** The last presence list this client was sent. */
  presence: PresenceUpdate | undefined;
  duplicates = 0;
  failovers = 0;
  socket: Socket | undefined;
  joined = false;
  private stopped = false;
  constructor(
    private readonly urls: () => string[],
    private index: number,
    private readonly token: string,
    private readonly incidentId: string,
  ) {}
  get lastSeq(): number {
    return this.events.at(-1)?.seq ?? 0;
  }
  get url(): string {
    return this.urls()[this.index % this.urls().length]!;
  }
  connect(): void {
    if (this.stopped) return;
    this.joined = false;
    const socket = io(this.url, { auth: { token: this.token }, transports: ['websocket'], reconnection: false, timeout: 5000 });
    this.socket = socket;
    socket.on('incident:event', (e: IncidentEvent) => this.take(e));
    socket.on('presence:update', (p: PresenceUpdate) => void (this.presence = p));
    socket.on('connect', () => {
      socket.timeout(10_000).emit('incident:join', { incidentId: this.incidentId, afterSeq: this.lastSeq }, (err: unknown, ack: { ok: boolean; events: IncidentEvent[]; hasMore: boolean }) => {
        if (err || !ack?.ok) return void socket.disconnect();
        for (const e of ack.events) this.take(e);
        if (ack.hasMore) return void socket.disconnect(); // rejoin from the new lastSeq
        this.joined = true;
      });
    });
    const fail = () => {
      if (this.socket !== socket || this.stopped) return;
      socket.removeAllListeners();
      socket.disconnect();
      this.failovers++;
      this.index++;
      setTimeout(() => this.connect(), 50);
    };
    socket.on('disconnect', fail);
    socket.on('connect_error', fail);
  }
  private take(e: IncidentEvent): void {
    if (e.seq <= this.lastSeq) {
      this.duplicates++;
      return;
    }
    this.events.push(e);
  }
  stop(): void {
    this.stopped = true;
    this.socket?.removeAllListeners();
    this.socket?.disconnect();
  }
}

/** A checklist client (the stock WebsocketProvider) that moves its doc to the next node when its connection closes. */
export class DocClient {
  readonly doc = new Y.Doc();
  provider: WebsocketProvider | undefined;
  failovers = 0;
  private stopped = false;
  constructor(
    private readonly urls: () => string[],
    private index: number,
    private readonly token: string,
    private readonly incidentId: string,
  ) {}
  connect(): void {
    if (this.stopped) return;
    const url = this.urls()[this.index % this.urls().length]!.replace(/^http/, 'ws') + '/yjs';
    const provider = new WebsocketProvider(url, this.incidentId, this.doc, {
      params: { token: this.token },
      WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
      disableBc: true,
      connect: false,
    });
    provider.awareness.setLocalState(null);
    this.provider = provider;
    let failed = false;
    const fail = () => {
      if (failed || this.provider !== provider || this.stopped) return;
      failed = true;
      this.provider = undefined;
      // Not inside the provider's own close handler: destroying emits another close.
      setTimeout(() => provider.destroy(), 0);
      this.failovers++;
      this.index++;
      setTimeout(() => this.connect(), 50);
    };
    provider.on('connection-close', fail);
    provider.on('connection-error', fail);
    provider.connect();
  }
  get synced(): boolean {
    return this.provider?.synced ?? false;
  }
  items(): Y.Array<Y.Map<any>> {
    return this.doc.getArray<Y.Map<any>>(CHECKLIST_ARRAY);
  }
  stop(): void {
    this.stopped = true;
    this.provider?.destroy();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runClusterDrill(opts: DrillOptions): Promise<DrillResult> {
  const say = opts.log ?? (() => undefined);
  const database = await createTestDatabase();
  if (!database.url) throw new Error('the cluster drill needs TEST_DATABASE_URL (several nodes share one PostgreSQL)');
  const dirs: string[] = [];
  const nodes: SpawnedServer[] = [];
  const pushService = await new FakePushService().start();
  const feeds: FeedClient[] = [];
  const docs: DocClient[] = [];
  try {
    const redis = process.env.REDIS_URL;
    const pushCa = path.join(await tempDir('yingji-drill-push-'), 'ca.pem');
    dirs.push(path.dirname(pushCa));
    await writeFile(pushCa, pushService.cert);
    for (let i = 0; i < 3; i++) {
      const dir = await tempDir('yingji-drill-');
      dirs.push(dir);
      const env = testEnv(dir, database.url, {
        ...(redis ? { REDIS_URL: redis } : {}),
        WEB_PUSH_CA_FILE: pushCa,
        PUSH_ENDPOINT_ALLOWLIST: pushService.allowlistEntry,
        WARNING_RATE_PUSH: '400',
        LIVE_NODE_TTL_MS: '3000',
        WARNING_RATE_SMS: '400',
        WARNING_BATCH_SIZE: '25',
        WARNING_CLAIM_TIMEOUT_MS: '1500',
        WARNING_POLL_MS: '50',
        YJS_MAX_CONNECTIONS_PER_USER: '1000',
        LIVE_MAX_CONNECTIONS_PER_USER: '1000',
      });
      // One at a time: the first migrates the database.
      nodes.push(await spawnServer({ ...env, LOG_LEVEL: 'warn' }));
    }
    const alive = new Set(nodes.map((n) => n.url));
    const liveUrls = () => nodes.map((n) => n.url).filter((u) => alive.has(u));
    const admin = await new Api(nodes[0]!.url).login('admin', ADMIN_PASSWORD);
    const transport = (await admin.get('/api/live/status')).body.crossNode as string;
    say(`drill: 3 nodes on ${transport}`);
    for (const [username, role] of [['drill.staff', 'staff'], ['drill.field', 'field']] as const) {
      const r = await admin.post('/api/users', { username, password: 'password-123', role, ...(role === 'field' ? { teamId: 'T-D01' } : {}) });
      if (r.status !== 201) throw new Error(JSON.stringify(r.body));
    }
    const staffOn = (url: string) => new Api(url).login('drill.staff', 'password-123');
    const fieldOn = (url: string) => new Api(url).login('drill.field', 'password-123');
    const staff = await staffOn(nodes[1]!.url);
    const incident = (await admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'III', mode: 'actual' })).body.incident;
    const id = incident.id as string;

    // clients spread over the three nodes
    // Client-side failover: each client knows all three nodes and moves to the next one when its
    // connection drops or cannot be made (a dead node refuses); nothing tells it which node died.
    const allUrls = () => nodes.map((n) => n.url);
    for (let i = 0; i < opts.feedClients; i++) feeds.push(new FeedClient(allUrls, i, staff.token!, id));
    for (let i = 0; i < opts.docClients; i++) docs.push(new DocClient(allUrls, i, staff.token!, id));
    feeds.forEach((f) => f.connect());
    docs.forEach((d) => d.connect());
    await waitFor(() => feeds.every((f) => f.joined) && docs.every((d) => d.synced && d.items().length >= ITEMS_TO_EDIT), 'clients joined and synced', 60_000);

    // the warning: N public recipients in the area, SMS through the built-in sink
    const tpl = (await admin.get(`/api/incidents/${id}`)).body.plan.warningTemplates[0];
    const circle = { lat: 41.8, lon: 123.36, radiusKm: 5 };
    const rows = ['phone,kind,lat,lon'];
    /** Where recipient i lives: a 40 × 40 grid around the circle's centre. */
    const spot = (i: number) => ({ lat: circle.lat + ((i % 40) - 20) * 0.0005, lon: circle.lon + (Math.floor(i / 40) % 40 - 20) * 0.0005 });
    for (let i = 0; i < opts.recipients; i++) rows.push(`+86137${String(i).padStart(8, '0')},public,${spot(i).lat},${spot(i).lon}`);
    const imported = await admin.post('/api/recipients/import', { list: 'drill', csv: rows.join('\n') });
    if (imported.body.imported !== opts.recipients) throw new Error(JSON.stringify(imported.body));
    // ... and as many phones subscribed to Web Push in the area. Written straight into the table: the
    // public subscription route is rate-limited per address, and subscribing is not what is drilled.
    const subscriptions = Array.from({ length: opts.recipients }, (_, i) => ({ ...pushService.subscribe(), ...spot(i) }));
    const setup = new pg.Client({ connectionString: database.url });
    await setup.connect();
    try {
      await setup.query(
        `INSERT INTO push_subscriptions (id, endpoint, p256dh, auth, lat, lon) SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[])`,
        [subscriptions.map(() => randomUUID()), subscriptions.map((x) => x.endpoint), subscriptions.map((x) => x.keys.p256dh), subscriptions.map((x) => x.keys.auth), subscriptions.map((x) => x.lat), subscriptions.map((x) => x.lon)],
      );
    } finally {
      await setup.end();
    }

    let edits = 0;
    const tokens: string[] = [];
    const edit = (round: number) => {
      docs.forEach((d, i) => {
        const token = `[${i}.${round}]`;
        const item = d.items().get(i % ITEMS_TO_EDIT);
        const note = item.get('note') as Y.Text;
        note.insert(note.length, token);
        tokens.push(token);
        edits++;
      });
    };
    let field = await fieldOn(liveUrls()[0]!);
    let reports = 0;
    const report = async () => {
      for (;;) {
        try {
          const r = await field.post(`/api/incidents/${id}/reports`, { text: `现场报告 ${reports}` });
          if (r.status === 201) return void reports++;
        } catch {
          // the node died under the request: fail over
        }
        field = await fieldOn(liveUrls()[reports % liveUrls().length]!);
      }
    };

    for (let r = 0; r < opts.editsBefore; r++) {
      edit(r);
      if (r < opts.reportsBefore) await report();
      await sleep(20);
    }
    const draft = await staff.post(`/api/incidents/${id}/warnings`, { template: tpl.id, channels: ['sms', 'push'], area: { description: tpl.area.description, circle } });
    if (draft.status !== 201) throw new Error(JSON.stringify(draft.body));
    const wid = draft.body.warning.id as string;
    const approved = await admin.post(`/api/warnings/${wid}/approve`);
    if (approved.status !== 200) throw new Error(JSON.stringify(approved.body));
    // let the deliveries get under way on every node, then kill node 2 (index 1) mid-run
    await waitFor(async () => {
      const c = (await admin.get(`/api/warnings/${wid}`)).body.warning.delivery.channels.find((x: any) => x.channel === 'sms');
      return (c?.delivered ?? 0) + (c?.sent ?? 0) >= Math.min(50, opts.recipients / 10);
    }, 'deliveries under way', 60_000);
    const head = async () => (await admin.get(`/api/incidents/${id}`)).body.incident.lastSeq as number;
    const docTexts = () => docs.map((d) => d.items().toArray().slice(0, ITEMS_TO_EDIT).map((m) => (m.get('note') as Y.Text).toString()).join('|'));
    const caughtUp = async () => {
      const seq = await head();
      const texts = docTexts();
      return feeds.every((f) => f.lastSeq === seq) && texts.every((t) => t === texts[0]) && tokens.every((tok) => texts[0]!.includes(tok));
    };
    let redisRecoveryMs: number | undefined;
    if (opts.redisRestart) {
      await opts.redisRestart.stop();
      say('drill: redis stopped (everything in it lost)');
      const until = Date.now() + opts.redisRestart.downMs;
      for (let r = 0; Date.now() < until; r++) {
        edit(1000 + r);
        await report();
        await sleep(50);
      }
      await opts.redisRestart.start();
      const backAt = Date.now();
      say('drill: redis started again');
      await waitFor(caughtUp, 'every client caught up after the redis restart', 120_000);
      redisRecoveryMs = Date.now() - backAt;
      say(`drill: every client caught up ${redisRecoveryMs} ms after redis was back`);
    }
    const victim = nodes[1]!;
    const deliveredAtKill = Object.fromEntries(((await admin.get(`/api/warnings/${wid}`)).body.warning.delivery.channels as any[]).map((c) => [c.channel, c.delivered as number]));
    const killedAt = Date.now();
    alive.delete(victim.url);
    await victim.kill('SIGKILL');
    say(`drill: node ${victim.url} SIGKILLed`);

    // the survivors carry on while the victim's clients fail over
    for (let r = opts.editsBefore; r < opts.editsBefore + opts.editsAfter; r++) {
      edit(r);
      if (r - opts.editsBefore < opts.reportsAfter) await report();
      await sleep(20);
    }
    await waitFor(() => feeds.every((f) => f.joined && f.socket?.connected) && docs.every((d) => d.synced), 'clients back on the survivors', 60_000);
    // full recovery: every client has the whole log and the whole doc
    let behind = '';
    await waitFor(async () => {
      const seq = await head();
      const texts = docs.map((d) => d.items().toArray().slice(0, ITEMS_TO_EDIT).map((m) => (m.get('note') as Y.Text).toString()).join('|'));
      behind = JSON.stringify({
        head: seq,
        feeds: feeds.filter((f) => f.lastSeq !== seq).map((f) => ({ url: f.url, lastSeq: f.lastSeq, joined: f.joined })),
        docs: docs.map((d, i) => ({ i, synced: d.synced, missing: tokens.filter((tok) => !texts[i]!.includes(tok)).length })).filter((d) => !d.synced || d.missing > 0),
      });
      if (!feeds.every((f) => f.lastSeq === seq)) return false;
      return texts.every((t) => t === texts[0]) && tokens.every((tok) => texts[0]!.includes(tok));
    }, 'every client caught up', 120_000).catch((err: Error) => {
      throw new Error(`${err.message}; behind: ${behind}`);
    });
    const recoveryMs = Date.now() - killedAt;
    say(`drill: full recovery ${recoveryMs} ms after the kill`);

    // a fresh client reads what the database holds
    const fresh = new DocClient(liveUrls, 0, staff.token!, id);
    fresh.connect();
    await waitFor(() => fresh.synced && fresh.items().length >= ITEMS_TO_EDIT, 'fresh client synced', 60_000);
    const stored = fresh.items().toArray().slice(0, ITEMS_TO_EDIT).map((m) => (m.get('note') as Y.Text).toString()).join('|');
    fresh.stop();
    let lostEdits = 0;
    let duplicatedEdits = 0;
    for (const tok of tokens) {
      const n = stored.split(tok).length - 1;
      if (n === 0) lostEdits++;
      if (n > 1) duplicatedEdits++;
    }

    // the log: every client saw 1..head exactly once
    const seq = await head();
    let missingEvents = 0;
    let duplicatedEvents = 0;
    for (const f of feeds) {
      const seen = f.events.map((e) => e.seq);
      missingEvents += seq - new Set(seen).size;
      duplicatedEvents += f.duplicates + (seen.length - new Set(seen).size);
      for (let k = 1; k < seen.length; k++) if (seen[k] !== seen[k - 1]! + 1) missingEvents++;
    }

    // deliveries: all settled, one message per recipient
    const channels = await waitFor(async () => {
      const all = (await admin.get(`/api/warnings/${wid}`)).body.warning.delivery.channels as any[];
      return all.length === 2 && all.every((c) => c.queued === 0 && c.sending === 0) ? all : null;
    }, 'deliveries settled', 180_000, 200);
    const settled = channels.find((c) => c.channel === 'sms');
    const pushSettled = channels.find((c) => c.channel === 'push');
    const sink: { address: string; channel: string; id: number }[] = [];
    for (let after = 0; ; ) {
      const page = (await admin.get(`/api/warnings/${wid}/sink?afterId=${after}&limit=5000`)).body.messages;
      sink.push(...page);
      if (page.length < 5000) break;
      after = page[page.length - 1].id;
    }
    const perAddress = new Map<string, number>();
    for (const m of sink.filter((x) => x.channel === 'sms')) perAddress.set(m.address, (perAddress.get(m.address) ?? 0) + 1);
    const counts = (c: any) => {
      const out: Record<string, number> = {};
      for (const k of ['total', 'delivered', 'sent', 'failed', 'unknown', 'queued', 'sending']) if (typeof c[k] === 'number') out[k] = c[k];
      return out;
    };
    const deliveries = counts(settled);
    const pushesPer = new Map<string, number>();
    for (const p of pushService.received) pushesPer.set(p.subscriptionId, (pushesPer.get(p.subscriptionId) ?? 0) + 1);

    return {
      transport,
      nodes: 3,
      feedClients: feeds.length,
      docClients: docs.length,
      edits,
      lostEdits,
      duplicatedEdits,
      events: seq,
      missingEvents,
      duplicatedEvents,
      failovers: { feed: feeds.reduce((n, f) => n + f.failovers, 0), doc: docs.reduce((n, d) => n + d.failovers, 0) },
      recipients: opts.recipients,
      deliveries,
      smsMessages: [...perAddress.values()].reduce((a, b) => a + b, 0),
      recipientsWithMoreThanOne: [...perAddress.values()].filter((n) => n > 1).length,
      push: {
        deliveries: counts(pushSettled),
        received: pushService.received.length,
        subscribersReached: pushesPer.size,
        subscribersWithMoreThanOne: [...pushesPer.values()].filter((n) => n > 1).length,
        notificationsShown: pushService.shown.size,
      },
      deliveredAtKill,
      recoveryMs,
      ...(redisRecoveryMs !== undefined ? { redisRecoveryMs } : {}),
    };
  } finally {
    feeds.forEach((f) => f.stop());
    docs.forEach((d) => d.stop());
    await Promise.all(nodes.map((n) => n.kill('SIGTERM').catch(() => undefined)));
    await pushService.stop();
    await database.drop().catch(() => undefined);
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}
