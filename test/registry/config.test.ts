import { describe, expect, it } from 'vitest';
import { ConfigError, createPoolRegistry, servicePresets } from '../../src/index';
import { FakeServer } from '../helpers/fake-client';

function problemsOf(build: () => unknown): { path: string; message: string }[] {
  try {
    build();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('ERR_CONFIG');
    return [...(error as ConfigError).problems];
  }
  throw new Error('expected ERR_CONFIG');
}

describe('registry options validation', () => {
  const { Client } = new FakeServer();

  it('lists every problem with its path, expectation and value', () => {
    const problems = problemsOf(() =>
      createPoolRegistry({
        Client,
        services: {
          auth: { size: -1, overflow: 1.5, acquireTimeoutMs: 0, priority: 'urgent' as never },
          llm: { recycleMs: Number.NaN, maxWaiting: -3 },
        },
      }),
    );
    expect(problems).toEqual([
      { path: 'services.auth.size', message: 'expected an integer from 0 to 10000, got -1 (number)' },
      { path: 'services.auth.overflow', message: 'expected an integer from 0 to 10000, got 1.5 (number)' },
      { path: 'services.auth.acquireTimeoutMs', message: 'expected a number of ms > 0 and <= 2147483647, got 0 (number)' },
      { path: 'services.auth.priority', message: "expected one of 'highest', 'high', 'medium', 'low', got \"urgent\" (string)" },
      { path: 'services.llm.recycleMs', message: 'expected a number of ms >= 0 and <= 2147483647, got NaN (number)' },
      { path: 'services.llm.maxWaiting', message: 'expected an integer >= 0, got -3 (number)' },
    ]);
  });

  it('rejects durations a Node timer cannot hold (they would fire at once) and a breaker that could storm', () => {
    const problems = problemsOf(() =>
      createPoolRegistry({ Client, maintenanceIntervalMs: 2 ** 31, breaker: { initialBackoffMs: 1 }, services: { auth: { acquireTimeoutMs: 2 ** 31 } } }),
    );
    expect(problems.map((p) => p.path)).toEqual(['maintenanceIntervalMs', 'breaker.initialBackoffMs', 'services.auth.acquireTimeoutMs']);
    expect(problems[1]?.message).toBe('expected a number of ms >= 10 and <= 2147483647, got 1 (number)');
  });

  it('rejects unknown keys, which catches typos from JavaScript callers', () => {
    const problems = problemsOf(() => createPoolRegistry({ Client, services: { auth: { sise: 3 } as never }, maxConections: 3 } as never));
    expect(problems.map((p) => p.path)).toEqual(['maxConections', 'services.auth.sise']);
    expect(problems[1]?.message).toMatch(/^unknown option \(known: size, overflow/);
  });

  it('rejects a service with no connections at all, empty services and bad names', () => {
    const problems = problemsOf(() => createPoolRegistry({ Client, services: { auth: { size: 0, overflow: 0 }, 'bad name;': {} } }));
    expect(problems).toContainEqual({ path: 'services.auth', message: 'size + overflow must be at least 1, got 0 connections' });
    expect(problems.find((p) => p.path === 'services.bad name;')?.message).toMatch(/must start with a letter/);
    expect(problemsOf(() => createPoolRegistry({ Client, services: {} }))).toEqual([{ path: 'services', message: 'expected at least one service, got none' }]);
  });

  it('rejects a random source that is not a function', () => {
    expect(problemsOf(() => createPoolRegistry({ Client, random: 0.5 as never, services: { auth: {} } }))).toEqual([
      { path: 'random', message: 'expected a function returning a number in [0, 1), got 0.5 (number)' },
    ]);
  });

  it('rejects application names PostgreSQL would mangle or truncate', () => {
    const long = problemsOf(() => createPoolRegistry({ Client, applicationName: 'x'.repeat(60), services: { auth: {} } }));
    expect(long[0]?.path).toBe('services.auth');
    expect(long[0]?.message).toMatch(/longer than PostgreSQL's 63-byte application_name/);
    const control = problemsOf(() => createPoolRegistry({ Client, applicationName: 'api\n', services: { auth: {} } }));
    expect(control[0]?.path).toBe('applicationName');
  });

  it('says so when the connection string is empty (an environment variable set to nothing)', () => {
    expect(problemsOf(() => createPoolRegistry({ Client, connection: '', services: { auth: {} } }))).toEqual([
      { path: 'connection', message: expect.stringContaining('got an empty string') },
    ]);
  });

  it('never echoes a connection string, which may carry a password', () => {
    const problems = problemsOf(() => createPoolRegistry({ Client, connection: 'http://user:hunter2-secret@db/x', services: { auth: {} } }));
    expect(problems).toHaveLength(1);
    expect(problems[0]?.path).toBe('connection');
    expect(JSON.stringify(problems)).not.toContain('hunter2');
  });

  it('keeps the password of a connectionString inside a pg.ClientConfig out of errors and events', async () => {
    const secret = 'Sup3r-secret-pw';
    // A driver that echoes its settings in its connect error, as some do on a malformed URL.
    class EchoingClient {
      constructor(readonly config: { connectionString?: string }) {}
      connect(): Promise<void> {
        return Promise.reject(new Error(`could not connect using ${this.config.connectionString}`));
      }
      query(): Promise<never> {
        return Promise.reject(new Error('not connected'));
      }
      end(): Promise<void> {
        return Promise.resolve();
      }
      on(): this {
        return this;
      }
    }
    const registry = createPoolRegistry({
      Client: EchoingClient as never,
      connection: { connectionString: `postgres://app:${secret}@db.internal:5432/main` },
      services: { auth: { size: 0, overflow: 1, acquireTimeoutMs: 200 } },
    });
    const seen: unknown[] = [];
    registry.on('connect-error', (e) => seen.push(e));
    try {
      const failure = await registry.query('auth', 'select 1').catch((error: unknown) => error);
      seen.push(failure);
      expect(JSON.stringify(seen.map((e) => (e instanceof Error ? { message: e.message, stack: e.stack, cause: String((e as { cause?: unknown }).cause) } : e)))).not.toContain(secret);
      expect(String((failure as Error).message) + String(JSON.stringify(seen))).toContain('could not connect using postgres://app:');
      expect(JSON.stringify(registry.stats())).not.toContain(secret);
    } finally {
      await registry.close();
    }
  });

  it('accepts the presets as they are, and spread overrides', () => {
    const registry = createPoolRegistry({ Client, services: servicePresets });
    expect(registry.services).toEqual(['auth', 'extension', 'llm', 'usage', 'background']);
    expect(registry.serviceOptions('auth')).toMatchObject({ size: 3, overflow: 5, acquireTimeoutMs: 5000, recycleMs: 900_000, priority: 'highest' });
    expect(registry.serviceOptions('llm')).toMatchObject({ size: 8, overflow: 15, acquireTimeoutMs: 30_000, recycleMs: 3_600_000, priority: 'medium' });
    expect(registry.serviceOptions('extension')).toMatchObject({ size: 5, overflow: 10, acquireTimeoutMs: 10_000, recycleMs: 1_800_000, priority: 'high' });
    expect(registry.serviceOptions('usage')).toMatchObject({ size: 2, overflow: 4, acquireTimeoutMs: 15_000, recycleMs: 1_800_000, priority: 'low', queryTimeoutMs: 30_000 });
    expect(registry.serviceOptions('auth').queryTimeoutMs).toBe(0);
    expect(registry.serviceOptions('background')).toMatchObject({ size: 3, overflow: 6, acquireTimeoutMs: 20_000, recycleMs: 2_400_000, priority: 'low' });
    const custom = createPoolRegistry({ Client, services: { ...servicePresets, llm: { ...servicePresets.llm, overflow: 8 } } });
    expect(custom.serviceOptions('llm').overflow).toBe(8);
    // explicit zero is kept, not replaced by a default (no `||`)
    const zero = createPoolRegistry({ Client, services: { auth: { size: 0, overflow: 2, recycleMs: 0 } } });
    expect(zero.serviceOptions('auth')).toMatchObject({ size: 0, recycleMs: 0 });
    return Promise.all([registry.close(), custom.close(), zero.close()]);
  });
});
