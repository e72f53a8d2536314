/**
 * Rooms on several nodes: each stored update is announced with a NOTIFY on commit, and every
 * other node that has the doc loaded pulls the rows and relays them to its clients. Incident
 * changes (level, close) arrive on the event log's channel. Real PostgreSQL only: embedded PGlite
 * is one process, one node, and delivers no notifications across connections.
 */
import pg from 'pg';
import type { Logger } from '../log.js';

/** Payload: `<nodeId> <incidentId> <id,id,…>` or `<nodeId> <incidentId> *` (too many ids: reload). */
export const CHECKLIST_UPDATES_CHANNEL = 'yingji_checklist_updates';

export interface UpdateNotice {
  nodeId: string;
  incidentId: string;
  /** null: read the doc's whole stored state. */
  ids: number[] | null;
}

export function parseUpdateNotice(payload: string): UpdateNotice | null {
  const [nodeId, incidentId, ids] = payload.split(' ');
  if (!nodeId || !incidentId || !ids) return null;
  if (ids === '*') return { nodeId, incidentId, ids: null };
  const parsed = ids.split(',').map(Number);
  return parsed.every(Number.isSafeInteger) ? { nodeId, incidentId, ids: parsed } : null;
}

const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 10_000;

/** LISTENs on a dedicated connection; after a lost connection it reconnects and calls onResync. */
export class ChannelListener {
  private client: pg.Client | undefined;
  private stopped = false;
  private retryMs = RETRY_MIN_MS;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly databaseUrl: string,
    private readonly channels: Record<string, (payload: string) => void>,
    private readonly onResync: () => void,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl, keepAlive: true, application_name: 'yingji-rooms-listener' });
    client.on('notification', (msg) => this.channels[msg.channel]?.(msg.payload ?? ''));
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    await client.connect();
    for (const channel of Object.keys(this.channels)) await client.query(`LISTEN ${client.escapeIdentifier(channel)}`);
    this.client = client;
    this.retryMs = RETRY_MIN_MS;
  }

  private lost(client: pg.Client): void {
    if (this.stopped || client !== this.client) return;
    this.client = undefined;
    client.end().catch(() => undefined);
    this.log.warn('rooms: lost the notification connection; reconnecting');
    this.retry();
  }

  private retry(): void {
    if (this.stopped) return;
    const delay = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    this.timer = setTimeout(() => {
      this.connect().then(
        () => this.onResync(),
        () => this.retry(),
      );
    }, delay);
  }
}
