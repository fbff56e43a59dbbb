import { describe, expect, it } from 'vitest';
import { equalJitterBackoffMs } from '../src/backoff';

describe('equalJitterBackoffMs', () => {
  it('doubles per consecutive failure up to the cap, with a random half of the delay', () => {
    expect([1, 2, 3, 4].map((n) => equalJitterBackoffMs(n, 1000, 5000, () => 0))).toEqual([500, 1000, 2000, 2500]);
    expect([1, 2, 3, 4].map((n) => equalJitterBackoffMs(n, 1000, 5000, () => 0.999999))).toEqual([1000, 2000, 4000, 5000]);
  });

  it('stays finite after very many failures', () => {
    expect(equalJitterBackoffMs(10_000, 1000, 60_000, () => 0.5)).toBe(45_000);
  });
});
