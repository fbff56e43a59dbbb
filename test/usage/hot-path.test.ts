import { describe, expect, it } from 'vitest';
import { createUsageTracker } from '../../src/usage/usage-tracker';
import { youngBytes } from '../helpers/young-bytes';

const CALLS = 20_000;

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
