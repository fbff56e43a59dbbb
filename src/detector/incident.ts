import type { Priority } from '../types';

/** What a signal measured. */
export type SignalKind =
  /** p95 query time above `slowQueryMs`. */
  | 'slow-queries'
  /** More than `failures` connection failures plus acquire timeouts within the window (SQL errors do not count). */
  | 'failures'
  /**
   * Utilization (`inUse / max`) above `utilization`, with evidence of harm: callers waiting, acquire timeouts
   * within the window, or full at every evaluation for `sustainedExhaustionMs`.
   */
  | 'exhaustion'
  /**
   * A lower-priority service holds more than `monopolyShare` of all connections while a protected one waits, below its
   * own `size + overflow` (at it, its callers wait for its own connections: a `saturation`).
   */
  | 'monopolization'
  /** A protected service's mean acquire wait in the short window rose above its own baseline. */
  | 'wait-rise'
  /**
   * (server probe, with the registry's `pgbouncerAdmin`) Clients of the victim's PgBouncer pool wait inside
   * PgBouncer for a server connection, where no acquire timeout sees them. (issue 15)
   */
  | 'pgbouncer-wait'
  /** (server probe) The victim's sessions wait on locks held by another service's sessions. */
  | 'lock-blocking'
  /**
   * (server probe) An aggressor's session sits `idle in transaction` longer than `idleInTransactionMs`, or for any
   * time at all while it blocks another service's sessions.
   */
  | 'idle-in-transaction'
  /** The service opened more than `connectionChurn` connections within the window (a recycle storm). */
  | 'connection-churn'
  /** The service waits for shared budget slots that other services hold (it is below its own `size + overflow`). */
  | 'shared-slots'
  /**
   * The server refused the service's connections for lack of capacity (`53300` too many clients, or PgBouncer's
   * `max_client_conn`) within the window.
   */
  | 'server-capacity';

/** One piece of evidence: what was measured, against which threshold. */
export interface Signal<S extends string = string> {
  readonly kind: SignalKind;
  /** The service the figure belongs to (the victim, or the aggressor for monopolization and idle transactions). */
  readonly service: S;
  /** The measured value, in `unit`. */
  readonly value: number;
  /** The threshold it was compared with, in `unit`. */
  readonly threshold: number;
  readonly unit: 'ms' | 'count' | 'ratio';
  /** One line a person can read, e.g. `auth p95 query time 1520 ms > 1000 ms`. Never contains SQL text. */
  readonly message: string;
}

/** A service that holds what the victim needs. */
export interface Aggressor<S extends string = string> {
  readonly service: S;
  readonly priority: Priority;
  /** Connections it holds (leased), when the incident was last updated. */
  readonly inUse: number;
  /** Its share of all connections (`inUse / capacity`), 0..1. */
  readonly share: number;
  /** Sessions of the victim it blocks on locks (server probe), 0 without one. */
  readonly blockedSessions: number;
  /** Shared budget slots it holds (connections beyond its `size`), 0 without a reported budget. */
  readonly sharedSlots: number;
}

/** What a recommendation is about; with its `service`, it identifies the recommendation within an incident. */
export type RecommendationKind =
  /** Lower an aggressor's `overflow`. */
  | 'lower-overflow'
  /** Raise a victim's guaranteed `size`. */
  | 'raise-size'
  /**
   * Raise the `overflow` (or size) of a service that exhausts its own pool with no other service involved; with a
   * `registryChange` when the shared budget could never lend it that many slots.
   */
  | 'raise-overflow'
  /**
   * Raise the registry's `maxConnections` (or lower its `reserve`) for a service that waits for shared slots the
   * budget never lends it (all it may borrow is in use, by itself) with no other service involved.
   */
  | 'raise-budget'
  /** Set `idleInTransactionTimeoutMs` on a service whose sessions sit idle in transaction. */
  | 'limit-idle-transactions'
  /** Keep a service's transactions short: its sessions hold locks another service waits for. */
  | 'shorten-transactions'
  /** Let a churning service's connections live longer (`recycleMs`, or `idleTimeoutMs` for overflow ones). */
  | 'reduce-churn'
  /** Find a service's slow queries and bound them with `statementTimeoutMs`. */
  | 'bound-slow-queries'
  /**
   * The server refuses connections for lack of capacity (`53300`): lower `maxConnections` to what the server gives
   * the registry (`registryChange`), or raise the server's `max_connections`.
   */
  | 'fit-server-capacity'
  /** Check a service's database connection: connecting keeps failing. */
  | 'check-connectivity';

/**
 * A concrete change to make. An incident holds at most one per `kind` and `service`; a later evaluation
 * replaces it with fresh figures (so its `text` and `to` follow the current numbers).
 */
export interface Recommendation<S extends string = string> {
  readonly kind: RecommendationKind;
  readonly service: S;
  /** The option to change, when there is one. */
  readonly option?: 'size' | 'overflow' | 'idleInTransactionTimeoutMs' | 'statementTimeoutMs' | 'recycleMs' | 'idleTimeoutMs';
  /** Its current value. */
  readonly from?: number;
  /** The suggested value. */
  readonly to?: number;
  /**
   * A registry option that has to change as well (or alone, for `raise-budget`), when the service's own change
   * would otherwise change nothing: the shared budget lends a `medium` or `low` service at most
   * `maxConnections - sum of sizes - reserve` slots (`high`/`highest`: the reserve too). `to` assumes `reserve`
   * stays as it is: set it explicitly if it is the default (a share of the shared slots), which grows with
   * `maxConnections`.
   */
  readonly registryChange?: { readonly option: 'maxConnections'; readonly from: number; readonly to: number };
  /**
   * How the registry judged the change (`option` `size`/`overflow`, through `registry.validateResize`) when it was
   * offered: `ok` applies now with `registry.resize`; `needs-registry-change` only with `registryChange` applied
   * first (a new registry); `after-others-shrink` once the services borrowing the shared slots give them back (lower
   * their overflow first). Undefined for advice that is not a resize (a timeout, a server setting, a code change).
   */
  readonly validation?: 'ok' | 'needs-registry-change' | 'after-others-shrink';
  /** e.g. `lower llm overflow from 15 to 8`. */
  readonly text: string;
}

/**
 * What kind of trouble an incident is, which is also the event that announces it:
 * - `interference`: another service is involved: it holds the shared slots, the locks, or the server's connections
 *   the victim needs (aggressors named), or the server refused connections for lack of capacity.
 * - `saturation`: the service runs out of what is its own (its pool, its queries' time) and nobody else is involved.
 * - `connectivity`: the service cannot connect (database down or restarting, network, credentials).
 *
 * An incident that starts as `saturation` or `connectivity` becomes `interference` when an aggressor appears.
 */
export type IncidentType = 'interference' | 'saturation' | 'connectivity';

/** Severity of an incident: `critical` marks a protected service failing or blocked outright. */
export type Severity = 'warning' | 'critical';

/** Interference seen on one victim service. One incident per victim is open at a time; it is updated in place. */
export interface Incident<S extends string = string> {
  /** Unique within the detector, e.g. `auth-3`. */
  readonly id: string;
  readonly victim: S;
  readonly victimProtected: boolean;
  /** What kind of trouble this is (see {@link IncidentType}); the event that announced it has the same name. */
  readonly type: IncidentType;
  readonly aggressors: readonly Aggressor<S>[];
  /** The evidence of the latest evaluation that found any (the last noisy one, once calm). */
  readonly signals: readonly Signal<S>[];
  /** Every signal kind seen during the incident. */
  readonly kinds: readonly SignalKind[];
  /** The highest severity reached. */
  readonly severity: Severity;
  readonly recommendations: readonly Recommendation<S>[];
  /** Why there is no recommendation, when `recommendations` is empty; null otherwise. */
  readonly noRecommendation: string | null;
  /** Wall-clock ms since the epoch. */
  readonly startedAt: number;
  /** Wall-clock ms of the last evaluation that found a signal. */
  readonly updatedAt: number;
  /** Wall-clock ms it closed, or null while open. */
  readonly endedAt: number | null;
  /** Evaluations so far that found a signal. */
  readonly occurrences: number;
  /** Mitigations applied for it (auto mode). */
  readonly mitigations: readonly MitigationAction<S>[];
}

/** What `mitigation: 'auto'` did. */
export interface MitigationAction<S extends string = string> {
  /** `shrink` lowered the aggressor's overflow; `restore` put back the original after recovery. */
  readonly action: 'shrink' | 'restore';
  readonly service: S;
  /** The incident (victim) it was for. */
  readonly incidentId: string;
  readonly victim: S;
  readonly previous: { readonly size: number; readonly overflow: number };
  readonly current: { readonly size: number; readonly overflow: number };
  /** Wall-clock ms. */
  readonly at: number;
}

/** Status of a service or of the whole registry. */
export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

/** Health of one service: the figures, the status and why. */
export interface ServiceHealth<S extends string = string> {
  readonly service: S;
  readonly status: HealthStatus;
  readonly priority: Priority;
  readonly protected: boolean;
  /** `inUse / max`, 0..1. */
  readonly utilization: number;
  readonly inUse: number;
  readonly max: number;
  readonly waiting: number;
  /** p95 acquire wait over the registry's window, ms. */
  readonly acquireWaitP95Ms: number;
  /** p95 query time over the registry's window, ms. */
  readonly queryTimeP95Ms: number;
  /** Errors within the detector's window: failed queries (SQL errors included) and connection failures. */
  readonly errors: number;
  /** Connection failures within the detector's window: failed connects and connections that broke. */
  readonly connectionErrors: number;
  /** Acquire timeouts within the detector's window. */
  readonly timeouts: number;
  /**
   * The pool's connection circuit breaker state (`stats().circuit`): `open` after the registry's configured
   * `breaker.failureThreshold` consecutive connection failures.
   */
  readonly circuit: 'open' | 'half-open' | 'closed';
  readonly consecutiveConnectFailures: number;
  /**
   * While the service waits for shared budget slots: who holds them, per service holding any (from
   * `stats().budget`); empty otherwise. The same cause an `ERR_ACQUIRE_TIMEOUT` names.
   */
  readonly sharedSlotHolders: Readonly<Record<string, number>>;
  /** Ids of open incidents with this service as victim or aggressor. */
  readonly incidents: readonly string[];
  /** Why the status is not healthy, one short line each. */
  readonly reasons: readonly string[];
}

/** The detector's verdict: overall status, per service, and the open incidents. */
export interface HealthReport<S extends string = string> {
  /** The worst status of any service. */
  readonly status: HealthStatus;
  /** Wall-clock ms of the evaluation. */
  readonly at: number;
  readonly services: { readonly [K in S]: ServiceHealth<S> };
  readonly incidents: readonly Incident<S>[];
  /** `ok` when the last probe worked; `unavailable` on pg-mem / without privileges; `idle` when not needed or off. */
  readonly serverProbe: 'ok' | 'unavailable' | 'idle' | 'off';
}

/**
 * The last connection-level failure of a service (a failed connect, or a connection that broke while idle), as the
 * registry emitted it: its password already removed. The message may name the host, port, user and database, so
 * the health handler shows it only with `includeErrors: true`.
 */
export interface LastConnectionError {
  /** The error message, password removed (at most 500 characters). */
  readonly message: string;
  /** The error's `code` when it has a string one (`ECONNREFUSED`, `28P01`, `ERR_CONNECT_TIMEOUT`, …). */
  readonly code: string | undefined;
  /** Wall-clock ms since the epoch. */
  readonly at: number;
}
