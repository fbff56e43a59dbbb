/** Upper bounds of the exported latency buckets, ms (OpenTelemetry's default explicit boundaries, trimmed). */
export const LATENCY_BOUNDS_MS: readonly number[] = Object.freeze([1, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1_000, 2_500, 5_000, 7_500, 10_000]);

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
  readonly #counts = new Float64Array(LATENCY_BOUNDS_MS.length + 1);
  #sum = 0;
  #count = 0;

  record(ms: number): void {
    let i = 0;
    while (i < LATENCY_BOUNDS_MS.length && ms > (LATENCY_BOUNDS_MS[i] as number)) i++;
    this.#counts[i] = (this.#counts[i] as number) + 1;
    this.#sum += ms;
    this.#count++;
  }

  snapshot(): LatencyHistogram {
    const buckets: number[] = [];
    let running = 0;
    for (let i = 0; i < LATENCY_BOUNDS_MS.length; i++) {
      running += this.#counts[i] as number;
      buckets.push(running);
    }
    return { boundsMs: LATENCY_BOUNDS_MS, buckets, count: this.#count, sumMs: this.#sum };
  }
}
