/**
 * How many live connections (Yjs or Socket.IO) a user, and an incident, may have. One small
 * interface so the per-node counter here can be replaced by one shared between nodes (Redis)
 * without touching the endpoints.
 */

export interface ConnectionLease {
  /** Gives the slot back; calling it again does nothing. */
  release(): void;
}

export type Acquired = { ok: true; lease: ConnectionLease } | { ok: false; reason: string; scope: 'user' | 'incident' };

export interface ConnectionLimiter {
  /**
   * Takes a slot for one more connection of `userId` (when given) to `incidentId` (when given), or
   * refuses when either already has its limit; a refusal counts nothing.
   */
  acquire(userId: string | null, incidentId: string | null): Promise<Acquired>;
  /** Open connections counted now (for tests and stats). */
  count(scope: 'user' | 'incident', id: string): number;
}

export interface ConnectionLimits {
  perUser: number;
  perIncident: number;
}

/** Counts in this process only: the limits hold per node (with N nodes a user may reach N × the limit). */
export class LocalConnectionLimiter implements ConnectionLimiter {
  private readonly users = new Map<string, number>();
  private readonly incidents = new Map<string, number>();

  constructor(
    private readonly limits: ConnectionLimits,
    /** What is being counted, for the refusal's reason ("live checklist connections"). */
    private readonly what: string,
  ) {}

  async acquire(userId: string | null, incidentId: string | null): Promise<Acquired> {
    if (userId !== null && (this.users.get(userId) ?? 0) >= this.limits.perUser) {
      return { ok: false, scope: 'user', reason: `this user has ${this.limits.perUser} open ${this.what}, the most allowed; close one first` };
    }
    if (incidentId !== null && (this.incidents.get(incidentId) ?? 0) >= this.limits.perIncident) {
      return { ok: false, scope: 'incident', reason: `this incident has ${this.limits.perIncident} open ${this.what}, the most allowed` };
    }
    if (userId !== null) bump(this.users, userId, 1);
    if (incidentId !== null) bump(this.incidents, incidentId, 1);
    let released = false;
    return {
      ok: true,
      lease: {
        release: () => {
          if (released) return;
          released = true;
          if (userId !== null) bump(this.users, userId, -1);
          if (incidentId !== null) bump(this.incidents, incidentId, -1);
        },
      },
    };
  }

  count(scope: 'user' | 'incident', id: string): number {
    return (scope === 'user' ? this.users : this.incidents).get(id) ?? 0;
  }
}

function bump(counts: Map<string, number>, key: string, by: number): void {
  const n = (counts.get(key) ?? 0) + by;
  if (n <= 0) counts.delete(key);
  else counts.set(key, n);
}
