import { useEffect, useRef, useState } from 'preact/hooks';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { CHECKLIST_ARRAY, ITEM_FIELDS, YJS_CLOSE_CODES, type ChecklistItem, type ItemStatus } from '../../../shared/checklist.js';
import { liveTicket } from './api.js';
import { endSession } from './session.js';
import { ticketedWebSocket } from './ticket-socket.js';

export interface ChecklistState {
  items: ChecklistItem[];
  /** Connected to the server's room (the command centre sees our edits). */
  connected: boolean;
  synced: boolean;
  /** Local edits made while not connected that the server has not acknowledged by a sync yet. */
  pendingEdits: number;
  /** The connection was refused for good (4401/4404): log in again. */
  refused: boolean;
  setStatus(id: string, status: ItemStatus): void;
  setAssignee(id: string, assignee: string): void;
  setNote(id: string, note: string): void;
}

function wsBase(): string {
  return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/yjs';
}

/**
 * The live checklist of one incident: a Y.Doc synced over /yjs/<incidentId>, optionally kept in
 * IndexedDB (field app) so it survives an offline reload and offline edits merge on reconnect.
 * Re-renders at most once per animation frame, however many remote edits arrive.
 */
export function useChecklist(incidentId: string | null, token: string | null, opts: { persist?: boolean } = {}): ChecklistState {
  const docRef = useRef<Y.Doc | null>(null);
  const [items, setItems] = useState<ChecklistItem[]>([]);
  const [connected, setConnected] = useState(false);
  const [synced, setSynced] = useState(false);
  const [pendingEdits, setPendingEdits] = useState(0);
  const [refused, setRefused] = useState(false);

  useEffect(() => {
    if (!incidentId || !token) return;
    const doc = new Y.Doc();
    docRef.current = doc;
    const arr = doc.getArray<Y.Map<unknown>>(CHECKLIST_ARRAY);
    // Items keep their identity until they change, so rows re-render only for their own edits;
    // renders are batched to one per frame and at most ten a second under an edit storm.
    const cache = new Map<Y.Map<unknown>, ChecklistItem>();
    let frame = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let lastRender = 0;
    const render = () => {
      frame = 0;
      timer = undefined;
      lastRender = performance.now();
      setItems(
        arr.toArray().map((m) => {
          let item = cache.get(m);
          if (!item) cache.set(m, (item = m.toJSON() as ChecklistItem));
          return item;
        }),
      );
    };
    const schedule = () => {
      if (frame || timer) return;
      const wait = 100 - (performance.now() - lastRender);
      if (wait > 0) timer = setTimeout(() => (frame = requestAnimationFrame(render)), wait);
      else frame = requestAnimationFrame(render);
    };
    arr.observeDeep((events) => {
      for (const e of events) {
        if (e.target === arr) cache.clear();
        let t: Y.AbstractType<unknown> | null = e.target as Y.AbstractType<unknown>;
        while (t && t.parent !== arr) t = t.parent as Y.AbstractType<unknown> | null;
        if (t instanceof Y.Map) cache.delete(t);
      }
      schedule();
    });

    let persistence: { destroy(): Promise<void> | void } | null = null;
    if (opts.persist) {
      void import('y-indexeddb').then(({ IndexeddbPersistence }) => {
        if (docRef.current !== doc) return;
        const p = new IndexeddbPersistence(`yingji-checklist-${incidentId}`, doc);
        persistence = p;
        p.whenSynced.then(schedule);
      });
    }
    // Each (re)connect fetches its own one-use ticket, so the token never goes into a URL.
    const provider = new WebsocketProvider(wsBase(), incidentId, doc, { WebSocketPolyfill: ticketedWebSocket(liveTicket) });
    let pending = 0;
    const pendingKey = `yingji.pendingEdits.${incidentId}`;
    pending = Number(localStorage.getItem(pendingKey) ?? 0);
    setPendingEdits(pending);
    const setPending = (n: number) => {
      pending = n;
      localStorage.setItem(pendingKey, String(n));
      setPendingEdits(n);
    };
    doc.on('update', (_u: Uint8Array, origin: unknown) => {
      if (origin === 'local' && !(provider.wsconnected && provider.synced)) setPending(pending + 1);
    });
    provider.on('status', (e: { status: string }) => {
      setConnected(e.status === 'connected');
      if (e.status !== 'connected') setSynced(false);
    });
    provider.on('sync', (s: boolean) => {
      setSynced(s);
      // On (re)connect the client sends everything the server lacks in answer to its sync step 1.
      if (s && pending > 0) setTimeout(() => provider.wsconnected && setPending(0), 300);
    });
    provider.on('connection-close', (e: CloseEvent | null) => {
      if (e && e.code >= 4400 && e.code < 4500) setRefused(true);
      if (e?.code === YJS_CLOSE_CODES.unauthorized) endSession();
    });
    // A phone that knows it is offline stops retrying; the edits stay in the doc (and IndexedDB).
    const offline = () => provider.disconnect();
    const online = () => provider.connect();
    addEventListener('offline', offline);
    addEventListener('online', online);
    if (!navigator.onLine) provider.disconnect();
    return () => {
      removeEventListener('offline', offline);
      removeEventListener('online', online);
      if (frame) cancelAnimationFrame(frame);
      if (timer) clearTimeout(timer);
      docRef.current = null;
      provider.destroy();
      void persistence?.destroy();
      doc.destroy();
    };
  }, [incidentId, token, opts.persist]);

  const withItem = (id: string, fn: (m: Y.Map<unknown>) => void) => {
    const doc = docRef.current;
    if (!doc) return;
    const arr = doc.getArray<Y.Map<unknown>>(CHECKLIST_ARRAY);
    const map = arr.toArray().find((m) => m.get(ITEM_FIELDS.id) === id);
    if (map) doc.transact(() => fn(map), 'local');
  };

  return {
    items,
    connected,
    synced,
    pendingEdits,
    refused,
    setStatus: (id, status) => withItem(id, (m) => m.set(ITEM_FIELDS.status, status)),
    setAssignee: (id, assignee) =>
      withItem(id, (m) => (assignee.trim() ? m.set(ITEM_FIELDS.assignee, assignee.trim()) : m.delete(ITEM_FIELDS.assignee))),
    setNote: (id, note) =>
      withItem(id, (m) => {
        const text = m.get(ITEM_FIELDS.note);
        if (text instanceof Y.Text) {
          if (text.toString() === note) return;
          text.delete(0, text.length);
          text.insert(0, note);
        }
      }),
  };
}

export const isOverdue = (item: ChecklistItem, now: number) =>
  item.inLevel !== false && item.status !== 'done' && item.status !== 'skipped' && !!item.dueAt && new Date(item.dueAt).getTime() < now;
