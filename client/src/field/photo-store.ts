import * as idb from 'lib0/indexeddb';

/**
 * Photos waiting in the offline queue. A photo (up to 5 MiB) does not fit the outbox's
 * localStorage entry, so its bytes wait here in IndexedDB under the entry's key until the report
 * has reached the server.
 */
const DB = 'yingji-field-photos';
const STORE = 'photos';
let db: Promise<IDBDatabase> | null = null;
const open = () => (db ??= idb.openDB(DB, (d) => idb.createStores(d, [[STORE]])));

export async function putPhoto(key: string, blob: Blob): Promise<void> {
  const [store] = idb.transact(await open(), [STORE]);
  // IndexedDB stores Blobs (structured clone); lib0's typing lists only the key-like types.
  await idb.put(store!, blob as unknown as ArrayBuffer, key);
}

export async function getPhoto(key: string): Promise<Blob | undefined> {
  const [store] = idb.transact(await open(), [STORE], 'readonly');
  return (await idb.get(store!, key)) as unknown as Blob | undefined;
}

export async function deletePhoto(key: string): Promise<void> {
  const [store] = idb.transact(await open(), [STORE]);
  await idb.del(store!, key);
}

/** base64 (no data: prefix) of a blob, for the report's JSON body. */
export async function blobToBase64(blob: Blob): Promise<string> {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export const PHOTO_MAX_BYTES = 5 * 1024 * 1024;
