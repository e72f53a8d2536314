// Creates a new embedded database cluster (PGlite's initdb) and exits. It runs in a child process
// of its own: PGlite keeps initdb's WebAssembly memory (~400 MiB) alive for the life of its thread,
// and even a worker thread's end left ~130 MiB of the process's resident memory behind (compiled
// WebAssembly code and allocator arenas); a process's exit gives all of it back. The server then
// opens the ready cluster itself. Plain JavaScript, so it runs the same under tsx, vitest and node.
import { PGlite } from '@electric-sql/pglite';

const [dir, startParams] = [process.argv[2], JSON.parse(process.argv[3])];
const db = await PGlite.create(dir, { startParams });
await db.close();
