/**
 * The acquires of one service that could not be served at once: a FIFO queue of waiters with their deadlines and
 * abort signals. It decides nothing about connections; the service pool's scheduling point takes waiters from the
 * head. Deadlines cost one timer for the whole queue (waiters share the service's timeout, so their deadlines are
 * in queue order); only a waiter with a shorter per-call `timeoutMs` gets a timer of its own.
 */
import type { Clock, TimerHandle } from '../clock';
import type { Lease } from './lease';
import { Queue } from './queue';

export interface Waiter {
  /** When the caller asked (monotonic ms). */
  readonly start: number;
  /** This caller's wait limit: the service's acquireTimeoutMs, or a shorter per-call timeoutMs. */
  readonly timeoutMs: number;
  /** Stack of the acquire call, when leak detection wants it. */
  readonly stack: string | undefined;
  readonly resolve: (lease: Lease) => void;
  readonly reject: (error: Error) => void;
  /** Removes the abort listener of the caller's signal. */
  stopListening: (() => void) | null;
  /** Its own deadline timer, only when its timeout is shorter than the queue's. */
  ownTimer: TimerHandle | null;
  /** True while it is in the queue. */
  queued: boolean;
}

/** What the admission queue tells the pool: a waiter left the queue by its deadline or by its signal. */
export interface AdmissionEvents {
  timedOut(waiter: Waiter): void;
  aborted(waiter: Waiter, signal: AbortSignal): void;
}

export class Admission {
  readonly #clock: Clock;
  readonly #events: AdmissionEvents;
  readonly #queue = new Queue<Waiter>();
  /** The service's acquireTimeoutMs: waiters with exactly this limit rely on the queue's timer. */
  readonly #timeoutMs: number;
  #queueTimer: TimerHandle | null = null;

  constructor(clock: Clock, timeoutMs: number, events: AdmissionEvents) {
    this.#clock = clock;
    this.#timeoutMs = timeoutMs;
    this.#events = events;
  }

  get length(): number {
    return this.#queue.length;
  }

  /**
   * Queues a waiter at the back and starts listening to `signal`. Its deadline starts with
   * {@link Admission.startDeadline}, once it is clear the scheduling point could not serve it at once.
   */
  enqueue(waiter: Waiter, signal: AbortSignal | undefined): void {
    this.#queue.push(waiter);
    waiter.queued = true;
    if (signal === undefined) return;
    const onAbort = (): void => {
      if (!this.#take(waiter)) return;
      this.finish(waiter);
      this.#events.aborted(waiter, signal);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    waiter.stopListening = () => signal.removeEventListener('abort', onAbort);
  }

  /** Watches the deadline of a queued waiter (asked at `waiter.start`) from `now`. */
  startDeadline(waiter: Waiter, now: number): void {
    // A shorter per-call deadline breaks the queue's deadline order: that waiter keeps its own timer.
    if (waiter.timeoutMs < this.#timeoutMs) waiter.ownTimer = this.#clock.setTimeout(() => this.#onOwnTimer(waiter), Math.max(0, waiter.start + waiter.timeoutMs - now), true);
    if (this.#queueTimer === null) this.#armQueueTimer(now);
  }

  /** The oldest waiter, without taking it. */
  peek(): Waiter | undefined {
    return this.#queue.peek();
  }

  /** Takes the oldest waiter out (the caller settles it, after {@link Admission.finish}). */
  shift(): Waiter | undefined {
    const waiter = this.#queue.shift();
    if (waiter !== undefined) waiter.queued = false;
    this.#stopTimerIfEmpty();
    return waiter;
  }

  /** Takes out (and stops watching) every waiter after the first `keep`, in queue order. */
  takeAfter(keep: number): Waiter[] {
    const all = this.#queue.drain();
    for (const waiter of all.slice(0, keep)) this.#queue.push(waiter);
    this.#stopTimerIfEmpty();
    const taken = all.slice(keep);
    for (const waiter of taken) {
      waiter.queued = false;
      this.finish(waiter);
    }
    return taken;
  }

  /** Takes out every waiter. */
  takeAll(): Waiter[] {
    return this.takeAfter(0);
  }

  /** True when the waiter's deadline has passed at `now` (a late timer): it is owed a timeout, not a lease. */
  static isDue(waiter: Waiter, now: number): boolean {
    return now - waiter.start >= waiter.timeoutMs;
  }

  /** Stops watching a waiter that left the queue (its own timer and its signal), before it is settled. */
  finish(waiter: Waiter): void {
    if (waiter.ownTimer !== null) this.#clock.clearTimeout(waiter.ownTimer);
    waiter.ownTimer = null;
    waiter.stopListening?.();
    waiter.stopListening = null;
  }

  /** Fires at the head's deadline, times out every waiter that is due, and re-arms for the next. */
  readonly #onQueueTimer = (): void => {
    this.#queueTimer = null;
    const now = this.#clock.now();
    for (let head = this.#queue.peek(); head !== undefined; head = this.#queue.peek()) {
      if (!Admission.isDue(head, now)) {
        this.#armQueueTimer(now);
        return;
      }
      this.#queue.shift();
      head.queued = false;
      this.finish(head);
      this.#events.timedOut(head);
    }
  };

  #onOwnTimer(waiter: Waiter): void {
    waiter.ownTimer = null;
    if (!this.#take(waiter)) return;
    this.finish(waiter);
    this.#events.timedOut(waiter);
  }

  /** Takes a waiter out from wherever it is in the queue; false if it was not there. */
  #take(waiter: Waiter): boolean {
    if (!this.#queue.remove(waiter)) return false;
    waiter.queued = false;
    this.#stopTimerIfEmpty();
    return true;
  }

  #armQueueTimer(now: number): void {
    const head = this.#queue.peek();
    if (head === undefined) return;
    this.#queueTimer = this.#clock.setTimeout(this.#onQueueTimer, Math.max(0, head.start + head.timeoutMs - now), true);
  }

  /** Nobody queued: the timer goes, so it never holds the process open for nothing. */
  #stopTimerIfEmpty(): void {
    if (this.#queue.length === 0 && this.#queueTimer !== null) {
      this.#clock.clearTimeout(this.#queueTimer);
      this.#queueTimer = null;
    }
  }
}
