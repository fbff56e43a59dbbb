import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Clock } from '../../src/clock';
import { LatencyBuckets } from '../../src/stats/latency-buckets';
import { RollingHistogram } from '../../src/stats/rolling-histogram';
import { youngBytes } from '../helpers/young-bytes';

function fakeClock(): Clock & { advance(ms: number): void } {
  let now = 0;
  return { now: () => now, wallNow: () => now, setTimeout: () => 0, clearTimeout: () => {}, advance: (ms) => void (now += ms) };
}

/** The q-quantile as the histogram defines it: the smallest sample with at least q of all samples at or below it. */
function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1] as number;
}

describe('RollingHistogram', () => {
  it('property: p50/p95/p99 are at most 4.5 % above the true quantiles, never below; count, max and mean are exact (seeded)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0.001, max: 3_600_000, noNaN: true }), { minLength: 1, maxLength: 2_000 }), (values) => {
        const clock = fakeClock();
        const histogram = new RollingHistogram(clock, 60_000);
        for (const v of values) histogram.record(v);
        const sorted = [...values].sort((a, b) => a - b);
        const summary = histogram.summary();
        expect(summary.count).toBe(values.length);
        expect(summary.max).toBe(sorted[sorted.length - 1]);
        expect(summary.mean).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 6);
        for (const [q, got] of [[0.5, summary.p50], [0.95, summary.p95], [0.99, summary.p99]] as const) {
          const truth = quantile(sorted, q);
          expect(got).toBeGreaterThanOrEqual(truth);
          expect(got).toBeLessThanOrEqual(truth * 1.045);
        }
      }),
      { seed: 1129, numRuns: 200 },
    );
  });

  it('forgets samples older than the window, slice by slice, on the injected clock', () => {
    const clock = fakeClock();
    const histogram = new RollingHistogram(clock, 60_000, 12); // 5 s slices
    histogram.record(900);
    clock.advance(30_000);
    histogram.record(10);
    expect(histogram.summary()).toMatchObject({ count: 2, max: 900 });
    clock.advance(30_000); // the 900 ms sample is a whole window old
    expect(histogram.summary()).toMatchObject({ count: 1, max: 10 });
    clock.advance(3_600_000); // far past everything: empty, not negative or stale
    expect(histogram.summary()).toEqual({ count: 0, p50: 0, p95: 0, p99: 0, max: 0, mean: 0 });
  });

  it('reports a zero-latency sample as zero, not as the smallest bin', () => {
    const histogram = new RollingHistogram(fakeClock());
    histogram.record(0);
    expect(histogram.summary()).toMatchObject({ count: 1, p50: 0, p99: 0, max: 0 });
  });
});

describe('recording on the query path allocates nothing', () => {
  const CALLS = 20_000;
  it('RollingHistogram.record and LatencyBuckets.record, as a pool calls them per query', () => {
    const clock = fakeClock();
    const rolling = new RollingHistogram(clock);
    const buckets = new LatencyBuckets();
    const kept: number[][] = [];
    let hotRuns = 0;
    const hot = (): void => {
      hotRuns++;
      for (let i = 0; i < CALLS; i++) {
        const ms = (i % 997) * 0.37;
        rolling.record(ms, i);
        buckets.record(ms);
      }
    };
    const allocating = (): void => {
      for (let i = 0; i < CALLS; i++) {
        const sample = [(i % 997) * 0.37]; // one small array per call
        rolling.record(sample[0] as number, i);
        if (i === 0) kept.push(sample);
      }
    };
    for (let i = 0; i < 20; i++) {
      hot();
      allocating();
    }
    const control = youngBytes(allocating);
    const real = youngBytes(hot);
    expect(control.length).toBeGreaterThan(0);
    expect(real.length).toBeGreaterThan(0);
    expect(Math.max(...control)).toBeGreaterThanOrEqual(CALLS * 8); // the measurement sees an allocating loop
    expect(Math.min(...real)).toBeLessThan(CALLS); // and under one byte per call for the real one
    expect(rolling.count()).toBeGreaterThan(0);
    expect(buckets.snapshot().count).toBe(CALLS * hotRuns); // every sample counted
  });
});
