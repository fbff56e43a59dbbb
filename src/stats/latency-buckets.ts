/** Upper bounds of the exported latency buckets, ms (OpenTelemetry's default explicit boundaries, trimmed). */
export const LATENCY_BOUNDS_MS: readonly number[] = Object.freeze([1, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1_000, 2_500, 5_000, 7_500, 10_000]);

/** Bounds above 10 s that wait buckets may add, ms: each one a round figure a person would configure. */
const LONG_WAIT_STEPS_MS: readonly number[] = [15_000, 20_000, 30_000, 45_000, 60_000, 90_000, 120_000, 180_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000];

/**
 * Upper bounds for acquire-wait buckets that cover every configured acquire timeout: the default bounds (1 ms … 10 s),
 * plus each timeout itself, plus one round bound above the longest, so a wait that ran to its timeout (a timer
 * fires a little late) still lands in a finite bucket instead of `+Inf`. One set for every service of a registry,
 * so their series can be summed bucket by bucket. Frozen, ascending, no duplicates.
 * @example waitBoundsMs([5_000, 30_000]) // …, 5000, 7500, 10000, 30000, 45000
 */
export function waitBoundsMs(acquireTimeoutsMs: readonly number[]): readonly number[] {
  const bounds = new Set<number>(LATENCY_BOUNDS_MS);
  let longest = 0;
  for (const t of acquireTimeoutsMs) {
    if (!(t > 0) || !Number.isFinite(t)) continue;
    bounds.add(t);
    longest = Math.max(longest, t);
  }
  const lastDefault = LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1] as number;
  if (longest >= lastDefault) bounds.add(LONG_WAIT_STEPS_MS.find((step) => step > longest) ?? longest * 2);
  return Object.freeze([...bounds].sort((a, b) => a - b));
}

/** Cumulative bucket counts of one latency since start, for a Prometheus histogram. */
export interface LatencyHistogram {
  /** Upper bounds, ms; the `+Inf` bucket is `count`. */
  readonly boundsMs: readonly number[];
  /** Samples ≤ each bound (cumulative), same length as `boundsMs`. */
  readonly buckets: readonly number[];
  readonly count: number;
  /** Sum of all samples, ms. */
  readonly sumMs: number;
}

/**
 * A since-start histogram with fixed bounds, for exporting (Prometheus histograms need counters that never go
 * down, which the rolling window cannot give): recording is a scan over 15 bounds and one increment, so it is
 * O(1) and allocation-free; memory is fixed. Counts never go down, as Prometheus counters must not.
 */
export class LatencyBuckets {
  readonly #bounds: readonly number[];
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;

  /** @param boundsMs ascending upper bounds, ms (default {@link LATENCY_BOUNDS_MS}). */
  constructor(boundsMs: readonly number[] = LATENCY_BOUNDS_MS) {
    this.#bounds = boundsMs;
    this.#counts = new Float64Array(boundsMs.length + 1);
  }

  record(ms: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && ms > (bounds[i] as number)) i++;
    this.#counts[i] = (this.#counts[i] as number) + 1;
    this.#sum += ms;
    this.#count++;
  }

  snapshot(): LatencyHistogram {
    const buckets: number[] = [];
    let running = 0;
    for (let i = 0; i < this.#bounds.length; i++) {
      running += this.#counts[i] as number;
      buckets.push(running);
    }
    return { boundsMs: this.#bounds, buckets, count: this.#count, sumMs: this.#sum };
  }
}
