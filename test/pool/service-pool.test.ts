import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Lease } from '../../src/pool/lease';
import { advance, useFakeTime } from '../helpers/fake-time';
import { fakeSlots, makePool } from './pool-fixture';

const outcome = (p: Promise<Lease>) =>
  p.then(
    (lease) => lease,
    (e: { code?: string }) => e.code,
  );

describe('ServicePool', () => {
  beforeEach(() => useFakeTime());
  afterEach(() => vi.useRealTimers());

  it('opens the guaranteed size at start and serves from it on the fast path: no timer, no new connection', async () => {
    const { pool, server } = makePool({ size: 2, overflow: 0 });
    await advance(0);
    expect(server.open()).toHaveLength(2);
    const timers = vi.getTimerCount();
    const lease = await pool.acquire();
    expect(vi.getTimerCount()).toBe(timers);
    expect(pool.counts()).toMatchObject({ total: 2, idle: 1, inUse: 1, waiting: 0 });
    lease.release();
    // LIFO: the connection just released is the next one handed out
    const again = await pool.acquire();
    expect(again.connectionId).toBe(lease.connectionId);
    again.release();
    expect(server.connectAttempts).toBe(2);
    await pool.close(0);
  });

  it('opens exactly one connection per waiter nothing else will serve, up to size + overflow', async () => {
    const { pool, server } = makePool({ size: 0, overflow: 3 }, { slots: fakeSlots(10) });
    server.connectDelayMs = 10;
    const waiting = [pool.acquire(), pool.acquire(), pool.acquire(), pool.acquire(), pool.acquire()];
    expect(pool.counts().waiting).toBe(5);
    await advance(10);
    expect(server.connectAttempts).toBe(3);
    const leases = await Promise.all(waiting.slice(0, 3));
    expect(pool.counts()).toMatchObject({ inUse: 3, waiting: 2 });
    leases[0]!.release();
    leases[1]!.release();
    const [fourth, fifth] = await Promise.all(waiting.slice(3));
    expect(server.connectAttempts).toBe(3); // served by the connections that came back
    for (const lease of [leases[2]!, fourth!, fifth!]) lease.release();
    await pool.close(0);
  });

  it('rejects beyond maxWaiting with ERR_QUEUE_FULL, and times a waiter out at acquireTimeoutMs', async () => {
    const { pool } = makePool({ size: 1, overflow: 0, maxWaiting: 1, acquireTimeoutMs: 500 });
    const lease = await pool.acquire();
    const second = outcome(pool.acquire());
    expect(await outcome(pool.acquire())).toBe('ERR_QUEUE_FULL');
    await advance(499);
    expect(pool.counts().waiting).toBe(1);
    await advance(1);
    expect(await second).toBe('ERR_ACQUIRE_TIMEOUT');
    expect(pool.stats()).toMatchObject({ timeouts: 1, queueRejections: 1, waiting: 0 });
    lease.release();
    await pool.close(0);
  });

  it('fails waiters with the cause when the circuit opens, and does not hammer a database that is down', async () => {
    const { pool, server } = makePool({ size: 0, overflow: 2 }, { failureThreshold: 2, slots: fakeSlots(10) });
    server.refuse = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const first = outcome(pool.acquire());
    const second = outcome(pool.acquire());
    await advance(100);
    expect(await first).toBe('ERR_DATABASE_UNAVAILABLE');
    expect(await second).toBe('ERR_DATABASE_UNAVAILABLE');
    expect(pool.stats().circuit).toBe('open');
    expect(await outcome(pool.acquire())).toBe('ERR_DATABASE_UNAVAILABLE');
    await advance(10_000);
    // two failures opened it; afterwards only spaced probes, nothing for callers who left
    expect(server.connectAttempts).toBeLessThanOrEqual(3);
    await pool.close(0);
  });

  it('an aborted waiter leaves at once; the connection opened for it stays idle for the next caller', async () => {
    const { pool, server } = makePool({ size: 0, overflow: 1 }, { slots: fakeSlots(10) });
    server.connectDelayMs = 50;
    const controller = new AbortController();
    const aborted = outcome(pool.acquire({ signal: controller.signal }));
    controller.abort();
    expect(await aborted).toBe('ERR_ABORTED');
    await advance(50);
    expect(pool.counts()).toMatchObject({ total: 1, idle: 1, waiting: 0 });
    const lease = await pool.acquire();
    expect(server.connectAttempts).toBe(1);
    lease.release();
    await pool.close(0);
  });

  it('close waits for leases until its timeout, then ends them by force and reports it', async () => {
    const { pool, server } = makePool({ size: 1, overflow: 0 });
    const lease = await pool.acquire();
    const waiter = outcome(pool.acquire());
    const closing = pool.close(100);
    expect(await waiter).toBe('ERR_POOL_CLOSED');
    await advance(100);
    expect(await closing).toEqual({ service: 'auth', forcedLeases: 1, clean: false });
    expect(server.open()).toHaveLength(0);
    lease.release(); // late: harmless
    expect(pool.counts()).toMatchObject({ total: 0, inUse: 0 });
  });
});
