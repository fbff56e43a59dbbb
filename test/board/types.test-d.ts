import { describe, expectTypeOf, it } from 'vitest';
import type { BoardUsage, BoardUsageSource, UsageStats, UsageTracker } from '../../src/index';

describe('board types', () => {
  it("reads the usage tracker through its own stats type: a tracker fits, and every figure the board shows is the tracker's", () => {
    expectTypeOf<UsageTracker<'a'>>().toMatchTypeOf<BoardUsageSource>();
    expectTypeOf<BoardUsage['rejectedCalls']>().toEqualTypeOf<UsageStats['rejectedCalls']>();
    expectTypeOf<BoardUsage['quarantinedRows']>().toEqualTypeOf<UsageStats['quarantinedRows']>();
    expectTypeOf<BoardUsage['state']>().toEqualTypeOf<UsageStats['state']>();
    // No optional fields "for older trackers": a source without the poison-input counts does not fit.
    const { rejectedCalls: _rejected, ...older } = {} as UsageStats;
    // @ts-expect-error rejectedCalls is missing
    const source: BoardUsageSource = { stats: () => older };
    expectTypeOf(source).toEqualTypeOf<BoardUsageSource>();
  });
});
