import type { Clock } from '../clock';

/** Percentile summary of a rolling window, in milliseconds. */
export interface LatencySummary {
  /** Samples in the window. */
  readonly count: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
  /** Arithmetic mean, ms. */
  readonly mean: number;
}

// Log-linear bins: 16 sub-bins per power of two from 1 µs up to about 73 minutes. Relative error stays
// under ~4.5 %, and recording is a few arithmetic ops plus an array increment: no allocation per sample.
const SUB_BINS = 16;
const MIN_VALUE_MS = 0.001;
const OCTAVES = 32;
const BIN_COUNT = SUB_BINS * OCTAVES + 1;

function binOf(valueMs: number): number {
  if (!(valueMs > MIN_VALUE_MS)) return 0;
  const scaled = valueMs / MIN_VALUE_MS;
  const bin = Math.floor(Math.log2(scaled) * SUB_BINS) + 1;
  return bin < BIN_COUNT ? bin : BIN_COUNT - 1;
}

function upperBoundOf(bin: number): number {
  if (bin === 0) return MIN_VALUE_MS;
  return MIN_VALUE_MS * 2 ** (bin / SUB_BINS);
}

/**
 * A histogram over a sliding time window, kept as a ring of `slices` sub-windows. Old slices are zeroed
 * in place as time moves on, so memory is fixed at construction and recording never allocates.
 */
export class RollingHistogram {
  readonly #clock: Clock;
  readonly #sliceMs: number;
  readonly #slices: number;
  readonly #bins: Uint32Array; // slices × BIN_COUNT counts
  readonly #sums: Float64Array; // per-slice sum of values
  readonly #maxes: Float64Array; // per-slice max value
  readonly #counts: Float64Array; // per-slice sample count
  #currentSlice = 0;
  #currentEpoch: number; // index of the slice period the current slice belongs to

  /**
   * @param windowMs length of the window, ms (default 60 000)
   * @param slices number of sub-windows; more slices make the window edge sharper (default 12)
   */
  constructor(clock: Clock, windowMs = 60_000, slices = 12) {
    this.#clock = clock;
    this.#slices = slices;
    this.#sliceMs = windowMs / slices;
    this.#bins = new Uint32Array(slices * BIN_COUNT);
    this.#sums = new Float64Array(slices);
    this.#maxes = new Float64Array(slices);
    this.#counts = new Float64Array(slices);
    this.#currentEpoch = Math.floor(clock.now() / this.#sliceMs);
  }

  /** Window length in ms. */
  get windowMs(): number {
    return this.#sliceMs * this.#slices;
  }

  #advance(now = this.#clock.now()): void {
    const epoch = Math.floor(now / this.#sliceMs);
    if (epoch === this.#currentEpoch) return;
    const steps = Math.min(epoch - this.#currentEpoch, this.#slices);
    for (let i = 0; i < steps; i++) {
      this.#currentSlice = (this.#currentSlice + 1) % this.#slices;
      const offset = this.#currentSlice * BIN_COUNT;
      this.#bins.fill(0, offset, offset + BIN_COUNT);
      this.#sums[this.#currentSlice] = 0;
      this.#maxes[this.#currentSlice] = 0;
      this.#counts[this.#currentSlice] = 0;
    }
    this.#currentEpoch = epoch;
  }

  /** Records one sample (ms). Constant time, no allocation. Pass `now` (clock.now()) when the caller has it. */
  record(valueMs: number, now?: number): void {
    this.#advance(now);
    const slice = this.#currentSlice;
    const idx = slice * BIN_COUNT + binOf(valueMs);
    this.#bins[idx] = (this.#bins[idx] as number) + 1;
    this.#sums[slice] = (this.#sums[slice] as number) + valueMs;
    this.#counts[slice] = (this.#counts[slice] as number) + 1;
    if (valueMs > (this.#maxes[slice] as number)) this.#maxes[slice] = valueMs;
  }

  /** Number of samples in the window. */
  count(): number {
    this.#advance();
    let total = 0;
    for (let s = 0; s < this.#slices; s++) total += this.#counts[s] as number;
    return total;
  }

  /** Percentiles over the window; zeros when it holds no sample. Values are bin upper bounds (≤ 4.5 % high), capped at the true max. */
  summary(): LatencySummary {
    this.#advance();
    let count = 0;
    let sum = 0;
    let max = 0;
    for (let s = 0; s < this.#slices; s++) {
      count += this.#counts[s] as number;
      sum += this.#sums[s] as number;
      if ((this.#maxes[s] as number) > max) max = this.#maxes[s] as number;
    }
    if (count === 0) return { count: 0, p50: 0, p95: 0, p99: 0, max: 0, mean: 0 };
    const targets = [0.5, 0.95, 0.99].map((q) => Math.max(1, Math.ceil(q * count)));
    const results = [0, 0, 0];
    let seen = 0;
    let t = 0;
    for (let bin = 0; bin < BIN_COUNT && t < targets.length; bin++) {
      let inBin = 0;
      for (let s = 0; s < this.#slices; s++) inBin += this.#bins[s * BIN_COUNT + bin] as number;
      if (inBin === 0) continue;
      seen += inBin;
      while (t < targets.length && seen >= (targets[t] as number)) {
        results[t] = Math.min(upperBoundOf(bin), max);
        t++;
      }
    }
    return { count, p50: results[0] as number, p95: results[1] as number, p99: results[2] as number, max, mean: sum / count };
  }

  /**
   * Counts of samples per bucket for the cumulative bounds given (ms), for exporting histograms
   * (Prometheus). Returns counts of samples ≤ each bound, plus total count and sum.
   */
  cumulative(boundsMs: readonly number[]): { readonly buckets: number[]; readonly count: number; readonly sum: number } {
    this.#advance();
    const buckets = new Array<number>(boundsMs.length).fill(0);
    let count = 0;
    let sum = 0;
    for (let s = 0; s < this.#slices; s++) {
      count += this.#counts[s] as number;
      sum += this.#sums[s] as number;
    }
    for (let bin = 0; bin < BIN_COUNT; bin++) {
      let inBin = 0;
      for (let s = 0; s < this.#slices; s++) inBin += this.#bins[s * BIN_COUNT + bin] as number;
      if (inBin === 0) continue;
      const upper = upperBoundOf(bin);
      for (let b = 0; b < boundsMs.length; b++) if (upper <= (boundsMs[b] as number) * 1.0000001) buckets[b] = (buckets[b] as number) + inBin;
    }
    return { buckets, count, sum };
  }
}
