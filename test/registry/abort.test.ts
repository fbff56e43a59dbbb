import { describe, expect, it, vi } from 'vitest';
import { createPoolRegistry, isBulkheadError, type ServiceOptions } from '../../src/index';
import { FakeServer } from '../helpers/fake-client';
import { advance } from '../helpers/fake-time';
import { useFakeRegistries } from '../helpers/fake-registries';

const track = useFakeRegistries();

function setup(api: ServiceOptions) {
  const server = new FakeServer();
  const registry = createPoolRegistry({ Client: server.Client, applicationName: 'ab', breaker: { failureThreshold: 1_000 }, services: { api } });
  track(registry);
  return { server, registry };
}

function expectAbort(error: unknown, reason: unknown): void {
  expect(error).toBeInstanceOf(Error);
  expect((error as Error).name).toBe('AbortError');
  expect(isBulkheadError(error, 'ERR_ABORTED')).toBe(true);
  expect((error as Error).cause).toBe(reason);
}

describe('AbortSignal on acquire, query, withClient, transaction', () => {
  it('an already aborted signal rejects at once, before anything is borrowed or opened', async () => {
    const { registry, server } = setup({ size: 0, overflow: 2 });
    const reason = new Error('client went away');
    const signal = AbortSignal.abort(reason);
    const fn = vi.fn();
    const outcomes = await Promise.allSettled([
      registry.acquire('api', { signal }),
      registry.query('api', 'select 1', [], { signal }),
      registry.withClient('api', fn, { signal }),
      registry.transaction('api', fn, { signal }),
      registry.pgPool('api').query('select 1').then(() => 'the view has no signal: it runs'),
    ]);
    for (const outcome of outcomes.slice(0, 4)) {
      expect(outcome.status).toBe('rejected');
      expectAbort((outcome as PromiseRejectedResult).reason, reason);
    }
    expect(fn).not.toHaveBeenCalled();
    expect(registry.stats('api')).toMatchObject({ acquired: 1, waiting: 0, inUse: 0 });
    expect(server.connectAttempts).toBe(1); // the view's query only
  });

  it('aborting a queued waiter removes it at once; the connection released later goes to the next waiter, not to it', async () => {
    const { registry } = setup({ size: 1, overflow: 0, acquireTimeoutMs: 10_000 });
    const held = await registry.acquire('api');
    const controller = new AbortController();
    const aborted = registry.acquire('api', { signal: controller.signal }).catch((e: unknown) => e);
    const next = registry.acquire('api');
    await advance();
    expect(registry.stats('api').waiting).toBe(2);
    controller.abort('handler gone');
    expect(registry.stats('api').waiting).toBe(1);
    expectAbort(await aborted, 'handler gone');
    held.release();
    const lease = await next;
    expect(lease.connectionId).toBe(held.connectionId);
    lease.release();
    expect(registry.stats('api')).toMatchObject({ inUse: 0, idle: 1, waiting: 0, total: 1, timeouts: 0 });
  });

  it('aborting while a connection is being opened rejects at once; the connection that arrives later is kept idle, not leaked', async () => {
    const { registry, server } = setup({ size: 0, overflow: 1, acquireTimeoutMs: 10_000 });
    server.connectDelayMs = 500;
    const controller = new AbortController();
    const pending = registry.acquire('api', { signal: controller.signal }).catch((e: unknown) => e);
    await advance(100);
    controller.abort();
    expectAbort(await pending, controller.signal.reason);
    expect(registry.stats('api')).toMatchObject({ waiting: 0, inUse: 0 });
    await advance(500);
    expect(registry.stats('api')).toMatchObject({ inUse: 0, idle: 1, total: 1 });
    const lease = await registry.acquire('api');
    expect(lease.connectionId).toBeGreaterThan(0);
    lease.release();
  });

  it('aborting after the lease was handed out changes nothing (the signal only covers the wait)', async () => {
    const { registry } = setup({ size: 1, overflow: 0 });
    const controller = new AbortController();
    await registry.withClient(
      'api',
      async (client) => {
        controller.abort();
        await client.query('select 1');
      },
      { signal: controller.signal },
    );
    expect(registry.stats('api')).toMatchObject({ acquired: 1, inUse: 0 });
  });

  it('withClient and transaction reject with AbortError when aborted in the queue; fn never runs', async () => {
    const { registry } = setup({ size: 1, overflow: 0 });
    const held = await registry.acquire('api');
    const controller = new AbortController();
    const fn = vi.fn();
    const a = registry.withClient('api', fn, { signal: controller.signal }).catch((e: unknown) => e);
    const b = registry.transaction('api', fn, { signal: controller.signal }).catch((e: unknown) => e);
    const c = registry.query('api', 'select 1', undefined, { signal: controller.signal }).catch((e: unknown) => e);
    await advance();
    expect(registry.stats('api').waiting).toBe(3);
    controller.abort('stop');
    for (const outcome of await Promise.all([a, b, c])) expectAbort(outcome, 'stop');
    expect(fn).not.toHaveBeenCalled();
    expect(registry.stats('api').waiting).toBe(0);
    held.release();
    expect(registry.stats('api')).toMatchObject({ inUse: 0, idle: 1 });
  });
});

describe('per-call timeoutMs', () => {
  it('a shorter timeoutMs gives up at its own deadline, while waiters with the service timeout keep waiting in order', async () => {
    const { registry } = setup({ size: 1, overflow: 0, acquireTimeoutMs: 5_000 });
    const held = await registry.acquire('api');
    const patient = registry.acquire('api');
    const hasty = registry.acquire('api', { timeoutMs: 200 }).catch((e: unknown) => e);
    const later = registry.acquire('api');
    await advance(199);
    expect(registry.stats('api').waiting).toBe(3);
    await advance(1);
    const error = await hasty;
    expect(isBulkheadError(error, 'ERR_ACQUIRE_TIMEOUT')).toBe(true);
    expect((error as Error).message).toMatch(/no connection within 200 ms/);
    expect(registry.stats('api')).toMatchObject({ waiting: 2, timeouts: 1 });
    held.release();
    const first = await patient;
    first.release();
    (await later).release();
    expect(registry.stats('api')).toMatchObject({ waiting: 0, inUse: 0, timeouts: 1 });
  });

  it('a timeoutMs longer than the service acquireTimeoutMs is capped by it', async () => {
    const { registry } = setup({ size: 1, overflow: 0, acquireTimeoutMs: 300 });
    const held = await registry.acquire('api');
    const waiting = registry.acquire('api', { timeoutMs: 60_000 }).catch((e: unknown) => e);
    await advance(300);
    expect(isBulkheadError(await waiting, 'ERR_ACQUIRE_TIMEOUT')).toBe(true);
    held.release();
  });

  it('a shorter timeoutMs also bounds the wait for a connection being opened', async () => {
    const { registry, server } = setup({ size: 0, overflow: 1, acquireTimeoutMs: 5_000 });
    server.connectDelayMs = 1_000;
    const pending = registry.acquire('api', { timeoutMs: 100 }).catch((e: unknown) => e);
    await advance(100);
    expect(isBulkheadError(await pending, 'ERR_ACQUIRE_TIMEOUT')).toBe(true);
    await advance(1_000);
    expect(registry.stats('api')).toMatchObject({ inUse: 0, idle: 1 });
  });

  it('bad options are ERR_INVALID_ARGUMENT naming the option, and nothing is borrowed', async () => {
    const { registry } = setup({ size: 0, overflow: 1 });
    await expect(registry.acquire('api', { signal: 'soon' } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('options.signal') });
    await expect(registry.acquire('api', { timeoutMs: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('options.timeoutMs') });
    await expect(registry.query('api', 'select 1', [], { timeoutMs: -5 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('query options.timeoutMs') });
    await expect(registry.withClient('api', async () => {}, 'fast' as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('withClient options') });
    await expect(registry.transaction('api', async () => {}, { timeoutMs: Number.NaN })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect(registry.stats('api')).toMatchObject({ acquired: 0, total: 0 });
  });
});
