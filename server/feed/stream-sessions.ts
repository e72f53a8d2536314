import { encode } from '@msgpack/msgpack';
import type { RedisClientType } from 'redis';
import type { Logger } from '../log.js';

/**
 * Writing a disconnected socket's session, for whichever node recovers it.
 *
 * The streams adapter's own `persistSession` fires a `SET` and never looks at its promise: when
 * the connection is down and Redis refuses the reconnect (say, `max number of clients reached`),
 * that `SET` is rejected with nobody to catch it — an unhandled rejection, which ends a Node
 * process — and the session is gone. Here the same `SET` (same key, same msgpack-in-base64 value
 * the adapter's `restoreSession` decodes) is retried each time the connection is ready again, until
 * the recovery window is over; its expiry counts from the disconnection, not from the retry.
 */
export function persistSessions(
  adapter: { persistSession(session: { pid: string }): void },
  client: Pick<RedisClientType, 'set' | 'isReady' | 'once' | 'off'>,
  opts: { keyPrefix: string; windowMs: number; log: Logger },
): void {
  adapter.persistSession = (session) => {
    const key = opts.keyPrefix + session.pid;
    const value = Buffer.from(encode(session)).toString('base64');
    const deadline = Date.now() + opts.windowMs;
    void (async () => {
      for (;;) {
        const left = deadline - Date.now();
        if (left <= 0) {
          opts.log.warn({ pid: session.pid }, 'live feed: a disconnected session could not be stored for recovery before its window ended');
          return;
        }
        try {
          await client.set(key, value, { PX: left });
          return;
        } catch (err) {
          opts.log.warn({ err: (err as Error).message, pid: session.pid }, 'live feed: storing a disconnected session failed; retrying when redis is back');
          await untilReady(client, left);
        }
      }
    })();
  };
}

function untilReady(client: Pick<RedisClientType, 'isReady' | 'once' | 'off'>, timeoutMs: number): Promise<void> {
  if (client.isReady) return new Promise((resolve) => setTimeout(resolve, 100).unref());
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      client.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    timer.unref();
    client.once('ready', done);
  });
}
