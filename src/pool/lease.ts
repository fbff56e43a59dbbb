import { LeaseReleasedError } from '../errors';
import type { QueryArrayConfig, QueryArrayResult, QueryConfig, Submittable } from 'pg';
import type { ClientLike, QueryResult, QueryResultRow } from './client';
import { checkQueryArguments, isSubmittable, type PgRow, type QueryTextOrConfig } from './query-args';

export { checkQueryArguments };

/**
 * Runs a query whose arguments the caller has already checked, on a lease it has just acquired: the registry's
 * `query` checks them once, before borrowing, and calls this instead of `lease.query`.
 */
export function queryCheckedOn(lease: Lease, query: QueryTextOrConfig, values: readonly unknown[] | undefined): Promise<unknown> {
  return queryOn(lease.client, query, values);
}

/** Timing, stats and broken-connection marking happen in the pool's instrumented `client.query`. */
function queryOn(client: ClientLike, query: QueryTextOrConfig, values: readonly unknown[] | undefined): Promise<unknown> {
  const c = client as unknown as { query(q: unknown, v?: unknown): unknown };
  try {
    return Promise.resolve(values === undefined ? c.query(query) : c.query(query, values));
  } catch (error) {
    return Promise.reject(error);
  }
}

/** @internal How a lease hands itself back to its pool. */
export interface LeaseOwner {
  readonly name: string;
  returnLease(lease: Lease<ClientLike>, destroy: Error | undefined): void;
}

/**
 * One borrowed connection. Release it exactly once: `release()` returns it to the pool, `release(error)` (or
 * `release(true)`) destroys it instead, as pg-pool does. A second release throws `ERR_DOUBLE_RELEASE`;
 * `lease.query` after release throws `ERR_LEASE_RELEASED`.
 */
export class Lease<C extends ClientLike = ClientLike> {
  /** The service this lease belongs to. */
  readonly service: string;
  /** Id of the underlying connection, stable for its lifetime (also in events). */
  readonly connectionId: number;
  /** Monotonic time (clock.now()) when the lease was handed out. */
  readonly acquiredAt: number;
  /** Stack of the acquire call, captured only when `leakDetectionMs` is set. */
  readonly acquiredStack: string | undefined;
  readonly #client: C;
  readonly #owner: LeaseOwner;
  #released = false;
  /** @internal set once a leak event was emitted, so it is reported once. */
  leakReported = false;
  /**
   * @internal true while `transaction()` runs on this lease, from BEGIN until COMMIT or ROLLBACK: a plain
   * `release()` then is refused, since the connection would go back to the pool inside the open transaction.
   */
  inTransaction = false;

  /** @internal */
  constructor(owner: LeaseOwner, client: C, connectionId: number, acquiredAt: number, acquiredStack: string | undefined) {
    this.#owner = owner;
    this.service = owner.name;
    this.#client = client;
    this.connectionId = connectionId;
    this.acquiredAt = acquiredAt;
    this.acquiredStack = acquiredStack;
  }

  /**
   * The underlying client, for anything `query` does not cover (cursors, COPY, notifications). It is pg's raw
   * client and cannot be guarded: do not keep it past {@link Lease.release}, after which it serves someone else.
   */
  get client(): C {
    return this.#client;
  }

  /** True once released. */
  get released(): boolean {
    return this.#released;
  }

  /**
   * Runs a query on this lease's connection; its duration counts in the service's `queryTime` stats (as every
   * query on the lease's client does). Takes what pg's `client.query` takes: SQL text and values, a query config
   * (`name` for a prepared statement, `rowMode: 'array'`, `types`), or a submittable (pg-cursor, pg-query-stream),
   * which is returned as pg returns it. Rows are typed as pg types them (`any`) unless you name their type.
   * A connection-level failure (backend terminated, socket closed) marks the connection to be destroyed on release.
   * @throws LeaseReleasedError `ERR_LEASE_RELEASED` when called after release.
   * @throws InvalidArgumentError `ERR_INVALID_ARGUMENT` for a config with neither `text` nor `submit`, or values that are not an array.
   */
  query<T extends Submittable>(submittable: T): T;
  query<R extends PgRow[] = PgRow[]>(config: QueryArrayConfig, values?: readonly unknown[]): Promise<QueryArrayResult<R>>;
  query<R extends QueryResultRow = PgRow>(query: string | QueryConfig, values?: readonly unknown[]): Promise<QueryResult<R>>;
  query(query: QueryTextOrConfig | Submittable, values?: readonly unknown[]): unknown {
    try {
      if (this.#released) throw new LeaseReleasedError('ERR_LEASE_RELEASED', this.service, 'query on a lease that was already released');
      checkQueryArguments(this.service, query, values, true);
    } catch (error) {
      if (isSubmittable(query)) throw error;
      return Promise.reject(error);
    }
    if (isSubmittable(query)) return (this.#client as unknown as { query(q: unknown): unknown }).query(query);
    return queryOn(this.#client, query, values);
  }

  /**
   * Gives the connection back. With an error (or `true`), the connection is destroyed instead of reused.
   * A connection whose session is still inside a transaction (pg's transaction status) is closed, never reused.
   * @throws LeaseReleasedError `ERR_DOUBLE_RELEASE` on a second call; `ERR_RELEASE_IN_TRANSACTION` for a plain
   * `release()` inside `transaction()` (return from the callback instead: the transaction releases the lease;
   * `release(error)` is allowed there and closes the connection, which rolls the transaction back).
   */
  release(destroy?: Error | boolean): void {
    if (this.#released) throw new LeaseReleasedError('ERR_DOUBLE_RELEASE', this.service, `lease of connection ${this.connectionId} was already released`);
    if (this.inTransaction && (destroy === undefined || destroy === false)) {
      throw new LeaseReleasedError(
        'ERR_RELEASE_IN_TRANSACTION',
        this.service,
        `release() inside transaction() on connection ${this.connectionId}: the transaction still runs on it; return from the callback (or throw to roll back) and transaction() releases it`,
      );
    }
    this.#released = true;
    const reason = destroy === true ? new Error('released with destroy') : destroy instanceof Error ? destroy : undefined;
    this.#owner.returnLease(this as unknown as Lease<ClientLike>, reason);
  }
}
