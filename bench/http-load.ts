/**
 * Closed-loop HTTP load for the benchmarks, run in a worker thread so the load generator's CPU
 * (fetch, JSON) is not charged to the server's event loop: `runLoad(requests, clients)` keeps
 * `clients` requests in flight until every request has been answered.
 */
import { isMainThread, parentPort, Worker } from 'node:worker_threads';

export interface LoadRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

export interface LoadResult {
  seconds: number;
  latencies: number[];
  statuses: Map<number, number>;
}

async function drive(requests: LoadRequest[], clients: number): Promise<{ seconds: number; latencies: number[]; statuses: [number, number][] }> {
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = next++; i < requests.length; i = next++) {
        const r = requests[i]!;
        const t0 = performance.now();
        const res = await fetch(r.url, { method: r.method, headers: r.headers, body: r.body });
        await res.arrayBuffer();
        latencies.push(performance.now() - t0);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    }),
  );
  return { seconds: (performance.now() - started) / 1000, latencies, statuses: [...statuses] };
}

if (!isMainThread) {
  parentPort!.once('message', (msg: { requests: LoadRequest[]; clients: number }) => {
    drive(msg.requests, msg.clients).then((result) => parentPort!.postMessage(result));
  });
}

export async function runLoad(requests: LoadRequest[], clients: number): Promise<LoadResult> {
  const self = new URL(import.meta.url).pathname;
  const worker = new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(self)}); })`, { eval: true });
  try {
    const result = await new Promise<{ seconds: number; latencies: number[]; statuses: [number, number][] }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.postMessage({ requests, clients });
    });
    return { seconds: result.seconds, latencies: result.latencies, statuses: new Map(result.statuses) };
  } finally {
    await worker.terminate();
  }
}
