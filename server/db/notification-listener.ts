import pg from 'pg';
import type { Logger } from '../log.js';

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 15_000;

/**
 * LISTENs on PostgreSQL channels on a dedicated connection (a pooled client would be handed back
 * and lose its LISTEN). When the connection drops it reconnects with backoff and then calls
 * `onResync`, since notifications sent meanwhile are gone. Real PostgreSQL only: PGlite does not
 * deliver notifications across connections. `name` labels the connection in pg_stat_activity
 * (application_name) and in the logs.
 */
export class NotificationListener {
  private client: pg.Client | undefined;
  private stopped = false;
  private retryMs = RETRY_MIN_MS;
  private retryTimer: NodeJS.Timeout | undefined;
  private connected = false;

  constructor(
    private readonly name: string,
    private readonly databaseUrl: string,
    private readonly channels: Record<string, (payload: string) => void>,
    private readonly onResync: () => void,
    private readonly log: Logger,
  ) {}

  get listening(): boolean {
    return this.connected;
  }

  /** Resolves once the first LISTEN is in place (so nothing committed after start is missed). */
  async start(): Promise<void> {
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    this.connected = false;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl, keepAlive: true, application_name: this.name });
    this.client = client;
    client.on('notification', (msg) => this.channels[msg.channel]?.(msg.payload ?? ''));
    client.on('error', (err) => this.onLost(client, err));
    client.on('end', () => this.onLost(client));
    await client.connect();
    for (const channel of Object.keys(this.channels)) await client.query(`LISTEN ${client.escapeIdentifier(channel)}`);
    this.connected = true;
    this.retryMs = RETRY_MIN_MS;
  }

  private onLost(client: pg.Client, err?: Error): void {
    // Failures while connecting are handled by whoever awaits connect().
    if (this.stopped || client !== this.client || !this.connected) return;
    this.client = undefined;
    this.connected = false;
    client.end().catch(() => undefined);
    this.log.warn({ err }, `${this.name}: lost the notification connection; reconnecting`);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const delay = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    this.retryTimer = setTimeout(() => {
      this.connect().then(
        () => {
          this.log.info(`${this.name}: notifications restored`);
          this.onResync();
        },
        (err: unknown) => {
          const failed = this.client;
          this.client = undefined;
          failed?.end().catch(() => undefined);
          this.log.warn({ err }, `${this.name}: reconnecting the notification connection failed`);
          this.scheduleReconnect();
        },
      );
    }, delay);
    this.retryTimer.unref();
  }
}
