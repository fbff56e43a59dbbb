/**
 * One row a sink can never write must not stop usage counting: a permanent error splits the batch until the row
 * is alone, every other row is written exactly once, and the row is quarantined (`drop`, counted). Transient
 * errors are still retried, as before. Fake time and a fake sink; the real-PostgreSQL errors are in
 * poison.pg.test.ts.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { UsageBatch } from '../../src/usage/batch';
import type { UsageDropEvent, UsageFlushErrorEvent } from '../../src/usage/events';
import { createUsageTracker, type UsageTracker } from '../../src/usage/usage-tracker';
import { FakeSink, rowKey } from './fake-sink';

const open: UsageTracker[] = [];

beforeEach(() => {
  vi.useFakeTimers({ now: Date.UTC(2024, 4, 1) });
});
afterEach(async () => {
  for (const tracker of open.splice(0)) {
    const closing = tracker.close({ timeoutMs: 100 });
    await vi.advanceTimersByTimeAsync(100);
    await closing;
  }
  vi.useRealTimers();
});

/** A sink that refuses, for good, any batch holding one of `poison` (as PostgreSQL refuses a whole statement). */
function poisonedSink(poison: Set<string>, error: (key: string) => Error): FakeSink {
  const sink = new FakeSink();
  const inner = sink.sink;
  (sink as { sink: (b: UsageBatch) => Promise<void> }).sink = (batch) => {
    const bad = batch.rows.find((r) => poison.has(r.key));
    if (bad !== undefined) {
      sink.calls.push(batch);
      return Promise.reject(error(bad.key));
    }
    return inner(batch);
  };
  return sink;
}

function tracker(sink: FakeSink, options: Partial<Parameters<typeof createUsageTracker>[0]> = {}): UsageTracker {
  const t = createUsageTracker({ sink: sink.sink, random: () => 1, flushIntervalMs: 60_000, batchSize: 10_000, ...options });
  open.push(t);
  return t;
}

describe('permanent write errors', () => {
  it.each([
    ['a SQLSTATE of class 22 (22003 bigint out of range)', () => Object.assign(new Error('value out of range for type bigint'), { code: '22003' })],
    ['a SQLSTATE of class 54 (54000 index row size)', () => Object.assign(new Error('index row size 8200 exceeds btree maximum'), { code: '54000' })],
    ['a custom sink error marked permanent: true', () => Object.assign(new Error('rejected by the warehouse'), { permanent: true })],
    ['a wrapped cause marked permanent', () => new Error('sink failed', { cause: Object.assign(new Error('bad row'), { permanent: true }) })],
  ])('%s: quarantines only the poison row and writes every other row at once', async (_name, makeError) => {
    const sink = poisonedSink(new Set(['k-137']), makeError);
    const usage = tracker(sink);
    const drops: UsageDropEvent[] = [];
    const errors: UsageFlushErrorEvent[] = [];
    usage.on('drop', (d) => drops.push(d));
    usage.on('flush-error', (e) => errors.push(e));
    for (let i = 0; i < 1_000; i++) usage.increment(`k-${i}`, i + 1);

    const report = await usage.flush();

    expect(report).toMatchObject({ ok: true, rows: 999, increments: (1_000 * 1_001) / 2 - 138 });
    expect(sink.totals.size).toBe(999);
    expect(sink.totals.has('k-137@1970-01-01T00:00:00.000Z')).toBe(false);
    expect(sink.sum()).toBe((1_000 * 1_001) / 2 - 138);
    expect(drops).toHaveLength(1);
    expect(drops[0]).toMatchObject({ key: 'k-137', by: 138, reason: 'rejected-by-sink', quarantinedRows: 1 });
    expect(drops[0]!.reason === 'rejected-by-sink' && drops[0]!.batchId).toMatch(/^[0-9a-f-]{36}(\.[01]){10}$/);
    expect(errors.every((e) => e.permanent && e.retryInMs === null)).toBe(true);
    // Bisection: one failing write per level (log2 1000 ≈ 10) plus the successful halves beside them.
    expect(sink.calls.length).toBeLessThanOrEqual(2 * 11 + 1);
    expect(usage.stats()).toMatchObject({ quarantinedRows: 1, quarantinedIncrements: 138, frozenKeys: 0, pendingKeys: 0 });
  });

  it('a transient failure during the bisection is retried with backoff, never quarantined', async () => {
    let transientLeft = 2;
    const sink = poisonedSink(new Set(['p']), () => Object.assign(new Error('bad'), { code: '22021' }));
    const permanentSink = sink.sink;
    (sink as { sink: (b: UsageBatch) => Promise<void> }).sink = (batch) => {
      if (batch.id.includes('.') && !batch.rows.some((r) => r.key === 'p') && transientLeft > 0) {
        transientLeft--;
        sink.calls.push(batch);
        return Promise.reject(new Error('connection reset'));
      }
      return permanentSink(batch);
    };
    const usage = tracker(sink, { retryBaseMs: 1_000, retryMaxMs: 1_000 });
    for (const key of ['a', 'b', 'c', 'p', 'q', 'r']) usage.increment(key, 5);
    const first = await usage.flush();
    expect(first.ok).toBe(false);
    expect(usage.stats().frozenKeys).toBeGreaterThan(0);
    expect(usage.stats().quarantinedRows).toBe(0);
    await vi.advanceTimersByTimeAsync(5_000);
    expect([...sink.totals.keys()].map((k) => k.split('@')[0]).sort()).toEqual(['a', 'b', 'c', 'q', 'r']);
    expect(sink.sum()).toBe(25);
    expect(usage.stats()).toMatchObject({ quarantinedRows: 1, quarantinedIncrements: 5, frozenKeys: 0 });
  });

  it('keys incremented during the bisection keep coalescing and are written by the next flush', async () => {
    const sink = poisonedSink(new Set(['p']), () => Object.assign(new Error('bad'), { permanent: true }));
    const usage = tracker(sink);
    usage.increment('p');
    usage.increment('a');
    const flushing = usage.flush();
    usage.increment('a', 2);
    usage.increment('b');
    await flushing;
    await usage.flush();
    expect(sink.totals.get('a@1970-01-01T00:00:00.000Z')).toBe(3);
    expect(sink.totals.get('b@1970-01-01T00:00:00.000Z')).toBe(1);
  });

  it('close() while a half waits for a retry reports exactly the rows not written, none twice', async () => {
    const sink = poisonedSink(new Set(['p']), () => Object.assign(new Error('bad'), { permanent: true }));
    const inner = sink.sink;
    (sink as { sink: (b: UsageBatch) => Promise<void> }).sink = (batch) => (batch.rows.some((r) => r.key === 'z') ? Promise.reject(new Error('down')) : inner(batch));
    const usage = tracker(sink);
    for (const key of ['a', 'p', 'y', 'z']) usage.increment(key, 2);
    await usage.flush();
    const closing = usage.close({ timeoutMs: 3_000 });
    await vi.advanceTimersByTimeAsync(3_000);
    const report = await closing;
    const written = [...sink.totals.keys()].map((k) => k.split('@')[0]);
    const unwritten = report.unwritten.map((r) => r.key);
    expect(new Set([...written, ...unwritten, 'p'])).toEqual(new Set(['a', 'p', 'y', 'z']));
    expect(written.filter((k) => unwritten.includes(k as string))).toEqual([]);
    expect(unwritten).toContain('z');
    expect(report.inDoubt).toBeNull();
  });

  it('property: any set of poison keys, any batch: written + quarantined = every increment, once (seeded)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 300 }), fc.uniqueArray(fc.integer({ min: 0, max: 299 }), { maxLength: 12 }), async (keys, poisonIdx) => {
        const poison = new Set(poisonIdx.filter((i) => i < keys).map((i) => `k${i}`));
        const sink = poisonedSink(poison, () => Object.assign(new Error('bad'), { code: '22003' }));
        const usage = createUsageTracker({ sink: sink.sink, random: () => 1, flushIntervalMs: 60_000, batchSize: 10_000 });
        let expected = 0;
        for (let i = 0; i < keys; i++) {
          usage.increment(`k${i}`, i + 1);
          expected += i + 1;
        }
        const report = await usage.flush();
        const stats = usage.stats();
        expect(report.ok).toBe(true);
        expect(sink.sum() + stats.quarantinedIncrements).toBe(expected);
        expect(stats.quarantinedRows).toBe(poison.size);
        for (const key of poison) expect(sink.totals.has(rowKey({ key, bucket: new Date(0), count: 0 }))).toBe(false);
        await usage.close({ timeoutMs: 0 });
      }),
      { seed: 11, numRuns: 60 },
    );
  });
});
