// Creates a new embedded database cluster (PGlite's initdb) and exits. It runs in a worker thread
// because PGlite keeps initdb's WebAssembly memory (~400 MiB) alive for the life of its thread;
// the thread's end gives it back, and the server then opens the ready cluster in its own thread.
// Plain JavaScript, so the worker loads the same under tsx, vitest and plain node.
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';

const db = await PGlite.create(workerData.dir, { startParams: workerData.startParams });
await db.close();
parentPort.postMessage('ready');
