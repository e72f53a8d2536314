/**
 * Worker thread of bench/room.ts: runs N stock y-websocket clients, so their CPU and memory are
 * not the server's (the worker has its own V8 heap and core).
 */
import { parentPort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import * as Y from 'yjs';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';

process.setMaxListeners(0);
const now = () => performance.timeOrigin + performance.now();

interface Client {
  doc: Y.Doc;
  provider: WebsocketProvider;
}
const groups = new Map<string, Client[]>();
let attempts = 0;
const group = (name: string) => {
  if (!groups.has(name)) groups.set(name, []);
  return groups.get(name)!;
};

export type Command =
  | { type: 'connect'; group: string; origin: string; room: string; token?: string; n: number }
  | { type: 'trial'; group: string; value: number }
  | { type: 'awaitDisconnected'; group: string }
  | { type: 'awaitResynced'; group: string; value: number }
  | { type: 'disconnect'; group: string };

async function until(cond: () => boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('bench client timeout');
    await new Promise((r) => setTimeout(r, 5));
  }
}

// The edit is what a user does: (re)assign the first checklist item. The value travels as text.
const firstItem = (c: Client) => c.doc.getArray<Y.Map<unknown>>('checklist').get(0);
const value = (c: Client) => Number(firstItem(c)?.get('assignee'));


async function handle(cmd: Command): Promise<unknown> {
  const clients = group(cmd.group);
  switch (cmd.type) {
    case 'connect': {
      const start = now();
      attempts = 0;
      for (let i = 0; i < cmd.n; i++) {
        const doc = new Y.Doc();
        const provider = new WebsocketProvider(cmd.origin, cmd.room, doc, {
          params: cmd.token ? { token: cmd.token } : {},
          WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
          disableBc: true,
          connect: false,
        });
        // Presence off: the same for both servers, and it keeps N² awareness traffic out of the edit latency.
        provider.awareness.setLocalState(null);
        provider.on('status', ({ status }) => status === 'connecting' && attempts++);
        provider.connect();
        clients.push({ doc, provider });
        if (i % 50 === 49) await new Promise((r) => setImmediate(r));
      }
      await until(() => clients.every((c) => c.provider.synced));
      return { ms: now() - start };
    }
    case 'trial': {
      const [writer, ...readers] = clients;
      const pending = new Set(readers);
      const handlers: [Client, () => void][] = [];
      const done = new Promise<number>((resolve) => {
        for (const c of readers) {
          const h = () => {
            if (pending.has(c) && value(c) === cmd.value) {
              pending.delete(c);
              if (pending.size === 0) resolve(now());
            }
          };
          c.doc.on('update', h);
          handlers.push([c, h]);
        }
      });
      const start = now();
      firstItem(writer!).set('assignee', String(cmd.value));
      const end = await done;
      for (const [c, h] of handlers) c.doc.off('update', h);
      return { ms: end - start };
    }
    case 'awaitDisconnected':
      await until(() => clients.every((c) => !c.provider.wsconnected));
      attempts = 0;
      return {};
    case 'awaitResynced': {
      await until(() => clients.every((c) => c.provider.synced && c.provider.wsconnected && value(c) === cmd.value));
      return { at: now(), attempts };
    }
    case 'disconnect':
      for (const c of clients) {
        c.provider.destroy();
        c.doc.destroy();
      }
      groups.delete(cmd.group);
      return {};
  }
}

parentPort!.on('message', (cmd: Command) => {
  handle(cmd).then(
    (result) => parentPort!.postMessage({ ok: true, result }),
    (err) => parentPort!.postMessage({ ok: false, error: String(err) }),
  );
});
