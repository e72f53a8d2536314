/**
 * Group commit of accepted updates: everything rooms hand in during one tick is written with a
 * single INSERT (plus the milestone events of the tick, in the same transaction), and each
 * caller's promise resolves only after the commit — the rooms relay nothing before that.
 */
import type { Database } from '../db/database.js';
import { withTransaction } from '../db/database.js';
import type { IncidentEventBus } from '../incidents/event-log.js';
import { CHECKLIST_ITEM_STATUS_EVENT } from '../../shared/checklist.js';
import { insertUpdates, type StoredUpdate } from './doc-store.js';
import type { Cluster } from '../cluster/cluster.js';
import type { Milestone } from './milestones.js';

interface Job {
  updates: StoredUpdate[];
  milestones: Milestone[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class UpdateWriter {
  private queue: Job[] = [];
  private running = false;
  private idle: Promise<void> = Promise.resolve();
  /** Writes so far (for the benchmark and logs). */
  readonly stats = { statements: 0, updates: 0, milestones: 0, commitMs: 0 };
  /** Called after each committed write (metrics): its duration and how many updates it stored. */
  onCommitted: ((ms: number, updates: number) => void) | null = null;

  constructor(
    private readonly db: Database,
    private readonly bus: IncidentEventBus,
    /** The cluster seam when other nodes must hear of each write, else null (one node). */
    private readonly cluster: Cluster | null,
  ) {}

  write(updates: StoredUpdate[], milestones: Milestone[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ updates, milestones, resolve, reject });
      if (!this.running) this.idle = this.drain();
    });
  }

  /** Resolves once nothing is queued or in flight. */
  async flushed(): Promise<void> {
    while (this.running) await this.idle;
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      // No waiting for more: while one commit is in flight, everything that arrives queues up
      // and goes into the next statement together (group commit).
      while (this.queue.length > 0) {
        const jobs = this.queue.splice(0);
        const started = performance.now();
        try {
          await this.commit(jobs);
          const ms = performance.now() - started;
          this.stats.commitMs += ms;
          this.onCommitted?.(ms, jobs.reduce((n, j) => n + j.updates.length, 0));
          for (const job of jobs) job.resolve();
        } catch (err) {
          for (const job of jobs) job.reject(err);
        }
      }
    } finally {
      this.running = false;
    }
  }

  private async commit(jobs: Job[]): Promise<void> {
    const updates = jobs.flatMap((j) => j.updates);
    const milestones = jobs.flatMap((j) => j.milestones);
    this.stats.statements++;
    this.stats.updates += updates.length;
    if (milestones.length === 0) {
      await insertUpdates(this.db.pool, updates, this.cluster ? { cluster: this.cluster, inTx: false } : null);
      return;
    }
    this.stats.milestones += milestones.length;
    await withTransaction(this.db.pool, async (tx) => {
      // Incident rows first, in id order (recording an event locks them), then the updates: two nodes
      // committing milestones of the same incidents cannot deadlock.
      const ordered = [...milestones].sort((a, b) => (a.incidentId < b.incidentId ? -1 : a.incidentId > b.incidentId ? 1 : 0));
      for (const m of ordered) {
        const event = await this.bus.record(tx, {
          incidentId: m.incidentId,
          type: CHECKLIST_ITEM_STATUS_EVENT,
          actor: m.actor,
          data: { ...m.data },
        });
      }
      await insertUpdates(tx, updates, this.cluster ? { cluster: this.cluster, inTx: true } : null);
    });
  }
}
