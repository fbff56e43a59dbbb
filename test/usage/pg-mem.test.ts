import { afterEach, describe, expect, it } from 'vitest';
import { createPoolRegistry } from '../../src/registry/pool-registry';
import { createUsageTracker, type UsageTracker } from '../../src/usage/usage-tracker';
import type { UsageRegistry } from '../../src/usage/registry-port';
import { memoryDatabase } from '../helpers/pg-mem';

const open: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) await thing.close();
});

function setup(table = 'usage_counters') {
  const { Client, db } = memoryDatabase();
  const registry = createPoolRegistry({ Client, services: { auth: { size: 1, overflow: 0 }, usage: { size: 1, overflow: 1 } } });
  open.push(registry);
  return { registry, db, table };
}

function track<S extends string>(tracker: UsageTracker<S>): UsageTracker<S> {
  open.push(tracker);
  return tracker;
}

async function totals(registry: UsageRegistry<'auth' | 'usage'>, table = 'usage_counters'): Promise<Map<string, number>> {
  const result = await registry.query<{ key: string; bucket: Date; count: number | string }>('auth', `select key, bucket, count from ${table}`);
  return new Map(result.rows.map((r) => [`${r.key}@${new Date(r.bucket).toISOString()}`, Number(r.count)]));
}

describe('usage tracker on pg-mem (the embedded default)', () => {
  it('probes pg-mem once, picks the VALUES path and writes exact coalesced totals', async () => {
    const { registry } = setup();
    const usage = track(createUsageTracker({ registry, service: 'usage', batchSize: 10_000 }));
    await usage.ensureSchema();
    expect(usage.stats().writeMode).toBe('values');
    let expected = 0;
    for (let i = 0; i < 5_000; i++) {
      usage.increment(`k${i % 250}`, 1 + (i % 3));
      expected += 1 + (i % 3);
    }
    const report = await usage.flush();
    expect(report).toMatchObject({ ok: true, batches: 1, rows: 250, increments: expected });
    usage.increment('k0', 7);
    await usage.flush();
    const rows = await totals(registry);
    expect(rows.size).toBe(250);
    let sum = 0;
    for (const v of rows.values()) sum += v;
    expect(sum).toBe(report.increments + 7);
    // k0 got i = 0, 250, … (20 of them) with by = 1 + (i % 3)
    let k0 = 7;
    for (let i = 0; i < 5_000; i += 250) k0 += 1 + (i % 3);
    expect(rows.get('k0@1970-01-01T00:00:00.000Z')).toBe(k0);
  });

  it('lands each increment in the bucket fixed at increment time, even when flushed later', async () => {
    const { registry } = setup();
    const usage = track(createUsageTracker({ registry, service: 'usage', bucket: 'hour', batchSize: 1_000 }));
    await usage.ensureSchema();
    const hour = Date.UTC(2024, 0, 1, 10);
    usage.increment('a', 1, hour - 1); // 09:59:59.999
    usage.increment('a', 2, hour); // 10:00:00.000
    usage.increment('a', 4, new Date(hour + 3_599_999)); // 10:59:59.999
    await usage.flush();
    const rows = await totals(registry);
    expect(rows.get('a@2024-01-01T09:00:00.000Z')).toBe(1);
    expect(rows.get('a@2024-01-01T10:00:00.000Z')).toBe(6);
  });

  it('stores counts beyond 2^31 in bigint', async () => {
    const { registry } = setup();
    const usage = track(createUsageTracker({ registry, service: 'usage' }));
    await usage.ensureSchema();
    usage.increment('big', 2 ** 31 + 5);
    usage.increment('big', 2 ** 32);
    await usage.flush();
    expect((await totals(registry)).get('big@1970-01-01T00:00:00.000Z')).toBe(2 ** 31 + 5 + 2 ** 32);
  });

  it('does not double count a batch whose commit succeeded but whose reply was lost', async () => {
    const { registry } = setup();
    let loseNextReply = true;
    // Same public API, with a fault after the write committed.
    const lossy: UsageRegistry<'auth' | 'usage'> = {
      services: registry.services,
      get closed() {
        return registry.closed;
      },
      query: (service, text, values) => registry.query(service, text, values),
      async transaction(service, fn) {
        const result = await registry.transaction(service, fn);
        if (loseNextReply) {
          loseNextReply = false;
          throw Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
        }
        return result;
      },
    };
    const usage = track(createUsageTracker({ registry: lossy, service: 'usage', random: () => 0 }));
    await usage.ensureSchema();
    usage.increment('once', 3);
    const first = await usage.flush();
    expect(first.ok).toBe(false);
    expect(usage.stats().frozenKeys).toBe(1);
    const second = await usage.flush();
    expect(second).toMatchObject({ ok: true, batches: 1 });
    expect(usage.stats()).toMatchObject({ retriedBatches: 1, failedWrites: 1, frozenKeys: 0 });
    expect((await totals(registry)).get('once@1970-01-01T00:00:00.000Z')).toBe(3);
  });

  it('quotes a schema-qualified table and uses it', async () => {
    const { registry } = setup();
    await registry.query('auth', 'create schema metrics');
    const usage = track(createUsageTracker({ registry, service: 'usage', table: 'metrics.Usage_2024' }));
    await usage.ensureSchema();
    usage.increment('x', 2);
    await usage.flush();
    const rows = await registry.query<{ count: number }>('auth', 'select count from metrics."Usage_2024"');
    expect(rows.rows.map((r) => Number(r.count))).toEqual([2]);
    const ledger = await registry.query<{ n: number }>('auth', 'select count(*)::int as n from metrics."Usage_2024_ledger"');
    expect(Number(ledger.rows[0]?.n)).toBe(1);
  });
});
