import type { Queryable } from '../db/database.js';
import type { Logger } from '../log.js';
import type { Actor } from '../auth/policy.js';
import type { PresenceMember } from '../../shared/live.js';

interface MemberRow {
  user_id: string;
  username: string;
  display_name: string | null;
  role: PresenceMember['role'];
  team_id: string | null;
  since: Date;
  connections: number;
}

/**
 * Presence rows in PostgreSQL (migration 040), shared by every node: one row per socket and
 * incident, written by the node holding the socket. Each change is announced to the other nodes
 * (`changed`: the cluster seam's `presence.changed`). Nodes heartbeat their `cluster_nodes` row (the
 * cluster seam); readers ignore rows of nodes not seen within the TTL and any node sweeps them, so
 * a killed node's people vanish after at most the TTL.
 */
export class PresenceStore {
  constructor(
    private readonly db: Queryable,
    readonly nodeId: string,
    private readonly ttlMs: number,
    private readonly changed: (incidentId: string) => void = () => undefined,
  ) {}

  /** Deletes the rows of nodes not seen within the TTL; returns the incidents whose member list changed. */
  async sweepDeadNodes(): Promise<string[]> {
    const { rows } = await this.db.query<{ incident_id: string }>(
      `WITH gone AS (
         DELETE FROM live_presence p
         WHERE NOT EXISTS (SELECT 1 FROM cluster_nodes n WHERE n.node_id = p.node_id AND n.seen_at >= now() - make_interval(secs => $1))
         RETURNING incident_id
       )
       SELECT DISTINCT incident_id FROM gone`,
      [this.ttlMs / 1000],
    );
    return this.announce(rows);
  }

  async add(incidentId: string, socketId: string, actor: Actor): Promise<void> {
    const { rows } = await this.db.query<{ incident_id: string }>(
      `INSERT INTO live_presence (node_id, socket_id, incident_id, user_id, username, role, team_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING incident_id`,
      [this.nodeId, socketId, incidentId, actor.userId, actor.username, actor.role, actor.teamId],
    );
    this.announce(rows);
  }

  async remove(incidentId: string, socketId: string): Promise<void> {
    const { rows } = await this.db.query<{ incident_id: string }>(
      'DELETE FROM live_presence WHERE node_id = $1 AND socket_id = $2 AND incident_id = $3 RETURNING incident_id',
      [this.nodeId, socketId, incidentId],
    );
    this.announce(rows);
  }

  /** On shutdown: this node's people leave every room at once. */
  async removeNode(): Promise<void> {
    const { rows } = await this.db.query<{ incident_id: string }>(
      'WITH gone AS (DELETE FROM live_presence WHERE node_id = $1 RETURNING incident_id) SELECT DISTINCT incident_id FROM gone',
      [this.nodeId],
    );
    this.announce(rows);
  }

  private announce(rows: { incident_id: string }[]): string[] {
    const ids = rows.map((r) => r.incident_id);
    for (const id of ids) this.changed(id);
    return ids;
  }

  /** Everyone in the incident's room on any live node; one entry per user. */
  async members(incidentId: string): Promise<PresenceMember[]> {
    const { rows } = await this.db.query<MemberRow>(
      `SELECT p.user_id, min(p.username) AS username, min(u.display_name) AS display_name, min(p.role) AS role, min(p.team_id) AS team_id,
              min(p.since) AS since, count(*)::int AS connections
       FROM live_presence p
       JOIN cluster_nodes n ON n.node_id = p.node_id AND n.seen_at >= now() - make_interval(secs => $2)
       LEFT JOIN users u ON u.id = p.user_id
       WHERE p.incident_id = $1
       GROUP BY p.user_id
       ORDER BY since, username`,
      [incidentId, this.ttlMs / 1000],
    );
    return rows.map((r) => ({ userId: r.user_id, username: r.username, displayName: r.display_name ?? r.username, role: r.role, teamId: r.team_id, since: r.since.toISOString(), connections: r.connections }));
  }
}

/**
 * Sends `presence:update` to the local room whenever an incident's rows may have changed.
 * Refreshes of one incident are coalesced and never overlap, so the last list sent is the newest;
 * they are at least `minIntervalMs` apart, which bounds the work of a reconnect storm and the
 * updates Socket.IO keeps for connection-state recovery.
 */
export class PresenceBroadcaster {
  private readonly state = new Map<string, { dirty: boolean }>();

  constructor(
    private readonly store: PresenceStore,
    private readonly send: (incidentId: string, members: PresenceMember[]) => void,
    private readonly roomSize: (incidentId: string) => number,
    private readonly log: Logger,
    private readonly minIntervalMs = 250,
  ) {}

  refresh(incidentId: string): void {
    if (this.roomSize(incidentId) === 0) return;
    const running = this.state.get(incidentId);
    if (running) {
      running.dirty = true;
      return;
    }
    const entry = { dirty: false };
    this.state.set(incidentId, entry);
    void (async () => {
      try {
        do {
          entry.dirty = false;
          this.send(incidentId, await this.store.members(incidentId));
          await new Promise((resolve) => setTimeout(resolve, this.minIntervalMs).unref());
        } while (entry.dirty && this.roomSize(incidentId) > 0);
      } catch (err) {
        this.log.warn({ err, incidentId }, 'live feed: presence refresh failed');
      } finally {
        this.state.delete(incidentId);
      }
    })();
  }
}
