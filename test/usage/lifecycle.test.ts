import { describe, expect, it } from 'vitest';
import { createPoolRegistry } from '../../src/registry/pool-registry';
import type { Clock } from '../../src/clock';
import { systemClock } from '../../src/clock';
import { createUsageTracker } from '../../src/usage/usage-tracker';
import { memoryDatabase } from '../helpers/pg-mem';

describe('lifecycle', () => {
  // That its timers never keep the process alive is tested with the registry's and the detector's, in one child
  // process: test/registry/exit.test.ts (fixture test/helpers/exit-without-close.ts).

  it('prunes ledger entries older than ledgerRetentionMs', async () => {
    let wall = Date.UTC(2024, 0, 1);
    const clock: Clock = { ...systemClock, wallNow: () => wall };
    const { Client } = memoryDatabase();
    const registry = createPoolRegistry({ Client, services: { usage: { size: 1, overflow: 0 } } });
    const usage = createUsageTracker({ registry, service: 'usage', clock, ledgerRetentionMs: 3_600_000 });
    await usage.ensureSchema();
    const ledger = async (): Promise<number> => Number((await registry.query<{ n: number }>('usage', 'select count(*)::int as n from usage_counters_ledger')).rows[0]?.n);
    usage.increment('a');
    await usage.flush();
    wall += 30 * 60_000;
    usage.increment('a');
    await usage.flush();
    expect(await ledger()).toBe(2); // both younger than an hour (and pruning runs at most every 10 min)
    wall += 31 * 60_000; // T + 61 min: the first entry (T) is past the retention, the second (T + 30 min) is not
    usage.increment('a');
    await usage.flush();
    expect(await ledger()).toBe(2);
    wall += 60 * 60_000; // T + 121 min: T + 30 min is pruned; T + 61 min is exactly 60 min old and stays
    usage.increment('a');
    await usage.flush();
    expect(await ledger()).toBe(2);
    const counters = await registry.query<{ count: number }>('usage', 'select count from usage_counters');
    expect(counters.rows.map((r) => Number(r.count))).toEqual([4]); // pruning never touches the counters
    await usage.close({ timeoutMs: 1_000 });
    await registry.close();
  });

  it('closed after its registry, reports what is left at once instead of retrying until its timeout', async () => {
    const { Client } = memoryDatabase();
    const registry = createPoolRegistry({ Client, services: { usage: { size: 1, overflow: 0 } } });
    // Its timers never fire: close() can only settle if it does not wait for its deadline or a backoff.
    const frozenTime: Clock = { ...systemClock, setTimeout: () => ({}), clearTimeout: () => {} };
    const usage = createUsageTracker({ registry, service: 'usage', clock: frozenTime });
    await usage.ensureSchema();
    usage.increment('a', 2);
    await usage.flush();
    usage.increment('b', 3);
    await registry.close(); // the host closed them in the wrong order
    const report = await usage.close({ timeoutMs: 20_000 });
    expect(report).toMatchObject({ clean: false, inDoubt: null, unwrittenIncrements: 3, error: expect.objectContaining({ code: 'ERR_POOL_CLOSED' }) });
    expect(report.unwritten.map((r) => [r.key, r.count])).toEqual([['b', 3]]);
  });
});
