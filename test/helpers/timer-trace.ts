import { createHook } from 'node:async_hooks';

/**
 * Records where every timer still pending was created, so a leak test can count only the timers its
 * subject created (the process also holds pollers, unref'd housekeeping and vitest's own timers, whose
 * number comes and goes) and, when it fails, say which code left them behind.
 */
export function traceTimers() {
  const pending = new Map<number, string>();
  const hook = createHook({
    init(id, type) {
      if (type !== 'Timeout') return;
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 40;
      pending.set(id, (new Error().stack ?? '').split('\n').slice(5).join('\n'));
      Error.stackTraceLimit = limit;
    },
    destroy(id) {
      pending.delete(id);
    },
  }).enable();
  const matching = (created: (stack: string) => boolean) => [...pending.values()].filter(created);
  return {
    count: (created: (stack: string) => boolean) => matching(created).length,
    /** The creation sites of the matching timers, most frequent first. */
    report(created: (stack: string) => boolean): string {
      const sites = new Map<string, number>();
      for (const s of matching(created)) sites.set(s, (sites.get(s) ?? 0) + 1);
      return [...sites].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([s, n]) => `${n}× created at\n${s}`).join('\n----\n');
    },
    stop: () => hook.disable(),
  };
}
