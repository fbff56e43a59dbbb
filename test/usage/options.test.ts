import { describe, expect, it } from 'vitest';
import { ConfigError, InvalidArgumentError, isBulkheadError } from '../../src/errors';
import { createUsageTracker, type UsageTracker } from '../../src/usage/usage-tracker';
import type { UsageRegistry } from '../../src/usage/registry-port';

const sink = async (): Promise<void> => {};
const registry: UsageRegistry<'auth' | 'usage'> = {
  services: ['auth', 'usage'],
  closed: false,
  query: () => Promise.reject(new Error('not used')),
  transaction: () => Promise.reject(new Error('not used')),
};

function configProblems(options: unknown): { path: string; message: string }[] {
  try {
    const tracker = createUsageTracker(options as Parameters<typeof createUsageTracker>[0]);
    void tracker.close({ timeoutMs: 0 });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect(isBulkheadError(error, 'ERR_CONFIG')).toBe(true);
    return [...(error as ConfigError).problems];
  }
  return [];
}

describe('table names', () => {
  it.each(['usage_counters', 'Usage_2024', '_u', 'metrics.usage_counters', 'a'.repeat(53)])('accepts %s', (table) => {
    expect(configProblems({ registry, service: 'usage', table })).toEqual([]);
  });

  it.each([
    'usage; DROP TABLE users',
    'usage"; DROP TABLE users; --',
    "usage'--",
    'usage counters',
    'usage--',
    'usage/**/x',
    '"usage"',
    'public."usage"',
    'a.b.c',
    '.usage',
    'usage.',
    '',
    '1usage',
    'usage\u0000',
    'usäge',
    'a'.repeat(54),
    `${'s'.repeat(64)}.usage`,
    42,
    null,
  ])('rejects %j with ERR_CONFIG on the table path', (table) => {
    const problems = configProblems({ registry, service: 'usage', table });
    expect(problems).toHaveLength(1);
    expect(problems[0]?.path).toBe('table');
    expect(problems[0]?.message).toMatch(/^expected /);
  });
});

describe('options', () => {
  it('lists every problem at once, with paths', () => {
    const problems = configProblems({
      registry,
      service: 'nope',
      batchSize: 0,
      flushIntervalMs: -1,
      maxPendingKeys: 1.5,
      bucket: 'week',
      retryBaseMs: 10_000,
      retryMaxMs: 5_000,
      chunkSize: 100_000,
      writeMode: 'copy',
      flushIntervalMS: 10,
    });
    expect(problems.map((p) => p.path).sort()).toEqual(
      ['batchSize', 'bucket', 'chunkSize', 'options.flushIntervalMS', 'flushIntervalMs', 'maxPendingKeys', 'retryMaxMs', 'service', 'writeMode'].sort(),
    );
    expect(problems.find((p) => p.path === 'batchSize')?.message).toBe('expected an integer >= 1, got 0 (number)');
  });

  it('needs a registry and one of its services unless a sink is given', () => {
    expect(configProblems({ service: 'usage' }).map((p) => p.path)).toEqual(['registry']);
    expect(configProblems({ registry }).map((p) => p.path)).toEqual(['service']);
    expect(configProblems({ sink })).toEqual([]);
    expect(configProblems({ sink: 'db' }).map((p) => p.path)).toEqual(['sink']);
    expect(configProblems(null).map((p) => p.path)).toEqual(['options']);
  });
});

describe('increment arguments', () => {
  const usage: UsageTracker = createUsageTracker({ sink, bucket: 'hour' });

  it.each([
    ['empty key', ['']],
    ['number key', [42]],
    ['missing key', [undefined]],
    ['zero by', ['k', 0]],
    ['negative by', ['k', -1]],
    ['fractional by', ['k', 1.5]],
    ['NaN by', ['k', Number.NaN]],
    ['string by', ['k', '1']],
    ['unsafe by', ['k', 2 ** 53]],
    ['Infinity by', ['k', Number.POSITIVE_INFINITY]],
    ['NaN at', ['k', 1, Number.NaN]],
    ['invalid Date at', ['k', 1, new Date('nope')]],
    ['string at', ['k', 1, '2024-01-01']],
    ['NUL in key', ['a\u0000b']],
    ['key over maxKeyBytes (1024 UTF-8 bytes)', ['é'.repeat(513)]],
    ['8 KB key', ['x'.repeat(8_192)]],
    ['at past what a Date holds', ['k', 1, 1e16]],
    ['at after year 9999', ['k', 1, Date.parse('+010000-01-01T00:00:00Z')]],
    ['at before year 0001', ['k', 1, Date.parse('0000-12-31T23:59:59Z')]],
  ])('%s throws a TypeError with code ERR_INVALID_ARGUMENT, changes nothing but rejectedCalls', (_name, args) => {
    const before = usage.stats();
    let thrown: unknown;
    try {
      (usage.increment as (...a: unknown[]) => void)(...args);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect(thrown).toBeInstanceOf(InvalidArgumentError);
    expect((thrown as InvalidArgumentError).code).toBe('ERR_INVALID_ARGUMENT');
    expect(isBulkheadError(thrown, 'ERR_INVALID_ARGUMENT')).toBe(true);
    expect((thrown as Error).message).toMatch(/^usage\.increment: (key|by|at): expected /);
    expect((thrown as Error).message.length).toBeLessThan(300); // a huge key is previewed, not echoed
    expect(usage.stats()).toEqual({ ...before, rejectedCalls: before.rejectedCalls + 1 });
  });

  it('accepts the edges: 1024 UTF-8 bytes, the first ms of year 0001 and the last of year 9999', () => {
    const edge = createUsageTracker({ sink, bucket: 'day' });
    edge.increment('é'.repeat(512));
    edge.increment('k', 1, Date.parse('0001-01-01T00:00:00Z'));
    edge.increment('k', 1, Date.parse('9999-12-31T23:59:59.999Z'));
    expect(edge.stats()).toMatchObject({ pendingKeys: 3, rejectedCalls: 0 });
    return edge.close({ timeoutMs: 0 });
  });

  it('maxKeyBytes is configurable from 1 to 2048', () => {
    const small = createUsageTracker({ sink, maxKeyBytes: 4 });
    small.increment('abcd');
    expect(() => small.increment('abcde')).toThrow(/key: expected at most 4 UTF-8 bytes \(maxKeyBytes\), got 5 bytes/);
    expect(() => createUsageTracker({ sink, maxKeyBytes: 4_096 })).toThrow(/maxKeyBytes: expected an integer from 1 to 2048, got 4096/);
    return small.close({ timeoutMs: 0 });
  });

  it('rejects an increment that would take one pending counter past Number.MAX_SAFE_INTEGER, keeping the count exact', () => {
    const big = createUsageTracker({ sink });
    big.increment('k', Number.MAX_SAFE_INTEGER - 1);
    big.increment('k', 1);
    expect(() => big.increment('k', 1)).toThrow(/by: 1 would take the pending count of "k" past Number.MAX_SAFE_INTEGER/);
    expect(big.stats()).toMatchObject({ pendingIncrements: Number.MAX_SAFE_INTEGER, rejectedCalls: 1 });
    return big.close({ timeoutMs: 0 });
  });

  it('rejects a bad close timeout the same way', () => {
    const other = createUsageTracker({ sink });
    expect(() => other.close({ timeoutMs: -5 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    return other.close({ timeoutMs: 0 });
  });
});
