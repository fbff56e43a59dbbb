import { describe, expect, it } from 'vitest';
import { unitRandom } from '../src/random';

describe('unitRandom', () => {
  it('passes Math.random through untouched, and values in [0, 1) from any source', () => {
    expect(unitRandom()).toBe(Math.random);
    expect(unitRandom(() => 0.25)()).toBe(0.25);
    expect(unitRandom(() => 0)()).toBe(0);
  });

  it('clamps what a source gets wrong, so jitter stays within its bounds', () => {
    expect(unitRandom(() => -3)()).toBe(0);
    expect(unitRandom(() => 1)()).toBeLessThan(1);
    expect(unitRandom(() => 7)()).toBeGreaterThan(0.999);
    expect(unitRandom(() => Number.NaN)()).toBe(0.5);
    expect(unitRandom(() => '0.3' as unknown as number)()).toBe(0.5);
  });
});
