/**
 * When the tracker flushes: the interval timer, the batch-size trigger, the retry timer after a failed write,
 * and the clock of the current time bucket. Only timers live here; what a flush does is the tracker's.
 * Every timer is a background one (never keeps the process alive).
 */
import type { Clock, TimerHandle } from '../clock';
import { bucketIndex } from './bucket';

/** What the schedule calls; each may start a flush. */
export interface FlushTriggers {
  /** The interval elapsed (re-armed after it, until {@link FlushSchedule.stopFlushTimers}). */
  readonly onInterval: () => void;
  /** The batch-size trigger, run after the synchronous code that queued it. */
  readonly onSizeTrigger: () => void;
  /** A retry's backoff elapsed. */
  readonly onRetry: () => void;
}

/** The timers of one tracker. */
export class FlushSchedule {
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #bucketWidthMs: number;
  readonly #triggers: FlushTriggers;
  #intervalTimer: TimerHandle | null = null;
  #retryTimer: TimerHandle | null = null;
  #bucketTimer: TimerHandle | null = null;
  #sizeTriggerQueued = false;
  #running = true;
  #bucketClockRunning = true;
  #currentBucket = 0;

  constructor(clock: Clock, intervalMs: number, bucketWidthMs: number, triggers: FlushTriggers) {
    this.#clock = clock;
    this.#intervalMs = intervalMs;
    this.#bucketWidthMs = bucketWidthMs;
    this.#triggers = triggers;
    this.#armInterval();
    if (bucketWidthMs !== 0) this.#onBucketBoundary();
  }

  /** Index of the current time bucket, kept by a timer set to each boundary (see the tracker's `increment`). */
  get currentBucket(): number {
    return this.#currentBucket;
  }

  /** True while a retry waits for its backoff: then the backoff, not the interval or the size, decides. */
  get retryScheduled(): boolean {
    return this.#retryTimer !== null;
  }

  /** Queues one size-triggered flush after the current synchronous code (never inside `increment`). */
  queueSizeTrigger(): void {
    if (this.#sizeTriggerQueued) return;
    this.#sizeTriggerQueued = true;
    queueMicrotask(this.#onSizeTrigger);
  }

  scheduleRetry(delayMs: number): void {
    this.cancelRetry();
    this.#retryTimer = this.#clock.setTimeout(this.#onRetry, delayMs);
  }

  cancelRetry(): void {
    if (this.#retryTimer === null) return;
    this.#clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
  }

  /** Stops the interval and any retry (closing: close() drives the last flushes itself). */
  stopFlushTimers(): void {
    this.#running = false;
    if (this.#intervalTimer !== null) this.#clock.clearTimeout(this.#intervalTimer);
    this.#intervalTimer = null;
    this.cancelRetry();
  }

  /** Stops the bucket clock (closed: nothing more is counted). */
  stopBucketClock(): void {
    this.#bucketClockRunning = false;
    if (this.#bucketTimer !== null) this.#clock.clearTimeout(this.#bucketTimer);
    this.#bucketTimer = null;
  }

  #armInterval(): void {
    this.#intervalTimer = this.#clock.setTimeout(this.#onInterval, this.#intervalMs);
  }

  readonly #onInterval = (): void => {
    this.#intervalTimer = null;
    if (!this.#running) return;
    this.#triggers.onInterval();
    this.#armInterval();
  };

  readonly #onSizeTrigger = (): void => {
    this.#sizeTriggerQueued = false;
    this.#triggers.onSizeTrigger();
  };

  readonly #onRetry = (): void => {
    this.#retryTimer = null;
    this.#triggers.onRetry();
  };

  /** Moves to the bucket the wall clock is in now and sets a timer for the next boundary (again if it fired early). */
  readonly #onBucketBoundary = (): void => {
    this.#bucketTimer = null;
    if (!this.#bucketClockRunning) return;
    const now = this.#clock.wallNow();
    this.#currentBucket = bucketIndex(this.#bucketWidthMs, now);
    this.#bucketTimer = this.#clock.setTimeout(this.#onBucketBoundary, (this.#currentBucket + 1) * this.#bucketWidthMs - now);
  };
}
