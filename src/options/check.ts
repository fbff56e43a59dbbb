/** The configuration checker: collects every problem with its path and throws them as one `ERR_CONFIG`. */
import { ConfigError, type ConfigProblem } from '../errors';

/** The longest delay a Node timer honours (2^31 - 1 ms, about 24.8 days); longer ones fire at once. */
export const MAX_TIMER_MS = 2_147_483_647;

/** What a value looked like, for messages: `-1 (number)`, `"abc" (string)`. Never prints objects in full. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return `${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)} (string)`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${String(value)} (${typeof value})`;
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'function') return 'a function';
  return 'an object';
}

const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

function isConnectionString(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'postgres:' || url.protocol === 'postgresql:' || url.protocol === 'socket:';
  } catch {
    return false;
  }
}

/**
 * Collects every configuration problem, then throws one {@link ConfigError} listing them all.
 */
export class ConfigChecker {
  readonly problems: ConfigProblem[] = [];

  fail(path: string, expectation: string, value: unknown): void {
    this.problems.push({ path, message: `expected ${expectation}, got ${describe(value)}` });
  }

  problem(path: string, message: string): void {
    this.problems.push({ path, message });
  }

  /** An integer in [min, max]; `undefined` passes (optional). */
  integer(path: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): void {
    if (value === undefined) return;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.fail(path, max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`, value);
    }
  }

  /**
   * A number of ms > 0 (or >= 0 with `allowZero`, >= `min` when given), at most {@link MAX_TIMER_MS} (a Node timer
   * fires at once past it); `undefined` passes.
   */
  duration(path: string, value: unknown, allowZero = false, min = 0): void {
    if (value === undefined) return;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value < 0 || (!allowZero && value === 0) || value > MAX_TIMER_MS) {
      const low = min > 0 ? `>= ${min}` : allowZero ? '>= 0' : '> 0';
      this.fail(path, `a number of ms ${low} and <= ${MAX_TIMER_MS}`, value);
    }
  }

  /** One of the listed strings; `undefined` passes. */
  oneOf(path: string, value: unknown, allowed: readonly string[]): void {
    if (value === undefined) return;
    if (typeof value !== 'string' || !allowed.includes(value)) {
      this.fail(path, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, value);
    }
  }

  /** A plain object; reports unknown keys (which catches typos from JavaScript callers). */
  object(path: string, value: unknown, knownKeys: readonly string[] | null): value is Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.fail(path === '' ? 'options' : path, 'an object', value);
      return false;
    }
    if (knownKeys !== null) {
      for (const key of Object.keys(value)) {
        if (!knownKeys.includes(key)) this.problem(path === '' ? key : `${path}.${key}`, `unknown option (known: ${knownKeys.join(', ')})`);
      }
    }
    return true;
  }

  /** A non-empty string of printable ASCII characters (what PostgreSQL keeps intact in application_name). */
  printable(path: string, value: unknown): void {
    if (value === undefined) return;
    if (typeof value !== 'string' || value.length === 0 || !PRINTABLE_ASCII.test(value)) this.fail(path, 'a non-empty string of printable ASCII characters', value);
  }

  /** A connection string or a pg.ClientConfig object; `undefined` passes. Never echoes a string (it may carry a password). */
  connection(path: string, value: unknown): void {
    if (value === undefined) return;
    if (typeof value === 'string') {
      if (!isConnectionString(value)) {
        this.problem(
          path,
          value.trim() === ''
            ? 'expected a postgres:// or postgresql:// connection string, got an empty string (an unset environment variable? leave connection out to use the PG* variables)'
            : 'expected a postgres:// or postgresql:// connection string, got a string that does not parse as one (value not shown)',
        );
      }
    } else if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.fail(path, 'a connection string or a pg.ClientConfig object', value);
    }
  }

  /** An injected Clock: an object with now, wallNow, setTimeout and clearTimeout; `undefined` passes. */
  clock(path: string, value: unknown): void {
    if (value === undefined) return;
    const clock = value as Record<string, unknown> | null;
    if (typeof clock !== 'object' || clock === null || ['now', 'wallNow', 'setTimeout', 'clearTimeout'].some((k) => typeof clock[k] !== 'function')) {
      this.fail(path, 'an object with now, wallNow, setTimeout and clearTimeout functions', value);
    }
  }

  /** Throws a {@link ConfigError} if anything was reported. */
  throwIfAny(): void {
    if (this.problems.length > 0) throw new ConfigError(this.problems);
  }
}
