/**
 * Worker thread of bench/room.ts: runs a share of the N stock clients of a room (y-websocket's
 * WebsocketProvider, or @hocuspocus/provider for a Hocuspocus server, one socket each), so their
 * CPU and memory are neither the server's nor the harness's. bench/room.ts starts several of these
 * and spreads every room's clients over them, so the client side is not the bottleneck at N = 1000.
 */
import { parentPort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import * as Y from 'yjs';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider';

process.setMaxListeners(0);
const now = () => performance.timeOrigin + performance.now();

interface Client {
  doc: Y.Doc;
  synced(): boolean;
  connected(): boolean;
  destroy(): void;
}
const groups = new Map<string, Client[]>();
let attempts = 0;
const group = (name: string) => {
  if (!groups.has(name)) groups.set(name, []);
  return groups.get(name)!;
};

export type Command =
  | { type: 'connect'; group: string; protocol: 'y-websocket' | 'hocuspocus'; origin: string; room: string; token?: string; n: number }
  /** Watch this worker's readers of the group for the value (all but the writer). */
  | { type: 'arm'; group: string; value: number; skipFirst: boolean }
  /** The first client of the group writes the value; answers the time it did. */
  | { type: 'write'; group: string; value: number }
  /** Answers the time the last armed reader had the value. */
  | { type: 'collect'; group: string }
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

function yWebsocketClient(origin: string, room: string, token: string | undefined): Client {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(origin, room, doc, {
    params: token ? { token } : {},
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
    connect: false,
  });
  // Presence off: the same for every server, and it keeps N² awareness traffic out of the edit latency.
  provider.awareness.setLocalState(null);
  provider.on('status', ({ status }) => status === 'connecting' && attempts++);
  provider.connect();
  return { doc, synced: () => provider.synced, connected: () => provider.wsconnected, destroy: () => (provider.destroy(), doc.destroy()) };
}

function hocuspocusClient(origin: string, room: string, token: string | undefined): Client {
  const doc = new Y.Doc();
  const socket = new HocuspocusProviderWebsocket({ url: origin, WebSocketPolyfill: WebSocket });
  const provider = new HocuspocusProvider({ websocketProvider: socket, name: room, document: doc, token: token ?? null });
  provider.awareness?.setLocalState(null);
  provider.attach(); // a provider given its own socket attaches itself only when it made the socket
  return {
    doc,
    synced: () => provider.isSynced,
    connected: () => socket.status === 'connected',
    destroy: () => (provider.destroy(), socket.destroy(), doc.destroy()),
  };
}

let armed: Promise<number> | undefined;
let disarm: (() => void) | undefined;

async function handle(cmd: Command): Promise<unknown> {
  const clients = group(cmd.group);
  switch (cmd.type) {
    case 'connect': {
      const start = now();
      attempts = 0;
      for (let i = 0; i < cmd.n; i++) {
        clients.push(cmd.protocol === 'hocuspocus' ? hocuspocusClient(cmd.origin, cmd.room, cmd.token) : yWebsocketClient(cmd.origin, cmd.room, cmd.token));
        if (i % 50 === 49) await new Promise((r) => setImmediate(r));
      }
      // Connecting thousands takes a while on two cores: allow 20 ms a client beyond the 2 minutes.
      await until(() => clients.every((c) => c.synced()), 120_000 + 20 * cmd.n);
      return { ms: now() - start };
    }
    case 'arm': {
      const readers = cmd.skipFirst ? clients.slice(1) : clients;
      const pending = new Set(readers);
      const handlers: [Client, () => void][] = [];
      armed = new Promise<number>((resolve) => {
        if (pending.size === 0) return resolve(0);
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
      disarm = () => {
        for (const [c, h] of handlers) c.doc.off('update', h);
      };
      return {};
    }
    case 'write': {
      const start = now();
      firstItem(clients[0]!).set('assignee', String(cmd.value));
      return { at: start };
    }
    case 'collect': {
      const at = await armed!;
      disarm!();
      return { at };
    }
    case 'awaitDisconnected':
      await until(() => clients.every((c) => !c.connected()));
      attempts = 0;
      return {};
    case 'awaitResynced': {
      await until(() => clients.every((c) => c.synced() && c.connected() && value(c) === cmd.value));
      return { at: now(), attempts };
    }
    case 'disconnect':
      for (const c of clients) c.destroy();
      groups.delete(cmd.group);
      return {};
  }
}

parentPort!.on('message', ({ id, cmd }: { id: number; cmd: Command }) => {
  handle(cmd).then(
    (result) => parentPort!.postMessage({ id, ok: true, result }),
    (err) => parentPort!.postMessage({ id, ok: false, error: String(err) }),
  );
});
