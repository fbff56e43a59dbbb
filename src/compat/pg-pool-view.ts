import { EventEmitter } from 'node:events';
import type pg from 'pg';
import type { PoolClient, PoolOptions, QueryArrayConfig, QueryArrayResult, QueryConfig, QueryConfigValues, QueryResult, QueryResultRow, Submittable } from 'pg';
import { InvalidArgumentError } from '../errors';
import type { AcquireOptions } from '../pool/acquire-options';
import { isConnectionError, type ClientConstructor, type ClientLike } from '../pool/client';
import type { Lease } from '../pool/lease';
import { checkCallbackArgument, checkQueryArguments, isSubmittable, type PgRow } from '../pool/query-args';
import type { ConnectionObserver, ServiceCounts } from '../pool/service-pool';

/** @internal What a view needs from the registry: one service's connections. Compat never imports the registry. */
export interface PgPoolSource {
  readonly service: string;
  acquire(options?: AcquireOptions): Promise<Lease<ClientLike>>;
  counts(): ServiceCounts;
  observe(observer: ConnectionObserver): () => void;
  readonly Client: ClientConstructor;
  readonly options: PoolOptions;
}

type Callback<T> = (error: Error | undefined, value?: T) => void;

/** pg-pool's own messages, so code matching them keeps working. */
const ENDED_MESSAGE = 'Cannot use a pool after calling end on the pool';
const RELEASED_TWICE = 'Release called on client which has already been released to the pool.';

/**
 * A `pg.Pool`-shaped handle on one service of a registry: hand it to code written for `pg.Pool` (Drizzle,
 * Kysely's `PostgresDialect`, connect-pg-simple, your own) and every connection still comes from that service's
 * bulkhead, with its limits, budget share, priority, timeouts, stats, events and detector. Get one with
 * `registry.pgPool(service)`.
 *
 * What it does, as pg-pool 8 documents it:
 * - `query(text, values?, callback?)`, `query(config)` (`name`, `rowMode: 'array'`, `types`), and
 *   `query(submittable)` (pg-cursor, pg-query-stream: the connection is held until it is done or closed).
 * - `connect()` and `connect(callback)` give a client (pg's own) with `release()`; `release(err)` or
 *   `release(true)` (any truthy value) destroys the connection instead of returning it; a second release throws.
 * - `totalCount`, `idleCount`, `waitingCount`, `expiredCount` are the service's (the connections are shared).
 * - Events, with pg-pool's arguments: `connect` (client) for each new connection of the service, `acquire`
 *   (client) and `release` (err, client) for clients taken through this handle, `remove` (client) for each
 *   connection of the service closed, `error` (err, client) when an idle connection fails. Unlike pg-pool,
 *   `error` with no listener never throws: the registry already handles the failure.
 * - `options`, pg-like (the client config and pool settings, password not enumerable), and `Client`.
 *
 * Where it differs on purpose:
 * - `end()` ends this handle only: it stops taking queries (they reject with pg-pool's "Cannot use a pool after
 *   calling end on the pool"), waits until every client it lent is released, and resolves. It never closes the
 *   service's connections, which other code may be using; `registry.close()` does. A library that calls
 *   `pool.end()` on shutdown (Kysely's `destroy()`) therefore cannot cut off anyone else.
 * - A failed SQL statement in `pool.query` does not destroy its connection (pg-pool destroys on any error); a
 *   connection-level failure (backend terminated, socket closed, query timeout) does.
 * - `query` and `connect` waits are bounded by the service's `acquireTimeoutMs` (`ERR_ACQUIRE_TIMEOUT`),
 *   `ERR_QUEUE_FULL` and `ERR_POOL_CLOSED` as any acquire.
 *
 * The class name contains "Pool", which is how Drizzle recognizes a pool (and then runs each transaction on one
 * client from `connect()`).
 */
export class PgPoolView extends EventEmitter implements pg.Pool {
  /** The service whose connections this handle lends. */
  readonly service: string;
  /** pg-like options: the service's client config and pool settings, what a side client needs to reach the same server (password not enumerable). */
  options: PoolOptions;
  /** The client constructor of the registry (pg.Client by default), as `pg.Pool#Client`. */
  readonly Client: new (config?: pg.ClientConfig) => pg.Client;
  readonly #source: PgPoolSource;
  #ending = false;
  #ended = false;
  /** Clients lent by `connect()`, and `query()` calls in flight. */
  #outstanding = 0;
  #endWaiters: (() => void)[] = [];
  /** Ends the subscription to the service's connection events; null while nobody listens for them. */
  #unobserve: (() => void) | null = null;

  /** @internal use `registry.pgPool(service)` */
  constructor(source: PgPoolSource) {
    super();
    this.service = source.service;
    this.#source = source;
    this.options = source.options;
    this.Client = source.Client as unknown as new (config?: pg.ClientConfig) => pg.Client;
    // The service's connection events reach this handle only while someone listens for them: a handle nobody
    // listens to (Drizzle's, Kysely's) holds no subscription, so handles made and dropped without end() leak nothing.
    this.#installHooks();
  }

  readonly #onNewListener = (event: string | symbol): void => {
    if (POOL_EVENTS.has(event) && this.#unobserve === null && !this.#ending) this.#subscribe();
  };

  readonly #onRemoveListener = (event: string | symbol): void => {
    if (POOL_EVENTS.has(event)) this.#unsubscribeIfUnheard();
  };

  #installHooks(): void {
    if (!this.listeners('newListener').includes(this.#onNewListener)) super.on('newListener', this.#onNewListener);
    if (!this.listeners('removeListener').includes(this.#onRemoveListener)) super.on('removeListener', this.#onRemoveListener);
  }

  #unsubscribeIfUnheard(): void {
    if (this.#unobserve !== null && ![...POOL_EVENTS].some((e) => this.listenerCount(e) > 0)) this.#unsubscribe();
  }

  /** As EventEmitter's; the handle's own bookkeeping of who listens survives it. */
  override removeAllListeners(event?: string | symbol): this {
    // Without an argument, not with `undefined`: EventEmitter tells the two apart by arguments.length.
    if (event === undefined) super.removeAllListeners();
    else super.removeAllListeners(event);
    this.#installHooks();
    this.#unsubscribeIfUnheard();
    return this;
  }

  #subscribe(): void {
    this.#unobserve = this.#source.observe({
      connected: (client) => {
        if (this.listenerCount('connect') > 0) this.emit('connect', client);
      },
      removed: (client) => {
        if (this.listenerCount('remove') > 0) this.emit('remove', client);
      },
      idleError: (error, client) => {
        if (this.listenerCount('error') > 0) this.emit('error', error, client);
      },
    });
  }

  #unsubscribe(): void {
    this.#unobserve?.();
    this.#unobserve = null;
  }

  /**
   * Runs each listener in its own try/catch, as the registry's emitter does: a throwing listener never breaks a
   * checkout (a client lent while `connect()` rejected would be lost) nor the listeners after it; what it threw
   * becomes a `PgBulkheadListenerWarning` process warning. `'error'` with no listener is not thrown either.
   */
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    const listeners = this.rawListeners(event) as ((...a: unknown[]) => unknown)[];
    if (listeners.length === 0) return false;
    for (const listener of listeners) {
      try {
        listener.apply(this, args);
      } catch (error) {
        process.emitWarning(`pg-bulkhead: a listener of '${String(event)}' threw: ${error instanceof Error ? error.message : String(error)}`, 'PgBulkheadListenerWarning');
      }
    }
    return true;
  }

  /** Open connections of the service, including ones being opened. */
  get totalCount(): number {
    return this.#source.counts().total;
  }

  /** Idle connections of the service. */
  get idleCount(): number {
    return this.#source.counts().idle;
  }

  /** Callers waiting for a connection of the service (through any API). */
  get waitingCount(): number {
    return this.#source.counts().waiting;
  }

  /** Leased connections of the service past their lifetime or `maxUses`, closed when they come back. */
  get expiredCount(): number {
    return this.#source.counts().expired;
  }

  /** True once `end()` was called on this handle. */
  get ending(): boolean {
    return this.#ending;
  }

  /** True once `end()` has finished: every client lent by this handle came back. */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Borrows a client of the service until `client.release()`. With a callback, pg-pool's `(err, client, done)`
   * form (`done` is `release`).
   */
  connect(): Promise<PoolClient>;
  connect(callback: (err: Error | undefined, client: PoolClient | undefined, done: (release?: Error | boolean) => void) => void): void;
  connect(callback?: (err: Error | undefined, client: PoolClient | undefined, done: (release?: Error | boolean) => void) => void): Promise<PoolClient> | void {
    checkCallbackArgument(this.service, 'connect', callback);
    const promise = this.#connect();
    if (callback === undefined) return promise;
    promise.then(
      (client) => callback(undefined, client, client.release.bind(client)),
      (error: Error) => callback(error, undefined, noop),
    );
  }

  async #connect(): Promise<PoolClient> {
    if (this.#ending) throw new Error(ENDED_MESSAGE);
    this.#outstanding++;
    let lease: Lease<ClientLike>;
    try {
      lease = await this.#source.acquire();
    } catch (error) {
      this.#settled();
      throw error;
    }
    const client = lease.client as unknown as PoolClient;
    let released = false;
    // pg-pool sets `release` on the client for each checkout; an old client's stale release throws here.
    client.release = (err?: Error | boolean): void => {
      if (released) throw new Error(RELEASED_TWICE);
      released = true;
      const destroy = err instanceof Error ? err : err ? true : undefined;
      lease.release(destroy);
      if (this.listenerCount('release') > 0) this.emit('release', err, client);
      this.#settled();
    };
    if (this.listenerCount('acquire') > 0) this.emit('acquire', client);
    return client;
  }

  #settled(): void {
    this.#outstanding--;
    if (this.#ending && this.#outstanding === 0) this.#finishEnd();
  }

  /**
   * Runs one query on a connection of the service, as `pg.Pool#query`: promise or callback form, SQL text with
   * values, a query config, or a submittable (returned at once; its connection is held until it ends).
   * @throws InvalidArgumentError `ERR_INVALID_ARGUMENT` (synchronously) for a callback that is not a function;
   * a config with neither `text` nor `submit`, or non-array values, reject (or call back) with it.
   */
  query<T extends Submittable>(queryStream: T): T;
  query<R extends PgRow[] = PgRow[], I = PgRow[]>(queryConfig: QueryArrayConfig<I>, values?: QueryConfigValues<I>): Promise<QueryArrayResult<R>>;
  query<R extends QueryResultRow = PgRow, I = PgRow[]>(queryConfig: QueryConfig<I>): Promise<QueryResult<R>>;
  query<R extends QueryResultRow = PgRow, I = PgRow[]>(queryTextOrConfig: string | QueryConfig<I>, values?: QueryConfigValues<I>): Promise<QueryResult<R>>;
  query<R extends PgRow[] = PgRow[], I = PgRow[]>(queryConfig: QueryArrayConfig<I>, callback: (err: Error, result: QueryArrayResult<R>) => void): void;
  query<R extends QueryResultRow = PgRow, I = PgRow[]>(queryTextOrConfig: string | QueryConfig<I>, callback: (err: Error, result: QueryResult<R>) => void): void;
  query<R extends QueryResultRow = PgRow, I = PgRow[]>(queryText: string, values: QueryConfigValues<I>, callback: (err: Error, result: QueryResult<R>) => void): void;
  query(query: unknown, values?: unknown, callback?: unknown): unknown {
    if (typeof query === 'function') {
      throw new InvalidArgumentError(`${this.service}: query: expected SQL text, a query config or a submittable, got a function (pass the callback last)`);
    }
    if (typeof values === 'function') {
      if (callback !== undefined) checkCallbackArgument(this.service, 'query', callback);
      callback = values;
      values = undefined;
    }
    checkCallbackArgument(this.service, 'query', callback);
    if (isSubmittable(query)) return this.#submit(query);
    const promise = this.#query(query, values);
    if (callback === undefined) return promise;
    const done = callback as Callback<QueryResult>;
    promise.then(
      (result) => done(undefined, result),
      (error: Error) => done(error),
    );
    return undefined;
  }

  async #query(query: unknown, values: unknown): Promise<QueryResult> {
    checkQueryArguments(this.service, query, values);
    if (this.#ending) throw new Error(ENDED_MESSAGE);
    this.#outstanding++;
    try {
      const lease = await this.#source.acquire();
      const client = lease.client;
      if (this.listenerCount('acquire') > 0) this.emit('acquire', client);
      let failure: unknown;
      try {
        // Checked above; the client's query is timed by the pool (no second check through lease.query).
        const run = client.query as (this: ClientLike, q: unknown, v?: unknown) => Promise<QueryResult>;
        return await (values === undefined ? run.call(client, query) : run.call(client, query, values));
      } catch (error) {
        failure = error;
        throw error;
      } finally {
        // Only a connection-level failure destroys the connection; an SQL error leaves it usable.
        lease.release(isConnectionError(failure) ? (failure as Error) : undefined);
        if (this.listenerCount('release') > 0) this.emit('release', failure as Error | undefined, client);
      }
    } finally {
      this.#settled();
    }
  }

  /** A cursor or stream: returned at once, submitted when a connection is free, the connection held until it is done. */
  #submit<T extends Submittable>(submittable: T): T {
    if (this.#ending) {
      failSubmittable(submittable, new Error(ENDED_MESSAGE));
      return submittable;
    }
    this.#outstanding++;
    this.#source.acquire().then(
      (lease) => {
        const client = lease.client as unknown as EventEmitter & { query(s: Submittable): unknown };
        if (this.listenerCount('acquire') > 0) this.emit('acquire', client);
        let finished = false;
        const finish = (error?: Error): void => {
          if (finished) return;
          finished = true;
          client.removeListener('drain', onDrain);
          client.removeListener('error', onError);
          client.removeListener('end', onEnd);
          lease.release(error);
          if (this.listenerCount('release') > 0) this.emit('release', error, client);
          this.#settled();
        };
        // pg emits 'drain' once its query queue is empty and the server is ready again: the cursor completed,
        // was closed, or failed. A lost connection ends it and is destroyed.
        const onDrain = (): void => finish();
        const onError = (error: Error): void => finish(error);
        const onEnd = (): void => finish(new Error('Connection ended'));
        client.on('drain', onDrain);
        client.on('error', onError);
        client.on('end', onEnd);
        try {
          client.query(submittable);
        } catch (error) {
          finish(error instanceof Error ? error : new Error(String(error)));
          failSubmittable(submittable, error instanceof Error ? error : new Error(String(error)));
        }
      },
      (error: Error) => {
        this.#settled();
        failSubmittable(submittable, error);
      },
    );
    return submittable;
  }

  /**
   * Ends this handle (not the service's connections, see the class notes): new queries and connects reject,
   * and it resolves once every client it lent has been released. A second call rejects, as pg-pool's does.
   */
  end(): Promise<void>;
  end(callback: () => void): void;
  end(callback?: (error?: Error) => void): Promise<void> | void {
    checkCallbackArgument(this.service, 'end', callback);
    let promise: Promise<void>;
    if (this.#ending) {
      promise = Promise.reject(new Error('Called end on pool more than once'));
    } else {
      this.#ending = true;
      this.#unsubscribe();
      promise = new Promise<void>((resolve) => {
        this.#endWaiters.push(resolve);
        if (this.#outstanding === 0) this.#finishEnd();
      });
    }
    if (callback === undefined) return promise;
    promise.then(
      () => callback(),
      (error: Error) => callback(error),
    );
  }

  #finishEnd(): void {
    this.#ended = true;
    const waiters = this.#endWaiters;
    this.#endWaiters = [];
    if (this.listenerCount('end') > 0) this.emit('end');
    for (const resolve of waiters) resolve();
  }
}

function noop(): void {}

/** The handle's events that come from the service's connections (`acquire` and `release` are the handle's own). */
const POOL_EVENTS: ReadonlySet<string | symbol> = new Set(['connect', 'remove', 'error']);

/** Delivers an error to a submittable that could not run, the way pg does for one that fails. */
function failSubmittable(submittable: Submittable, error: Error): void {
  const target = submittable as Submittable & { handleError?: (error: Error) => void; emit?: (event: string, error: Error) => boolean; listenerCount?: (event: string) => number };
  queueMicrotask(() => {
    if (typeof target.handleError === 'function') target.handleError(error);
    else if (typeof target.emit === 'function' && (target.listenerCount?.('error') ?? 0) > 0) target.emit('error', error);
  });
}
