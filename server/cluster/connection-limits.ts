import { randomUUID } from 'node:crypto';
import { withTransaction, type Database } from '../db/database.js';
import type { Logger } from '../log.js';
import { LocalConnectionLimiter, type Acquired, type ConnectionLimiter, type ConnectionLimits } from '../connection-limiter.js';
import type { Cluster } from './cluster.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The per-user and per-incident connection limits, held across every node (issue 14): one row of
 * `connection_leases` (migration 120) per open connection, counted only while its node's heartbeat
 * is alive (so a SIGKILLed node's connections stop counting after the TTL). An acquire takes
 * transaction-scoped advisory locks on the user and then the incident (always in that order: no
 * deadlock), counts and inserts; a release deletes its row. PostgreSQL is shared by every node
 * anyway, with or without Redis; one node (embedded PGlite) counts in memory.
 */
export class SharedConnectionLimiter implements ConnectionLimiter {
  /** This node's own open leases, for `count` (stats and tests). */
  private readonly local: LocalConnectionLimiter;
  /** Releases whose DELETE has not finished: this node's later acquires wait for them. */
  private readonly releasing = new Set<Promise<unknown>>();

  constructor(
    private readonly db: Database,
    private readonly cluster: Cluster,
    private readonly limits: ConnectionLimits,
    /** Which connections (`yjs`, `socketio`): counted apart. */
    private readonly kind: string,
    private readonly what: string,
    private readonly nodeTtlMs: number,
    private readonly log: Logger,
  ) {
    this.local = new LocalConnectionLimiter({ perUser: Number.MAX_SAFE_INTEGER, perIncident: Number.MAX_SAFE_INTEGER }, what);
    cluster.onBeat(() => void this.sweep());
  }

  async acquire(userId: string | null, rawIncidentId: string | null): Promise<Acquired> {
    // The live feed asks before the join is validated: an id that is no UUID names no incident
    // (the join answers not_found) and is not counted in the database.
    const incidentId = rawIncidentId !== null && UUID.test(rawIncidentId) ? rawIncidentId : null;
    if (userId === null && incidentId === null) return this.local.acquire(null, rawIncidentId);
    // A connection closed (or an incident left) on this node frees its slot before this node counts
    // again: a client that leaves and re-joins is never refused by its own lease.
    if (this.releasing.size > 0) await Promise.all(this.releasing);
    const leaseId = randomUUID();
    const refused = await withTransaction(this.db.pool, async (tx): Promise<Acquired | null> => {
      if (userId !== null) await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`yingji:conn:${this.kind}:u:${userId}`]);
      if (incidentId !== null) await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`yingji:conn:${this.kind}:i:${incidentId}`]);
      const { rows } = await tx.query<{ users: number; incidents: number }>(
        `SELECT count(*) FILTER (WHERE l.user_id = $2::uuid)::int AS users, count(*) FILTER (WHERE l.incident_id = $3::uuid)::int AS incidents
         FROM connection_leases l JOIN cluster_nodes n ON n.node_id = l.node_id AND n.seen_at >= now() - make_interval(secs => $4)
         WHERE l.kind = $1 AND (l.user_id = $2::uuid OR l.incident_id = $3::uuid)`,
        [this.kind, userId, incidentId, this.nodeTtlMs / 1000],
      );
      const { users, incidents } = rows[0]!;
      if (userId !== null && users >= this.limits.perUser) {
        return { ok: false, scope: 'user', reason: `this user has ${this.limits.perUser} open ${this.what}, the most allowed; close one first` };
      }
      if (incidentId !== null && incidents >= this.limits.perIncident) {
        return { ok: false, scope: 'incident', reason: `this incident has ${this.limits.perIncident} open ${this.what}, the most allowed` };
      }
      await tx.query('INSERT INTO connection_leases (lease_id, node_id, kind, user_id, incident_id) VALUES ($1, $2, $3, $4, $5)', [leaseId, this.cluster.nodeId, this.kind, userId, incidentId]);
      return null;
    });
    if (refused) return refused;
    const mine = await this.local.acquire(userId, incidentId);
    let released = false;
    return {
      ok: true,
      lease: {
        release: () => {
          if (released) return;
          released = true;
          if (mine.ok) mine.lease.release();
          const deleting: Promise<unknown> = this.db.pool
            .query('DELETE FROM connection_leases WHERE lease_id = $1', [leaseId])
            .catch((err: unknown) => this.log.warn({ err }, 'releasing a connection lease failed; it lapses with its node'))
            .finally(() => this.releasing.delete(deleting));
          this.releasing.add(deleting);
        },
      },
    };
  }

  count(scope: 'user' | 'incident', id: string): number {
    return this.local.count(scope, id);
  }

  /** Leases of nodes no longer alive are deleted (they no longer count anyway). */
  private async sweep(): Promise<void> {
    await this.db.pool
      .query(
        `DELETE FROM connection_leases l WHERE l.kind = $1 AND NOT EXISTS (SELECT 1 FROM cluster_nodes n WHERE n.node_id = l.node_id AND n.seen_at >= now() - make_interval(secs => $2))`,
        [this.kind, this.nodeTtlMs / 1000],
      )
      .catch((err: unknown) => this.log.warn({ err }, 'sweeping connection leases failed'));
  }
}

/** The limiter a transport should use: shared across nodes when there are several, else in memory. */
export function connectionLimiter(ctx: { db: Database; cluster: Cluster; log: Logger; config: { LIVE_NODE_TTL_MS: number } }, limits: ConnectionLimits, kind: string, what: string): ConnectionLimiter {
  if (!ctx.cluster.multiNode) return new LocalConnectionLimiter(limits, what);
  return new SharedConnectionLimiter(ctx.db, ctx.cluster, limits, kind, what, ctx.config.LIVE_NODE_TTL_MS, ctx.log);
}
