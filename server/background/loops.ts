import type { Queryable } from '../db/database.js';

/**
 * The background loops of one worker (the warnings outbox, the escalation scheduler): each runs
 * while the worker is started and sleeps between rounds; `wake()` ends every sleep at once (work
 * just arrived on this node), and `stop()` ends the loops after their current round.
 */
export class BackgroundLoops {
  private started = false;
  private loops: Promise<void>[] = [];
  private readonly wakers = new Set<() => void>();

  get running(): boolean {
    return this.started;
  }

  /** Starts the loops, once; later calls while running do nothing. */
  start(...loops: (() => Promise<void>)[]): void {
    if (this.started) return;
    this.started = true;
    this.loops = loops.map((loop) => loop());
  }

  wake(): void {
    for (const w of this.wakers) w();
  }

  async stop(): Promise<void> {
    this.started = false;
    this.wake();
    await Promise.all(this.loops);
    this.loops = [];
  }

  /** Resolves after `ms`, or sooner on `wake()` or `stop()`. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }
}

/**
 * The shortest idle sleep: a row due now that a claim did not get is being claimed by another
 * worker this instant (SKIP LOCKED), so look again soon, not in a busy loop.
 */
const MIN_IDLE_SLEEP_MS = 20;

/**
 * How long a scheduler that found nothing due sleeps: until its next row comes due (`waitMs` from
 * now, in the database's clock; null when nothing is scheduled), and never longer than `capMs` —
 * the cap bounds how late it sees work that another node (or a direct insert) scheduled without
 * waking it. Polling at a fixed short interval instead cost an idle embedded server ~40 ms of CPU
 * per second (docs/ARCHITECTURE.md, performance notes).
 */
export function idleSleepMs(waitMs: number | null, capMs: number): number {
  if (waitMs === null || !Number.isFinite(waitMs)) return capMs;
  return Math.min(capMs, Math.max(MIN_IDLE_SLEEP_MS, Math.ceil(waitMs)));
}

/**
 * Milliseconds from the database's now() to the time `dueSql` yields (a scalar expression such as
 * `(SELECT min(due_at) FROM … )`; ≤ 0 when already due), or null when it yields NULL (nothing
 * scheduled). In the database's clock, so a node whose clock is off still wakes on time.
 */
export async function msUntilDue(db: Queryable, dueSql: string, params: unknown[] = []): Promise<number | null> {
  const { rows } = await db.query<{ wait_ms: string | number | null }>(`SELECT EXTRACT(EPOCH FROM (${dueSql}) - now()) * 1000 AS wait_ms`, params);
  const wait = rows[0]?.wait_ms;
  return wait === null || wait === undefined ? null : Number(wait);
}
