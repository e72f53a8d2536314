/**
 * A token bucket per channel and node: `ratePerSecond` sends, bursts up to one second's worth.
 * Alone it holds per node; with several nodes the warnings module gives the worker cluster-wide
 * throttles (server/cluster/rate.ts), which fall back to this bucket when their store is down.
 */
export class RateLimiter {
  private tokens: number;
  private last = Date.now();
  constructor(private readonly ratePerSecond: number) {
    this.tokens = Math.max(1, ratePerSecond);
  }

  async take(): Promise<void> {
    for (;;) {
      const now = Date.now();
      this.tokens = Math.min(Math.max(1, this.ratePerSecond), this.tokens + ((now - this.last) / 1000) * this.ratePerSecond);
      this.last = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await new Promise((r) => setTimeout(r, Math.ceil(((1 - this.tokens) / this.ratePerSecond) * 1000)));
    }
  }
}
