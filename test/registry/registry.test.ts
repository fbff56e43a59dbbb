import { describe, expect, it, vi } from 'vitest';
import { createPoolRegistry, isBulkheadError, type RemoveEvent, type ServiceOptions } from '../../src/index';
import { FakeServer, result } from '../helpers/fake-client';
import { advance } from '../helpers/fake-time';
import { useFakeRegistries } from '../helpers/fake-registries';

function setup<const S extends Record<string, ServiceOptions>>(services: S, extra: { maintenanceIntervalMs?: number; random?: () => number } = {}) {
  const server = new FakeServer();
  const registry = createPoolRegistry({ Client: server.Client, applicationName: 'app', services, ...extra });
  return { server, registry };
}

const settle = advance;

const track = useFakeRegistries();

describe('acquire and release', () => {
  it('opens `size` connections at start, each named <app>:<service>, and leases them', async () => {
    const { server, registry } = setup({ auth: { size: 2, overflow: 1 }, llm: { size: 1, overflow: 0 } });
    track(registry);
    await settle();
    expect(server.open('app:auth')).toHaveLength(2);
    expect(server.open('app:llm')).toHaveLength(1);
    const lease = await registry.acquire('auth');
    expect(lease.service).toBe('auth');
    expect(registry.stats('auth')).toMatchObject({ inUse: 1, idle: 1, total: 2, acquired: 1, waiting: 0 });
    lease.release();
    expect(registry.stats('auth')).toMatchObject({ inUse: 0, idle: 2 });
  });

  it('a second release is ERR_DOUBLE_RELEASE and does not corrupt the pool', async () => {
    const { registry } = setup({ auth: { size: 1, overflow: 0 } });
    track(registry);
    const lease = await registry.acquire('auth');
    lease.release();
    expect(() => lease.release()).toThrowError(expect.objectContaining({ code: 'ERR_DOUBLE_RELEASE' }));
    await expect(lease.query('select 1')).rejects.toMatchObject({ code: 'ERR_LEASE_RELEASED' });
    expect(registry.stats('auth').inUse).toBe(0);
    // the one connection is still usable, and only once at a time
    const again = await registry.acquire('auth');
    const third = registry.acquire('auth');
    let thirdSettled = false;
    void third.then(() => (thirdSettled = true));
    await settle(10);
    expect(thirdSettled).toBe(false);
    again.release();
    (await third).release();
  });

  it('rejects an unknown service from JavaScript callers with ERR_UNKNOWN_SERVICE', async () => {
    const { registry } = setup({ auth: {} });
    track(registry);
    await expect(registry.query('auht' as never, 'select 1')).rejects.toMatchObject({ code: 'ERR_UNKNOWN_SERVICE', message: expect.stringContaining('auth') });
    expect(() => registry.stats('auht' as never)).toThrowError(expect.objectContaining({ code: 'ERR_UNKNOWN_SERVICE' }));
  });

  it('passes PostgreSQL errors through unchanged and keeps the connection', async () => {
    const { server, registry } = setup({ auth: { size: 1, overflow: 0 } });
    track(registry);
    const sqlError = Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' });
    server.onQuery = (text) => {
      if (text === 'insert') throw sqlError;
      return result();
    };
    await expect(registry.query('auth', 'insert')).rejects.toBe(sqlError);
    expect(registry.stats('auth')).toMatchObject({ errors: 1, total: 1, removed: 0 });
  });
});

describe('waiting: timeout and queue cap', () => {
  it('rejects with ERR_ACQUIRE_TIMEOUT after acquireTimeoutMs, saying who holds what', async () => {
    const { registry } = setup({ auth: { size: 1, overflow: 1, acquireTimeoutMs: 500 } });
    track(registry);
    const events: unknown[] = [];
    registry.on('acquire-timeout', (e) => events.push(e));
    const a = await registry.acquire('auth');
    const b = await registry.acquire('auth');
    const waiting = registry.acquire('auth');
    const outcome = waiting.then(
      () => 'served',
      (e: unknown) => e,
    );
    await settle(499);
    expect(registry.stats('auth').waiting).toBe(1);
    await settle(1);
    const error = await outcome;
    expect(isBulkheadError(error, 'ERR_ACQUIRE_TIMEOUT')).toBe(true);
    expect((error as Error).message).toBe('auth: no connection within 500 ms (2 in use, 2 max, 0 waiting)');
    expect(events).toEqual([expect.objectContaining({ service: 'auth', waitedMs: 500, inUse: 2, max: 2 })]);
    expect(registry.stats('auth')).toMatchObject({ timeouts: 1, waiting: 0 });
    a.release();
    b.release();
  });

  it('serves waiters first-come first-served as connections come back', async () => {
    const { registry } = setup({ auth: { size: 1, overflow: 0 } });
    track(registry);
    const held = await registry.acquire('auth');
    const order: number[] = [];
    const waiters = [1, 2, 3].map((n) =>
      registry.acquire('auth').then((lease) => {
        order.push(n);
        lease.release();
      }),
    );
    held.release();
    await Promise.all(waiters);
    expect(order).toEqual([1, 2, 3]);
  });

  it('rejects at once with ERR_QUEUE_FULL at maxWaiting, and counts it', async () => {
    const { registry } = setup({ auth: { size: 1, overflow: 0, maxWaiting: 2 } });
    track(registry);
    const seen: unknown[] = [];
    registry.on('queue-full', (e) => seen.push(e));
    const held = await registry.acquire('auth');
    const w1 = registry.acquire('auth');
    const w2 = registry.acquire('auth');
    await expect(registry.acquire('auth')).rejects.toMatchObject({ code: 'ERR_QUEUE_FULL', waiting: 2, maxWaiting: 2, message: 'auth: wait queue is full (2 waiting, maxWaiting 2)' });
    expect(seen).toEqual([{ service: 'auth', waiting: 2, maxWaiting: 2 }]);
    expect(registry.stats('auth').queueRejections).toBe(1);
    held.release();
    (await w1).release();
    (await w2).release();
  });

  it('names the last connection error when connecting is what failed, and does not spin', async () => {
    const server = new FakeServer();
    server.refuse = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    // a breaker that never opens, so the acquire waits out its timeout
    const registry = track(createPoolRegistry({ Client: server.Client, breaker: { failureThreshold: 1_000 }, services: { auth: { size: 0, overflow: 1, acquireTimeoutMs: 1_000 } } }));
    const outcome = registry.acquire('auth').catch((e: unknown) => e);
    await settle(1_000);
    const error = (await outcome) as Error;
    expect(error).toMatchObject({ code: 'ERR_ACQUIRE_TIMEOUT' });
    expect(error.message).toContain('last connection error: connect ECONNREFUSED');
    expect((error.cause as Error).message).toBe('connect ECONNREFUSED 127.0.0.1:5432');
    // backoff between attempts: a handful in one second, not thousands
    expect(server.connectAttempts).toBeGreaterThan(1);
    expect(server.connectAttempts).toBeLessThan(20);
  });
});

describe('connections: overflow, recycling, failures', () => {
  it('opens overflow connections for a burst and closes them after idleTimeoutMs, back to size', async () => {
    const { server, registry } = setup({ llm: { size: 2, overflow: 3, idleTimeoutMs: 5_000 } }, { maintenanceIntervalMs: 1_000 });
    track(registry);
    const removed: RemoveEvent[] = [];
    registry.on('remove', (e) => removed.push(e));
    const leases = await Promise.all([1, 2, 3, 4, 5].map(() => registry.acquire('llm')));
    expect(registry.stats('llm')).toMatchObject({ total: 5, inUse: 5, overflowInUse: 3, utilization: 1 });
    expect(server.open('pg-bulkhead:llm').length + server.open('app:llm').length).toBe(5);
    for (const lease of leases) lease.release();
    await settle(4_000);
    expect(registry.stats('llm').total).toBe(5);
    await settle(3_000);
    expect(registry.stats('llm')).toMatchObject({ total: 2, idle: 2 });
    expect(server.open('app:llm')).toHaveLength(2);
    expect(removed.map((e) => e.reason)).toEqual(['overflow', 'overflow', 'overflow']);
  });

  it('never opens more than size + overflow, however many wait', async () => {
    const { server, registry } = setup({ llm: { size: 1, overflow: 2 } });
    track(registry);
    const all = Array.from({ length: 20 }, () => registry.acquire('llm').then((lease) => lease));
    await settle();
    expect(server.clients).toHaveLength(3);
    expect(registry.stats('llm')).toMatchObject({ inUse: 3, waiting: 17 });
    // release as they come: everyone is served by the same three connections
    let served = 0;
    for (const p of all) {
      const lease = await p;
      served++;
      lease.release();
    }
    expect(served).toBe(20);
    expect(server.clients).toHaveLength(3);
  });

  it('recycles a connection past recycleMs and replaces it to keep size', async () => {
    const { server, registry } = setup({ auth: { size: 1, overflow: 0, recycleMs: 60_000 } }, { maintenanceIntervalMs: 1_000 });
    track(registry);
    const removed: RemoveEvent[] = [];
    registry.on('remove', (e) => removed.push(e));
    const first = await registry.acquire('auth');
    const firstId = first.connectionId;
    first.release();
    await settle(61_000);
    expect(removed).toEqual([expect.objectContaining({ reason: 'recycled', connectionId: firstId })]);
    expect(removed[0]!.ageMs).toBeGreaterThanOrEqual(57_000); // jitter subtracts at most 5 %
    expect(server.open('app:auth')).toHaveLength(1);
    const second = await registry.acquire('auth');
    expect(second.connectionId).not.toBe(firstId);
    second.release();
  });

  it.each([
    ['0 (no jitter)', () => 0, 100_000],
    ['just under 1 (the most jitter: 5 %)', () => 0.999_999, 95_000],
    ['out of range (2, clamped to just under 1)', () => 2, 95_000],
  ])('recycle jitter comes from the injected random source: %s', async (_, random, lifetimeMs) => {
    const { registry } = setup({ auth: { size: 1, overflow: 0, recycleMs: 100_000 } }, { maintenanceIntervalMs: 500, random });
    track(registry);
    const removed: RemoveEvent[] = [];
    registry.on('remove', (e) => removed.push(e));
    await settle(lifetimeMs - 1_000);
    expect(removed).toEqual([]);
    await settle(1_500);
    expect(removed).toEqual([expect.objectContaining({ reason: 'recycled' })]);
    expect(removed[0]!.ageMs).toBeGreaterThanOrEqual(lifetimeMs - 1);
    expect(removed[0]!.ageMs).toBeLessThanOrEqual(lifetimeMs + 500);
  });

  it('a leased connection past its lifetime is closed on release, not reused', async () => {
    const { registry } = setup({ auth: { size: 1, overflow: 0, recycleMs: 10_000 } }, { maintenanceIntervalMs: 60_000 });
    track(registry);
    const lease = await registry.acquire('auth');
    await settle(11_000);
    const released: unknown[] = [];
    registry.on('release', (e) => released.push(e));
    lease.release();
    expect(released).toEqual([expect.objectContaining({ destroyed: true })]);
    const next = await registry.acquire('auth');
    expect(next.connectionId).not.toBe(lease.connectionId);
    next.release();
  });

  it('an idle backend killed by the server (57P01) is reported, removed and replaced; nothing throws', async () => {
    const { server, registry } = setup({ auth: { size: 2, overflow: 0 } });
    track(registry);
    await settle();
    const errors: unknown[] = [];
    const removed: RemoveEvent[] = [];
    registry.on('error', (e) => errors.push(e));
    registry.on('remove', (e) => removed.push(e));
    expect(server.terminateAll('app:auth')).toBe(2);
    await settle(10);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatchObject({ service: 'auth', error: { code: '57P01' } });
    expect(removed.map((e) => e.reason)).toEqual(['broken', 'broken']);
    expect(server.open('app:auth')).toHaveLength(2);
    const rows = await registry.query('auth', 'select 1');
    expect(rows.command).toBe('SELECT');
  });

  it('a leased connection that breaks is destroyed on release, never handed out again', async () => {
    const { server, registry } = setup({ auth: { size: 1, overflow: 0 } });
    track(registry);
    const lease = await registry.acquire('auth');
    server.onQuery = (_text, _values, client) => {
      client.terminate();
      throw Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
    };
    await expect(lease.query('select pg_sleep(10)')).rejects.toMatchObject({ code: '57P01' });
    lease.release();
    server.onQuery = () => result();
    const next = await registry.acquire('auth');
    expect(next.connectionId).not.toBe(lease.connectionId);
    expect(registry.stats('auth')).toMatchObject({ removed: 1, errors: 1 });
    next.release();
  });

  it('checks a connection that sat idle longer than validateAfterIdleMs before handing it out', async () => {
    const { server, registry } = setup({ auth: { size: 1, overflow: 0, validateAfterIdleMs: 30_000 } }, { maintenanceIntervalMs: 600_000 });
    track(registry);
    const first = await registry.acquire('auth');
    first.release();
    const client = server.clients[0]!;
    await settle(10_000);
    (await registry.acquire('auth')).release();
    expect(client.queries).toEqual([]); // fresh enough: no round trip
    await settle(31_000);
    // the server dropped it silently: the ping fails, the pool opens a new one instead of failing the caller
    server.onQuery = (text, _v, c) => {
      if (c === client) throw Object.assign(new Error('Connection terminated unexpectedly'), {});
      return result();
    };
    const lease = await registry.acquire('auth');
    expect(client.queries).toEqual(['SELECT 1']);
    expect(lease.connectionId).not.toBe(first.connectionId);
    lease.release();
  });

  it('the acquire deadline also bounds the check of idle connections on a network that stopped answering', async () => {
    const { server, registry } = setup({ auth: { size: 3, overflow: 0, validateAfterIdleMs: 1_000, acquireTimeoutMs: 300 } }, { maintenanceIntervalMs: 600_000 });
    track(registry);
    await settle(10);
    await settle(2_000); // every connection is now due for a check
    server.onQuery = () => new Promise(() => {}); // the partition: sockets open, nothing answers
    const outcome = registry.acquire('auth').then(
      () => 'served',
      (e: { code?: string }) => e.code,
    );
    await settle(300);
    expect(await outcome).toBe('ERR_ACQUIRE_TIMEOUT');
  });

  it('reports a lease held longer than leakDetectionMs, once, with where it was acquired', async () => {
    const { registry } = setup({ auth: { size: 1, overflow: 0, leakDetectionMs: 2_000 } }, { maintenanceIntervalMs: 500 });
    track(registry);
    const leaks: { heldMs: number; acquiredAt: string }[] = [];
    registry.on('leak', (e) => leaks.push(e));
    const lease = await registry.acquire('auth');
    await settle(1_500);
    expect(leaks).toHaveLength(0);
    await settle(2_000);
    expect(leaks).toHaveLength(1);
    expect(leaks[0]!.heldMs).toBeGreaterThanOrEqual(2_000);
    expect(leaks[0]!.acquiredAt).toContain('registry.test.ts');
    lease.release();
  });
});

describe('helpers', () => {
  it('withClient releases the client even when the callback throws', async () => {
    const { registry } = setup({ auth: { size: 1, overflow: 0 } });
    track(registry);
    await expect(
      registry.withClient('auth', async () => {
        throw new Error('handler failed');
      }),
    ).rejects.toThrow('handler failed');
    expect(registry.stats('auth')).toMatchObject({ inUse: 0, idle: 1, removed: 0 });
  });

  it('transaction commits on success and rolls back on error', async () => {
    const { server, registry } = setup({ auth: { size: 1, overflow: 0 } });
    track(registry);
    const value = await registry.transaction('auth', async (client) => {
      await client.query('update a');
      return 42;
    });
    expect(value).toBe(42);
    await expect(
      registry.transaction('auth', async (client) => {
        await client.query('update b');
        throw new Error('nope');
      }),
    ).rejects.toThrow('nope');
    expect(server.clients[0]!.queries).toEqual(['BEGIN', 'update a', 'COMMIT', 'BEGIN', 'update b', 'ROLLBACK']);
    expect(registry.stats('auth').removed).toBe(0);
  });

  it('a transaction whose ROLLBACK fails destroys the connection instead of reusing it', async () => {
    const { server, registry } = setup({ auth: { size: 1, overflow: 0 } });
    track(registry);
    server.onQuery = (text) => {
      if (text === 'ROLLBACK') throw new Error('rollback failed');
      return result();
    };
    await expect(registry.transaction('auth', () => Promise.reject(new Error('inner')))).rejects.toThrow('inner');
    expect(registry.stats('auth').removed).toBe(1);
  });

  it('a throwing event listener never breaks the pool', async () => {
    const { registry } = setup({ auth: { size: 1, overflow: 0 } });
    track(registry);
    const warning = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const after: number[] = [];
    registry.on('acquire', () => {
      throw new Error('listener bug');
    });
    registry.on('acquire', (e) => after.push(e.connectionId));
    await registry.query('auth', 'select 1');
    await registry.query('auth', 'select 1');
    expect(after).toHaveLength(2);
    expect(warning).toHaveBeenCalledWith(expect.stringContaining('listener bug'), 'PgBulkheadListenerWarning');
    warning.mockRestore();
  });
});

describe('stats', () => {
  it('records acquire wait, query and hold time over a rolling window', async () => {
    const { server, registry } = setup({ auth: { size: 1, overflow: 0 } });
    track(registry);
    server.onQuery = async () => {
      await new Promise((resolve) => setTimeout(resolve, 100));
      return result();
    };
    const first = registry.query('auth', 'select 1');
    const second = registry.query('auth', 'select 2'); // waits ~100 ms for the only connection
    await settle(250);
    await Promise.all([first, second]);
    const s = registry.stats('auth');
    expect(s.queryTime.count).toBe(2);
    expect(s.queryTime.p50).toBeGreaterThanOrEqual(100);
    expect(s.queryTime.p50).toBeLessThanOrEqual(105);
    expect(s.acquireWait.count).toBe(2);
    expect(s.acquireWait.max).toBeGreaterThanOrEqual(100);
    expect(s.holdTime.count).toBe(2);
    await settle(61_000);
    expect(registry.stats('auth').queryTime.count).toBe(0);
    expect(registry.stats('auth').acquired).toBe(2);
  });

  it('keeps since-start bucket counts for metrics, acquire timeouts included at the time waited', async () => {
    const { registry } = setup({ auth: { size: 1, overflow: 0, acquireTimeoutMs: 300 } });
    track(registry);
    const lease = await registry.acquire('auth');
    const timedOut = registry.acquire('auth').catch((e: unknown) => e);
    await settle(300);
    expect(await timedOut).toMatchObject({ code: 'ERR_ACQUIRE_TIMEOUT' });
    lease.release();
    await settle(61_000); // the rolling window forgets; the since-start totals must not
    const s = registry.stats('auth');
    expect(s.acquireWait.count).toBe(0);
    expect(s.acquireWaitTotal.count).toBe(2);
    expect(s.acquireWaitTotal.sumMs).toBeGreaterThanOrEqual(300);
    const at250 = s.acquireWaitTotal.boundsMs.indexOf(250);
    const at500 = s.acquireWaitTotal.boundsMs.indexOf(500);
    expect([s.acquireWaitTotal.buckets[at250], s.acquireWaitTotal.buckets[at500]]).toEqual([1, 2]);
    expect(s.holdTimeTotal.count).toBe(1);
  });

  it('totals add up across services', async () => {
    const { registry } = setup({ auth: { size: 1, overflow: 1 }, llm: { size: 2, overflow: 2 } });
    track(registry);
    await settle();
    const lease = await registry.acquire('llm');
    const all = registry.stats();
    expect(Object.keys(all.services)).toEqual(['auth', 'llm']);
    expect(all.totals).toEqual({ connections: 3, inUse: 1, idle: 2, waiting: 0, max: 6 });
    lease.release();
  });
});

describe('resize', () => {
  it('grows and shrinks a service at run time without dropping leases, and emits resize', async () => {
    const { server, registry } = setup({ llm: { size: 1, overflow: 3 } });
    track(registry);
    const events: unknown[] = [];
    registry.on('resize', (e) => events.push(e));
    const leases = await Promise.all([1, 2, 3, 4].map(() => registry.acquire('llm')));
    registry.resize('llm', { overflow: 1 }, 'test');
    expect(events).toEqual([{ service: 'llm', previous: { size: 1, overflow: 3 }, current: { size: 1, overflow: 1 }, reason: 'test' }]);
    expect(registry.stats('llm')).toMatchObject({ max: 2, inUse: 4 });
    // new acquires wait until in-use falls under the new max
    let served = false;
    const waiter = registry.acquire('llm').then((l) => {
      served = true;
      return l;
    });
    leases[0]!.release();
    leases[1]!.release();
    await settle();
    expect(served).toBe(false);
    expect(server.open('app:llm')).toHaveLength(2); // surplus closed on release
    leases[2]!.release();
    (await waiter).release();
    leases[3]!.release();
    expect(() => registry.resize('llm', { overflow: -1 })).toThrowError(expect.objectContaining({ code: 'ERR_CONFIG' }));
    registry.resize('llm', { size: 3 });
    await settle(10);
    expect(server.open('app:llm')).toHaveLength(3);
  });
});

describe('close', () => {
  it('rejects queued and new acquires, waits for leases, then ends every connection', async () => {
    const { server, registry } = setup({ auth: { size: 2, overflow: 0 } });
    const held = await registry.acquire('auth');
    const held2 = await registry.acquire('auth');
    const queued = registry.acquire('auth').catch((e: unknown) => e);
    const closing = registry.close({ timeoutMs: 5_000 });
    expect(await queued).toMatchObject({ code: 'ERR_POOL_CLOSED' });
    await expect(registry.acquire('auth')).rejects.toMatchObject({ code: 'ERR_POOL_CLOSED' });
    await expect(registry.query('auth', 'select 1')).rejects.toMatchObject({ code: 'ERR_POOL_CLOSED' });
    await settle(100);
    expect(server.open()).toHaveLength(2); // leases still out: not cut
    held.release();
    held2.release();
    await settle(10);
    const report = await closing;
    expect(report).toEqual({ clean: true, services: [{ service: 'auth', forcedLeases: 0, clean: true }] });
    expect(server.open()).toHaveLength(0);
    expect(registry.close()).toBe(closing); // idempotent
  });

  it('rejects a close timeout that is not a number of ms, and still closes afterwards', async () => {
    const { server, registry } = setup({ auth: { size: 1, overflow: 0 } });
    for (const timeoutMs of ['x', -1, Number.NaN, 2 ** 31]) {
      await expect(registry.close({ timeoutMs } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    }
    expect(registry.closed).toBe(false);
    expect((await registry.close({ timeoutMs: 100 })).clean).toBe(true);
    expect(server.open()).toHaveLength(0);
  });

  it('a connection on its way to a caller when close() starts is closed too, not left open', async () => {
    // The idle connection is due for a check and the check is slow, so the acquire is in transit for a while.
    const { server, registry } = setup({ auth: { size: 1, overflow: 0, validateAfterIdleMs: 1_000 } }, { maintenanceIntervalMs: 600_000 });
    await settle();
    await settle(2_000);
    server.onQuery = () => new Promise((resolve) => setTimeout(() => resolve(result()), 5));
    const outcome = registry.acquire('auth').then(
      () => 'served',
      (e: { code?: string }) => e.code,
    );
    const closing = registry.close({ timeoutMs: 0 });
    await settle(10);
    expect(await outcome).toBe('ERR_POOL_CLOSED');
    expect((await closing).clean).toBe(true);
    expect(server.open()).toHaveLength(0);
    expect(registry.stats('auth')).toMatchObject({ total: 0, idle: 0 });
  });

  it('a connection still being opened when close() starts is closed before close() resolves', async () => {
    const { server, registry } = setup({ auth: { size: 0, overflow: 1 } });
    server.connectDelayMs = 100;
    server.endDelayMs = 50;
    const outcome = registry.acquire('auth').catch((e: { code?: string }) => e.code);
    await settle(10); // connecting
    let report: Awaited<ReturnType<typeof registry.close>> | undefined;
    void registry.close({ timeoutMs: 5_000 }).then((r) => (report = r));
    for (let i = 0; i < 100 && report === undefined; i++) await settle(10);
    expect(await outcome).toBe('ERR_POOL_CLOSED');
    expect(report?.clean).toBe(true);
    expect(server.clients).toHaveLength(1);
    expect(server.clients[0]?.ended).toBe(true); // its socket was closed before close() reported
  });

  it('a connection being checked (validateAfterIdleMs) when close() starts is closed too', async () => {
    const { server, registry } = setup({ auth: { size: 1, overflow: 0, validateAfterIdleMs: 10 } }, { maintenanceIntervalMs: 600_000 });
    (await registry.acquire('auth')).release();
    await settle(100);
    server.onQuery = () => new Promise((resolve) => setTimeout(() => resolve(result()), 200));
    const outcome = registry.acquire('auth').then(
      () => 'served',
      (e: { code?: string }) => e.code,
    );
    await settle(50); // the check is in flight
    const closing = registry.close({ timeoutMs: 0 });
    await settle(300);
    expect(await outcome).toBe('ERR_POOL_CLOSED');
    expect((await closing).clean).toBe(true);
    expect(server.open()).toHaveLength(0);
  });

  it('ends leased connections after timeoutMs and says so', async () => {
    const { server, registry } = setup({ auth: { size: 1, overflow: 0 } });
    const lease = await registry.acquire('auth');
    const closing = registry.close({ timeoutMs: 1_000 });
    await settle(1_000);
    await settle(10);
    const report = await closing;
    expect(report.clean).toBe(false);
    expect(report.services[0]).toMatchObject({ forcedLeases: 1, clean: false });
    expect(server.open()).toHaveLength(0);
    expect(() => lease.release()).not.toThrow();
  });
});
