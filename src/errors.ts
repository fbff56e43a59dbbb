/**
 * Every error pg-bulkhead creates is a {@link BulkheadError} with a stable, literal-typed `code`.
 * Errors that come from PostgreSQL itself (SQL errors, statement timeouts) reach the caller unchanged,
 * with pg's own `code` (for example `'57014'`).
 *
 * A dual ESM/CJS install can load two copies of this module, so prefer {@link isBulkheadError} over
 * `instanceof`: it recognises errors from either copy through a `Symbol.for` brand.
 */

const BRAND = Symbol.for('pg-bulkhead.error');

/** All error codes, stable across releases. */
export type ErrorCode =
  | 'ERR_CONFIG'
  | 'ERR_UNKNOWN_SERVICE'
  | 'ERR_ACQUIRE_TIMEOUT'
  | 'ERR_QUEUE_FULL'
  | 'ERR_POOL_CLOSED'
  | 'ERR_DOUBLE_RELEASE'
  | 'ERR_LEASE_RELEASED'
  | 'ERR_RELEASE_IN_TRANSACTION'
  | 'ERR_CONNECT_TIMEOUT'
  | 'ERR_DATABASE_UNAVAILABLE'
  | 'ERR_WRITE_IN_DOUBT'
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_ABORTED'
  | 'ERR_SETTING_NOT_APPLIED';

/** Base class of every error this library creates. */
export class BulkheadError extends Error {
  /** Stable machine-readable code; match on this, not on the message. */
  readonly code: ErrorCode;
  /** The service the error concerns, when there is one. */
  readonly service: string | undefined;

  constructor(code: ErrorCode, message: string, options: { service?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BulkheadError';
    this.code = code;
    this.service = options.service;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/** One problem found while validating options: where, what was expected, what was given. */
export interface ConfigProblem {
  /** Dotted path of the offending option, e.g. `services.auth.size`. */
  readonly path: string;
  /** Human-readable description, e.g. `expected an integer >= 0, got -1 (number)`. */
  readonly message: string;
}

/** Invalid options. Lists every problem found, not just the first. */
export class ConfigError extends BulkheadError {
  declare readonly code: 'ERR_CONFIG';
  /** Every problem, each with its path. */
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    const lines = problems.map((p) => `  ${p.path}: ${p.message}`).join('\n');
    super('ERR_CONFIG', `invalid pg-bulkhead options (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${lines}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** A service name that the registry was not configured with (only reachable from untyped callers). */
export class UnknownServiceError extends BulkheadError {
  declare readonly code: 'ERR_UNKNOWN_SERVICE';
  constructor(service: string, known: readonly string[]) {
    super('ERR_UNKNOWN_SERVICE', `unknown service ${JSON.stringify(service)}; configured services: ${known.join(', ')}`, {
      service,
    });
    this.name = 'UnknownServiceError';
  }
}

/** No connection could be handed out within the service's `acquireTimeoutMs`. */
export class AcquireTimeoutError extends BulkheadError {
  declare readonly code: 'ERR_ACQUIRE_TIMEOUT';
  /** How long the caller waited, in ms. */
  readonly waitedMs: number;
  readonly inUse: number;
  readonly max: number;
  readonly waiting: number;
  /**
   * When the service was waiting for a shared budget slot (it is below its own `size + overflow`, but every slot it
   * may borrow is taken): who holds the shared slots, per service holding any (itself included). Undefined when the
   * wait was for the service's own connections.
   */
  readonly sharedSlotHolders: Readonly<Record<string, number>> | undefined;
  constructor(
    service: string,
    detail: { waitedMs: number; inUse: number; max: number; waiting: number; sharedSlots?: { readonly shared: number; readonly byService: Readonly<Record<string, number>> } },
    cause?: unknown,
  ) {
    const why = cause instanceof Error ? `; last connection error: ${cause.message}` : '';
    const shared = detail.sharedSlots;
    const holders = shared === undefined ? '' : `; waiting for a shared slot: ${describeHolders(shared.shared, shared.byService)}`;
    super(
      'ERR_ACQUIRE_TIMEOUT',
      `${service}: no connection within ${Math.round(detail.waitedMs)} ms (${detail.inUse} in use, ${detail.max} max, ${detail.waiting} waiting)${holders}${why}`,
      { service, cause },
    );
    this.name = 'AcquireTimeoutError';
    this.waitedMs = detail.waitedMs;
    this.inUse = detail.inUse;
    this.max = detail.max;
    this.waiting = detail.waiting;
    this.sharedSlotHolders = shared === undefined ? undefined : Object.freeze({ ...shared.byService });
  }
}

/** The service's wait queue is at `maxWaiting`; the acquire was rejected at once. */
export class QueueFullError extends BulkheadError {
  declare readonly code: 'ERR_QUEUE_FULL';
  readonly waiting: number;
  readonly maxWaiting: number;
  constructor(service: string, waiting: number, maxWaiting: number) {
    super('ERR_QUEUE_FULL', `${service}: wait queue is full (${waiting} waiting, maxWaiting ${maxWaiting})`, { service });
    this.name = 'QueueFullError';
    this.waiting = waiting;
    this.maxWaiting = maxWaiting;
  }
}

/** The registry (or the pool) is closing or closed. */
export class PoolClosedError extends BulkheadError {
  declare readonly code: 'ERR_POOL_CLOSED';
  constructor(service: string | undefined, detail = 'the registry is closed') {
    super('ERR_POOL_CLOSED', service === undefined ? detail : `${service}: ${detail}`, service === undefined ? {} : { service });
    this.name = 'PoolClosedError';
  }
}

/**
 * A lease was released (or used) after it had already been released, or released by hand while `transaction()`
 * still runs on it (`ERR_RELEASE_IN_TRANSACTION`: the connection stays with the transaction, which rolls back).
 */
export class LeaseReleasedError extends BulkheadError {
  constructor(code: 'ERR_DOUBLE_RELEASE' | 'ERR_LEASE_RELEASED' | 'ERR_RELEASE_IN_TRANSACTION', service: string, what: string) {
    super(code, `${service}: ${what}`, { service });
    this.name = 'LeaseReleasedError';
  }
}

/** Opening a connection took longer than `connectTimeoutMs`. */
export class ConnectTimeoutError extends BulkheadError {
  declare readonly code: 'ERR_CONNECT_TIMEOUT';
  constructor(service: string, timeoutMs: number, step: 'connect' | 'onConnect' = 'connect') {
    const what = step === 'onConnect' ? "the service's onConnect hook" : 'connecting to PostgreSQL';
    super('ERR_CONNECT_TIMEOUT', `${service}: ${what} took longer than ${timeoutMs} ms`, { service });
    this.name = 'ConnectTimeoutError';
  }
}

/**
 * The service's circuit is open: connecting to PostgreSQL failed repeatedly, so acquires that need a new
 * connection fail at once instead of waiting out their timeout. `cause` is the last connection error.
 */
export class DatabaseUnavailableError extends BulkheadError {
  declare readonly code: 'ERR_DATABASE_UNAVAILABLE';
  /** Time until the next connection attempt, ms. */
  readonly retryInMs: number;
  constructor(service: string, retryInMs: number, cause: unknown) {
    const why = cause instanceof Error ? `: ${cause.message}` : '';
    super('ERR_DATABASE_UNAVAILABLE', `${service}: database unavailable, next attempt in ${Math.max(0, Math.round(retryInMs))} ms${why}`, { service, cause });
    this.name = 'DatabaseUnavailableError';
    this.retryInMs = retryInMs;
  }
}

/**
 * A usage batch's write failed at a point where it may still have been applied: the connection was lost (or the
 * reply never came) after its `COMMIT` was sent. The built-in sink throws it; a custom sink throws it for the same
 * situation. The tracker retries the batch under the same id as usual; if `close()` has to give up on it, the
 * batch is reported as `inDoubt` rather than `unwritten`, so nobody replays rows that may already be counted.
 * `cause` is the underlying error.
 */
export class WriteInDoubtError extends BulkheadError {
  declare readonly code: 'ERR_WRITE_IN_DOUBT';
  /** The batch whose outcome is unknown. */
  readonly batchId: string;
  constructor(service: string | undefined, batchId: string, cause: unknown) {
    const why = cause instanceof Error ? `: ${cause.message}` : '';
    const where = service === undefined ? '' : `${service}: `;
    super('ERR_WRITE_IN_DOUBT', `${where}batch ${batchId} may or may not have been committed (lost while committing${why})`, {
      ...(service === undefined ? {} : { service }),
      cause,
    });
    this.name = 'WriteInDoubtError';
    this.batchId = batchId;
  }
}

/**
 * The caller gave up: the `signal` passed to `acquire`, `query`, `withClient`, `transaction` or the pg.Pool view
 * aborted (or was already aborted) before a connection was handed out. Named `'AbortError'` like the platform's
 * own abort errors, so code that checks `error.name === 'AbortError'` treats it alike; `cause` is the signal's
 * `reason`. No connection is kept for the caller: one that arrives later goes to the next waiter.
 */
export class AbortedError extends BulkheadError {
  declare readonly code: 'ERR_ABORTED';
  constructor(service: string, what: string, reason: unknown) {
    super('ERR_ABORTED', `${service}: ${what} aborted by its signal`, { service, cause: reason });
    this.name = 'AbortError';
  }
}

/**
 * A per-service setting (`statementTimeoutMs`, `idleInTransactionTimeoutMs`) did not take effect on the server:
 * read back on the service's first connection, the session has another value. Typically a connection pooler that
 * drops startup parameters (PgBouncer's `ignore_startup_parameters`). The connection is not used; the error is the
 * `connect-error` event's and the acquire's cause, so the service fails loudly instead of running unprotected.
 */
export class SettingNotAppliedError extends BulkheadError {
  declare readonly code: 'ERR_SETTING_NOT_APPLIED';
  /** The PostgreSQL setting, e.g. `statement_timeout`. */
  readonly setting: string;
  /** The value the service's options ask for, ms. */
  readonly expectedMs: number;
  /** The value the session has, ms; null when the connection was refused because of the setting (no session). */
  readonly actualMs: number | null;
  constructor(service: string, detail: { setting: string; option: string; expectedMs: number; actualMs: number | null; refusal?: string; cause?: unknown }) {
    const fix = `Behind PgBouncer set the registry's pooler option ('pgbouncer-transaction' or 'pgbouncer-session'), or give the service a role with ALTER ROLE … SET ${detail.setting}`;
    super(
      'ERR_SETTING_NOT_APPLIED',
      detail.actualMs === null
        ? `${service}: the connection was refused for ${detail.setting} (${detail.option} ${detail.expectedMs} ms), sent as a startup parameter: ${detail.refusal ?? 'refused'}. ${fix}`
        : `${service}: ${detail.setting} is ${detail.actualMs} ms on the server, expected ${detail.expectedMs} ms (${detail.option}): the connection dropped it. ${fix}`,
      { service, cause: detail.cause },
    );
    this.name = 'SettingNotAppliedError';
    this.setting = detail.setting;
    this.expectedMs = detail.expectedMs;
    this.actualMs = detail.actualMs;
  }
}

/** A programming error in arguments (wrong type or range); a `TypeError` so it reads as one. */
export class InvalidArgumentError extends TypeError {
  readonly code = 'ERR_INVALID_ARGUMENT' as const;
  readonly service: string | undefined = undefined;
  constructor(message: string) {
    super(message);
    this.name = 'InvalidArgumentError';
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/**
 * True when `value` is an error created by pg-bulkhead (from any loaded copy of the package).
 * Pass a code to check for one kind: `isBulkheadError(e, 'ERR_ACQUIRE_TIMEOUT')`.
 */
export function isBulkheadError(value: unknown, code?: ErrorCode): value is BulkheadError {
  if (typeof value !== 'object' || value === null || (value as Record<symbol, unknown>)[BRAND] !== true) return false;
  return code === undefined || (value as { code?: unknown }).code === code;
}

/** "the 20 shared slots are held by llm 15, background 5" (largest holder first). */
export function describeHolders(shared: number, byService: Readonly<Record<string, number>>): string {
  const holders = Object.entries(byService)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => `${name} ${n}`);
  const held = Object.values(byService).reduce((sum, n) => sum + n, 0);
  if (holders.length === 0) return `none of the ${shared} shared slots is held (the reserve is for high and highest services)`;
  return `${held} of the ${shared} shared slots are held by ${holders.join(', ')}`;
}
