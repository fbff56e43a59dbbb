import type { ClientLike } from './client';
import { isSubmittable } from './query-args';

/** Told when a query on an instrumented client settles: its duration (ms), its error if it failed, and the end time. */
export type QueryObserver = (ms: number, error: unknown, end: number) => void;

/**
 * Wraps `client.query` (an own property shadowing pg's prototype method) so that every query run on the
 * connection, whoever runs it (`lease.query`, the raw client of `withClient`/`transaction`, an ORM holding the
 * pg.Pool view's client), is timed. Covers pg's promise and callback forms; a submittable (cursor, stream) is
 * passed through untimed, since its life includes the caller's own pauses between reads. The wrapper adds two
 * clock reads and one `then` per query, as the lease's own timing did before.
 * @returns false when the client cannot be wrapped (a frozen object): its queries are then not timed.
 */
export function instrumentQueries(client: ClientLike, now: () => number, observe: QueryObserver): boolean {
  const original = client.query as (this: ClientLike, ...args: unknown[]) => unknown;
  const timed = function timedQuery(this: unknown, query: unknown, values?: unknown, callback?: unknown): unknown {
    if (isSubmittable(query)) return original.call(client, query, values, callback);
    const start = now();
    if (typeof values === 'function' || typeof callback === 'function') {
      // Callback forms: pg calls back instead of returning a promise.
      const done = (typeof values === 'function' ? values : callback) as (error: unknown, result: unknown) => void;
      const wrapped = (error: unknown, result: unknown): void => {
        const end = now();
        observe(end - start, error ?? undefined, end);
        done(error, result);
      };
      return typeof values === 'function' ? original.call(client, query, wrapped) : original.call(client, query, values, wrapped);
    }
    const result = values === undefined ? original.call(client, query) : original.call(client, query, values);
    if (result !== null && typeof result === 'object' && typeof (result as Promise<unknown>).then === 'function') {
      (result as Promise<unknown>).then(
        () => {
          const end = now();
          observe(end - start, undefined, end);
        },
        (error: unknown) => {
          const end = now();
          observe(end - start, error ?? new Error('query failed'), end);
        },
      );
    }
    return result;
  };
  try {
    Object.defineProperty(client, 'query', { value: timed, writable: true, configurable: true, enumerable: false });
    return true;
  } catch {
    return false;
  }
}
