import type pg from 'pg';
import { ConfigChecker } from '../options/check';
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

/** Defaults for every service option. */
export const SERVICE_DEFAULTS: ResolvedServiceOptions = Object.freeze({
  size: 2,
  overflow: 4,
  acquireTimeoutMs: 10_000,
  recycleMs: 30 * 60_000,
  idleTimeoutMs: 30_000,
  maxWaiting: 1000,
  priority: 'medium',
  statementTimeoutMs: 0,
  idleInTransactionTimeoutMs: 0,
  queryTimeoutMs: 0,
  validateAfterIdleMs: 30_000,
  leakDetectionMs: 0,
  maxUses: Number.POSITIVE_INFINITY,
  onConnect: undefined,
});

const SERVICE_KEYS = [...Object.keys(SERVICE_DEFAULTS), 'connection'];

/** Validates one service's options, reporting problems under `path`. */
export function checkServiceOptions(check: ConfigChecker, path: string, value: unknown): void {
  if (!check.object(path, value, SERVICE_KEYS)) return;
  check.integer(`${path}.size`, value.size, 0, 10_000);
  check.integer(`${path}.overflow`, value.overflow, 0, 10_000);
  check.duration(`${path}.acquireTimeoutMs`, value.acquireTimeoutMs);
  check.duration(`${path}.recycleMs`, value.recycleMs, true);
  check.duration(`${path}.idleTimeoutMs`, value.idleTimeoutMs);
  if (value.maxWaiting !== Infinity) check.integer(`${path}.maxWaiting`, value.maxWaiting, 0);
  check.oneOf(`${path}.priority`, value.priority, PRIORITIES);
  check.duration(`${path}.statementTimeoutMs`, value.statementTimeoutMs, true);
  check.duration(`${path}.idleInTransactionTimeoutMs`, value.idleInTransactionTimeoutMs, true);
  check.duration(`${path}.queryTimeoutMs`, value.queryTimeoutMs, true);
  check.duration(`${path}.validateAfterIdleMs`, value.validateAfterIdleMs, true);
  check.duration(`${path}.leakDetectionMs`, value.leakDetectionMs, true);
  const maxUses = value.maxUses;
  if (maxUses !== undefined && maxUses !== Number.POSITIVE_INFINITY && (typeof maxUses !== 'number' || !Number.isInteger(maxUses) || maxUses < 1)) {
    check.fail(`${path}.maxUses`, 'an integer >= 1 or Infinity', maxUses);
  }
  if (value.onConnect !== undefined && typeof value.onConnect !== 'function') check.fail(`${path}.onConnect`, 'a function (client) => void | Promise<void>', value.onConnect);
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
  check.integer(`${service}.size`, limits.size, 0, 10_000);
  check.integer(`${service}.overflow`, limits.overflow, 0, 10_000);
  if (check.problems.length === 0 && (limits.size ?? current.size) + (limits.overflow ?? current.overflow) === 0) {
    check.problem(service, 'size + overflow must be at least 1, got 0 connections');
  }
  check.throwIfAny();
}

/** Applies {@link SERVICE_DEFAULTS} with `??`, so an explicit 0 is kept. */
export function resolveServiceOptions(options: ServiceOptions): ResolvedServiceOptions {
  const d = SERVICE_DEFAULTS;
  return Object.freeze({
    size: options.size ?? d.size,
    overflow: options.overflow ?? d.overflow,
    acquireTimeoutMs: options.acquireTimeoutMs ?? d.acquireTimeoutMs,
    recycleMs: options.recycleMs ?? d.recycleMs,
    idleTimeoutMs: options.idleTimeoutMs ?? d.idleTimeoutMs,
    maxWaiting: options.maxWaiting ?? d.maxWaiting,
    priority: options.priority ?? d.priority,
    statementTimeoutMs: options.statementTimeoutMs ?? d.statementTimeoutMs,
    idleInTransactionTimeoutMs: options.idleInTransactionTimeoutMs ?? d.idleInTransactionTimeoutMs,
    queryTimeoutMs: options.queryTimeoutMs ?? d.queryTimeoutMs,
    validateAfterIdleMs: options.validateAfterIdleMs ?? d.validateAfterIdleMs,
    leakDetectionMs: options.leakDetectionMs ?? d.leakDetectionMs,
    maxUses: options.maxUses ?? d.maxUses,
    onConnect: options.onConnect,
  });
}
