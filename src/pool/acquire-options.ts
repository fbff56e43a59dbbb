import { AbortedError, InvalidArgumentError } from '../errors';
import { describe, MAX_TIMER_MS } from '../options/check';

/**
 * Per-call options of `acquire`, `query`, `withClient` and `transaction`: how long this caller is willing to
 * wait for a connection, and a way to stop waiting.
 */
export interface AcquireOptions {
  /**
   * Gives up waiting when it aborts: the waiter leaves the queue at once and the call rejects with an
   * `AbortError` (`code: 'ERR_ABORTED'`, `cause`: the signal's reason). An already aborted signal rejects at once,
   * before anything is borrowed. It only covers the wait for a connection: a query already sent runs on (use
   * `statementTimeoutMs` or pg's cancel for that).
   */
  readonly signal?: AbortSignal;
  /**
   * Longest this call waits for a connection, ms: a number > 0. The service's `acquireTimeoutMs` still caps it
   * (a longer value waits no longer than the service's). Rejects with `ERR_ACQUIRE_TIMEOUT` like the service's own.
   * @default the service's `acquireTimeoutMs`
   */
  readonly timeoutMs?: number;
}

/**
 * Checks per-call options (a programming error is a typed error, never a silent default).
 * @throws InvalidArgumentError `ERR_INVALID_ARGUMENT` naming the option.
 */
export function checkAcquireOptions(service: string, method: string, options: unknown): asserts options is AcquireOptions | undefined {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError(`${service}: ${method} options: expected an object like { signal, timeoutMs } or undefined, got ${describe(options)}`);
  }
  const { signal, timeoutMs } = options as { signal?: unknown; timeoutMs?: unknown };
  if (signal !== undefined && !isAbortSignal(signal)) {
    throw new InvalidArgumentError(`${service}: ${method} options.signal: expected an AbortSignal or undefined, got ${describe(signal)}`);
  }
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMER_MS)) {
    throw new InvalidArgumentError(`${service}: ${method} options.timeoutMs: expected a number of ms > 0 and <= ${MAX_TIMER_MS}, got ${describe(timeoutMs)}`);
  }
}

function isAbortSignal(value: unknown): value is AbortSignal {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as AbortSignal).aborted === 'boolean' &&
    typeof (value as AbortSignal).addEventListener === 'function' &&
    typeof (value as AbortSignal).removeEventListener === 'function'
  );
}

/** The error an aborted wait rejects with. */
export function abortedError(service: string, what: string, signal: AbortSignal): AbortedError {
  return new AbortedError(service, what, signal.reason);
}
