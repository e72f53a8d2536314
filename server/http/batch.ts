import { AppError } from './errors.js';

/** One item's outcome in a batch answer: each item succeeds or fails on its own. */
export type BatchResult<K extends string, T> =
  | ({ ok: true } & Record<K, T>)
  | { ok: false; error: { code: string; message: string; details: Record<string, unknown> } };

/**
 * Runs `run` for every item (sequentially, or all at once with `concurrent`) and reports each
 * outcome instead of failing the whole request: a refused team or stock line is an answer, not
 * an exception. Errors other than AppError (the database failing) fail the request at once;
 * the items done before stand (each is its own transaction), and the client reads them back.
 */
export async function settleEach<I, T, K extends string>(
  items: readonly I[],
  key: K,
  run: (item: I) => Promise<T>,
  opts: { concurrent?: boolean } = {},
): Promise<(BatchResult<K, T> & { index: number })[]> {
  const one = async (item: I, index: number) => {
    try {
      return { index, ok: true, [key]: await run(item) } as BatchResult<K, T> & { index: number };
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      return { index, ok: false as const, error: { code: err.code, message: err.message, details: err.details } };
    }
  };
  if (opts.concurrent) return Promise.all(items.map(one));
  const out: (BatchResult<K, T> & { index: number })[] = [];
  for (const [i, item] of items.entries()) out.push(await one(item, i));
  return out;
}
