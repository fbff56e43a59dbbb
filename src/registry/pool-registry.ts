import { SafeEventEmitter } from '../events/safe-emitter';
import { unitRandom } from '../random';
import pg from 'pg';
import { systemClock, type Clock, type TimerHandle } from '../clock';
import { ConfigError, ConnectTimeoutError, InvalidArgumentError, PoolClosedError, UnknownServiceError } from '../errors';
import { describe, MAX_TIMER_MS } from '../options/check';
import { checkQueryArguments, type PgRow } from '../pool/query-args';
import { checkAcquireOptions, type AcquireOptions } from '../pool/acquire-options';
import type { QueryArrayConfig, QueryArrayResult, QueryConfig } from 'pg';
import { Redactor } from '../redact';
import { connectWithin, isConnectionError, type ClientConfig, type ClientConstructor, type ClientLike, type QueryResult, type QueryResultRow } from '../pool/client';
import type { PoolEvents, ServerCheckReport } from '../pool/events';
import type { Lease } from '../pool/lease';
import { checkResize, PRIORITIES, resolveServiceOptions, type ResolvedServiceOptions, type ServiceOptions } from '../pool/options';
import { ServicePool, type PoolCloseReport, type ServiceStats } from '../pool/service-pool';
import { Budget, type BudgetStats } from '../budget/budget';
import type { SlotBroker } from '../pool/slots';
import { PgPoolView } from '../compat/pg-pool-view';
import { pgPoolOptions } from '../compat/pool-options';
import { waitBoundsMs } from '../stats/latency-buckets';
import { checkRegistryOptions, REGISTRY_DEFAULTS, resolveBudget, secretsOf, serviceClientConfig, type RegistryOptions } from './options';
import type { ResizeCheck } from './resize-check';
import { SessionSettings, type Pooler } from '../pool/session-settings';
import { instanceTag, sessionName } from './instance-name';
import { checkServerCapacity, databaseOf, type CheckServerOptions } from './server-check';

/** Events of a {@link PoolRegistry}. Every payload is one object carrying `service`. */
export interface RegistryEvents<S extends string = string> extends PoolEvents<S> {
  /** The registry finished closing. */
  close: [RegistryCloseReport];
}

/** Snapshot of the whole registry: one {@link ServiceStats} per service plus totals. */
export interface RegistryStats<S extends string = string> {
  /** Wall-clock time of the snapshot, ms since the epoch. */
  readonly at: number;
  readonly services: { readonly [K in S]: ServiceStats };
  readonly totals: {
    /** Open connections across services. */
    readonly connections: number;
    readonly inUse: number;
    readonly idle: number;
    readonly waiting: number;
    /** Sum of every service's `size + overflow`. */
    readonly max: number;
  };
  /** The shared connection budget. */
  readonly budget: BudgetStats;
}

/** Result of {@link PoolRegistry.close}. */
export interface RegistryCloseReport {
  /** True when every lease came back and every connection closed within the timeout. */
  readonly clean: boolean;
  readonly services: readonly PoolCloseReport[];
}

/** Options of {@link PoolRegistry.close}. */
export interface CloseOptions {
  /** How long to wait for leases to come back before ending their connections anyway, ms. @default 5000 */
  readonly timeoutMs?: number;
}

type SafeEmitter = { emit(event: string, ...args: unknown[]): boolean };

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
  /** Timer of {@link PoolRegistry.#retryPreemptionAt}, and when it fires (monotonic ms). */
  #preemptTimer: TimerHandle | null = null;
  #preemptDue = 0;
  readonly #openClient: (label: string) => Promise<C>;
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
  readonly #connections = new Map<string, RegistryOptions['connection']>();
  readonly #redactor: Redactor;
  readonly #Client: ClientConstructor;
  readonly #connectTimeoutMs: number;
  readonly #pgbouncerAdmin: string | ClientConfig | undefined;
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
    const serviceConnection = (service: S): RegistryOptions['connection'] => (options.services[service] as ServiceOptions).connection ?? options.connection;
    // Every password, the registry's and each service's own, is kept out of everything the library emits.
    const redactor = new Redactor([...secretsOf(options.connection), ...secretsOf(options.pgbouncerAdmin), ...names.flatMap((service) => secretsOf((options.services[service] as ServiceOptions).connection))]);
    this.applicationName = applicationName;
    this.#redactor = redactor;
    this.#Client = Client;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? REGISTRY_DEFAULTS.connectTimeoutMs;
    this.#pgbouncerAdmin = options.pgbouncerAdmin;
    const tag = options.instanceId === undefined ? undefined : instanceTag(applicationName, names, options.instanceId);
    this.instanceId = tag;
    this.pooler = options.pooler ?? 'none';
    const connectTimeoutMs = options.connectTimeoutMs ?? REGISTRY_DEFAULTS.connectTimeoutMs;
    this.#openClient = async (label) => {
      const client = new Client(serviceClientConfig(options.connection, sessionName(applicationName, label, tag), 0, 0)) as unknown as C;
      client.on('error', () => {}); // a dedicated client must never crash the host either
      try {
        // keepAlive: somebody awaits this connect
        await connectWithin(client, connectTimeoutMs, (cb, ms) => this.#clock.setTimeout(cb, ms, true), (h) => this.#clock.clearTimeout(h), () => new ConnectTimeoutError(label, connectTimeoutMs));
      } catch (error) {
        throw redactor.error(error);
      }
      return client;
    };
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
    // Make room for an entitled waiter by closing an idle overflow connection elsewhere, lowest priority first;
    // a higher-priority service's only after preemptGraceMs idle, by default not before its own idleTimeoutMs:
    // a flood of lower-priority work would otherwise take the critical service's spares at the very moment the
    // flood slows it down and it needs them, and pay a close and a backend fork for each on a server at its busiest.
    const preemptGraceMs = options.preemptGraceMs;
    this.#budget.setPreemptor((forService) => {
      const waiterRank = PRIORITIES.indexOf(this.#pool(forService as S).options.priority);
      const candidates = [...this.#pools.values()].filter((p) => p.name !== forService).sort((a, b) => PRIORITIES.indexOf(b.options.priority) - PRIORITIES.indexOf(a.options.priority));
      let due = Number.POSITIVE_INFINITY;
      for (const pool of candidates) {
        const grace = PRIORITIES.indexOf(pool.options.priority) < waiterRank ? (preemptGraceMs ?? pool.options.idleTimeoutMs) : 0;
        if (pool.preemptIdle(grace)) return true;
        const since = pool.preemptibleIdleSince();
        if (since !== null) due = Math.min(due, since + grace);
      }
      // Only the grace stood in the way: ask again the moment it is over, not at some pool's next maintenance.
      if (due !== Number.POSITIVE_INFINITY) this.#retryPreemptionAt(due);
      return false;
    });
    const breaker = { ...REGISTRY_DEFAULTS.breaker, ...options.breaker };
    const random = unitRandom(options.random);
    // One bucket set for every service, covering every acquire timeout, so their wait histograms add up.
    const waitBounds = waitBoundsMs(resolvedAll.map((o) => o.acquireTimeoutMs));
    // Connection ids count per registry: unique across its services, independent of any other registry.
    let connectionCount = 0;
    const nextConnectionId = (): number => ++connectionCount;
    for (const [i, service] of names.entries()) {
      const resolved = resolvedAll[i]!;
      const settings = new SessionSettings(service, this.pooler, resolved, this as unknown as ConstructorParameters<typeof ServicePool>[0]['events']);
      this.#settings.set(service, settings);
      this.#connections.set(service, serviceConnection(service));
      const startup = settings.startupParameters();
      const clientConfig = serviceClientConfig(serviceConnection(service), sessionName(applicationName, service, tag), startup.statement_timeout ?? 0, startup.idle_in_transaction_session_timeout ?? 0, resolved.queryTimeoutMs);
      this.#clientConfigs.set(service, clientConfig);
      this.#pools.set(
        service,
        new ServicePool({
          service,
          options: resolved,
          clientConfig,
          afterConnect: settings.needsSetup ? (client) => settings.afterConnect(client) : undefined,
          Client,
          connectTimeoutMs: options.connectTimeoutMs ?? REGISTRY_DEFAULTS.connectTimeoutMs,
          maintenanceIntervalMs: options.maintenanceIntervalMs ?? REGISTRY_DEFAULTS.maintenanceIntervalMs,
          allowExitOnIdle: options.allowExitOnIdle ?? false,
          windowMs: options.windowMs ?? REGISTRY_DEFAULTS.windowMs,
          clock: this.#clock,
          events: this as unknown as ConstructorParameters<typeof ServicePool>[0]['events'],
          redactor,
          slots: this.#slotsFor(service),
          breaker,
          random,
          waitBoundsMs: waitBounds,
          nextConnectionId,
        }),
      );
    }
  }

  #slotsFor(service: string): SlotBroker {
    const budget = this.#budget;
    return {
      tryTake: () => budget.tryTake(service),
      request: (grant) => budget.request(service, grant),
      release: (count) => budget.release(service, count),
      forceTake: (count) => budget.forceTake(service, count),
      poke: () => budget.poke(),
      waiting: () => budget.waitingFor(service),
      holders: () => {
        const stats = budget.stats();
        return { shared: stats.shared, byService: Object.fromEntries(Object.entries(stats.sharedInUseByService).filter(([, n]) => n > 0)) };
      },
    };
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
      return await lease.query(query, values);
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
    return this.withClient(service, async (client, lease) => {
      // Read once the connection exists: its first connect may have found the settings on the role already.
      await lease.query(this.#settings.get(service)?.begin ?? 'BEGIN');
      lease.inTransaction = true;
      try {
        const result = await fn(client, lease);
        await lease.query('COMMIT');
        lease.inTransaction = false;
        return result;
      } catch (error) {
        lease.inTransaction = false;
        // The connection is gone or its reply stalled (query timeout): a ROLLBACK could only wait behind the stuck
        // query. Destroying the connection ends the transaction on the server (it rolls back when the session ends).
        if (isConnectionError(error)) {
          if (!lease.released) lease.release(error as Error);
          throw error;
        }
        try {
          await lease.query('ROLLBACK');
        } catch (rollbackError) {
          if (!lease.released) lease.release(rollbackError instanceof Error ? rollbackError : new Error('ROLLBACK failed'));
        }
        throw error;
      }
    }, options);
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
    let connections = 0;
    let inUse = 0;
    let idle = 0;
    let waiting = 0;
    let max = 0;
    for (const name of this.services) {
      const s = this.#pool(name).stats();
      services[name] = s;
      connections += s.total;
      inUse += s.inUse;
      idle += s.idle;
      waiting += s.waiting;
      max += s.max;
    }
    return { at: this.#clock.wallNow(), services, totals: { connections, inUse, idle, waiting, max }, budget: this.#budget.stats() };
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
    try {
      checkResize(String(service), limits, pool.options);
    } catch (error) {
      if (error instanceof ConfigError) return { ok: false, reason: 'invalid', problems: error.problems };
      throw error;
    }
    if (limits.size === undefined) return { ok: true };
    const guaranteed = this.#budget.guaranteedWith(service, limits.size);
    const budget = this.#budget.stats();
    const reserve = budget.reserve;
    if (guaranteed + reserve > this.#budget.total) {
      const why = guaranteed > this.#budget.total ? `more than maxConnections ${this.#budget.total}` : `leaving fewer shared slots than the reserve of ${reserve} (maxConnections ${this.#budget.total})`;
      return {
        ok: false,
        reason: 'budget',
        problems: [{ path: `${service}.size`, message: `${limits.size} would reserve ${guaranteed} connections, ${why}` }],
        requiredMaxConnections: guaranteed + reserve,
      };
    }
    if (limits.size > pool.options.size) {
      // Safe only if the budget can guarantee the new size now: the shared slots other services are borrowing
      // must fit in what is left. Otherwise the new guaranteed connections would open on top of them, above
      // maxConnections.
      const sharedAfter = this.#budget.total - guaranteed;
      const borrowedByOthers = budget.sharedInUse - (budget.sharedInUseByService[service] ?? 0);
      const neededAfter = borrowedByOthers + pool.slotsNeededWithSize(limits.size);
      if (neededAfter > sharedAfter) {
        const borrowedBy = Object.fromEntries(Object.entries(budget.sharedInUseByService).filter(([name, n]) => name !== service && n > 0));
        const borrowers = Object.entries(borrowedBy)
          .map(([name, n]) => `${name} ${n}`)
          .join(', ');
        return {
          ok: false,
          reason: 'busy',
          borrowedBy,
          problems: [
            {
              path: `${service}.size`,
              message: `${limits.size} cannot be guaranteed now: other services are borrowing ${borrowedByOthers} shared slots (${borrowers}) and only ${Math.max(0, sharedAfter - pool.slotsNeededWithSize(limits.size))} would be left for them; retry when their bursts end, or lower their overflow first`,
            },
          ],
        };
      }
    }
    return { ok: true };
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
    return this.#openClient(label);
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
    let client: C | null = null;
    let admin: C | null = null;
    try {
      client = await this.openClient('check');
      const pgbouncerAdmin = options.pgbouncerAdmin ?? this.#pgbouncerAdmin;
      if (pgbouncerAdmin !== undefined) admin = await this.#openAdmin(pgbouncerAdmin);
      const report = await checkServerCapacity(
        client,
        {
          applicationName: this.applicationName,
          instanceTag: this.instanceId,
          budget: this.#budget.total,
          services: this.services.map((service) => ({ service, size: this.#pool(service).options.size, database: databaseOf(this.#connections.get(service)) })),
        },
        admin,
      );
      if (!report.fits) (this as unknown as SafeEmitter).emit('server-warning', report);
      return report;
    } catch (error) {
      throw new Redactor([...secretsOf(options.pgbouncerAdmin)]).error(this.#redactor.error(error));
    } finally {
      if (client !== null) await Promise.resolve(client.end()).catch(() => {});
      if (admin !== null) await Promise.resolve(admin.end()).catch(() => {});
    }
  }

  /** A client of PgBouncer's admin console (simple queries only, which pg uses for statements without values). */
  async #openAdmin(connection: string | ClientConfig): Promise<C> {
    const config: ClientConfig = typeof connection === 'string' ? { connectionString: connection } : { ...connection };
    const client = new this.#Client(config) as unknown as C;
    client.on('error', () => {});
    try {
      await connectWithin(client, this.#connectTimeoutMs, (cb, ms) => this.#clock.setTimeout(cb, ms, true), (h) => this.#clock.clearTimeout(h), () => new ConnectTimeoutError('pgbouncer-admin', this.#connectTimeoutMs));
    } catch (error) {
      throw new Redactor(secretsOf(connection)).error(this.#redactor.error(error));
    }
    return client;
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
    const admin = this.#pgbouncerAdmin;
    if (admin === undefined) return undefined;
    const aliases = new Map<string, S[]>();
    for (const service of this.services) {
      const database = databaseOf(this.#connections.get(service));
      if (database !== undefined) aliases.set(database, [...(aliases.get(database) ?? []), service]);
    }
    return {
      open: () => (this.#closePromise !== null ? Promise.reject(new PoolClosedError(undefined)) : this.#openAdmin(admin)),
      aliases,
    };
  }

  /** True once {@link PoolRegistry.close} was called. */
  get closed(): boolean {
    return this.#closePromise !== null;
  }

  /** Arms (or brings forward) the one timer that asks the budget to preempt again once a grace is over. */
  #retryPreemptionAt(due: number): void {
    if (this.#closePromise !== null) return;
    if (this.#preemptTimer !== null) {
      if (this.#preemptDue <= due) return;
      this.#clock.clearTimeout(this.#preemptTimer);
    }
    this.#preemptDue = due;
    this.#preemptTimer = this.#clock.setTimeout(() => {
      this.#preemptTimer = null;
      if (this.#closePromise === null) this.#budget.poke();
    }, Math.max(0, due - this.#clock.now()));
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
    if (this.#closePromise === null && this.#preemptTimer !== null) {
      this.#clock.clearTimeout(this.#preemptTimer);
      this.#preemptTimer = null;
    }
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
