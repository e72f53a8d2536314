import { createClient, type RedisClientType } from 'redis';
import type { Queryable } from '../db/database.js';
import { NotificationListener } from '../db/notification-listener.js';
import type { Logger } from '../log.js';

export type TransportKind = 'single-node' | 'postgres-notify' | 'redis';

/** How the messages of `server/cluster` travel between nodes. Payloads are opaque strings here. */
export interface ClusterTransport {
  readonly kind: TransportKind;
  /** Whether the transport currently receives (false while reconnecting). */
  readonly receiving: boolean;
  /** Largest payload it carries; bigger messages stay on their node. */
  readonly maxPayloadBytes: number;
  start(onMessage: (payload: string) => void, onResync: () => void): Promise<void>;
  /**
   * Sends a payload. With `tx` (inside `withTransaction`) a transport that can make delivery
   * transactional does so (NOTIFY is delivered at commit, never on rollback); otherwise the caller
   * sends after commit.
   */
  send(payload: string, tx?: Queryable): Promise<void>;
  /** Whether `send(payload, tx)` is delivered at commit by the database itself. */
  readonly transactional: boolean;
  stop(): Promise<void>;
}

/** Embedded PGlite: one node, nobody to tell. */
export class LoopbackTransport implements ClusterTransport {
  readonly kind = 'single-node' as const;
  readonly receiving = true;
  readonly maxPayloadBytes = Number.MAX_SAFE_INTEGER;
  readonly transactional = false;
  async start(): Promise<void> {}
  async send(): Promise<void> {}
  async stop(): Promise<void> {}
}

export const CLUSTER_NOTIFY_CHANNEL = 'yingji_cluster';

/** Real PostgreSQL without Redis: one NOTIFY channel, one dedicated LISTEN connection per node. */
export class PostgresNotifyTransport implements ClusterTransport {
  readonly kind = 'postgres-notify' as const;
  /** NOTIFY payloads must stay under 8000 bytes. */
  readonly maxPayloadBytes = 7900;
  readonly transactional = true;
  private listener: NotificationListener | undefined;

  constructor(
    private readonly databaseUrl: string,
    private readonly pool: Queryable,
    private readonly log: Logger,
  ) {}

  get receiving(): boolean {
    return this.listener?.listening ?? false;
  }

  async start(onMessage: (payload: string) => void, onResync: () => void): Promise<void> {
    this.listener = new NotificationListener('yingji-cluster-listener', this.databaseUrl, { [CLUSTER_NOTIFY_CHANNEL]: onMessage }, onResync, this.log);
    await this.listener.start();
  }

  async send(payload: string, tx?: Queryable): Promise<void> {
    await (tx ?? this.pool).query('SELECT pg_notify($1, $2)', [CLUSTER_NOTIFY_CHANNEL, payload]);
  }

  async stop(): Promise<void> {
    await this.listener?.stop();
  }
}

/**
 * Redis pub/sub: a publishing and a subscribing connection per node (Redis needs a connection of
 * its own for SUBSCRIBE). Pub/sub is fire-and-forget: a message sent while a node is disconnected
 * is gone, so after every reconnect the node resyncs from the database (the truth).
 */
export class RedisTransport implements ClusterTransport {
  readonly kind = 'redis' as const;
  readonly maxPayloadBytes = 512_000;
  readonly transactional = false;
  private readonly pub: RedisClientType;
  private readonly sub: RedisClientType;
  private subscribed = false;
  private lostSince: number | null = null;

  constructor(
    url: string,
    /** One channel per cluster (see Cluster.namespace): other deployments on the same Redis are not heard. */
    readonly channel: string,
    /** `yingji-<nodeId>`: names the connections in CLIENT LIST. */
    nodeName: string,
    private readonly log: Logger,
  ) {
    // Capped at 1 s: after a Redis restart the nodes are back within about a second (the drill
    // measures it); a refused connection attempt costs next to nothing meanwhile.
    const reconnectStrategy = (retries: number) => Math.min(50 * 2 ** retries, 1000);
    // Named (CLIENT LIST shows which node and role a connection is); the id is the channel's cluster.
    this.pub = createClient({ url, name: `${nodeName}-pub`, socket: { reconnectStrategy } });
    this.sub = this.pub.duplicate({ name: `${nodeName}-sub` });
    // Once per outage: a reconnect attempt fails every second while Redis is away.
    let pubLost = false;
    this.pub.on('error', (err: Error) => {
      if (!pubLost) this.log.warn({ err: err.message }, 'cluster: redis publisher lost; reconnecting');
      pubLost = true;
    });
    this.pub.on('ready', () => {
      if (pubLost) this.log.info('cluster: redis publisher back');
      pubLost = false;
    });
    this.sub.on('error', (err: Error) => {
      if (this.lostSince === null) this.log.warn({ err: err.message }, 'cluster: redis subscriber lost; reconnecting');
      this.lostSince ??= Date.now();
      this.subscribed = false;
    });
  }

  get receiving(): boolean {
    return this.subscribed && this.sub.isReady;
  }

  /** The publishing connection, shared with the Socket.IO adapter and the limiters. */
  get client(): RedisClientType {
    return this.pub;
  }

  async start(onMessage: (payload: string) => void, onResync: () => void): Promise<void> {
    await this.pub.connect();
    await this.sub.connect();
    // node-redis resubscribes by itself after a reconnect; we only have to catch up.
    this.sub.on('ready', () => {
      this.subscribed = true;
      if (this.lostSince !== null) {
        this.log.info({ lostMs: Date.now() - this.lostSince }, 'cluster: redis subscriber back; resyncing from the database');
        this.lostSince = null;
        onResync();
      }
    });
    await this.sub.subscribe(this.channel, (message) => onMessage(message));
    this.subscribed = true;
  }

  async send(payload: string): Promise<void> {
    // Not queued while reconnecting (node-redis would replay a backlog of stale notices later):
    // a failed send is caught up from the database (see Cluster's resync notice).
    if (!this.pub.isReady) throw new Error('redis publisher is not connected');
    await this.pub.publish(this.channel, payload);
  }

  async stop(): Promise<void> {
    this.subscribed = false;
    await Promise.all([this.sub.close().catch(() => undefined), this.pub.close().catch(() => undefined)]);
  }
}
