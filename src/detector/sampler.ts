// The detector's memory of the registry's counters: a bounded ring of cumulative samples, read back as counts
// within the window and as mean acquire waits in the short window against the rest of the long one. Also the
// runs of evaluations a condition has held for (a pool full, a wait for shared slots), and the connections the
// server refused for lack of capacity, which the registry's counters do not tell apart.

import type { RegistryStats } from '../registry/pool-registry';

/** Counts of one service within the detector's window. */
export interface WindowCounts {
  /** Failed queries (SQL errors included) and connection failures. */
  readonly errors: number;
  /** Failed connects and connections that broke. */
  readonly connectionErrors: number;
  /** Acquire timeouts. */
  readonly timeouts: number;
  /** Connections the server refused for lack of capacity (53300, or PgBouncer's client limit). */
  readonly capacityRefusals: number;
  /** Connections opened. */
  readonly created: number;
}

/** Mean acquire wait in the short window and in the rest of the long one (the baseline), with sample counts. */
export interface WaitWindows {
  readonly short: { readonly mean: number; readonly count: number };
  readonly baseline: { readonly mean: number; readonly count: number };
}

/** A condition whose run of consecutive evaluations is timed. */
export type Streak = 'full' | 'shared-wait';

interface Counters {
  readonly errors: Float64Array;
  readonly connectionErrors: Float64Array;
  readonly timeouts: Float64Array;
  readonly capacityRefusals: Float64Array;
  readonly created: Float64Array;
}

/** Cumulative counters of every service at one evaluation, plus the acquire waits seen since the previous sample. */
interface Sample extends Counters {
  readonly at: number;
  readonly waitSum: Float64Array;
  readonly waitCount: Float64Array;
}

const NO_COUNTS: WindowCounts = Object.freeze({ errors: 0, connectionErrors: 0, timeouts: 0, capacityRefusals: 0, created: 0 });

/**
 * Samples of one registry's since-start counters, indexed by the position of each service in `services`.
 * Memory is bounded: at most two samples per interval are kept, over the window.
 */
export class Sampler<S extends string> {
  readonly #services: readonly S[];
  readonly #windowMs: number;
  readonly #shortWindowMs: number;
  readonly #intervalMs: number;
  readonly #samples: Sample[] = [];
  readonly #capacity: number;
  /** The registry's since-start acquire-wait sum and count at the last pushed sample. */
  readonly #pushedWaitSum: Float64Array;
  readonly #pushedWaitCount: Float64Array;
  /** The counters of the latest snapshot, pushed or not. */
  #current: Counters | null = null;
  /** Per service: connections refused by the server for lack of capacity (see isCapacityRefusal) since the sampler was created. */
  readonly #capacityRefusals: Float64Array;
  /** Per service: connections the registry held at the last capacity refusal (what the server had room for). */
  readonly #heldAtRefusal: Float64Array;
  /** Per streak and service: monotonic time of the first evaluation of the current run, NaN when not in one. */
  readonly #since: Record<Streak, Float64Array>;

  constructor(services: readonly S[], timing: { readonly windowMs: number; readonly shortWindowMs: number; readonly intervalMs: number }) {
    this.#services = services;
    this.#windowMs = timing.windowMs;
    this.#shortWindowMs = timing.shortWindowMs;
    this.#intervalMs = timing.intervalMs;
    const n = services.length;
    this.#pushedWaitSum = new Float64Array(n);
    this.#pushedWaitCount = new Float64Array(n);
    this.#capacityRefusals = new Float64Array(n);
    this.#heldAtRefusal = new Float64Array(n);
    this.#since = { full: new Float64Array(n).fill(NaN), 'shared-wait': new Float64Array(n).fill(NaN) };
    // Two samples per interval at most are kept (see push), so the ring covers the window.
    this.#capacity = Math.ceil((2 * timing.windowMs) / timing.intervalMs) + 2;
  }

  /**
   * Takes the counters of `stats`. A sample is pushed at most twice per interval (unless `first`), so check()
   * called in a loop cannot flood the ring; the counts within the window always end at the latest snapshot.
   */
  push(stats: RegistryStats<S>, now: number, first = false): void {
    const last = this.#samples[this.#samples.length - 1];
    const n = this.#services.length;
    const current: Counters = {
      errors: new Float64Array(n),
      connectionErrors: new Float64Array(n),
      timeouts: new Float64Array(n),
      capacityRefusals: Float64Array.from(this.#capacityRefusals),
      created: new Float64Array(n),
    };
    const waitSum = new Float64Array(n);
    const waitCount = new Float64Array(n);
    this.#services.forEach((service, i) => {
      const s = stats.services[service];
      current.errors[i] = s.errors;
      current.connectionErrors[i] = s.connectionErrors;
      current.timeouts[i] = s.timeouts;
      current.created[i] = s.created;
      waitSum[i] = s.acquireWaitTotal.sumMs;
      waitCount[i] = s.acquireWaitTotal.count;
    });
    this.#current = current;
    if (!first && last !== undefined && now - last.at < this.#intervalMs / 2) return;
    // Each sample holds the waits seen since the previous one: the registry's since-start totals, differenced.
    const sampleSum = new Float64Array(n);
    const sampleCount = new Float64Array(n);
    if (!first) {
      for (let i = 0; i < n; i++) {
        sampleSum[i] = (waitSum[i] as number) - (this.#pushedWaitSum[i] as number);
        sampleCount[i] = (waitCount[i] as number) - (this.#pushedWaitCount[i] as number);
      }
    }
    this.#pushedWaitSum.set(waitSum);
    this.#pushedWaitCount.set(waitCount);
    this.#samples.push({ at: now, ...current, waitSum: sampleSum, waitCount: sampleCount });
    while (this.#samples.length > this.#capacity) this.#samples.shift();
  }

  /** Counts of service `i` within the window: the latest snapshot minus the oldest sample in the window. */
  window(i: number, now: number): WindowCounts {
    const since = now - this.#windowMs;
    const base = this.#samples.find((s) => s.at >= since) ?? this.#samples[this.#samples.length - 1];
    const current = this.#current;
    if (base === undefined || current === null) return NO_COUNTS;
    const delta = (key: keyof Counters): number => (current[key][i] as number) - (base[key][i] as number);
    return {
      errors: delta('errors'),
      connectionErrors: delta('connectionErrors'),
      timeouts: delta('timeouts'),
      capacityRefusals: delta('capacityRefusals'),
      created: delta('created'),
    };
  }

  /** Mean acquire wait of service `i` in the short window and in the rest of the long one. */
  waitWindows(i: number, now: number): WaitWindows {
    let shortSum = 0;
    let shortCount = 0;
    let baseSum = 0;
    let baseCount = 0;
    const shortSince = now - this.#shortWindowMs;
    const longSince = now - this.#windowMs;
    for (const s of this.#samples) {
      if (s.at < longSince) continue;
      // A sample holds the waits recorded *before* its time: the first one in the window started earlier.
      if (s.at > shortSince) {
        shortSum += s.waitSum[i] as number;
        shortCount += s.waitCount[i] as number;
      } else {
        baseSum += s.waitSum[i] as number;
        baseCount += s.waitCount[i] as number;
      }
    }
    return {
      short: { mean: shortCount === 0 ? 0 : shortSum / shortCount, count: shortCount },
      baseline: { mean: baseCount === 0 ? 0 : baseSum / baseCount, count: baseCount },
    };
  }

  /**
   * Records whether `streak` holds for service `i` at this evaluation and returns how long its current run has
   * lasted, ms (0 at the first evaluation of a run, and when it does not hold).
   */
  streak(streak: Streak, i: number, holds: boolean, now: number): number {
    const since = this.#since[streak];
    if (!holds) {
      since[i] = NaN;
      return 0;
    }
    if (Number.isNaN(since[i] as number)) since[i] = now;
    return now - (since[i] as number);
  }

  /** Counts a connection of service `i` refused for lack of capacity, with the connections the registry held then. */
  countCapacityRefusal(i: number, held: number | undefined): void {
    this.#capacityRefusals[i] = (this.#capacityRefusals[i] as number) + 1;
    if (held !== undefined) this.#heldAtRefusal[i] = held;
  }

  /** Connections the registry held at service `i`'s last capacity refusal. */
  heldAtRefusal(i: number): number {
    return this.#heldAtRefusal[i] as number;
  }
}
