/**
 * The open WebSocket connections (Socket.IO and Yjs) of this node, by session, so that a revoked
 * or expired session closes them. Transports register when a connection is admitted and
 * unregister when it closes; the session service calls `closeWhere` after a revocation (local or
 * notified by another node), and a sweep closes connections whose session has expired.
 */
import type { Actor } from './policy.js';

export type SessionEndReason = 'expired' | 'revoked';

export interface SessionConnection {
  sessionId: string;
  userId: string;
  /** The account as it was when the connection was admitted; a change of it ends the connection. */
  actor: Actor;
  /** ms since epoch */
  expiresAt: number;
  close(reason: SessionEndReason): void;
}

// setTimeout holds at most 2^31-1 ms (~24.8 days); sessions may live longer, so long timers re-arm.
const MAX_TIMER_MS = 2 ** 31 - 1;

export class SessionConnections {
  private readonly open = new Map<SessionConnection, NodeJS.Timeout | undefined>();

  /** Returns the function that unregisters it (call it when the connection closes). */
  register(conn: SessionConnection): () => void {
    this.open.set(conn, undefined);
    this.armExpiry(conn);
    return () => this.unregister(conn);
  }

  get size(): number {
    return this.open.size;
  }

  /** The open connections of these sessions or users (all of them without a filter). */
  list(filter?: { userId?: string; sessionId?: string }): SessionConnection[] {
    return [...this.open.keys()].filter((c) => (!filter?.userId || c.userId === filter.userId) && (!filter?.sessionId || c.sessionId === filter.sessionId));
  }

  close(conn: SessionConnection, reason: SessionEndReason): void {
    this.unregister(conn);
    try {
      conn.close(reason);
    } catch {
      // a transport that is already gone
    }
  }

  stop(): void {
    for (const timer of this.open.values()) clearTimeout(timer);
    this.open.clear();
  }

  private unregister(conn: SessionConnection): void {
    clearTimeout(this.open.get(conn));
    this.open.delete(conn);
  }

  /** Closed at the moment the session expires, so nothing it sends afterwards is taken. */
  private armExpiry(conn: SessionConnection): void {
    if (!this.open.has(conn)) return;
    const remaining = conn.expiresAt - Date.now();
    if (remaining <= 0) return this.close(conn, 'expired');
    const timer = setTimeout(() => this.armExpiry(conn), Math.min(remaining, MAX_TIMER_MS));
    timer.unref();
    this.open.set(conn, timer);
  }
}
