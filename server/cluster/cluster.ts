import { createHash, randomUUID } from 'node:crypto';
import os from 'node:os';
import { afterCommitOf, type Database, type Queryable } from '../db/database.js';
import type { Logger } from '../log.js';
import { ClusterMessageType, parseClusterMessage, type ClusterMessage, type ClusterMessageBody, type MessageOf } from './messages.js';
import { LoopbackTransport, PostgresNotifyTransport, RedisTransport, type ClusterTransport, type TransportKind } from './transports.js';

export { ClusterMessageType } from './messages.js';

export interface ClusterOptions {
  db: Database;
  log: Logger;
  redisUrl?: string;
  /** A node not seen for this long is dead: its presence rows are swept, it no longer counts. */
  nodeTtlMs: number;
}

export interface ClusterNode {
  nodeId: string;
  startedAt: string;
  seenAt: string;
  transport: string;
  host: string | null;
  pid: number | null;
}

type Handler<T extends ClusterMessageType> = (message: MessageOf<T>) => void;

/**
 * The cluster seam (issue 14): this node's id, its heartbeat and the liveness of the others
 * (`cluster_nodes`, migration 120), and typed messages between nodes. Transports: Redis pub/sub
 * when `REDIS_URL` is set, PostgreSQL NOTIFY on one dedicated connection otherwise, nothing on
 * embedded PGlite (one node). Handlers see other nodes' messages only. Whatever a message
 * announces is also in the database: after a lost connection `onResync` handlers catch up from it.
 */
export class Cluster {
  readonly nodeId = randomUUID();
  readonly transport: ClusterTransport;
  private readonly handlers = new Map<ClusterMessageType, ((m: ClusterMessage) => void)[]>();
  private readonly resyncHandlers: (() => void)[] = [];
  private readonly beatHandlers: ((revived: boolean) => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private beats = 0;
  private stopped = false;
  /** Sends failed since the last resync notice went out: the other nodes missed something. */
  private owesResync = false;
  readonly stats = { sent: 0, received: 0, dropped: 0, oversized: 0, sendFailures: 0, resyncs: 0 };

  constructor(private readonly opts: ClusterOptions) {
    // Embedded PGlite is one node's own database: nobody shares it, Redis or not.
    if (opts.db.embedded) this.transport = new LoopbackTransport();
    else if (opts.redisUrl) this.transport = new RedisTransport(opts.redisUrl, `yingji:${this.namespace}:cluster`, `yingji-${this.nodeId}`, opts.log);
    else this.transport = new PostgresNotifyTransport(opts.db.url, opts.db.pool, opts.log);
  }

  /**
   * Names this deployment in shared infrastructure (Redis keys and channels): the nodes of one
   * database are one cluster; another database on the same Redis is another cluster.
   */
  get namespace(): string {
    const u = new URL(this.opts.db.url);
    return createHash('sha256').update(`${u.hostname}:${u.port}${u.pathname}`).digest('hex').slice(0, 12);
  }

  get kind(): TransportKind {
    return this.transport.kind;
  }

  /** True when other nodes can exist (a shared database and a transport between them). */
  get multiNode(): boolean {
    return this.transport.kind !== 'single-node';
  }

  /** The Redis client when the transport is Redis (shared with the Socket.IO adapter). */
  get redis(): RedisTransport['client'] | undefined {
    return this.transport instanceof RedisTransport ? this.transport.client : undefined;
  }

  on<T extends ClusterMessageType>(type: T, handler: Handler<T>): void {
    const list = this.handlers.get(type) ?? [];
    list.push(handler as (m: ClusterMessage) => void);
    this.handlers.set(type, list);
  }

  /** Called after the transport lost messages (a reconnect): catch up from the database. */
  onResync(handler: () => void): void {
    this.resyncHandlers.push(handler);
  }

  /** Called after every heartbeat; `revived` when this node had been swept as dead and registered again. */
  onBeat(handler: (revived: boolean) => void): void {
    this.beatHandlers.push(handler);
  }

  /**
   * Tells the other nodes. With `tx` the message goes out only if and when that transaction
   * commits: inside it on PostgreSQL (NOTIFY is transactional), after commit on Redis. Sending never
   * throws into the caller's work: a lost message is caught up from the database.
   */
  async publish(body: ClusterMessageBody, tx?: Queryable): Promise<void> {
    if (!this.multiNode || this.stopped) return;
    const payload = JSON.stringify({ ...body, from: this.nodeId });
    if (Buffer.byteLength(payload) > this.transport.maxPayloadBytes) {
      this.stats.oversized++;
      return;
    }
    if (tx && this.transport.transactional) {
      await this.transport.send(payload, tx);
      this.stats.sent++;
      return;
    }
    const send = () => {
      this.transport.send(payload).then(
        () => void this.stats.sent++,
        (err: unknown) => {
          this.stats.sendFailures++;
          // Once per outage (a Redis outage fails every send of every feature).
          if (!this.owesResync) this.opts.log.warn({ err, type: body.type }, 'cluster: sending messages fails; the other nodes will be told to catch up from the database');
          this.owesResync = true;
        },
      );
    };
    if (tx) afterCommitOf(tx)(send);
    else send();
  }

  async start(): Promise<void> {
    await this.heartbeat();
    await this.transport.start(this.receive, () => {
      this.resync();
      // Our sends fail while the connection is down too: say so as soon as they work.
      void this.sendOwedResync();
    });
    this.timer = setInterval(() => void this.heartbeat(), Math.max(100, Math.floor(this.opts.nodeTtlMs / 3)));
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.transport.stop();
    await this.opts.db.pool.query('DELETE FROM cluster_nodes WHERE node_id = $1', [this.nodeId]).catch(() => undefined);
  }

  /** The nodes seen within the TTL (this one included). */
  async nodes(): Promise<ClusterNode[]> {
    const { rows } = await this.opts.db.pool.query<{ node_id: string; started_at: Date; seen_at: Date; transport: string; host: string | null; pid: number | null }>(
      'SELECT node_id, started_at, seen_at, transport, host, pid FROM cluster_nodes WHERE seen_at >= now() - make_interval(secs => $1) ORDER BY started_at',
      [this.opts.nodeTtlMs / 1000],
    );
    return rows.map((r) => ({ nodeId: r.node_id, startedAt: r.started_at.toISOString(), seenAt: r.seen_at.toISOString(), transport: r.transport, host: r.host, pid: r.pid }));
  }

  private resync(): void {
    this.stats.resyncs++;
    for (const h of this.resyncHandlers) h();
  }

  /**
   * Another node's transport may come back later than ours: what it failed to send meanwhile was
   * after our own resync. So a node whose sends failed says so once it can send again, and every
   * other node catches up from the database as after its own reconnect.
   */
  private async sendOwedResync(): Promise<void> {
    if (!this.owesResync || !this.multiNode || this.stopped) return;
    try {
      await this.transport.send(JSON.stringify({ type: ClusterMessageType.Resync, from: this.nodeId }));
      this.owesResync = false;
      this.stats.sent++;
      this.opts.log.info('cluster: sending works again; told the other nodes to catch up from the database');
    } catch {
      // still down: the next heartbeat tries again
    }
  }

  private readonly receive = (payload: string) => {
    const message = parseClusterMessage(payload);
    if (!message) {
      this.stats.dropped++;
      return;
    }
    if (message.from === this.nodeId) return;
    this.stats.received++;
    if (message.type === ClusterMessageType.Resync) return this.resync();
    for (const h of this.handlers.get(message.type) ?? []) {
      try {
        h(message);
      } catch (err) {
        this.opts.log.error({ err, type: message.type }, 'cluster: a message handler failed');
      }
    }
  };

  private async heartbeat(): Promise<void> {
    if (this.stopped) return;
    try {
      const { rows } = await this.opts.db.pool.query<{ created: boolean }>(
        `INSERT INTO cluster_nodes (node_id, transport, host, pid) VALUES ($1, $2, $3, $4)
         ON CONFLICT (node_id) DO UPDATE SET seen_at = now()
         RETURNING (xmax = 0) AS created`,
        [this.nodeId, this.transport.kind, os.hostname(), process.pid],
      );
      const revived = rows[0]!.created && this.beats > 0;
      if (revived) this.opts.log.warn({ nodeId: this.nodeId }, 'cluster: this node had been swept as dead; registered again');
      this.beats++;
      await this.opts.db.pool.query('DELETE FROM cluster_nodes WHERE seen_at < now() - make_interval(secs => $1)', [this.opts.nodeTtlMs / 1000]);
      for (const h of this.beatHandlers) h(revived);
    } catch (err) {
      this.opts.log.warn({ err }, 'cluster: heartbeat failed');
    }
    await this.sendOwedResync();
  }
}
