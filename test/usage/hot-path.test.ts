import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { createUsageTracker } from '../../src/usage/usage-tracker';

const CALLS = 20_000;

function newSpaceUsed(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_used_size ?? Number.NaN;
}

/**
 * Bytes allocated in the young generation by `fn`, sampled several times. A sample during which a scavenge ran
 * (used space went down) says nothing and is skipped. Without --expose-gc this is a heuristic, so the test checks
 * that the same measurement does see an allocating control loop.
 */
function youngBytes(fn: () => void): number[] {
  const samples: number[] = [];
  for (let round = 0; round < 12 && samples.length < 5; round++) {
    const before = newSpaceUsed();
    fn();
    const delta = newSpaceUsed() - before;
    if (delta >= 0) samples.push(delta);
  }
  return samples;
}

describe('the hot path', () => {
  it('increment of an existing key allocates nothing, with an hourly bucket and implicit time', async () => {
    const usage = createUsageTracker({ sink: () => new Promise(() => {}), bucket: 'hour', batchSize: 10_000, maxPendingKeys: 10_000 });
    const keys = Array.from({ length: 1_000 }, (_, i) => `tenant:${i}:calls`);
    let loops = 0;
    const hot = (): void => {
      loops++;
      for (let i = 0; i < CALLS; i++) usage.increment(keys[i % 1_000] as string, 1);
    };
    const allocating = (): void => {
      loops++;
      for (let i = 0; i < CALLS; i++) usage.increment(keys[i % 1_000] as string, 1, Date.now()); // a boxed number per call
    };
    for (let i = 0; i < 20; i++) {
      hot(); // warm up: let the optimiser compile both loops
      allocating();
    }
    const control = youngBytes(allocating);
    const real = youngBytes(hot);
    expect(control.length).toBeGreaterThan(0);
    expect(real.length).toBeGreaterThan(0);
    // the control allocates at least 8 bytes per call, and the measurement sees it
    expect(Math.max(...control)).toBeGreaterThanOrEqual(CALLS * 8);
    // the real loop: less than one byte per call in the best sample (one object per call would be >= 12)
    expect(Math.min(...real)).toBeLessThan(CALLS);
    const stats = usage.stats();
    expect(stats.pendingKeys).toBe(1_000);
    expect(stats.pendingIncrements).toBe(CALLS * loops); // every call counted, none dropped
    await usage.close({ timeoutMs: 0 });
  });
});
