/**
 * Sessions (issue 10, H1): every token names a row of `sessions`, checked on every REST request,
 * Socket.IO connection and Yjs connection. What a check reads is cached for SESSION_CACHE_MS at
 * most; a revocation drops the cache entry on this node at once and, through the cluster seam
 * (`sessions.revoked`, sent at commit), on every other node, and closes the open connections of the revoked sessions.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Database, Queryable } from '../db/database.js';
import type { Logger } from '../log.js';
import type { Role } from '../../shared/roles.js';
import type { Actor } from './policy.js';
import { SessionConnections, type SessionConnection } from './session-connections.js';
import type { TokenService } from './tokens.js';
import { ClusterMessageType, type Cluster } from '../cluster/cluster.js';


/** A session that stands: who, which session, until when (ms since epoch). */
export interface AuthSession {
  sessionId: string;
  actor: Actor;
  expiresAt: number;
}

interface SessionRow {
  id: string;
  user_id: string;
  expires_at: Date;
  revoked_at: Date | null;
  username: string;
  role: Role;
  team_id: string | null;
  display_name: string;
  disabled_at: Date | null;
}

export type RevocationTarget = { userId: string; sessionId?: undefined } | { sessionId: string; userId?: undefined };

const TICKET_FORMAT = /^[A-Za-z0-9_-]{43}$/;
const CACHE_ENTRIES = 20_000;
const hashTicket = (ticket: string) => createHash('sha256').update(ticket).digest('hex');

export class SessionService {
  readonly connections = new SessionConnections();
  private readonly cache = new Map<string, { row: SessionRow | null; until: number }>();

  constructor(
    private readonly db: Database,
    private readonly tokens: TokenService,
    private readonly opts: { ttlMs: number; cacheMs: number; ticketTtlMs: number },
    private readonly log: Logger,
    private readonly cluster?: Cluster,
  ) {
    cluster?.on(ClusterMessageType.SessionsRevoked, (m) => void this.revoked(m.userId ? { userId: m.userId } : { sessionId: m.sessionId! }));
    cluster?.onResync(() => void this.recheckAll());
  }

  /** Opens a session for a user who just proved who they are; returns its token. */
  async create(user: { id: string; username: string; role: Role; teamId: string | null }, opts: { ttlMs?: number } = {}): Promise<{ token: string; expiresAt: string; sessionId: string }> {
    const sessionId = randomUUID();
    const expiresAt = Date.now() + (opts.ttlMs ?? this.opts.ttlMs);
    await this.db.pool.query('INSERT INTO sessions (id, user_id, expires_at) VALUES ($1, $2, $3)', [sessionId, user.id, new Date(expiresAt)]);
    const token = await this.tokens.issue({ userId: user.id, username: user.username, role: user.role, teamId: user.teamId }, sessionId, expiresAt);
    return { token, expiresAt: new Date(expiresAt).toISOString(), sessionId };
  }

  /** The session a bearer token stands for, or null (bad signature, no exp, revoked, expired, account changed). */
  async authenticate(token: string): Promise<AuthSession | null> {
    const verified = await this.tokens.verify(token);
    if (!verified) return null;
    const { claims } = verified;
    return this.validate(verified.sessionId, { userId: claims.userId, username: claims.username, role: claims.role, teamId: claims.teamId });
  }

  /**
   * Checks that the session stands and its account is still what `expected` says (a role, team or
   * name change, a disable or a delete ends it). `fresh` skips the cache.
   */
  async validate(sessionId: string, expected: Actor, fresh = false): Promise<AuthSession | null> {
    const row = await this.row(sessionId, fresh);
    if (!row || !standing(row)) return null;
    if (row.user_id !== expected.userId || row.username !== expected.username || row.role !== expected.role || row.team_id !== expected.teamId) return null;
    return { sessionId, actor: { ...expected, displayName: row.display_name }, expiresAt: row.expires_at.getTime() };
  }

  /** A one-use ticket for a WebSocket URL, bound to the session (it dies with it). */
  async issueTicket(session: AuthSession): Promise<{ ticket: string; expiresAt: string }> {
    const ticket = randomBytes(32).toString('base64url');
    const expiresAt = new Date(Math.min(Date.now() + this.opts.ticketTtlMs, session.expiresAt));
    await this.db.pool.query('INSERT INTO live_tickets (ticket_hash, session_id, expires_at) VALUES ($1, $2, $3)', [hashTicket(ticket), session.sessionId, expiresAt]);
    return { ticket, expiresAt: expiresAt.toISOString() };
  }

  /** Redeems a ticket (once, on any node): the session it was issued for, if that still stands. */
  async redeemTicket(ticket: string): Promise<AuthSession | null> {
    if (!TICKET_FORMAT.test(ticket)) return null;
    const { rows } = await this.db.pool.query<{ session_id: string }>(
      'DELETE FROM live_tickets WHERE ticket_hash = $1 AND expires_at > now() RETURNING session_id',
      [hashTicket(ticket)],
    );
    if (!rows[0]) return null;
    // Cached like a token check (revocations drop the entry), so a reconnect storm costs one read per session.
    const row = await this.row(rows[0].session_id, false);
    if (!row || !standing(row)) return null;
    return { sessionId: row.id, actor: { userId: row.user_id, username: row.username, role: row.role, teamId: row.team_id, displayName: row.display_name }, expiresAt: row.expires_at.getTime() };
  }

  /**
   * Revokes a user's sessions (all, or all but `exceptSessionId`) in the caller's transaction; the
   * other nodes are told when it commits (through the cluster seam), this node through `afterCommit`.
   */
  async revokeUser(tx: Queryable, userId: string, reason: string, afterCommit: (cb: () => void) => void, exceptSessionId?: string): Promise<void> {
    await tx.query(
      `UPDATE sessions SET revoked_at = now(), revoked_reason = $2 WHERE user_id = $1 AND revoked_at IS NULL AND ($3::uuid IS NULL OR id <> $3::uuid)`,
      [userId, reason, exceptSessionId ?? null],
    );
    await this.notify(tx, { userId });
    afterCommit(() => void this.revoked({ userId }));
  }

  /**
   * The account changed in a way that ends no session (its display name): every node drops what it
   * cached of it, so the next request carries the new name.
   */
  async accountChanged(tx: Queryable, userId: string, afterCommit: (cb: () => void) => void): Promise<void> {
    await this.notify(tx, { userId });
    afterCommit(() => void this.revoked({ userId }));
  }

  /** Revokes one session (logout). */
  async revokeSession(sessionId: string, reason: string): Promise<void> {
    await this.db.pool.query(`UPDATE sessions SET revoked_at = now(), revoked_reason = $2 WHERE id = $1 AND revoked_at IS NULL`, [sessionId, reason]);
    await this.notify(this.db.pool, { sessionId });
    await this.revoked({ sessionId });
  }

  /** Re-checks every open connection against the database (after missed notifications, and periodically). */
  async recheckAll(): Promise<void> {
    this.cache.clear();
    await this.recheck(this.connections.list());
  }

  /** Deletes sessions that ended long ago (tickets go with them). */
  async purgeOld(): Promise<void> {
    await this.db.pool.query(`DELETE FROM sessions WHERE expires_at < now() - interval '7 days'`);
    await this.db.pool.query(`DELETE FROM live_tickets WHERE expires_at < now()`);
  }

  stop(): void {
    this.connections.stop();
  }

  private async notify(db: Queryable, target: RevocationTarget): Promise<void> {
    // Inside a transaction the notice goes out at commit; on the pool (logout) the row is already committed.
    const inTx = db !== this.db.pool;
    const body = target.userId ? { type: ClusterMessageType.SessionsRevoked, userId: target.userId } as const : { type: ClusterMessageType.SessionsRevoked, sessionId: target.sessionId } as const;
    await this.cluster?.publish(body, inTx ? db : undefined);
  }

  private async revoked(target: RevocationTarget): Promise<void> {
    if (target.sessionId) this.cache.delete(target.sessionId);
    else for (const [sid, entry] of this.cache) if (!entry.row || entry.row.user_id === target.userId) this.cache.delete(sid);
    await this.recheck(this.connections.list(target));
  }

  private async recheck(conns: SessionConnection[]): Promise<void> {
    if (conns.length === 0) return;
    try {
      const rows = await this.fetch([...new Set(conns.map((c) => c.sessionId))]);
      for (const conn of conns) {
        const row = rows.get(conn.sessionId);
        const a = conn.actor;
        const stands = row && standing(row) && row.user_id === a.userId && row.username === a.username && row.role === a.role && row.team_id === a.teamId;
        if (!stands) this.connections.close(conn, row && row.expires_at.getTime() <= Date.now() ? 'expired' : 'revoked');
      }
    } catch (err) {
      this.log.error({ err }, 'checking the sessions of open connections failed; retrying at the next check');
    }
  }

  private async row(sessionId: string, fresh: boolean): Promise<SessionRow | null> {
    const now = Date.now();
    const hit = this.cache.get(sessionId);
    if (!fresh && hit && hit.until > now) return hit.row;
    const row = (await this.fetch([sessionId], true)).get(sessionId) ?? null;
    if (this.cache.size >= CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(sessionId, { row, until: now + this.opts.cacheMs });
    return row;
  }

  private async fetch(sessionIds: string[], touch = false): Promise<Map<string, SessionRow>> {
    // last_seen_at is written at most once a minute per session, by the check that reads it.
    const { rows } = await this.db.pool.query<SessionRow>(
      `WITH seen AS (
         UPDATE sessions SET last_seen_at = now()
          WHERE $2 AND id = ANY($1::uuid[]) AND revoked_at IS NULL AND last_seen_at < now() - interval '1 minute'
       )
       SELECT s.id, s.user_id, s.expires_at, s.revoked_at, u.username, u.role, u.team_id, u.display_name, u.disabled_at
         FROM sessions s JOIN users u ON u.id = s.user_id
        WHERE s.id = ANY($1::uuid[])`,
      [sessionIds, touch],
    );
    return new Map(rows.map((r) => [r.id, r]));
  }
}

function standing(row: SessionRow): boolean {
  return row.revoked_at === null && row.disabled_at === null && row.expires_at.getTime() > Date.now();
}
