// Hostile input, part 2: misuse from JavaScript callers (no types to stop them). Each gets a coded error at once,
// never a hang, and the pool stays usable with its accounting intact afterwards.
import { afterEach, describe, expect, it } from 'vitest';
import { createPoolRegistry, createUsageTracker, type Lease } from '../../src/index';
import { FakeServer } from '../helpers/fake-client';

/** Settles within `ms` or reports a hang: misuse must never leave a promise pending. */
async function outcome(promise: Promise<unknown>, ms = 2_000): Promise<{ code: string | undefined; name: string } | 'resolved' | 'HUNG'> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<'HUNG'>((resolve) => {
    timer = setTimeout(() => resolve('HUNG'), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => 'resolved' as const,
        (error: { code?: string; name?: string }) => ({ code: error?.code, name: String(error?.name) }),
      ),
      hang,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
function thrown(fn: () => unknown): { code: string | undefined; name: string } | 'returned' {
  try {
    fn();
    return 'returned';
  } catch (error) {
    return { code: (error as { code?: string }).code, name: (error as Error).name };
  }
}

const made: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  await Promise.all(made.splice(0).map((r) => r.close()));
});

function setup() {
  const server = new FakeServer();
  const registry = createPoolRegistry({
    Client: server.Client,
    applicationName: 'misuse',
    services: { auth: { size: 1, overflow: 1, acquireTimeoutMs: 500 }, llm: { size: 1, overflow: 0, acquireTimeoutMs: 500 } },
  });
  made.push(registry);
  // JavaScript callers: no compile-time service names, no parameter types.
  const js = registry as unknown as {
    acquire(s: unknown): Promise<Lease>;
    query(s: unknown, text: unknown, values?: unknown): Promise<unknown>;
    withClient(s: unknown, fn: unknown): Promise<unknown>;
    transaction(s: unknown, fn: unknown): Promise<unknown>;
    stats(s: unknown): unknown;
    resize(s: unknown, limits: unknown): void;
    serviceOptions(s: unknown): unknown;
  };
  /** The pool is intact: everything can be borrowed at once, then all of it comes back. */
  const intact = async (): Promise<void> => {
    const leases = await Promise.all([registry.acquire('auth'), registry.acquire('auth'), registry.acquire('llm')]);
    for (const lease of leases) lease.release();
    expect(registry.stats('auth')).toMatchObject({ inUse: 0, waiting: 0 });
    expect(registry.stats('llm')).toMatchObject({ inUse: 0, waiting: 0 });
    expect(server.open('misuse:auth').length).toBeLessThanOrEqual(2);
    expect(server.open('misuse:llm').length).toBeLessThanOrEqual(1);
  };
  return { server, registry, js, intact };
}

describe('misuse from JavaScript callers', () => {
  it('an unknown service name is ERR_UNKNOWN_SERVICE everywhere, as a rejection or a throw', async () => {
    const { js, intact } = setup();
    for (const name of ['nope', undefined, null, 42, {}, 'AUTH', '__proto__', 'constructor', 'toString']) {
      expect(await outcome(js.acquire(name))).toMatchObject({ code: 'ERR_UNKNOWN_SERVICE' });
      expect(await outcome(js.query(name, 'select 1'))).toMatchObject({ code: 'ERR_UNKNOWN_SERVICE' });
      expect(await outcome(js.withClient(name, async () => 1))).toMatchObject({ code: 'ERR_UNKNOWN_SERVICE' });
      expect(await outcome(js.transaction(name, async () => 1))).toMatchObject({ code: 'ERR_UNKNOWN_SERVICE' });
      // stats(undefined) is stats() of the whole registry, by design
      if (name !== undefined) expect(thrown(() => js.stats(name)), `stats(${String(name)})`).toMatchObject({ code: 'ERR_UNKNOWN_SERVICE' });
      expect(thrown(() => js.resize(name, { overflow: 1 })), `resize(${String(name)})`).toMatchObject({ code: 'ERR_UNKNOWN_SERVICE' });
      expect(thrown(() => js.serviceOptions(name)), `serviceOptions(${String(name)})`).toMatchObject({ code: 'ERR_UNKNOWN_SERVICE' });
    }
    await intact();
  });

  it('a lease released twice throws ERR_DOUBLE_RELEASE, and the connection is not returned twice', async () => {
    const { registry, intact } = setup();
    for (let i = 0; i < 20; i++) {
      const lease = await registry.acquire('auth');
      lease.release();
      expect(thrown(() => lease.release())).toMatchObject({ code: 'ERR_DOUBLE_RELEASE' });
      expect(thrown(() => lease.release(new Error('x')))).toMatchObject({ code: 'ERR_DOUBLE_RELEASE' });
      expect(thrown(() => lease.release(true))).toMatchObject({ code: 'ERR_DOUBLE_RELEASE' });
    }
    // If the second release had returned the connection again, two callers would now share it.
    const a = await registry.acquire('auth');
    const b = await registry.acquire('auth');
    expect(a.connectionId).not.toBe(b.connectionId);
    a.release();
    b.release();
    expect(registry.stats('auth')).toMatchObject({ inUse: 0 });
    await intact();
  });

  it('a lease used after release throws ERR_LEASE_RELEASED without touching the connection', async () => {
    const { registry, server, intact } = setup();
    const lease = await registry.acquire('llm');
    lease.release();
    const next = await registry.acquire('llm'); // the same connection, now someone else's
    const before = server.clients.flatMap((c) => c.queries).length;
    expect(await outcome(lease.query('select 1'))).toMatchObject({ code: 'ERR_LEASE_RELEASED' });
    expect(server.clients.flatMap((c) => c.queries).length).toBe(before);
    expect(lease.released).toBe(true);
    next.release();
    await intact();
  });

  it('release with a strange argument from JavaScript still returns the connection exactly once', async () => {
    const { registry, intact } = setup();
    for (const arg of ['oops', 0, null, {}, 1]) {
      const lease = await registry.acquire('auth');
      (lease.release as (a: unknown) => void)(arg);
      expect(registry.stats('auth').inUse).toBe(0);
    }
    await intact();
  });

  it('after close, every call is ERR_POOL_CLOSED at once; close is idempotent; a lease released after close is fine', async () => {
    const { registry, js } = setup();
    const held = await registry.acquire('auth');
    const closing = registry.close({ timeoutMs: 200 });
    expect(registry.close()).toBe(closing);
    expect(await outcome(registry.acquire('auth'))).toMatchObject({ code: 'ERR_POOL_CLOSED' });
    held.release();
    expect((await closing).clean).toBe(true);
    expect(await outcome(registry.acquire('auth'))).toMatchObject({ code: 'ERR_POOL_CLOSED' });
    expect(await outcome(registry.query('llm', 'select 1'))).toMatchObject({ code: 'ERR_POOL_CLOSED' });
    expect(await outcome(registry.withClient('auth', async () => 1))).toMatchObject({ code: 'ERR_POOL_CLOSED' });
    expect(await outcome(registry.transaction('auth', async () => 1))).toMatchObject({ code: 'ERR_POOL_CLOSED' });
    expect(await outcome(registry.openClient())).toMatchObject({ code: 'ERR_POOL_CLOSED' });
    expect(thrown(() => registry.resize('auth', { overflow: 3 }))).toMatchObject({ code: 'ERR_POOL_CLOSED' });
    expect(await outcome(js.acquire('nope'))).toMatchObject({ code: 'ERR_POOL_CLOSED' });
    expect(thrown(() => held.release())).toMatchObject({ code: 'ERR_DOUBLE_RELEASE' });
    expect(registry.stats('auth')).toMatchObject({ inUse: 0, total: 0 }); // stats still answer
  });

  it('a usage tracker after close drops and counts increments; bad arguments are ERR_INVALID_ARGUMENT', async () => {
    const usage = createUsageTracker({ sink: async () => {} });
    const js = usage as unknown as { increment(k: unknown, by?: unknown, at?: unknown): void; close(o: unknown): Promise<unknown> };
    for (const [key, by, at] of [[42, 1, undefined], ['', 1, undefined], ['k', 0, undefined], ['k', 1.5, undefined], ['k', '1', undefined], ['k', 1, 'today'], ['k', 1, new Date(Number.NaN)]]) {
      expect(thrown(() => js.increment(key, by, at))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    }
    expect(thrown(() => js.close({ timeoutMs: -1 }))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await usage.close();
    usage.increment('late');
    expect(usage.stats()).toMatchObject({ droppedCalls: 1, pendingKeys: 0 });
  });

  it('withClient and transaction reject a non-function callback with ERR_INVALID_ARGUMENT, before acquiring', async () => {
    const { registry, js, server, intact } = setup();
    for (const fn of ['notfn', null, undefined, 42, {}]) {
      expect(await outcome(js.withClient('auth', fn))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      expect(await outcome(js.transaction('auth', fn))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    }
    expect(server.clients.flatMap((c) => c.queries).filter((q) => q === 'BEGIN')).toEqual([]);
    expect(registry.stats('auth').acquired).toBe(0);
    await intact();
  });

  it('withClient and transaction with a non-function callback at least settle and leave the pool intact', async () => {
    const { js, intact } = setup();
    for (const fn of ['notfn', null, undefined, 42, {}]) {
      expect(await outcome(js.withClient('auth', fn))).not.toBe('HUNG');
      expect(await outcome(js.transaction('auth', fn))).not.toBe('HUNG');
    }
    await intact();
  });

  it('resize with a non-object limits is a coded error', () => {
    const { js } = setup();
    for (const limits of [null, 42, 'big']) {
      expect(thrown(() => js.resize('auth', limits))).toMatchObject({ code: expect.stringMatching(/^ERR_/) });
    }
  });
});
