import client from 'prom-client';
import type { Queryable } from './db/database.js';

/**
 * Prometheus metrics of one node (prom-client), in a registry of its own (several servers run in
 * one test process). Modules add their gauges' collect callbacks and observe their histograms
 * here; `/metrics` (server/http/health.ts) renders the registry.
 */
export class Metrics {
  readonly registry = new client.Registry();
  readonly connections: client.Gauge<'transport'>;
  readonly roomsLoaded: client.Gauge;
  readonly yjsUpdates: client.Counter;
  readonly yjsStoreSeconds: client.Histogram;
  readonly fanoutLagSeconds: client.Histogram;
  readonly outboxDepth: client.Gauge<'channel' | 'status'>;
  readonly outboxOldestSeconds: client.Gauge<'channel' | 'status'>;
  readonly deliveries: client.Gauge<'channel' | 'result'>;
  readonly allocationBatchSize: client.Histogram;
  readonly allocationBatchSeconds: client.Histogram;
  readonly httpSeconds: client.Histogram<'method' | 'route' | 'status'>;
  readonly clusterNodes: client.Gauge;
  readonly clusterMessages: client.Gauge<'direction'>;
  readonly presenceWriteFailures: client.Counter;
  private readonly connectionSources = new Map<string, () => number>();
  private readonly roomSources: (() => number)[] = [];

  constructor(opts: { db: Queryable; nodesSeen: () => Promise<number>; clusterStats: () => Record<string, number> }) {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry, prefix: 'yingji_process_' });
    const sources = this.connectionSources;
    const roomSources = this.roomSources;
    this.connections = new client.Gauge({
      name: 'yingji_connections',
      help: 'Open client connections on this node, by transport (socketio: the live feed, yjs: the checklist)',
      labelNames: ['transport'],
      registers,
      collect() {
        for (const [transport, count] of sources) this.set({ transport }, count());
      },
    });
    this.roomsLoaded = new client.Gauge({
      name: 'yingji_rooms_loaded',
      help: 'Checklist docs loaded in memory on this node',
      registers,
      collect() {
        this.set(roomSources.reduce((n, f) => n + f(), 0));
      },
    });
    this.yjsUpdates = new client.Counter({ name: 'yingji_yjs_updates_total', help: 'Checklist updates stored by this node', registers });
    this.yjsStoreSeconds = new client.Histogram({
      name: 'yingji_yjs_store_seconds',
      help: 'Time to store one group-committed write of checklist updates (before relay)',
      buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.fanoutLagSeconds = new client.Histogram({
      name: 'yingji_event_fanout_lag_seconds',
      help: 'From an event-log entry being recorded to this node emitting it to its live-feed room (includes cross-node relay)',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    const db = opts.db;
    let outbox: Promise<{ channel: string; status: string; n: number; oldest: number }[]> | undefined;
    // One query per scrape serves three gauges.
    const outboxRows = () =>
      (outbox ??= db
        .query<{ channel: string; status: string; n: number; oldest: number }>(
          `SELECT channel, status, count(*)::int AS n, COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 AS oldest
           FROM warning_deliveries GROUP BY channel, status`,
        )
        .then((r) => r.rows)
        .finally(() => setTimeout(() => (outbox = undefined), 0)));
    const OPEN = new Set(['queued', 'sending']);
    this.outboxDepth = new client.Gauge({
      name: 'yingji_outbox_depth',
      help: 'Warning deliveries not yet settled (queued, sending), by channel and status (cluster-wide: read from the database)',
      labelNames: ['channel', 'status'],
      registers,
      async collect() {
        this.reset();
        for (const r of await outboxRows()) if (OPEN.has(r.status)) this.set({ channel: r.channel, status: r.status }, r.n);
      },
    });
    this.outboxOldestSeconds = new client.Gauge({
      name: 'yingji_outbox_oldest_age_seconds',
      help: 'Age of the oldest unsettled warning delivery, by channel and status',
      labelNames: ['channel', 'status'],
      registers,
      async collect() {
        this.reset();
        for (const r of await outboxRows()) if (OPEN.has(r.status)) this.set({ channel: r.channel, status: r.status }, r.oldest);
      },
    });
    this.deliveries = new client.Gauge({
      name: 'yingji_deliveries',
      help: 'Warning deliveries by channel and result (sent, delivered, undelivered, failed, unknown, blocked, cancelled), cluster-wide',
      labelNames: ['channel', 'result'],
      registers,
      async collect() {
        this.reset();
        for (const r of await outboxRows()) if (!OPEN.has(r.status)) this.set({ channel: r.channel, result: r.status }, r.n);
      },
    });
    this.allocationBatchSize = new client.Histogram({
      name: 'yingji_allocation_batch_size',
      help: 'Allocation requests granted or refused per group commit',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200],
      registers,
    });
    this.allocationBatchSeconds = new client.Histogram({
      name: 'yingji_allocation_batch_seconds',
      help: 'Time to commit one allocation batch',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.httpSeconds = new client.Histogram({
      name: 'yingji_http_request_duration_seconds',
      help: 'HTTP request latency by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.clusterNodes = new client.Gauge({
      name: 'yingji_cluster_nodes',
      help: 'Server nodes seen alive (heartbeat within the TTL), this one included',
      registers,
      async collect() {
        this.set(await opts.nodesSeen());
      },
    });
    this.clusterMessages = new client.Gauge({
      name: 'yingji_cluster_messages',
      help: 'Cluster-seam messages of this node since start: sent, received, dropped (malformed), oversized, send failures, resyncs',
      labelNames: ['direction'],
      registers,
      collect() {
        for (const [direction, n] of Object.entries(opts.clusterStats())) this.set({ direction }, n);
      },
    });
    this.presenceWriteFailures = new client.Counter({
      name: 'yingji_presence_write_failures_total',
      help: 'Presence writes to Redis that failed (Redis down); the node writes its presence again when Redis is back',
      registers,
    });
  }

  /** A transport's connection count, read at scrape. */
  countConnections(transport: 'socketio' | 'yjs', count: () => number): void {
    this.connectionSources.set(transport, count);
  }

  countRooms(count: () => number): void {
    this.roomSources.push(count);
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
