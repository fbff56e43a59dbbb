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
  ])('%s throws a TypeError with code ERR_INVALID_ARGUMENT and changes nothing', (_name, args) => {
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
    expect(usage.stats()).toEqual(before);
  });

  it('rejects a bad close timeout the same way', () => {
    const other = createUsageTracker({ sink });
    expect(() => other.close({ timeoutMs: -5 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    return other.close({ timeoutMs: 0 });
  });
});
