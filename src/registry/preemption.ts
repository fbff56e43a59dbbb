/**
 * Preemption across services: when the budget is full, make room for an entitled waiter by closing an idle
 * overflow connection of another service, lowest priority first; and when only a grace period stands in the way,
 * one timer that asks the budget again the moment it is over.
 */
import type { Budget } from '../budget/budget';
import type { Clock, TimerHandle } from '../clock';
import { PRIORITIES, type Priority } from '../pool/options';

/** What preemption needs of a service's pool. */
export interface PreemptiblePool {
  readonly name: string;
  readonly options: { readonly priority: Priority; readonly idleTimeoutMs: number };
  /** Closes one idle overflow connection idle for at least `graceMs`; true when it did. */
  preemptIdle(graceMs: number): boolean;
  /** Since when (monotonic ms) the longest-idle overflow connection has been idle, or null when there is none. */
  preemptibleIdleSince(): number | null;
}

/**
 * The budget's preemptor. A higher-priority service's spare goes only after `preemptGraceMs` idle, by default not
 * before its own `idleTimeoutMs`: a flood of lower-priority work would otherwise take the critical service's
 * spares at the very moment the flood slows it down and it needs them, and pay a close and a backend fork for
 * each on a server at its busiest.
 */
export class Preemption {
  readonly #clock: Clock;
  readonly #budget: Budget;
  readonly #pools: () => Iterable<PreemptiblePool>;
  readonly #preemptGraceMs: number | undefined;
  /** Timer of {@link Preemption.#retryAt}, and when it fires (monotonic ms). */
  #timer: TimerHandle | null = null;
  #due = 0;
  #stopped = false;

  constructor(clock: Clock, budget: Budget, pools: () => Iterable<PreemptiblePool>, preemptGraceMs: number | undefined) {
    this.#clock = clock;
    this.#budget = budget;
    this.#pools = pools;
    this.#preemptGraceMs = preemptGraceMs;
  }

  /** Makes room for a waiter of `forService` (priority `waiterPriority`); true when a connection was closed. */
  preempt(forService: string, waiterPriority: Priority): boolean {
    const waiterRank = PRIORITIES.indexOf(waiterPriority);
    const candidates = [...this.#pools()].filter((p) => p.name !== forService).sort((a, b) => PRIORITIES.indexOf(b.options.priority) - PRIORITIES.indexOf(a.options.priority));
    let due = Number.POSITIVE_INFINITY;
    for (const pool of candidates) {
      const grace = PRIORITIES.indexOf(pool.options.priority) < waiterRank ? (this.#preemptGraceMs ?? pool.options.idleTimeoutMs) : 0;
      if (pool.preemptIdle(grace)) return true;
      const since = pool.preemptibleIdleSince();
      if (since !== null) due = Math.min(due, since + grace);
    }
    // Only the grace stood in the way: ask again the moment it is over, not at some pool's next maintenance.
    if (due !== Number.POSITIVE_INFINITY) this.#retryAt(due);
    return false;
  }

  /** Stops for good (the registry is closing): clears the timer and arms no other. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** Arms (or brings forward) the one timer that asks the budget to preempt again once a grace is over. */
  #retryAt(due: number): void {
    if (this.#stopped) return;
    if (this.#timer !== null) {
      if (this.#due <= due) return;
      this.#clock.clearTimeout(this.#timer);
    }
    this.#due = due;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = null;
      if (!this.#stopped) this.#budget.poke();
    }, Math.max(0, due - this.#clock.now()));
  }
}
