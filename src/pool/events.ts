/** Why a connection was closed. */
export type RemoveReason =
  /** It reached its maximum lifetime (`recycleMs`). */
  | 'recycled'
  /** It was idle and closed to make room for another service (shared budget). */
  | 'idle'
  /** An overflow connection sat idle for `idleTimeoutMs`; the pool shrinks back toward `size`. */
  | 'overflow'
  /** It failed (killed by the server, network error, failed validation, or released with an error). */
  | 'broken'
  /** The registry was closed. */
  | 'closed'
  /**
   * It came back inside an open or failed transaction (the server's transaction status was not idle): closing it
   * makes the server roll that transaction back, so no later caller runs in it.
   */
  | 'in-transaction';

/** A new connection was opened. */
export interface ConnectEvent<S extends string = string> {
  readonly service: S;
  readonly connectionId: number;
  /** Time to open the connection, ms. */
  readonly durationMs: number;
}
/** Opening a connection failed. */
export interface ConnectErrorEvent<S extends string = string> {
  readonly service: S;
  readonly error: Error;
  /** Consecutive failures so far, this one included. */
  readonly consecutiveFailures: number;
}
/** A lease was handed out. */
export interface AcquireEvent<S extends string = string> {
  readonly service: S;
  readonly connectionId: number;
  /** Time the caller waited, ms. */
  readonly waitMs: number;
}
/** A lease was given back. */
export interface ReleaseEvent<S extends string = string> {
  readonly service: S;
  readonly connectionId: number;
  /** How long the lease was held, ms. */
  readonly heldMs: number;
  /** True when the connection was destroyed instead of returned (released with an error, broken, expired). */
  readonly destroyed: boolean;
}
/** An acquire gave up after `acquireTimeoutMs`. */
export interface AcquireTimeoutEvent<S extends string = string> {
  readonly service: S;
  readonly waitedMs: number;
  readonly inUse: number;
  readonly max: number;
  readonly waiting: number;
  /** The last connection error, when connecting was what failed. */
  readonly lastError: Error | undefined;
  /** Who held the shared budget slots, per service, when the caller was waiting for one; otherwise undefined. */
  readonly sharedSlotHolders?: Readonly<Record<string, number>>;
}
/** An acquire was rejected because `maxWaiting` were already waiting. */
export interface QueueFullEvent<S extends string = string> {
  readonly service: S;
  readonly waiting: number;
  readonly maxWaiting: number;
}
/** A connection was closed. */
export interface RemoveEvent<S extends string = string> {
  readonly service: S;
  readonly connectionId: number;
  readonly reason: RemoveReason;
  /** How long the connection lived, ms. */
  readonly ageMs: number;
}
/** A lease has been held longer than `leakDetectionMs`. Emitted once per lease. */
export interface LeakEvent<S extends string = string> {
  readonly service: S;
  readonly connectionId: number;
  readonly heldMs: number;
  /** Stack trace of the `acquire` call (leading frames inside pg-bulkhead removed). */
  readonly acquiredAt: string;
}
/** A connection failed while idle in the pool (for example its backend was terminated). It is removed; nothing throws. */
export interface ConnectionErrorEvent<S extends string = string> {
  readonly service: S;
  readonly connectionId: number;
  readonly error: Error;
}

/** A service's limits changed at run time ({@link PoolRegistry.resize}). */
export interface ResizeEvent<S extends string = string> {
  readonly service: S;
  readonly previous: { readonly size: number; readonly overflow: number };
  readonly current: { readonly size: number; readonly overflow: number };
  /** Free text from the caller, e.g. `'interference mitigation'`. */
  readonly reason: string | undefined;
}

/** A service's connection circuit changed state. */
export interface CircuitEvent<S extends string = string> {
  readonly service: S;
  readonly from: 'closed' | 'open' | 'half-open';
  readonly to: 'closed' | 'open' | 'half-open';
  /** When opening: time until the next connection attempt, ms. */
  readonly retryInMs: number | undefined;
  /** The connection error that opened it (password removed). */
  readonly lastError: Error | undefined;
}

/**
 * The server refused a service a new connection for lack of room (SQLSTATE 53300, "sorry, too many clients
 * already", or the slots reserved for superusers) while the service still had working connections. Its circuit
 * stays closed (the database is up): waiters wait for a connection to come back, or time out as usual, and new
 * connects are retried with a growing pause. Emitted once per streak of refusals.
 */
export interface ServerCapacityWarning<S extends string = string> {
  readonly kind: 'capacity';
  readonly service: S;
  /** The server's SQLSTATE, `'53300'`. */
  readonly code: string;
  /** The server's refusal (secrets removed). */
  readonly error: Error;
  /** Connections the service has open now, all of them working. */
  readonly open: number;
  /** The service's `size + overflow`: it wanted to grow toward this. */
  readonly max: number;
  /** Connections the service may still open but the server has no room for: `max - open`. */
  readonly headroomShortfall: number;
  /** A sentence for a person. */
  readonly warning: string;
}

/** What `server-warning` reports: a failed {@link ServerCheckReport} (`kind: 'check'`) or a {@link ServerCapacityWarning}. */
export type ServerWarning<S extends string = string> = ServerCheckReport | ServerCapacityWarning<S>;

/**
 * A per-service setting holds only on some paths, or could not be read back (see the registry's `pooler`).
 * A setting the session should have and does not is not a warning but a connect failure (`ERR_SETTING_NOT_APPLIED`).
 */
export interface SettingWarningEvent<S extends string = string> {
  readonly service: S;
  /** The PostgreSQL setting, e.g. `statement_timeout`. */
  readonly setting: string;
  /** The service option behind it, e.g. `statementTimeoutMs`. */
  readonly option: string;
  /** The value the options ask for, ms. */
  readonly expectedMs: number;
  /** The session's value when it was read, ms; null when it could not be read. */
  readonly actualMs: number | null;
  /** A sentence for a person: what holds, what does not, what to do. */
  readonly message: string;
}

/** What {@link PoolRegistry.checkServer} found. */
export interface ServerCheckReport {
  /** Tells it apart from a {@link ServerCapacityWarning} in `server-warning`. */
  readonly kind: 'check';
  /** The server's `max_connections`. */
  readonly maxConnections: number;
  /** The server's `superuser_reserved_connections` (not usable by ordinary roles). */
  readonly superuserReservedConnections: number;
  /** Sessions on the server now (every application, ours included). */
  readonly currentConnections: number;
  /** Of those, the ones this registry (this instance) opened. */
  readonly ownConnections: number;
  /** Connections this registry may open (`maxConnections` of the registry). */
  readonly budget: number;
  /** Room for this application (every instance): max - reserved - sessions of other applications. */
  readonly available: number;
  /** True when every instance's budget together fits in what is available (and in the PgBouncer pools, when checked). */
  readonly fits: boolean;
  /** A sentence for a person, when it does not fit. */
  readonly warning: string | undefined;
  /**
   * Live instances of this application on the server: this one plus every other `instanceId` seen in
   * `pg_stat_activity` (only instances that set `instanceId` can be told apart).
   */
  readonly instances: number;
  /** Sessions of the application that belong to other instances. */
  readonly otherInstanceConnections: number;
  /** `instances × budget`: what every instance together may open. `fits` compares this with `available`. */
  readonly combinedBudget: number;
  /** The PgBouncer pools the services use, when an admin connection was given (see `checkServer`). */
  readonly pgbouncerPools: readonly PgBouncerPoolCheck[] | undefined;
}

/** One PgBouncer pool (database alias) as {@link PoolRegistry.checkServer} sees it. */
export interface PgBouncerPoolCheck {
  /** The database alias. */
  readonly database: string;
  /** `session` or `transaction` (or `statement`). */
  readonly mode: string;
  /** Its `pool_size` plus `reserve_pool`. */
  readonly poolSize: number;
  /** Its `max_db_connections` (0: no limit). */
  readonly maxDbConnections: number;
  /** The services connecting through it. */
  readonly services: readonly string[];
  /** `instances × the sum of their sizes`: server connections they pin in session mode. */
  readonly guaranteed: number;
  /** False when, in session mode, the guaranteed connections do not fit in the pool. */
  readonly fits: boolean;
}

/** Events of one service's pool, as re-emitted by the registry. */
export interface PoolEvents<S extends string = string> {
  connect: [ConnectEvent<S>];
  'connect-error': [ConnectErrorEvent<S>];
  acquire: [AcquireEvent<S>];
  release: [ReleaseEvent<S>];
  'acquire-timeout': [AcquireTimeoutEvent<S>];
  'queue-full': [QueueFullEvent<S>];
  remove: [RemoveEvent<S>];
  leak: [LeakEvent<S>];
  error: [ConnectionErrorEvent<S>];
  resize: [ResizeEvent<S>];
  circuit: [CircuitEvent<S>];
  /** The server is short of room: a capacity refusal ({@link ServerCapacityWarning}) or a failed `checkServer()`. */
  'server-warning': [ServerWarning<S>];
  /** Emitted at most once per service and setting, on its first connection. */
  'setting-warning': [SettingWarningEvent<S>];
}

/** Where a pool sends its events: the registry's emitter fits. Listeners are counted first, so nothing is allocated when nobody listens. */
export interface PoolEventSink {
  listenerCount(event: keyof PoolEvents): number;
  emit<E extends keyof PoolEvents>(event: E, ...args: PoolEvents[E]): boolean;
}
