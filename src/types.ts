/**
 * Types shared across layers (pool, budget, registry, detector, views), kept here so that lower layers never import
 * from higher ones: the budget needs `Priority` without knowing the pool, and the detector, metrics and board read
 * `ServiceStats` without importing the pool's implementation. Leaves only: nothing here imports a component.
 */
import type { LatencyHistogram } from './stats/latency-buckets';
import type { LatencySummary } from './stats/rolling-histogram';

/** Service priority, highest first. Used by the shared budget and by the interference detector. */
export type Priority = 'highest' | 'high' | 'medium' | 'low';

/** Priorities in order, highest first. */
export const PRIORITIES: readonly Priority[] = Object.freeze(['highest', 'high', 'medium', 'low']);

/** State of a service's connection circuit. */
export type CircuitState = 'closed' | 'open' | 'half-open';

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


/** Snapshot of one service's pool. A fresh object on every call. */
export interface ServiceStats {
  readonly service: string;
  readonly priority: Priority;
  /** Guaranteed connections (`size`). */
  readonly guaranteedSize: number;
  /** Extra connections allowed for bursts (`overflow`). */
  readonly overflow: number;
  /** `size + overflow`. */
  readonly max: number;
  /** Open connections, including ones being opened. */
  readonly total: number;
  /** Open connections not leased. */
  readonly idle: number;
  /** Leased connections. */
  readonly inUse: number;
  /** Leased connections beyond the guaranteed size. */
  readonly overflowInUse: number;
  /** Acquires waiting for a connection. */
  readonly waiting: number;
  /** Leases handed out since start. */
  readonly acquired: number;
  /** Acquires rejected with `ERR_ACQUIRE_TIMEOUT` since start. */
  readonly timeouts: number;
  /** Acquires rejected with `ERR_QUEUE_FULL` since start. */
  readonly queueRejections: number;
  /** Failed queries plus connection failures (failed connects, connections that broke) since start. */
  readonly errors: number;
  /** Connection-level failures only, since start: failed connects and connections that broke (not SQL errors). */
  readonly connectionErrors: number;
  /** Connections opened since start. */
  readonly created: number;
  /** Connections closed since start. */
  readonly removed: number;
  /**
   * Connections that came back inside an open or failed transaction and were closed instead of reused (the
   * server rolled their transaction back). Non-zero means a code path releases without COMMIT or ROLLBACK.
   */
  readonly closedInTransaction: number;
  /**
   * New connections the server (or PgBouncer) refused for lack of room (53300, or PgBouncer's client limit) while
   * this service had working ones: counted here and in `connectionErrors`, reported as `server-warning` (`kind: 'capacity'`), never opening the circuit.
   */
  readonly capacityRefusals: number;
  /** Connections closed since start, by why (they add up to `removed`). */
  readonly removedByReason: Readonly<Record<RemoveReason, number>>;
  /** Connection attempts that failed since start (refused, timed out, bad credentials…): failed to open. */
  readonly connectFailures: number;
  /** Consecutive failed connection attempts (0 once one succeeds). */
  readonly consecutiveConnectFailures: number;
  /** State of the connection circuit breaker. */
  readonly circuit: CircuitState;
  /** Shared budget slots held (connections beyond `size`, open or being opened). */
  readonly sharedInUse: number;
  /** Connection attempts waiting for a shared budget slot. */
  readonly waitingForShared: number;
  /** While `waitingForShared > 0`: who holds the shared budget slots, per service holding any; otherwise empty. */
  readonly sharedSlotHolders: Readonly<Record<string, number>>;
  /** `inUse / max`, 0..1. */
  readonly utilization: number;
  /** Length of the rolling window of the latency summaries, ms. */
  readonly windowMs: number;
  /** Time callers waited for a connection, over the window, ms. */
  readonly acquireWait: LatencySummary;
  /** Query time through `registry.query`, `lease.query` and `transaction`, over the window, ms. */
  readonly queryTime: LatencySummary;
  /** How long leases were held, over the window, ms. */
  readonly holdTime: LatencySummary;
  /** Acquire waits since start (timeouts included, at the time waited), as cumulative buckets: for metrics. */
  readonly acquireWaitTotal: LatencyHistogram;
  /** Query times since start, as cumulative buckets. */
  readonly queryTimeTotal: LatencyHistogram;
  /** Lease hold times since start, as cumulative buckets. */
  readonly holdTimeTotal: LatencyHistogram;
  /** Times to open a connection since start (successful opens), as cumulative buckets. */
  readonly createTimeTotal: LatencyHistogram;
}

/**
 * The server refused a service a new connection for lack of room (SQLSTATE 53300, "sorry, too many clients
 * already", or the slots reserved for superusers; or PgBouncer's `08P01` "no more connections allowed
 * (max_client_conn)") while the service still had working connections. Its circuit stays closed (the database is
 * up): waiters wait for a connection to come back, or time out as usual, and new connects are retried with a growing
 * pause. Emitted once per streak of refusals.
 */
export interface ServerCapacityWarning<S extends string = string> {
  readonly kind: 'capacity';
  readonly service: S;
  /** The refusal's SQLSTATE: `'53300'` from PostgreSQL, `'08P01'` from PgBouncer ("no more connections allowed (max_client_conn)"). */
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
  /**
   * True when every instance's budget together fits in what is available (and in the PgBouncer pools and under
   * PgBouncer's `max_client_conn`, when checked). Behind PgBouncer in transaction mode, with the admin console and
   * every service on an alias of it, the server side compares `pgbouncerServerConnections` instead: the server sees
   * PgBouncer's server connections, not the registry's.
   */
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
  /** `instances × budget`: what every instance together may open. `fits` compares this with `available` (see `fits`). */
  readonly combinedBudget: number;
  /** The PgBouncer pools the services use, when an admin connection was given (see `checkServer`). */
  readonly pgbouncerPools: readonly PgBouncerPoolCheck[] | undefined;
  /**
   * Behind PgBouncer in transaction mode (`pooler: 'pgbouncer-transaction'`), with the admin console: the most server
   * connections PgBouncer opens for the aliases the services use (`pool_size + reserve_pool` per alias and user,
   * capped by `max_db_connections`), counted once, as for instances sharing this PgBouncer; undefined otherwise, or
   * when a service does not connect through an alias of it.
   */
  readonly pgbouncerServerConnections: number | undefined;
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
  /** False when, in session mode, the guaranteed connections do not fit in the pool or under `max_db_connections`. */
  readonly fits: boolean;
}
