import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { USAGE_DEFAULTS } from '../../src/usage/options';
import { createUsageTracker, type UsageTracker } from '../../src/usage/usage-tracker';
import type { UsageFlushErrorEvent } from '../../src/usage/events';
import { WriteInDoubtError } from '../../src/errors';
import { deferred, FakeSink, rowKey, type Outcome } from './fake-sink';

const T0 = Date.UTC(2024, 4, 1, 12, 0, 0);
const open: UsageTracker[] = [];

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(async () => {
  for (const tracker of open.splice(0)) {
    const closing = tracker.close({ timeoutMs: 100 });
    await vi.advanceTimersByTimeAsync(100);
    await closing;
  }
  vi.useRealTimers();
});

function tracker(sink: FakeSink, options: Parameters<typeof createUsageTracker>[0] = {}): UsageTracker {
  const t = createUsageTracker({ sink: sink.sink, random: () => 1, ...options });
  open.push(t);
  return t;
}

describe('triggers', () => {
  it('keeps the original defaults: 50 keys per batch, a 30 s interval', () => {
    expect(USAGE_DEFAULTS.batchSize).toBe(50);
    expect(USAGE_DEFAULTS.flushIntervalMs).toBe(30_000);
  });

  it('flushes on the interval (fake time), and only when something is pending', async () => {
    const sink = new FakeSink();
    const usage = tracker(sink);
    usage.increment('a');
    usage.increment('a', 2);
    usage.increment('b');
    await vi.advanceTimersByTimeAsync(29_999);
    expect(sink.calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(sink.calls).toHaveLength(1);
    expect(sink.calls[0]?.rows.map((r) => [r.key, r.count])).toEqual([
      ['a', 3],
      ['b', 1],
    ]);
    await vi.advanceTimersByTimeAsync(5 * 30_000);
    expect(sink.calls).toHaveLength(1);
    usage.increment('c');
    await vi.advanceTimersByTimeAsync(30_000);
    expect(sink.calls).toHaveLength(2);
  });

  it('flushes as soon as batchSize distinct keys are pending (default 50), without waiting for the timer', async () => {
    const sink = new FakeSink();
    const usage = tracker(sink);
    for (let i = 0; i < 49; i++) usage.increment(`k${i}`);
    for (let i = 0; i < 100; i++) usage.increment('k0'); // existing keys do not count twice
    await vi.advanceTimersByTimeAsync(0);
    expect(sink.calls).toHaveLength(0);
    usage.increment('k49');
    expect(sink.calls).toHaveLength(0); // never inside increment itself
    await vi.advanceTimersByTimeAsync(0);
    expect(sink.calls).toHaveLength(1);
    expect(sink.calls[0]?.rows).toHaveLength(50);
    expect(sink.totals.get(`k0@${new Date(0).toISOString()}`)).toBe(101);
  });

  it('starts the next batch-size flush once the current one ends when keys piled up meanwhile', async () => {
    const sink = new FakeSink();
    const gate = deferred();
    const usage = tracker(createGatedSink(sink, gate.promise), { batchSize: 2 });
    usage.increment('a');
    usage.increment('b');
    await vi.advanceTimersByTimeAsync(0);
    usage.increment('c');
    usage.increment('d');
    usage.increment('e');
    await vi.advanceTimersByTimeAsync(0);
    expect(sink.calls).toHaveLength(1);
    gate.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(sink.calls).toHaveLength(2);
    expect(sink.calls[1]?.rows.map((r) => r.key)).toEqual(['c', 'd', 'e']);
  });
});

/** Wraps a FakeSink so that every call first waits for `gate`. */
function createGatedSink(sink: FakeSink, gate: Promise<void>): FakeSink {
  const gated = Object.create(sink) as FakeSink;
  Object.defineProperty(gated, 'sink', {
    value: async (batch: Parameters<FakeSink['sink']>[0]) => {
      sink.calls.push(batch);
      await gate;
      sink.calls.pop();
      return sink.sink(batch);
    },
  });
  return gated;
}

describe('buckets', () => {
  it.each([
    ['minute', Date.UTC(2024, 0, 1, 10, 7), 60_000],
    ['hour', Date.UTC(2024, 0, 1, 10), 3_600_000],
    ['day', Date.UTC(2024, 0, 1), 86_400_000],
  ] as const)('%s: the last ms before a boundary and the boundary land in different buckets', async (bucket, boundary, width) => {
    const sink = new FakeSink();
    const usage = tracker(sink, { bucket });
    usage.increment('k', 1, boundary - 1);
    usage.increment('k', 10, boundary);
    usage.increment('k', 100, new Date(boundary + width - 1));
    usage.increment('k', 1000, boundary + width);
    await usage.flush();
    expect(Object.fromEntries(sink.totals)).toEqual({
      [`k@${new Date(boundary - width).toISOString()}`]: 1,
      [`k@${new Date(boundary).toISOString()}`]: 110,
      [`k@${new Date(boundary + width).toISOString()}`]: 1000,
    });
  });

  it('fixes the bucket at increment time (the clock), not at flush time', async () => {
    vi.setSystemTime(Date.UTC(2024, 0, 1, 10, 59, 59, 999));
    const sink = new FakeSink();
    const usage = tracker(sink, { bucket: 'hour' });
    usage.increment('late');
    vi.setSystemTime(Date.UTC(2024, 0, 1, 11, 30));
    await usage.flush();
    expect([...sink.totals.keys()]).toEqual(['late@2024-01-01T10:00:00.000Z']);
  });

  it('without `at`, moves to the next bucket when the clock crosses the boundary', async () => {
    vi.setSystemTime(Date.UTC(2024, 0, 1, 10, 59, 59, 998));
    const sink = new FakeSink();
    const usage = tracker(sink, { bucket: 'hour' });
    usage.increment('k');
    await vi.advanceTimersByTimeAsync(1); // 10:59:59.999
    usage.increment('k');
    await vi.advanceTimersByTimeAsync(1); // 11:00:00.000
    usage.increment('k', 10);
    await vi.advanceTimersByTimeAsync(3_600_000); // 12:00:00.000
    usage.increment('k', 100);
    await usage.flush();
    expect(Object.fromEntries(sink.totals)).toEqual({
      'k@2024-01-01T10:00:00.000Z': 2,
      'k@2024-01-01T11:00:00.000Z': 10,
      'k@2024-01-01T12:00:00.000Z': 100,
    });
  });

  it("'none' puts every increment in the epoch bucket", async () => {
    const sink = new FakeSink();
    const usage = tracker(sink);
    usage.increment('k', 1, 0);
    usage.increment('k', 1, Date.UTC(2030, 0, 1));
    usage.increment('k');
    await usage.flush();
    expect(Object.fromEntries(sink.totals)).toEqual({ 'k@1970-01-01T00:00:00.000Z': 3 });
  });
});

describe('flush', () => {
  it('swaps the pending map atomically: increments during a flush go to the next batch, the frozen one is untouched', async () => {
    const sink = new FakeSink();
    const gate = deferred();
    const usage = tracker(createGatedSink(sink, gate.promise));
    usage.increment('a', 5);
    const first = usage.flush();
    usage.increment('a', 7);
    usage.increment('b');
    expect(usage.stats()).toMatchObject({ pendingKeys: 2, pendingIncrements: 8, frozenKeys: 1, frozenIncrements: 5 });
    gate.resolve();
    expect(await first).toMatchObject({ ok: true, batches: 1, rows: 1, increments: 5 });
    expect(sink.calls[0]?.rows).toEqual([{ key: 'a', bucket: new Date(0), count: 5 }]);
    expect(await usage.flush()).toMatchObject({ batches: 1, rows: 2, increments: 8 });
    expect(sink.totals.get('a@1970-01-01T00:00:00.000Z')).toBe(12);
  });

  it('shares the flush in progress between concurrent callers', async () => {
    const sink = new FakeSink();
    const usage = tracker(sink);
    usage.increment('a');
    const [one, two, three] = [usage.flush(), usage.flush(), usage.flush()];
    expect(two).toBe(one);
    expect(three).toBe(one);
    await one;
    expect(sink.calls).toHaveLength(1);
  });

  it('sorts the rows of a batch by key, then bucket', async () => {
    const sink = new FakeSink();
    const usage = tracker(sink, { bucket: 'minute' });
    for (const key of ['m', 'b', 'z', 'a']) usage.increment(key, 1, T0 + 60_000);
    usage.increment('m', 1, T0);
    await usage.flush();
    expect(sink.calls[0]?.rows.map((r) => `${r.key}+${r.bucket.getTime() - T0}`)).toEqual(['a+60000', 'b+60000', 'm+0', 'm+60000', 'z+60000']);
  });

  it('reports an empty flush as ok with nothing written', async () => {
    const sink = new FakeSink();
    expect(await tracker(sink).flush()).toMatchObject({ ok: true, batches: 0, rows: 0, increments: 0, error: null });
    expect(sink.calls).toHaveLength(0);
  });
});

describe('failures and retries', () => {
  it('retries the same frozen batch with exponential backoff and jitter, bounded by retryMaxMs', async () => {
    const sink = new FakeSink();
    let failuresLeft = 6;
    sink.plan = () => (failuresLeft-- > 0 ? 'fail' : 'ok');
    const errors: UsageFlushErrorEvent[] = [];
    const usage = tracker(sink, { retryBaseMs: 1_000, retryMaxMs: 8_000, random: () => 0.5 });
    usage.on('flush-error', (e) => errors.push(e));
    usage.increment('a', 3);
    const report = await usage.flush();
    expect(report.ok).toBe(false);
    expect(report.error?.message).toMatch(/sink down/);
    // equal jitter with random 0.5: 3/4 of min(8000, 1000 * 2^n)
    const expectedDelays = [750, 1_500, 3_000, 6_000, 6_000, 6_000];
    for (let i = 1; i < expectedDelays.length; i++) {
      const delay = expectedDelays[i - 1] as number;
      await vi.advanceTimersByTimeAsync(delay - 1);
      expect(sink.calls).toHaveLength(i);
      await vi.advanceTimersByTimeAsync(1);
      expect(sink.calls).toHaveLength(i + 1);
    }
    expect(errors.map((e) => e.retryInMs)).toEqual(expectedDelays);
    await vi.advanceTimersByTimeAsync(6_000);
    expect(sink.calls).toHaveLength(7);
    expect(new Set(sink.calls.map((c) => c.id)).size).toBe(1);
    expect(sink.calls.map((c) => c.attempt)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(usage.stats()).toMatchObject({ failedWrites: 6, retriedBatches: 1, flushedBatches: 1, frozenKeys: 0, lastError: null });
    expect(sink.totals.get('a@1970-01-01T00:00:00.000Z')).toBe(3);
  });

  it('keeps new increments coalescing separately while a frozen batch waits, then writes both', async () => {
    const sink = new FakeSink();
    let fail = true;
    sink.plan = () => (fail ? 'fail' : 'ok');
    const usage = tracker(sink, { batchSize: 2 });
    usage.increment('a');
    usage.increment('b');
    await vi.advanceTimersByTimeAsync(0);
    expect(usage.stats()).toMatchObject({ frozenKeys: 2, pendingKeys: 0, failedWrites: 1 });
    usage.increment('a', 10);
    usage.increment('c');
    usage.increment('d');
    await vi.advanceTimersByTimeAsync(0);
    // the batch-size trigger waits for the backoff instead of hammering a failing database
    expect(sink.calls).toHaveLength(1);
    expect(usage.stats()).toMatchObject({ frozenKeys: 2, pendingKeys: 3, pendingIncrements: 12 });
    fail = false;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sink.calls.map((c) => c.rows.length)).toEqual([2, 2, 3]);
    expect(sink.calls[1]?.id).toBe(sink.calls[0]?.id);
    expect(sink.calls[2]?.id).not.toBe(sink.calls[0]?.id);
    expect(sink.sum()).toBe(14);
  });

  it('never counts twice when a write took effect but its reply was lost', async () => {
    const sink = new FakeSink();
    let first = true;
    sink.plan = () => (first ? ((first = false), 'lose-reply') : 'ok');
    const usage = tracker(sink);
    usage.increment('x', 4);
    expect((await usage.flush()).ok).toBe(false);
    expect((await usage.flush()).ok).toBe(true);
    expect(sink.calls).toHaveLength(2);
    expect(sink.totals.get('x@1970-01-01T00:00:00.000Z')).toBe(4);
  });

  it('property: whatever fails, every increment is written exactly once (seeded)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 1, max: 1_000 }), fc.integer({ min: 0, max: 5 })), { maxLength: 200 }),
        fc.array(fc.constantFrom<Outcome>('ok', 'fail', 'lose-reply', 'doubt-applied', 'doubt-unapplied'), { maxLength: 40 }),
        async (ops, outcomes) => {
          const sink = new FakeSink();
          let call = 0;
          sink.plan = () => outcomes[call++] ?? 'ok';
          const usage = createUsageTracker({ sink: sink.sink, batchSize: 7, bucket: 'minute', random: () => 0.3 });
          const expected = new Map<string, number>();
          for (const [key, by, minute] of ops) {
            const at = T0 + minute * 60_000 + 59_999;
            usage.increment(`k${key}`, by, at);
            const id = `k${key}@${new Date(T0 + minute * 60_000).toISOString()}`;
            expected.set(id, (expected.get(id) ?? 0) + by);
            if (by % 17 === 0) await vi.advanceTimersByTimeAsync(by);
          }
          const closing = usage.close({ timeoutMs: 600_000 });
          await vi.advanceTimersByTimeAsync(600_000);
          const report = await closing;
          expect(report.clean).toBe(true);
          expect(Object.fromEntries(sink.totals)).toEqual(Object.fromEntries(expected));
        },
      ),
      { seed: 4242, numRuns: 60 },
    );
  });
});

describe('memory bound and drops', () => {
  it('at maxPendingKeys, pending keys still coalesce, new keys are dropped, counted and reported', async () => {
    const sink = new FakeSink();
    const usage = tracker(sink, { maxPendingKeys: 3, batchSize: 100 });
    const drops: unknown[] = [];
    usage.on('drop', (d) => drops.push(d));
    usage.increment('a');
    usage.increment('b');
    usage.increment('c');
    usage.increment('d', 5);
    usage.increment('a', 9);
    usage.increment('e');
    expect(drops).toEqual([
      { key: 'd', by: 5, reason: 'max-pending-keys', droppedCalls: 1 },
      { key: 'e', by: 1, reason: 'max-pending-keys', droppedCalls: 2 },
    ]);
    expect(usage.stats()).toMatchObject({ pendingKeys: 3, pendingIncrements: 12, droppedCalls: 2, droppedIncrements: 6 });
    await usage.flush();
    usage.increment('d');
    expect(usage.stats().pendingKeys).toBe(1);
    expect(sink.sum()).toBe(12);
  });

  it('with a sink that hangs forever, increments stay synchronous, memory stays bounded and close reports exactly what is left', async () => {
    const sink = new FakeSink();
    sink.plan = () => 'hang';
    const usage = createUsageTracker({ sink: sink.sink, maxPendingKeys: 1_000, batchSize: 50 });
    let accepted = 0;
    usage.on('drop', () => {});
    for (let round = 0; round < 20; round++) {
      let results = 0;
      for (let i = 0; i < 5_000; i++) {
        const result: unknown = usage.increment(`k${(round * 5_000 + i) % 4_000}`);
        if (result !== undefined) results++; // never a promise: nothing to await
      }
      expect(results).toBe(0);
      await vi.advanceTimersByTimeAsync(30_000);
      const stats = usage.stats();
      expect(stats.pendingKeys).toBeLessThanOrEqual(1_000);
      expect(stats.frozenKeys).toBeLessThanOrEqual(1_000);
    }
    const stats = usage.stats();
    accepted = 100_000 - stats.droppedIncrements;
    expect(stats.frozenIncrements + stats.pendingIncrements).toBe(accepted);
    expect(sink.calls).toHaveLength(1); // one write hangs; no pile-up of writes behind it
    const closing = usage.close({ timeoutMs: 5_000 });
    await vi.advanceTimersByTimeAsync(5_000);
    const report = await closing;
    expect(report.clean).toBe(false);
    // the hung write may still commit: its batch is in doubt, apart from what was certainly not written
    expect(report.inDoubt).toMatchObject({ batchId: sink.calls[0]?.id, increments: stats.frozenIncrements });
    expect(report.inDoubt?.rows).toHaveLength(stats.frozenKeys);
    expect(report.unwrittenIncrements).toBe(stats.pendingIncrements);
    expect(report.unwritten.reduce((s, r) => s + r.count, 0)).toBe(stats.pendingIncrements);
    expect(report.unwritten.length).toBe(stats.pendingKeys);
    expect(report.unwrittenIncrements + (report.inDoubt?.increments ?? 0)).toBe(accepted);
  });
});

describe('close', () => {
  it('is idempotent, flushes what is pending, leaves no timer and drops (counts) later increments', async () => {
    const sink = new FakeSink();
    const usage = createUsageTracker({ sink: sink.sink });
    const closed: unknown[] = [];
    usage.on('close', (r) => closed.push(r));
    usage.increment('a', 2);
    const one = usage.close();
    const two = usage.close({ timeoutMs: 1 });
    expect(two).toBe(one);
    const report = await one;
    expect(report).toMatchObject({ clean: true, batches: 1, rows: 1, increments: 2, unwritten: [], unwrittenIncrements: 0, error: null });
    expect(closed).toEqual([report]);
    expect(vi.getTimerCount()).toBe(0);
    usage.increment('a');
    expect(usage.stats()).toMatchObject({ state: 'closed', droppedCalls: 1, pendingKeys: 0 });
    expect(await usage.flush()).toMatchObject({ ok: true, batches: 0 });
  });

  it('retries within its timeout, then reports exactly what could not be written', async () => {
    const sink = new FakeSink();
    sink.plan = () => 'fail';
    const usage = createUsageTracker({ sink: sink.sink, random: () => 1 });
    usage.increment('a', 2);
    usage.increment('b', 3);
    await usage.flush();
    usage.increment('b', 4);
    usage.increment('c');
    const closing = usage.close({ timeoutMs: 3_500 });
    await vi.advanceTimersByTimeAsync(3_500);
    const report = await closing;
    expect(sink.calls.length).toBeGreaterThanOrEqual(3);
    expect(report.clean).toBe(false);
    expect(report.error?.message).toMatch(/sink down/);
    expect(report.unwritten.map((r) => [rowKey(r), r.count])).toEqual([
      ['a@1970-01-01T00:00:00.000Z', 2],
      ['b@1970-01-01T00:00:00.000Z', 3],
      ['b@1970-01-01T00:00:00.000Z', 4],
      ['c@1970-01-01T00:00:00.000Z', 1],
    ]);
    expect(report.unwrittenIncrements).toBe(10);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('reports a write still in flight at the deadline as in doubt, not unwritten, so a replay stays exactly-once', async () => {
    const sink = new FakeSink();
    const gate = deferred();
    const usage = createUsageTracker({ sink: createGatedSink(sink, gate.promise).sink });
    const flushed: string[] = [];
    usage.on('flush', (e) => flushed.push(e.batchId));
    usage.increment('a', 5);
    void usage.flush(); // the write of {a: 5} starts and is slow to commit
    await vi.advanceTimersByTimeAsync(0);
    usage.increment('b', 2);
    const closing = usage.close({ timeoutMs: 100 });
    await vi.advanceTimersByTimeAsync(100);
    const report = await closing;
    expect(report.clean).toBe(false);
    expect(report.inDoubt).toEqual({ batchId: expect.any(String), rows: [expect.objectContaining({ key: 'a', count: 5 })], increments: 5 });
    expect(report.unwritten.map((r) => [r.key, r.count])).toEqual([['b', 2]]);
    expect(report.unwrittenIncrements).toBe(2);
    // The write commits after close: a host that replayed `unwritten` still counts every increment once.
    gate.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(sink.sum()).toBe(5);
    expect(flushed).toEqual([report.inDoubt?.batchId]);
    expect(sink.calls.map((b) => b.id)).toEqual([report.inDoubt?.batchId]);
  });

  it('reports a batch lost while committing (ERR_WRITE_IN_DOUBT) as in doubt when close() gives up on it, even after later plain failures', async () => {
    const sink = new FakeSink();
    const plan: Outcome[] = ['doubt-applied', 'fail'];
    sink.plan = () => plan.shift() ?? 'fail';
    const usage = createUsageTracker({ sink: sink.sink, random: () => 1, retryBaseMs: 100 });
    const errors: UsageFlushErrorEvent[] = [];
    usage.on('flush-error', (e) => errors.push(e));
    usage.increment('a', 5);
    expect((await usage.flush()).ok).toBe(false);
    expect(errors[0]?.error).toMatchObject({ code: 'ERR_WRITE_IN_DOUBT', batchId: sink.calls[0]?.id });
    usage.increment('b', 2);
    const closing = usage.close({ timeoutMs: 1_000 });
    await vi.advanceTimersByTimeAsync(1_000);
    const report = await closing;
    expect(sink.calls.length).toBeGreaterThan(2); // close() kept retrying the same batch, which kept failing plainly
    expect(new Set(sink.calls.map((c) => c.id))).toEqual(new Set([sink.calls[0]?.id]));
    expect(report).toMatchObject({ clean: false, inDoubt: { batchId: sink.calls[0]?.id, increments: 5 }, unwrittenIncrements: 2 });
    expect(report.inDoubt?.rows.map((r) => [r.key, r.count])).toEqual([['a', 5]]);
    expect(report.unwritten.map((r) => [r.key, r.count])).toEqual([['b', 2]]);
    // It had committed: a host replaying `unwritten` counts every increment exactly once.
    expect(sink.sum() + report.unwrittenIncrements).toBe(7);
  });

  it('recognises ERR_WRITE_IN_DOUBT wrapped by a custom sink, and a later success settles the doubt', async () => {
    let calls = 0;
    const usage = tracker(new FakeSink(), {
      sink: async (batch) => {
        if (calls++ === 0) throw new Error('my sink failed', { cause: new WriteInDoubtError('usage', batch.id, new Error('socket hang up')) });
      },
    });
    usage.increment('a', 1);
    expect((await usage.flush()).ok).toBe(false);
    const closing = usage.close({ timeoutMs: 60_000 });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(await closing).toMatchObject({ clean: true, inDoubt: null, unwrittenIncrements: 0, batches: 1, increments: 1 });
    expect(calls).toBe(2);
  });

  it('property: whenever close() gives up, written + unwritten (+ the in-doubt batch iff it was not applied) is every increment, once (seeded)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 1, max: 100 }), fc.boolean()), { maxLength: 120 }),
        // not 'lose-reply': a sink that applied a batch and then rejects it plainly breaks the sink contract
        fc.array(fc.constantFrom<Outcome>('ok', 'fail', 'doubt-applied', 'doubt-unapplied', 'hang'), { maxLength: 30 }),
        fc.integer({ min: 0, max: 5_000 }),
        async (ops, outcomes, timeoutMs) => {
          const sink = new FakeSink();
          let call = 0;
          sink.plan = () => outcomes[call++] ?? 'fail';
          const usage = createUsageTracker({ sink: sink.sink, batchSize: 5, random: () => 0.5, retryBaseMs: 50 });
          let accepted = 0;
          for (const [key, by, pause] of ops) {
            usage.increment(`k${key}`, by);
            accepted += by;
            if (pause) await vi.advanceTimersByTimeAsync(by);
          }
          const closing = usage.close({ timeoutMs });
          await vi.advanceTimersByTimeAsync(timeoutMs);
          const report = await closing;
          const inDoubtApplied = report.inDoubt !== null && sink.applied.has(report.inDoubt.batchId);
          const inDoubtMissing = report.inDoubt !== null && !inDoubtApplied ? report.inDoubt.increments : 0;
          expect(sink.sum() + report.unwrittenIncrements + inDoubtMissing).toBe(accepted);
          expect(report.unwritten.reduce((n, r) => n + r.count, 0)).toBe(report.unwrittenIncrements);
          expect(report.clean).toBe(report.inDoubt === null && report.unwritten.length === 0);
        },
      ),
      { seed: 2911, numRuns: 80 },
    );
  });

  it.each([
    ['registry.closed is true', true, new Error('connection refused')],
    ['a write fails with ERR_POOL_CLOSED', false, Object.assign(new Error('usage: the registry is closed'), { code: 'ERR_POOL_CLOSED' })],
  ])('stops retrying once the registry is closed (%s): close() reports at once', async (_, closedFlag, failure) => {
    const registry = { services: ['usage'] as const, closed: false, transaction: vi.fn(async () => Promise.reject(failure)), query: vi.fn(async () => Promise.reject(failure)) };
    const usage = createUsageTracker({ registry: registry as never, service: 'usage', writeMode: 'values', random: () => 1 });
    const errors: UsageFlushErrorEvent[] = [];
    usage.on('flush-error', (e) => errors.push(e));
    usage.increment('a', 3);
    registry.closed = closedFlag;
    const first = await usage.flush();
    expect(first.ok).toBe(false);
    expect(errors).toEqual([expect.objectContaining({ attempt: 1, retryInMs: null })]);
    expect(vi.getTimerCount()).toBe(1); // the interval only: no retry is scheduled
    await vi.advanceTimersByTimeAsync(120_000); // intervals pass: no write is attempted again
    expect(registry.transaction).toHaveBeenCalledTimes(1);
    usage.increment('b', 1);
    let settled = false;
    const closing = usage.close({ timeoutMs: 10_000 }).finally(() => (settled = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(settled).toBe(true); // without waiting out timeoutMs
    const report = await closing;
    expect(report).toMatchObject({ clean: false, inDoubt: null, unwrittenIncrements: 4, error: failure });
    expect(report.unwritten.map((r) => [r.key, r.count])).toEqual([['a', 3], ['b', 1]]);
    expect(registry.transaction).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('accepts increments while closing and writes them too', async () => {
    const sink = new FakeSink();
    const gate = deferred();
    const usage = createUsageTracker({ sink: createGatedSink(sink, gate.promise).sink });
    usage.increment('a');
    const closing = usage.close();
    usage.increment('b');
    gate.resolve();
    const report = await closing;
    expect(report).toMatchObject({ clean: true, batches: 2, increments: 2 });
  });

  it('a throwing listener never breaks the tracker', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const sink = new FakeSink();
    const usage = tracker(sink);
    usage.on('flush', () => {
      throw new Error('listener bug');
    });
    usage.increment('a');
    expect((await usage.flush()).ok).toBe(true);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('listener bug'), 'PgBulkheadListenerWarning');
    warn.mockRestore();
  });
});
