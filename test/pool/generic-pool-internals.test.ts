import { createPool } from 'generic-pool';
import { describe, expect, it } from 'vitest';
import { ensureMinimum, internalsAvailable, setLimits } from '../../src/pool/generic-pool-internals';

describe('generic-pool internals pg-bulkhead relies on (pinned 3.9.0)', () => {
  it('are present, and resizing plus ensureMinimum opens the new minimum', async () => {
    let created = 0;
    const pool = createPool({ create: async () => ({ n: ++created }), destroy: async () => {} }, { max: 2, min: 1 });
    expect(internalsAvailable(pool)).toBe(true);
    await new Promise((resolve) => setImmediate(resolve));
    expect(pool.size).toBe(1);
    setLimits(pool, 5, 3);
    expect(pool.max).toBe(5);
    expect(pool.min).toBe(3);
    ensureMinimum(pool);
    await new Promise((resolve) => setImmediate(resolve));
    expect(pool.size).toBe(3);
    await pool.drain();
    await pool.clear();
  });
});
