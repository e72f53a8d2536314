import type { RedisClientType } from 'redis';
import { z } from 'zod';
import type { Queryable } from '../db/database.js';
import type { Logger } from '../log.js';
import type { Actor } from '../auth/policy.js';
import type { ServerContext } from '../module.js';
import { ClusterMessageType } from '../cluster/messages.js';
import type { PresenceMember } from '../../shared/live.js';
import { ROLES } from '../../shared/roles.js';

/**
 * Who is in which incident room, on every node. Two implementations: rows in PostgreSQL
 * (`PostgresPresenceStore`: NOTIFY clusters and the embedded database) and hashes with a TTL in
 * Redis (`RedisPresenceStore`, when the cluster runs on Redis). Each change is announced to the
 * other nodes (`presence.changed` through the cluster seam); readers then call `members`.
 */
export interface PresenceStore {
  readonly nodeId: string;
  add(incidentId: string, socketId: string, actor: Actor): Promise<void>;
  remove(incidentId: string, socketId: string): Promise<void>;
  /** On shutdown: this node's people leave every room at once. */
  removeNode(): Promise<void>;
  /** Everyone in the incident's room on any live node; one entry per user, by `since` then username. */
  members(incidentId: string): Promise<PresenceMember[]>;
  /**
   * After each cluster heartbeat: keeps this node's presence alive and drops dead nodes'. Returns
   * the incidents (among `localIncidents`, the rooms with sockets on this node, or this node's
   * own) whose member list may have changed, for the caller to refresh.
   */
  maintain(localIncidents: string[]): Promise<string[]>;
}

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
 * incident, written by the node holding the socket. Nodes heartbeat their `cluster_nodes` row (the
 * cluster seam); readers ignore rows of nodes not seen within the TTL and any node sweeps them, so
 * a killed node's people vanish after at most the TTL.
 */
export class PostgresPresenceStore implements PresenceStore {
  constructor(
    private readonly db: Queryable,
    readonly nodeId: string,
    private readonly ttlMs: number,
    private readonly changed: (incidentId: string) => void = () => undefined,
  ) {}

  /** Deletes the rows of nodes not seen within the TTL; returns the incidents whose member list changed. */
  async maintain(): Promise<string[]> {
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

/** One connection's entry in a node's hash (short keys: thousands of them per incident). */
const entrySchema = z.object({
  u: z.string(),
  n: z.string(),
  d: z.string(),
  r: z.enum(ROLES),
  t: z.string().nullable(),
  s: z.number(),
});
type Entry = z.infer<typeof entrySchema>;

/**
 * Removes from an incident's node set the nodes whose hash has expired, in one step (a node
 * writing its hash again at the same moment is not dropped from the set). KEYS[1] is the set,
 * ARGV[1] the hashes' key prefix; returns how many nodes went.
 */
const DROP_EXPIRED_NODES = `
local removed = 0
for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. node) == 0 then
    redis.call('SREM', KEYS[1], node)
    removed = removed + 1
  end
end
return removed`;

export interface RedisPresenceOptions {
  redis: RedisClientType;
  /** `yingji:<cluster namespace>:presence`: deployments sharing one Redis do not see each other. */
  prefix: string;
  nodeId: string;
  /** The node TTL: a node's hashes expire this long after its last heartbeat. */
  ttlMs: number;
  log: Logger;
  /** Tells the other nodes (`presence.changed`). */
  announce: (incidentId: string) => void;
  /** Re-reads the list for this node's own room (after this node rewrote its presence). */
  refresh: (incidentId: string) => void;
  /** Counts a write that failed (Redis down): `/metrics`. */
  failed?: () => void;
}

/**
 * Presence in Redis with a TTL (issue 14): per incident, one hash per node
 * (`<prefix>:{<incidentId>}:<nodeId>`, a field per socket) and the set of nodes with a hash
 * (`<prefix>:{<incidentId>}:nodes`; the braces keep one incident's keys in one Redis Cluster slot,
 * so each change is one MULTI). Every heartbeat PEXPIREs this node's keys to the node TTL: a
 * SIGKILLed node's hashes vanish by themselves within the TTL, and the survivors drop it from the
 * sets. This node also keeps its own entries in memory — they are its own sockets — so when Redis
 * lost them (restarted without persistence, or a write failed while it was away) it writes them
 * again: as soon as its client is ready again, and at the latest at the next heartbeat. Writes fail
 * soft: logged once per outage, counted; the board keeps the last list it was sent meanwhile.
 */
export class RedisPresenceStore implements PresenceStore {
  readonly nodeId: string;
  /** This node's entries, by incident and socket, as JSON: what it writes again after a loss. */
  private readonly own = new Map<string, Map<string, string>>();
  /** A write failed: Redis may lack or still hold something; rewrite everything at the next chance. */
  private dirty = false;
  private outage = false;
  /** Incidents whose last read failed: the board may be stale, so the next heartbeat refreshes them. */
  private readonly unsure = new Set<string>();
  readonly stats = { writeFailures: 0, rewrites: 0, expiredNodes: 0 };

  constructor(private readonly opts: RedisPresenceOptions) {
    this.nodeId = opts.nodeId;
    // Every 'ready' after the first is a reconnect, and Redis may have restarted empty.
    opts.redis.on('ready', () => {
      if (this.own.size > 0) void this.rewriteAll();
    });
  }

  private hashKey(incidentId: string, nodeId: string): string {
    return `${this.opts.prefix}:{${incidentId}}:${nodeId}`;
  }

  private setKey(incidentId: string): string {
    return `${this.opts.prefix}:{${incidentId}}:nodes`;
  }

  private client(): RedisClientType {
    // node-redis queues commands while it reconnects (MULTI and pipelines even with its offline
    // queue off): fail at once instead, so nothing waits for Redis and nothing stale replays later.
    if (!this.opts.redis.isReady) throw new Error('redis is not connected');
    return this.opts.redis;
  }

  private async write<T>(what: string, incidentId: string | null, run: (redis: RedisClientType) => Promise<T>): Promise<T | undefined> {
    try {
      const result = await run(this.client());
      if (this.outage) {
        this.outage = false;
        this.opts.log.info('live feed: presence writes to redis work again');
      }
      return result;
    } catch (err) {
      this.stats.writeFailures++;
      this.opts.failed?.();
      this.dirty = true;
      if (!this.outage) {
        this.outage = true;
        this.opts.log.warn({ err: (err as Error).message, what, incidentId }, 'live feed: presence write to redis failed; this node writes its presence again once redis is back');
      }
      return undefined;
    }
  }

  async add(incidentId: string, socketId: string, actor: Actor): Promise<void> {
    const entry: Entry = { u: actor.userId, n: actor.username, d: actor.displayName ?? actor.username, r: actor.role, t: actor.teamId, s: Date.now() };
    let sockets = this.own.get(incidentId);
    if (!sockets) this.own.set(incidentId, (sockets = new Map()));
    // A socket already present keeps its first `since` (as the row's ON CONFLICT DO NOTHING did).
    const json = sockets.get(socketId) ?? JSON.stringify(entry);
    sockets.set(socketId, json);
    const added = await this.write('add', incidentId, (redis) =>
      redis
        .multi()
        .hSet(this.hashKey(incidentId, this.nodeId), socketId, json)
        .pExpire(this.hashKey(incidentId, this.nodeId), this.opts.ttlMs)
        .sAdd(this.setKey(incidentId), this.nodeId)
        .pExpire(this.setKey(incidentId), this.opts.ttlMs)
        .exec(),
    );
    if (added && Number(added[0]) > 0) this.opts.announce(incidentId);
  }

  async remove(incidentId: string, socketId: string): Promise<void> {
    const sockets = this.own.get(incidentId);
    sockets?.delete(socketId);
    const last = sockets?.size === 0;
    if (last) this.own.delete(incidentId);
    const removed = await this.write('remove', incidentId, (redis) => {
      const m = redis.multi().hDel(this.hashKey(incidentId, this.nodeId), socketId);
      // The last field's HDEL deletes the hash; the node leaves the incident's set with it.
      if (last) m.sRem(this.setKey(incidentId), this.nodeId);
      return m.exec();
    });
    if (removed && Number(removed[0]) > 0) this.opts.announce(incidentId);
  }

  async removeNode(): Promise<void> {
    const incidents = [...this.own.keys()];
    this.own.clear();
    if (incidents.length === 0) return;
    const done = await this.write('removeNode', null, (redis) => {
      const m = redis.multi();
      for (const id of incidents) m.del(this.hashKey(id, this.nodeId)).sRem(this.setKey(id), this.nodeId);
      return m.exec();
    });
    if (done) for (const id of incidents) this.opts.announce(id);
  }

  async members(incidentId: string): Promise<PresenceMember[]> {
    try {
      const redis = this.client();
      const nodes = await redis.sMembers(this.setKey(incidentId));
      // Issued in one tick: node-redis sends them as one pipeline.
      const hashes = await Promise.all(nodes.map((n) => redis.hGetAll(this.hashKey(incidentId, n))));
      this.unsure.delete(incidentId);
      const byUser = new Map<string, { first: Entry; connections: number }>();
      for (const hash of hashes) {
        for (const json of Object.values(hash)) {
          const parsed = entrySchema.safeParse(safeJson(json));
          if (!parsed.success) continue; // not ours: never shown
          const e = parsed.data;
          const seen = byUser.get(e.u);
          if (!seen) byUser.set(e.u, { first: e, connections: 1 });
          else {
            seen.connections++;
            if (e.s < seen.first.s) seen.first = e;
          }
        }
      }
      return [...byUser.values()]
        .sort((a, b) => a.first.s - b.first.s || (a.first.n < b.first.n ? -1 : a.first.n > b.first.n ? 1 : 0))
        .map(({ first: e, connections }) => ({ userId: e.u, username: e.n, displayName: e.d, role: e.r, teamId: e.t, since: new Date(e.s).toISOString(), connections }));
    } catch (err) {
      this.unsure.add(incidentId);
      throw err;
    }
  }

  async maintain(localIncidents: string[]): Promise<string[]> {
    const changed = new Set<string>(this.unsure);
    if (this.dirty) for (const id of await this.rewriteAll(false)) changed.add(id);
    const mine = [...this.own.keys()];
    const watched = [...new Set([...mine, ...localIncidents])];
    if (watched.length === 0) return [...changed];
    const replies = await this.write('heartbeat', null, (redis) => {
      const m = redis.multi();
      for (const id of mine) m.pExpire(this.hashKey(id, this.nodeId), this.opts.ttlMs).sAdd(this.setKey(id), this.nodeId).pExpire(this.setKey(id), this.opts.ttlMs);
      for (const id of watched) m.eval(DROP_EXPIRED_NODES, { keys: [this.setKey(id)], arguments: [`${this.opts.prefix}:{${id}}:`] });
      return m.exec();
    });
    if (!replies) return [...changed];
    // This node's hash was gone (Redis restarted, or this node stalled past the TTL): write it again.
    const lost = mine.filter((_, i) => Number(replies[i * 3]) === 0);
    if (lost.length > 0) for (const id of await this.rewrite(lost)) changed.add(id);
    watched.forEach((id, i) => {
      const removed = Number(replies[mine.length * 3 + i]);
      if (removed > 0) {
        // The first node to notice tells the others: theirs would find nothing left to drop.
        this.stats.expiredNodes += removed;
        changed.add(id);
        this.opts.announce(id);
      }
    });
    return [...changed];
  }

  /** Writes every entry of this node again (after a reconnect or a failed write). */
  private async rewriteAll(refresh = true): Promise<string[]> {
    this.dirty = false;
    const done = await this.rewrite([...this.own.keys()]);
    if (refresh) for (const id of done) this.opts.refresh(id);
    return done;
  }

  /** Replaces this node's hash of each incident with what it holds; announces each. */
  private async rewrite(incidents: string[]): Promise<string[]> {
    if (incidents.length === 0) return [];
    const ok = await this.write('rewrite', null, (redis) => {
      const m = redis.multi();
      // Built and sent in one tick with the snapshot, so later add/remove calls land after it.
      for (const id of incidents) {
        const key = this.hashKey(id, this.nodeId);
        const sockets = this.own.get(id);
        m.del(key);
        if (sockets && sockets.size > 0) m.hSet(key, Object.fromEntries(sockets)).pExpire(key, this.opts.ttlMs).sAdd(this.setKey(id), this.nodeId).pExpire(this.setKey(id), this.opts.ttlMs);
        else m.sRem(this.setKey(id), this.nodeId);
      }
      return m.exec();
    });
    if (!ok) return [];
    this.stats.rewrites++;
    this.opts.log.info({ incidents: incidents.length }, 'live feed: presence written to redis again');
    for (const id of incidents) this.opts.announce(id);
    return incidents;
  }
}

/**
 * The store this node uses: Redis when the cluster runs on Redis (a TTL instead of a sweeper, and
 * no presence writes on PostgreSQL), else rows in PostgreSQL.
 */
export function presenceStoreFor(context: Pick<ServerContext, 'cluster' | 'db' | 'config' | 'log' | 'metrics'>, refresh: (incidentId: string) => void): PresenceStore {
  const { cluster, db, config, log, metrics } = context;
  const announce = (incidentId: string) => void cluster.publish({ type: ClusterMessageType.PresenceChanged, incidentId });
  if (cluster.redis) {
    return new RedisPresenceStore({
      redis: cluster.redis,
      prefix: `yingji:${cluster.namespace}:presence`,
      nodeId: cluster.nodeId,
      ttlMs: config.LIVE_NODE_TTL_MS,
      log,
      announce,
      refresh,
      failed: () => metrics.presenceWriteFailures.inc(),
    });
  }
  return new PostgresPresenceStore(db.pool, cluster.nodeId, config.LIVE_NODE_TTL_MS, announce);
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return null;
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
