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
