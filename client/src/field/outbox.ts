import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, NetworkError } from '../common/api.js';
import { blobToBase64, deletePhoto, getPhoto, putPhoto } from './photo-store.js';

/**
 * What the field user did that the command centre must receive: dispatch status changes and
 * situation reports. Every action is queued here first (localStorage, so a reload or a dead
 * battery loses nothing) and replayed in order with its Idempotency-Key until the server
 * answers; the server runs each key once, so a replay after a lost answer is never applied twice.
 */
export interface OutboxEntry {
  key: string;
  kind: 'dispatch-status' | 'report';
  path: string;
  body: Record<string, unknown>;
  /** For the screen: which dispatch / what was done. */
  ref?: string;
  /** A photo waiting in IndexedDB under this entry's key; added to the body as `photo` when sent. */
  photo?: { type: string; size: number };
  createdAt: string;
  state: 'pending' | 'sent' | 'rejected';
  sentAt?: string;
  error?: string;
}

const listeners = new Set<() => void>();
let storageKey = 'yingji.outbox';
let flushing = false;

/** randomUUID exists only in secure contexts (https, localhost); getRandomValues everywhere. */
function newKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export function useOutboxUser(userId: string): void {
  storageKey = `yingji.outbox.${userId}`;
}

export function entries(): OutboxEntry[] {
  try {
    return JSON.parse(localStorage.getItem(storageKey) ?? '[]') as OutboxEntry[];
  } catch {
    return [];
  }
}

function save(list: OutboxEntry[]): void {
  // Keep every unsent entry; of the sent ones, only the latest 50 for the screen.
  const pending = list.filter((e) => e.state === 'pending');
  const done = list.filter((e) => e.state !== 'pending').slice(-50);
  const keep = new Set([...pending, ...done]);
  localStorage.setItem(storageKey, JSON.stringify(list.filter((e) => keep.has(e))));
  listeners.forEach((l) => l());
}

function update(key: string, patch: Partial<OutboxEntry>): void {
  save(entries().map((e) => (e.key === key ? { ...e, ...patch } : e)));
}

export function enqueue(entry: Omit<OutboxEntry, 'key' | 'createdAt' | 'state' | 'photo'>): OutboxEntry {
  const full: OutboxEntry = { ...entry, key: newKey(), createdAt: new Date().toISOString(), state: 'pending' };
  save([...entries(), full]);
  void flush();
  return full;
}

/** Queues a report with a photo: the bytes go to IndexedDB first, so the entry never points at nothing. */
export async function enqueueWithPhoto(entry: Omit<OutboxEntry, 'key' | 'createdAt' | 'state' | 'photo'>, photo: Blob): Promise<OutboxEntry> {
  const full: OutboxEntry = { ...entry, key: newKey(), createdAt: new Date().toISOString(), state: 'pending', photo: { type: photo.type, size: photo.size } };
  await putPhoto(full.key, photo);
  save([...entries(), full]);
  void flush();
  return full;
}

async function bodyOf(entry: OutboxEntry): Promise<Record<string, unknown>> {
  if (!entry.photo) return entry.body;
  const blob = await getPhoto(entry.key);
  // Should the browser have dropped the stored photo, the report still goes (without it).
  return blob ? { ...entry.body, photo: await blobToBase64(blob) } : entry.body;
}

/** Sends pending entries in order; stops at the first that could not reach the server (retried later). */
export async function flush(): Promise<void> {
  if (flushing) return;
  flushing = true;
  try {
    for (const entry of entries().filter((e) => e.state === 'pending')) {
      try {
        await api('POST', entry.path, await bodyOf(entry), { 'Idempotency-Key': entry.key });
        update(entry.key, { state: 'sent', sentAt: new Date().toISOString() });
        if (entry.photo) await deletePhoto(entry.key).catch(() => {});
      } catch (err) {
        if (err instanceof NetworkError) return;
        if (err instanceof ApiError && (err.status >= 500 || err.code === 'idempotency_in_progress' || err.status === 401)) return;
        update(entry.key, { state: 'rejected', error: err instanceof ApiError ? `${err.message} (${err.code})` : String(err) });
        if (entry.photo) await deletePhoto(entry.key).catch(() => {});
      }
    }
  } finally {
    flushing = false;
  }
}

let started = false;
/** Replays on reconnect, on start and every few seconds while something is pending. */
export function startOutbox(): void {
  if (started) return;
  started = true;
  addEventListener('online', () => void flush());
  setInterval(() => {
    if (entries().some((e) => e.state === 'pending')) void flush();
  }, 3000);
  void flush();
}

export function useOutbox(): OutboxEntry[] {
  const [list, setList] = useState(entries());
  useEffect(() => {
    const l = () => setList(entries());
    listeners.add(l);
    l();
    return () => void listeners.delete(l);
  }, []);
  return list;
}
