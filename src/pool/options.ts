/** A service's options: the interface users read, and each option's spec (rule, unit, default, doc) declared once. */
import type pg from 'pg';
import { ConfigChecker } from '../options/check';
import { checkBySpec, defaultsOf, optionNames, withDefaults, type OptionSpec } from '../options/spec';
import type { ClientConfig } from './client';

import { PRIORITIES, type Priority } from '../types';

export { PRIORITIES, type Priority } from '../types';

/** Options of one service's pool. Every field is optional; defaults are in {@link SERVICE_DEFAULTS}. */
export interface ServiceOptions {
  /** Guaranteed persistent connections, opened at start and kept open. Integer >= 0. @default 2 */
  readonly size?: number;
  /** Extra connections for bursts, opened on demand and closed again after `idleTimeoutMs` idle, so the pool returns to `size`. Integer >= 0. @default 4 */
  readonly overflow?: number;
  /** Longest an `acquire` waits for a connection before rejecting with `ERR_ACQUIRE_TIMEOUT`, ms. @default 10000 */
  readonly acquireTimeoutMs?: number;
  /** Maximum lifetime of a connection, ms; a random jitter of up to 5 % is subtracted so connections do not all reconnect at once. `0` disables. @default 1800000 (30 min) */
  readonly recycleMs?: number;
  /** How long an overflow connection may sit idle before it is closed, ms. @default 30000 */
  readonly idleTimeoutMs?: number;
  /** Most acquires allowed to wait at once; one more rejects at once with `ERR_QUEUE_FULL`. `Infinity` for no cap. @default 1000 */
  readonly maxWaiting?: number;
  /** Priority of the service. @default 'medium' */
  readonly priority?: Priority;
  /** Server-side `statement_timeout` of every session, ms; `0` leaves the server's setting. @default 0 */
  readonly statementTimeoutMs?: number;
  /** Server-side `idle_in_transaction_session_timeout`, ms; `0` leaves the server's setting. @default 0 */
  readonly idleInTransactionTimeoutMs?: number;
  /**
   * Client-side limit on each query, ms (pg's `query_timeout`): a query with no reply by then rejects with
   * `Query read timeout` and its connection is destroyed, not reused. Unlike `statementTimeoutMs` it also ends
   * waits the server cannot see: a stalled network, a hung proxy, a server that stopped answering. `0` disables
   * (as pg). @default 0
   */
  readonly queryTimeoutMs?: number;
  /** A connection idle for longer than this is checked with a round trip before it is handed out, ms. `0` disables. @default 30000 */
  readonly validateAfterIdleMs?: number;
  /** Emit `leak` when a lease is held longer than this, with the stack where it was acquired, ms. `0` disables (no stack is captured). @default 0 */
  readonly leakDetectionMs?: number;
  /**
   * Close a connection after it has been leased this many times, and open a fresh one when needed (pg-pool's
   * option of the same name): spreads connections again behind a load balancer or PgBouncer. Integer >= 1, or
   * `Infinity` to never recycle by use. @default Infinity
   */
  readonly maxUses?: number;
  /**
   * Connection setup, run once on every new connection of the service after it connects and before it is handed
   * out (and before the `connect` event): `SET search_path`, `SET ROLE`, type parsers, `LISTEN`. It may be async.
   * If it throws or rejects, or does not settle within the registry's `connectTimeoutMs`, the connection is closed
   * and counts as a failed connect (`connect-error` event, `connectionErrors`, the circuit breaker); a
   * half-set-up connection is never handed out. Its own queries are not counted in `queryTime`. The client is
   * the registry's `Client` (a `pg.Client` by default). @default none
   */
  readonly onConnect?: (client: pg.Client) => unknown;
  /**
   * This service's own connection, replacing the registry's `connection` for it (a connection string or a
   * `pg.ClientConfig`): another database alias, user or port, so that behind PgBouncer each service has its own
   * PgBouncer pool and one service's flood cannot queue another inside PgBouncer. Its password is kept out of
   * errors, events and stats like the registry's. @default the registry's `connection`
   */
  readonly connection?: string | ClientConfig;
}

/**
 * Options of one service with every default applied (the connection is not repeated here: it may hold a password;
 * `onConnect` stays `undefined` when not given).
 */
export type ResolvedServiceOptions = { readonly [K in Exclude<keyof ServiceOptions, 'connection' | 'onConnect'>]-?: NonNullable<ServiceOptions[K]> } & {
  readonly onConnect: ServiceOptions['onConnect'];
};

/** A service's limits on connections: integers 0–10000 (size + overflow >= 1 is checked apart). */
const CONNECTIONS = { type: 'integer', min: 0, max: 10_000 } as const;

/**
 * Every service option, declared once: rule, unit, default, one line of doc. Validation, {@link SERVICE_DEFAULTS}
 * and {@link resolveServiceOptions} come from it, and docs/reference.md's table is checked against it.
 */
export const SERVICE_OPTION_SPECS = Object.freeze({
  size: { rule: CONNECTIONS, unit: 'connections', default: 2, doc: 'guaranteed persistent connections' },
  overflow: { rule: CONNECTIONS, unit: 'connections', default: 4, doc: 'extra connections for bursts, closed after idleTimeoutMs idle' },
  acquireTimeoutMs: { rule: { type: 'duration' }, unit: 'ms', default: 10_000, doc: 'longest wait for a connection (ERR_ACQUIRE_TIMEOUT)' },
  recycleMs: { rule: { type: 'duration', allowZero: true }, unit: 'ms', default: 30 * 60_000, doc: 'maximum connection lifetime, minus up to 5 % jitter; 0 disables' },
  idleTimeoutMs: { rule: { type: 'duration' }, unit: 'ms', default: 30_000, doc: 'idle time after which an overflow connection is closed' },
  maxWaiting: { rule: { type: 'integer', min: 0, orInfinity: true }, unit: 'acquires', default: 1000, doc: 'wait queue cap (ERR_QUEUE_FULL); Infinity for none' },
  priority: { rule: { type: 'oneOf', values: PRIORITIES }, unit: 'priority', default: 'medium', doc: 'the service\'s priority' },
  statementTimeoutMs: { rule: { type: 'duration', allowZero: true }, unit: 'ms', default: 0, doc: 'statement_timeout of every session; 0 leaves the server\'s' },
  idleInTransactionTimeoutMs: { rule: { type: 'duration', allowZero: true }, unit: 'ms', default: 0, doc: 'idle_in_transaction_session_timeout of every session; 0 leaves the server\'s' },
  queryTimeoutMs: { rule: { type: 'duration', allowZero: true }, unit: 'ms', default: 0, doc: 'client-side limit per query (pg\'s query_timeout); 0 disables' },
  validateAfterIdleMs: { rule: { type: 'duration', allowZero: true }, unit: 'ms', default: 30_000, doc: 'a connection idle longer than this is checked before it is handed out; 0 disables' },
  leakDetectionMs: { rule: { type: 'duration', allowZero: true }, unit: 'ms', default: 0, doc: 'emit leak when a lease is held longer; 0 disables' },
  maxUses: { rule: { type: 'integer', min: 1, max: Number.POSITIVE_INFINITY, orInfinity: true, expected: 'an integer >= 1 or Infinity' }, unit: 'leases', default: Number.POSITIVE_INFINITY, doc: 'close a connection after this many leases' },
  onConnect: { rule: { type: 'function', expected: 'a function (client) => void | Promise<void>' }, unit: 'function', default: undefined, doc: 'setup run once on each new connection before it is handed out' },
  // Checked by the registry, which knows its own connection; no default here (it may hold a password).
  connection: { rule: { type: 'custom' }, unit: 'connection', doc: 'this service\'s own connection instead of the registry\'s' },
} satisfies Record<keyof ServiceOptions, OptionSpec>);

/** Defaults for every service option. */
export const SERVICE_DEFAULTS: ResolvedServiceOptions = Object.freeze(defaultsOf(SERVICE_OPTION_SPECS)) as ResolvedServiceOptions;

const SERVICE_KEYS = optionNames(SERVICE_OPTION_SPECS);

/** Validates one service's options, reporting problems under `path`. */
export function checkServiceOptions(check: ConfigChecker, path: string, value: unknown): void {
  if (!check.object(path, value, SERVICE_KEYS)) return;
  checkBySpec(check, path, value, SERVICE_OPTION_SPECS);
  const size = value.size ?? SERVICE_DEFAULTS.size;
  const overflow = value.overflow ?? SERVICE_DEFAULTS.overflow;
  if (typeof size === 'number' && typeof overflow === 'number' && size + overflow === 0) {
    check.problem(`${path}`, 'size + overflow must be at least 1, got 0 connections');
  }
}

/**
 * Validates new limits for {@link PoolRegistry.resize} with the same rules as the options.
 * @throws ConfigError `ERR_CONFIG`
 */
export function checkResize(service: string, limits: { readonly size?: number; readonly overflow?: number }, current: ResolvedServiceOptions): void {
  const check = new ConfigChecker();
  check.integer(`${service}.size`, limits.size, CONNECTIONS.min, CONNECTIONS.max);
  check.integer(`${service}.overflow`, limits.overflow, CONNECTIONS.min, CONNECTIONS.max);
  if (check.problems.length === 0 && (limits.size ?? current.size) + (limits.overflow ?? current.overflow) === 0) {
    check.problem(service, 'size + overflow must be at least 1, got 0 connections');
  }
  check.throwIfAny();
}

/** Applies {@link SERVICE_DEFAULTS} with `??`, so an explicit 0 is kept. */
export function resolveServiceOptions(options: ServiceOptions): ResolvedServiceOptions {
  return withDefaults<ResolvedServiceOptions>(SERVICE_DEFAULTS, options as Record<string, unknown>);
}
