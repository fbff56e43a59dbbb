import type { RemoveReason, ServerWarning } from '../types';

export type { RemoveReason, PgBouncerPoolCheck, ServerCapacityWarning, ServerCheckReport, ServerWarning } from '../types';

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
