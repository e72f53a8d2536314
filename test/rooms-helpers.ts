/** Real y-websocket clients for the rooms tests (not a test file itself). */
import * as Y from 'yjs';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import { CHECKLIST_ARRAY } from '../shared/checklist.js';

// Each WebsocketProvider adds a process 'exit' listener; many clients in one process are expected here.
process.setMaxListeners(0);

export interface YClient {
  doc: Y.Doc;
  provider: WebsocketProvider;
  closes: { code: number; reason: string }[];
  items(): Y.Array<Y.Map<any>>;
  item(id: string): Y.Map<any> | undefined;
  destroy(): void;
}

export function yjsOrigin(httpUrl: string): string {
  return httpUrl.replace(/^http/, 'ws') + '/yjs';
}

/** The stock WebsocketProvider, as a browser would use it (BroadcastChannel off: all clients share one process here). */
export function connectClient(
  httpUrl: string,
  incidentId: string,
  token: string | undefined,
  opts: { doc?: Y.Doc; awareness?: boolean; params?: Record<string, string>; WebSocketPolyfill?: typeof globalThis.WebSocket } = {},
): YClient {
  const doc = opts.doc ?? new Y.Doc();
  const provider = new WebsocketProvider(yjsOrigin(httpUrl), incidentId, doc, {
    params: opts.params ?? (token ? { token } : {}),
    WebSocketPolyfill: opts.WebSocketPolyfill ?? (WebSocket as unknown as typeof globalThis.WebSocket),
    disableBc: true,
    connect: false,
  });
  if (opts.awareness === false) provider.awareness.setLocalState(null);
  const closes: { code: number; reason: string }[] = [];
  provider.on('connection-close', (event) => {
    if (event) closes.push({ code: event.code, reason: event.reason });
  });
  provider.connect();
  return {
    doc,
    provider,
    closes,
    items: () => doc.getArray<Y.Map<any>>(CHECKLIST_ARRAY),
    item: (id) => doc.getArray<Y.Map<any>>(CHECKLIST_ARRAY).toArray().find((m) => m.get('id') === id),
    destroy() {
      provider.destroy();
      doc.destroy();
    },
  };
}

import { waitFor } from './helpers/wait.js';

export { waitFor };

export const synced = (c: YClient) => waitFor(() => c.provider.synced, 'client synced');
