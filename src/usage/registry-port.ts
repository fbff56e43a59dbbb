import type { ClientLike, QueryResult, QueryResultRow } from '../pool/client';

/** The part of a lease the tracker uses: one query at a time on the borrowed connection. */
export interface UsageLease {
  /** Runs one statement on the borrowed connection (as {@link Lease.query}). */
  query<R extends QueryResultRow = QueryResultRow>(text: string, values?: readonly unknown[]): Promise<QueryResult<R>>;
}

/**
 * The public registry API the tracker relies on, and nothing more: a `PoolRegistry` fits, and so does any wrapper
 * with the same methods (which is how tests inject faults).
 */
export interface UsageRegistry<S extends string = string> {
  /** The configured service names. */
  readonly services: readonly S[];
  /** True once the registry is closing or closed. */
  readonly closed: boolean;
  /** Runs `fn` inside BEGIN … COMMIT on one connection of `service`; rolls back and rethrows on error. */
  transaction<T>(service: S, fn: (client: ClientLike, lease: UsageLease) => Promise<T>): Promise<T>;
  /** Runs one query on a connection of `service`. */
  query<R extends QueryResultRow = QueryResultRow>(service: S, text: string, values?: readonly unknown[]): Promise<QueryResult<R>>;
}
