/**
 * The registry: one isolated pool per service over a shared budget, and its public API (acquire, query,
 * withClient, transaction, pgPool, stats, resize, checkServer, close). The pieces it wires live beside it:
 * `service-wiring.ts` (building each service's pool), `transaction.ts` (BEGIN … COMMIT), `resize-check.ts`
 * (resize validation), `preemption.ts` (taking idle overflow from other services), `server-access.ts` (clients
 * outside the pools, checkServer), `registry-types.ts`.
 */
import pg from 'pg';
import type { QueryArrayConfig, QueryArrayResult, QueryConfig } from 'pg';
import { Budget } from '../budget/budget';
import { systemClock, type Clock } from '../clock';
import { PgPoolView } from '../compat/pg-pool-view';
import { pgPoolOptions } from '../compat/pool-options';
import { ConfigError, InvalidArgumentError, PoolClosedError, UnknownServiceError } from '../errors';
import { SafeEventEmitter } from '../events/safe-emitter';
import { describe, MAX_TIMER_MS } from '../options/check';
import { checkAcquireOptions, type AcquireOptions } from '../pool/acquire-options';
import { isConnectionError, type ClientConfig, type ClientConstructor, type ClientLike, type QueryResult, type QueryResultRow } from '../pool/client';
import type { ServerCheckReport } from '../pool/events';
import { queryCheckedOn, type Lease } from '../pool/lease';
import { resolveServiceOptions, type ResolvedServiceOptions, type ServiceOptions } from '../pool/options';
import { checkQueryArguments, type PgRow } from '../pool/query-args';
import type { ServicePool } from '../pool/service-pool';
import type { ServiceStats } from '../types';
import type { Pooler, SessionSettings } from '../pool/session-settings';
import { unitRandom } from '../random';
import { Redactor } from '../redact';
import { waitBoundsMs } from '../stats/latency-buckets';
import { instanceTag, sessionName } from './instance-name';
import { checkRegistryOptions, REGISTRY_DEFAULTS, resolveBudget, secretsOf, type RegistryOptions } from './options';
import { Preemption } from './preemption';
import { totalsOf, type CloseOptions, type RegistryCloseReport, type RegistryEvents, type RegistryStats } from './registry-types';
import { checkResizeNow, type ResizeCheck } from './resize-check';
import { ServerAccess } from './server-access';
import { databaseOf, userOf, type CheckServerOptions } from './server-check';
import { runInTransaction } from './transaction';
import { wireService, type SharedWiring } from './service-wiring';

export type { CloseOptions, RegistryCloseReport, RegistryEvents, RegistryStats } from './registry-types';

type SafeEmitter = { emit(event: string, ...args: unknown[]): boolean };

/** Connection ids count per registry: unique across its services, independent of any other registry. */
function nextIdCounter(): () => number {
  let count = 0;
  return () => ++count;
}

/**
 * A set of isolated pools, one per service type, each with its own size, overflow, timeouts and priority.
 * Service names are a literal union: `registry.query('auht', …)` does not compile.
 *
 * Create it with {@link createPoolRegistry}.
 */
export class PoolRegistry<S extends string = string, C extends ClientLike = pg.Client> extends SafeEventEmitter<RegistryEvents<S>> {
  /** The configured service names, in configuration order. */
  readonly services: readonly S[];
  readonly #pools = new Map<string, ServicePool>();
  readonly #clock: Clock;
  readonly #budget: Budget;
  readonly #preemption: Preemption;
  /** Clients outside every pool: openClient, PgBouncer's console, checkServer. */
  readonly #server: ServerAccess<C>;
  /** Sessions connect as `<applicationName>:<service>`; this is the prefix. */
  readonly applicationName: string;
  /**
   * This instance's tag in its session names (`<applicationName>:<service>@<instanceId>`, `instanceId` cut to fit
   * 63 bytes), or undefined without an `instanceId`.
   */
  readonly instanceId: string | undefined;
  /** How per-service settings are applied (the `pooler` option). */
  readonly pooler: Pooler;
  readonly #settings = new Map<string, SessionSettings>();
  /** Each service's connection (its own, or the registry's), for checkServer's view of PgBouncer pools. */
  readonly #connections = new Map<S, RegistryOptions['connection']>();
  readonly #Client: ClientConstructor;
  #closePromise: Promise<RegistryCloseReport> | null = null;
  /** The client config of each service: for {@link PoolRegistry.pgPool}'s `options`. */
  readonly #clientConfigs = new Map<string, ClientConfig>();

  /** @internal use {@link createPoolRegistry} */
  constructor(options: RegistryOptions<S, C>) {
    super();
    checkRegistryOptions(options);
    this.#clock = options.clock ?? systemClock;
    const Client = (options.Client ?? pg.Client) as ClientConstructor;
    const applicationName = options.applicationName ?? REGISTRY_DEFAULTS.applicationName;
    const names = Object.keys(options.services) as S[];
    // Every password, the registry's and each service's own, is kept out of everything the library emits.
    const redactor = new Redactor([...secretsOf(options.connection), ...secretsOf(options.pgbouncerAdmin), ...names.flatMap((service) => secretsOf((options.services[service] as ServiceOptions).connection))]);
    this.applicationName = applicationName;
    this.#Client = Client;
    const connectTimeoutMs = options.connectTimeoutMs ?? REGISTRY_DEFAULTS.connectTimeoutMs;
    const tag = options.instanceId === undefined ? undefined : instanceTag(applicationName, names, options.instanceId);
    this.instanceId = tag;
    this.pooler = options.pooler ?? 'none';
    this.#server = new ServerAccess<C>({ Client, connection: options.connection, applicationName, instanceTag: tag, connectTimeoutMs, clock: this.#clock, redactor, pgbouncerAdmin: options.pgbouncerAdmin });
    this.services = Object.freeze(names);
    const resolvedAll = names.map((service) => resolveServiceOptions(options.services[service] as ServiceOptions));
    const budget = resolveBudget(options.services as Record<string, ServiceOptions>, options.maxConnections, options.reserve);
    this.#budget = new Budget({
      total: budget.maxConnections,
      reserve: budget.reserve,
      agingMs: options.priorityAgingMs ?? REGISTRY_DEFAULTS.priorityAgingMs,
      clock: this.#clock,
      members: names.map((service, i) => ({ service, size: resolvedAll[i]!.size, overflow: resolvedAll[i]!.overflow, priority: resolvedAll[i]!.priority })),
    });
    // Make room for an entitled waiter by closing an idle overflow connection elsewhere (see preemption.ts).
    this.#preemption = new Preemption(this.#clock, this.#budget, () => this.#pools.values(), options.preemptGraceMs);
    this.#budget.setPreemptor((forService) => this.#preemption.preempt(forService, this.#pool(forService as S).options.priority));
    const shared: SharedWiring = {
      Client,
      pooler: this.pooler,
      budget: this.#budget,
      clock: this.#clock,
      events: this as unknown as SharedWiring['events'],
      redactor,
      connectTimeoutMs,
      maintenanceIntervalMs: options.maintenanceIntervalMs ?? REGISTRY_DEFAULTS.maintenanceIntervalMs,
      allowExitOnIdle: options.allowExitOnIdle ?? false,
      windowMs: options.windowMs ?? REGISTRY_DEFAULTS.windowMs,
      breaker: { ...REGISTRY_DEFAULTS.breaker, ...options.breaker },
      random: unitRandom(options.random),
      waitBoundsMs: waitBoundsMs(resolvedAll.map((o) => o.acquireTimeoutMs)),
      nextConnectionId: nextIdCounter(),
    };
    for (const [i, service] of names.entries()) {
      const connection = (options.services[service] as ServiceOptions).connection ?? options.connection;
      const wired = wireService(shared, service, resolvedAll[i]!, connection, sessionName(applicationName, service, tag));
      this.#pools.set(service, wired.pool);
      this.#settings.set(service, wired.settings);
      this.#connections.set(service, connection);
      this.#clientConfigs.set(service, wired.clientConfig);
    }
  }

  #pool(service: S): ServicePool {
    const pool = this.#pools.get(service);
    if (pool === undefined) throw new UnknownServiceError(String(service), this.services);
    return pool;
  }

  /**
   * Borrows a connection of `service`. Release it exactly once with `lease.release()`.
   * Prefer {@link PoolRegistry.withClient}, which cannot forget to. `options.signal` gives up waiting,
   * `options.timeoutMs` waits less than the service's `acquireTimeoutMs`.
   * @throws `ERR_ACQUIRE_TIMEOUT`, `ERR_QUEUE_FULL`, `ERR_POOL_CLOSED`, `ERR_UNKNOWN_SERVICE`, `ERR_ABORTED`,
   * `ERR_INVALID_ARGUMENT` (bad options) (as rejections)
   */
  acquire(service: S, options?: AcquireOptions): Promise<Lease<C>> {
    try {
      if (this.#closePromise !== null) throw new PoolClosedError(String(service));
      const pool = this.#pool(service);
      if (options !== undefined) checkAcquireOptions(String(service), 'acquire', options);
      return pool.acquire(options) as Promise<Lease<C>>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Runs one query on a connection of `service` and releases it. Takes what `pg.Pool#query` takes (apart from a
   * callback or a submittable): SQL text and values, or a query config (`name` for a prepared statement,
   * `rowMode: 'array'`, `types`). Errors from PostgreSQL reach you unchanged, with pg's `code`. Rows are typed as
   * pg types them (`any`), unless you name their type: `query<{ id: number }>(…)`.
   * @throws `ERR_INVALID_ARGUMENT` (a config with neither text nor submit, non-array values, a submittable, bad
   * options) before borrowing anything; the errors of {@link PoolRegistry.acquire}.
   * @example await registry.query('auth', 'select * from users where id = $1', [id])
   * @example await registry.query('auth', { name: 'user-by-id', text: 'select * from users where id = $1', values: [id] })
   */
  query<R extends PgRow[] = PgRow[]>(service: S, config: QueryArrayConfig, values?: readonly unknown[], options?: AcquireOptions): Promise<QueryArrayResult<R>>;
  query<R extends QueryResultRow = PgRow>(service: S, query: string | QueryConfig, values?: readonly unknown[], options?: AcquireOptions): Promise<QueryResult<R>>;
  async query(service: S, query: string | QueryConfig, values?: readonly unknown[], options?: AcquireOptions): Promise<unknown> {
    checkQueryArguments(String(service), query, values);
    if (options !== undefined) checkAcquireOptions(String(service), 'query', options);
    const settings = this.#settings.get(service);
    // Transaction pooling: the settings hold only inside a transaction that sets them (SET LOCAL).
    if (settings?.perTransaction === true) return this.transaction(service, (_client, lease) => lease.query(query, values), options);
    const lease = await this.acquire(service, options);
    try {
      return await queryCheckedOn(lease, query, values); // checked above: not again on the hot path
    } finally {
      lease.release();
    }
  }

  /**
   * Lends a client of `service` to `fn` and always releases it, even when `fn` throws. A connection that
   * failed (backend terminated, socket closed) is destroyed instead of returned. `options` as for
   * {@link PoolRegistry.acquire}. Queries run on the client count in the service's `queryTime` stats.
   */
  async withClient<T>(service: S, fn: (client: C, lease: Lease<C>) => Promise<T> | T, options?: AcquireOptions): Promise<T> {
    checkCallback(String(service), 'withClient', fn);
    if (options !== undefined) checkAcquireOptions(String(service), 'withClient', options);
    const lease = await this.acquire(service, options);
    let failure: Error | undefined;
    try {
      return await fn(lease.client, lease);
    } catch (error) {
      if (isConnectionError(error)) failure = error as Error;
      throw error;
    } finally {
      if (!lease.released) lease.release(failure);
    }
  }

  /**
   * Runs `fn` inside `BEGIN` … `COMMIT` on one connection of `service`; on any error it rolls back and rethrows.
   * If the rollback itself fails, or the error was the connection's (lost, or a query timeout), the connection is
   * destroyed rather than reused in an unknown state. `options` as for {@link PoolRegistry.acquire} (they bound the
   * wait for the connection only).
   */
  transaction<T>(service: S, fn: (client: C, lease: Lease<C>) => Promise<T> | T, options?: AcquireOptions): Promise<T> {
    try {
      checkCallback(String(service), 'transaction', fn);
      if (options !== undefined) checkAcquireOptions(String(service), 'transaction', options);
    } catch (error) {
      return Promise.reject(error);
    }
    // The BEGIN is read once the connection exists: its first connect may have found the settings on the role already.
    return this.withClient(service, (_client, lease) => runInTransaction(lease, this.#settings.get(service)?.begin ?? 'BEGIN', fn), options);
  }

  /**
   * A `pg.Pool`-shaped handle on one service, for code written for `pg.Pool` (Drizzle, Kysely's
   * `PostgresDialect`, connect-pg-simple): every connection it lends comes from `service`'s bulkhead. Each call
   * returns a new handle; its `end()` ends that handle only, never the service's connections (see
   * {@link PgPoolView}). Typed as `pg.Pool`'s surface, so libraries accept it without casts.
   * @throws `ERR_UNKNOWN_SERVICE`, `ERR_POOL_CLOSED` after {@link PoolRegistry.close}.
   * @example
   * const db = drizzle(registry.pgPool('api'));
   * const kysely = new Kysely<DB>({ dialect: new PostgresDialect({ pool: registry.pgPool('api') }) });
   */
  pgPool(service: S): PgPoolView {
    if (this.#closePromise !== null) throw new PoolClosedError(String(service));
    const pool = this.#pool(service);
    return new PgPoolView({
      service: String(service),
      acquire: (options) => pool.acquire(options),
      counts: () => pool.counts(),
      observe: (observer) => pool.observe(observer),
      Client: this.#Client,
      options: pgPoolOptions(this.#clientConfigs.get(service) ?? {}, pool.options),
    });
  }

  /** Snapshot of every service (fresh objects). */
  stats(): RegistryStats<S>;
  /** Snapshot of one service. */
  stats(service: S): ServiceStats;
  stats(service?: S): RegistryStats<S> | ServiceStats {
    if (service !== undefined) return this.#pool(service).stats();
    const services = {} as Record<S, ServiceStats>;
    for (const name of this.services) services[name] = this.#pool(name).stats();
    return { at: this.#clock.wallNow(), services, totals: totalsOf(Object.values<ServiceStats>(services)), budget: this.#budget.stats() };
  }

  /** The options a service runs with, defaults applied. */
  serviceOptions(service: S): ResolvedServiceOptions {
    return this.#pool(service).options;
  }

  /**
   * Whether {@link PoolRegistry.resize} would accept these limits now, and if not why, without changing anything:
   * the same checks (integers, ranges, the budget with its reserve, whether a larger size can be guaranteed now).
   * For advice and dashboards: the interference detector offers only resizes that pass it.
   * @throws `ERR_UNKNOWN_SERVICE`; `ERR_INVALID_ARGUMENT` when `limits` is not an object.
   * @example
   * const verdict = registry.validateResize('auth', { size: 23 });
   * if (!verdict.ok) console.log(verdict.reason, verdict.problems, verdict.requiredMaxConnections);
   */
  validateResize(service: S, limits: { readonly size?: number; readonly overflow?: number }): ResizeCheck {
    const pool = this.#pool(service);
    if (typeof limits !== 'object' || limits === null) throw new InvalidArgumentError(`${String(service)}: resize limits: expected an object like { overflow: 8 }, got ${describe(limits)}`);
    return checkResizeNow(String(service), limits, pool, this.#budget);
  }

  /**
   * Changes a service's `size` and/or `overflow` at run time, without dropping leased connections, and emits
   * `resize`. Shrinking closes surplus connections as they come back; growing admits waiters at once. A larger
   * `size` is made only where it is safe: the budget must be able to guarantee it now, so it is refused while
   * other services borrow the shared slots it would take (retry when they are back).
   * @throws ConfigError `ERR_CONFIG` for invalid limits, a size the budget cannot hold or cannot guarantee now;
   * `ERR_UNKNOWN_SERVICE`; `ERR_POOL_CLOSED` after close.
   */
  resize(service: S, limits: { readonly size?: number; readonly overflow?: number }, reason?: string): void {
    if (this.#closePromise !== null) throw new PoolClosedError(String(service));
    const pool = this.#pool(service);
    if (typeof limits !== 'object' || limits === null) throw new InvalidArgumentError(`${String(service)}: resize limits: expected an object like { overflow: 8 }, got ${describe(limits)}`);
    const verdict = this.validateResize(service, limits);
    if (!verdict.ok) throw new ConfigError(verdict.problems);
    // The budget first, so the pool's slot reconcile below is measured against the new limits; only then may
    // waiters be granted what is free. Granting in between gave away the slots that the connections a smaller
    // size turns into overflow need, and the registry went over maxConnections.
    this.#budget.update(service, { size: limits.size ?? pool.options.size, overflow: limits.overflow ?? pool.options.overflow });
    pool.resize(limits, reason);
    this.#budget.rebalance();
  }

  /**
   * Opens one standalone client outside every service pool and the budget, connected as
   * `<applicationName>:<label>`, with an `'error'` listener attached. For admin work, LISTEN/NOTIFY or
   * diagnostics (the interference detector's server probe uses it). The caller ends it.
   * @throws `ERR_CONNECT_TIMEOUT` or the connection error (password removed).
   */
  openClient(label = 'probe'): Promise<C> {
    if (this.#closePromise !== null) return Promise.reject(new PoolClosedError(undefined));
    return this.#server.openClient(label);
  }

  /**
   * Reads the server's `max_connections`, `superuser_reserved_connections` and current sessions, counts the other
   * live instances of this application (by their `instanceId` in `pg_stat_activity`), and reports whether every
   * instance's budget together (`instances × maxConnections`) fits. With `pgbouncerAdmin`, also whether, in
   * PgBouncer session mode, the guaranteed sizes of every instance fit in the PgBouncer pool of each alias.
   * Emits `server-warning` when something does not fit. Uses short-lived clients outside every pool, so it works
   * even when the pools are saturated.
   * @throws the connection or query error, password removed (pg-mem does not implement these settings).
   */
  async checkServer(options: CheckServerOptions = {}): Promise<ServerCheckReport> {
    if (this.#closePromise !== null) throw new PoolClosedError(undefined);
    const report = await this.#server.checkServer(
      {
        applicationName: this.applicationName,
        instanceTag: this.instanceId,
        budget: this.#budget.total,
        pooler: this.pooler,
        services: this.services.map((service) => {
          const connection = this.#connections.get(service);
          return { service, size: this.#pool(service).options.size, database: databaseOf(connection), user: userOf(connection) };
        }),
      },
      options.pgbouncerAdmin,
    );
    if (!report.fits) (this as unknown as SafeEmitter).emit('server-warning', report);
    return report;
  }

  /**
   * With the `pgbouncerAdmin` option: how to open PgBouncer's admin console, and which services connect through
   * which database alias (its pools). The interference detector's server probe reads `SHOW POOLS` with it.
   * Undefined without the option.
   */
  pgbouncer():
    | {
        /** Opens a client of PgBouncer's admin console; the caller ends it. */
        open(): Promise<C>;
        /** Database alias → the services that connect through it. */
        readonly aliases: ReadonlyMap<string, readonly S[]>;
      }
    | undefined {
    if (!this.#server.hasPgbouncerAdmin) return undefined;
    return {
      open: () => (this.#closePromise !== null ? Promise.reject(new PoolClosedError(undefined)) : this.#server.openAdmin()),
      aliases: this.#server.aliases(this.#connections),
    };
  }

  /** True once {@link PoolRegistry.close} was called. */
  get closed(): boolean {
    return this.#closePromise !== null;
  }

  /**
   * Closes every pool: new acquires reject with `ERR_POOL_CLOSED`, queued ones too; leases out get
   * `timeoutMs` to come back, then every connection is ended. Idempotent: later calls return the same promise.
   * Leaves no timer behind.
   */
  close(options: CloseOptions = {}): Promise<RegistryCloseReport> {
    const timeoutMs = options?.timeoutMs ?? 5_000;
    if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0 || timeoutMs > MAX_TIMER_MS) {
      return Promise.reject(new InvalidArgumentError(`close: timeoutMs: expected a finite number of ms from 0 to ${MAX_TIMER_MS}, got ${describe(timeoutMs)}`));
    }
    if (this.#closePromise === null) this.#preemption.stop();
    this.#closePromise ??= (async () => {
      const reports = await Promise.all([...this.#pools.values()].map((pool) => pool.close(timeoutMs)));
      const report: RegistryCloseReport = { clean: reports.every((r) => r.clean), services: reports };
      (this as unknown as SafeEmitter).emit('close', report);
      return report;
    })();
    return this.#closePromise;
  }
}

function checkCallback(service: string, method: string, fn: unknown): void {
  if (typeof fn !== 'function') throw new InvalidArgumentError(`${service}: ${method}: expected a function (client, lease) => …, got ${describe(fn)}`);
}

/**
 * Creates a {@link PoolRegistry}: one isolated pool per service.
 * @throws ConfigError `ERR_CONFIG`, listing every invalid option with its path.
 * @example
 * const registry = createPoolRegistry({
 *   connection: process.env.DATABASE_URL,
 *   applicationName: 'checkout-api',
 *   services: servicePresets,
 * });
 * await registry.query('auth', 'select 1');
 */
export function createPoolRegistry<const Services extends Record<string, ServiceOptions>, C extends ClientLike = pg.Client>(
  options: Omit<RegistryOptions<Extract<keyof Services, string>, C>, 'services'> & { readonly services: Services },
): PoolRegistry<Extract<keyof Services, string>, C> {
  return new PoolRegistry<Extract<keyof Services, string>, C>(options as RegistryOptions<Extract<keyof Services, string>, C>);
}
