import type { Clock } from '../clock';
import { equalJitterBackoffMs } from '../backoff';
import type { RandomSource } from '../random';

import type { CircuitState } from '../types';

export type { CircuitState } from '../types';

/** Circuit breaker options (registry option `breaker`, applied to every service). */
export interface BreakerOptions {
  /** Consecutive failed connection attempts that open the circuit. Integer >= 1. @default 3 */
  readonly failureThreshold?: number;
  /** Wait before the first probe after the circuit opens, ms (>= 10); doubles after each failed probe. @default 500 */
  readonly initialBackoffMs?: number;
  /** Longest wait between probes, ms. @default 5000 */
  readonly maxBackoffMs?: number;
}

export const BREAKER_DEFAULTS = Object.freeze({ failureThreshold: 3, initialBackoffMs: 500, maxBackoffMs: 5_000 });

/** A change of circuit state, as reported in the `circuit` event. */
export interface CircuitTransition {
  readonly from: CircuitState;
  readonly to: CircuitState;
  /** When open: time until the next probe, ms. */
  readonly retryInMs: number | undefined;
}

/** One connection attempt, as the breaker saw it start. Pass it back to success/failure/abandon. */
export interface Attempt {
  /** Which opening of the circuit this attempt belongs to: results of older attempts cannot move the state. */
  readonly generation: number;
  /** True for the single attempt let through in `half-open`. */
  readonly probe: boolean;
}

/**
 * Circuit breaker on connection creation. `closed`: connect normally (with a short, growing pause between
 * consecutive failures, so a failing create can never spin). After `failureThreshold` failures it is `open`:
 * acquires that need a new connection fail fast, and no connection is attempted until the backoff (exponential,
 * with jitter, bounded by `maxBackoffMs`) has passed. Then one attempt is let through (`half-open`): success
 * closes the circuit, failure opens it again with a longer backoff. Attempts carry the generation they started
 * in, so a slow failure from before the circuit opened is never mistaken for the probe's.
 */
export class CircuitBreaker {
  readonly #clock: Clock;
  readonly #threshold: number;
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #onTransition: (transition: CircuitTransition) => void;
  readonly #random: RandomSource;
  #state: CircuitState = 'closed';
  #failures = 0;
  #backoffMs: number;
  #retryAt = 0;
  #probing = false;
  #generation = 0;

  constructor(clock: Clock, options: Required<BreakerOptions>, onTransition: (transition: CircuitTransition) => void, random: RandomSource = Math.random) {
    this.#clock = clock;
    this.#random = random;
    this.#threshold = options.failureThreshold;
    this.#initialMs = options.initialBackoffMs;
    this.#maxMs = options.maxBackoffMs;
    this.#backoffMs = options.initialBackoffMs;
    this.#onTransition = onTransition;
  }

  get state(): CircuitState {
    return this.#state;
  }

  get consecutiveFailures(): number {
    return this.#failures;
  }

  /** True while acquires that need a new connection should fail fast: open and not yet due for a probe, or a probe in flight. */
  get rejecting(): boolean {
    if (this.#state === 'closed') return false;
    if (this.#state === 'half-open') return this.#probing;
    return this.#clock.now() < this.#retryAt;
  }

  /** Time until the next connection attempt may start, ms (0 when closed). */
  delayEstimate(): number {
    if (this.#state === 'closed') return 0;
    return Math.max(0, this.#retryAt - this.#clock.now());
  }

  /**
   * How long a connection attempt must wait before it may start, ms. 0 means start now: call {@link begin}
   * at once. In the open state, the attempt that gets 0 becomes the probe.
   */
  delayBeforeAttempt(): number {
    const now = this.#clock.now();
    if (this.#state === 'closed') {
      if (this.#failures === 0) return 0;
      // Below the threshold: 50 ms doubling, with jitter, up to the open circuit's first backoff.
      return equalJitterBackoffMs(this.#failures, 50, this.#initialMs, this.#random);
    }
    if (this.#probing) return Math.max(50, this.#retryAt - now);
    if (now < this.#retryAt) return this.#retryAt - now;
    return 0;
  }

  /** Starts an attempt that {@link delayBeforeAttempt} allowed (or that a closed-state pause was served for). */
  begin(): Attempt {
    if (this.#state === 'closed') return { generation: this.#generation, probe: false };
    if (this.#state === 'open') this.#transition('half-open', undefined);
    this.#probing = true;
    return { generation: this.#generation, probe: true };
  }

  /** A connection was opened: the database is reachable, whatever the attempt. */
  success(_attempt: Attempt): void {
    this.#failures = 0;
    this.#probing = false;
    this.#backoffMs = this.#initialMs;
    if (this.#state !== 'closed') this.#transition('closed', undefined);
  }

  /** A connection attempt failed. */
  failure(attempt: Attempt): void {
    this.#failures++;
    if (attempt.generation !== this.#generation) return; // started before the circuit last opened
    if (this.#state === 'closed') {
      if (this.#failures >= this.#threshold) this.#open(this.#initialMs);
      return;
    }
    if (!attempt.probe) return;
    this.#probing = false;
    this.#open(Math.min(this.#maxMs, this.#backoffMs * 2));
  }

  /**
   * The server answered but refused the connection for lack of room (53300 "too many clients", or PgBouncer's
   * client limit) while the service still has working connections: the database is up, so the circuit does not open. The refusal still counts
   * toward the growing pause between attempts (so a full server is not hammered); a probe refused this way
   * counts as a failed probe.
   */
  refused(attempt: Attempt): void {
    if (this.#state !== 'closed' || attempt.generation !== this.#generation) {
      this.failure(attempt);
      return;
    }
    this.#failures++;
  }

  /** The attempt gave up before connecting (no shared slot): neither success nor failure; a probe may start again. */
  abandon(attempt: Attempt): void {
    if (attempt.probe && attempt.generation === this.#generation && this.#state === 'half-open') this.#probing = false;
  }

  #open(backoffMs: number): void {
    this.#generation++;
    this.#backoffMs = backoffMs;
    // Jitter: 75–100 % of the backoff, so services and processes do not probe in lockstep.
    const wait = backoffMs * (0.75 + this.#random() * 0.25);
    this.#retryAt = this.#clock.now() + wait;
    this.#transition('open', wait);
  }

  #transition(to: CircuitState, retryInMs: number | undefined): void {
    const from = this.#state;
    if (from === to && to !== 'open') return;
    this.#state = to;
    this.#onTransition({ from, to, retryInMs });
  }
}
