import { describe, expect, it } from 'vitest';
import { createPoolRegistry } from '../../src/registry/pool-registry';
import { LATENCY_BOUNDS_MS, waitBoundsMs } from '../../src/stats/latency-buckets';
import { servicePresets } from '../../src/registry/presets';
import { FakeClock } from '../detector/scripted-registry';
import { FakeServer } from '../helpers/fake-client';
import { waitFor } from '../helpers/wait-for';

describe('the counters metrics read from stats()', () => {
  it('counts connections created, closed by reason, and queue-full rejections', async () => {
    const server = new FakeServer();
    const clock = new FakeClock();
    const registry = createPoolRegistry({
      Client: server.Client,
      clock,
      maxConnections: 4,
      services: { auth: { size: 1, overflow: 2, maxWaiting: 1, idleTimeoutMs: 1_000, recycleMs: 0, acquireTimeoutMs: 500 } },
    });
    const a = await registry.acquire('auth');
    const b = await registry.acquire('auth');
    const c = await registry.acquire('auth');
    expect(registry.stats('auth').created).toBe(3);
    const queued = registry.acquire('auth');
    await expect(registry.acquire('auth')).rejects.toMatchObject({ code: 'ERR_QUEUE_FULL' });
    a.release(new Error('connection lost')); // destroyed: broken
    const d = await queued; // served by a new connection
    expect(registry.stats('auth').created).toBe(4);
    b.release();
    c.release();
    d.release();
    // two surplus connections idle past idleTimeoutMs go back toward size 1
    await clock.advance(40_000);
    const beforeClose = registry.stats('auth');
    expect(beforeClose.queueRejections).toBe(1);
    expect(beforeClose.removedByReason).toEqual({ recycled: 0, idle: 0, overflow: 2, broken: 1, closed: 0, 'in-transaction': 0 });
    await registry.close({ timeoutMs: 10 });
    const after = registry.stats('auth');
    expect(after.removedByReason).toEqual({ recycled: 0, idle: 0, overflow: 2, broken: 1, closed: 1, 'in-transaction': 0 });
    expect(after.removed).toBe(4);
    // a fresh object each time: changing one snapshot changes nothing else
    expect(registry.stats('auth').removedByReason).not.toBe(after.removedByReason);
  });

  it('counts connection opens that failed, apart from connections that broke, and shows the circuit opening', async () => {
    const server = new FakeServer();
    server.refuse = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    const registry = createPoolRegistry({
      Client: server.Client,
      breaker: { failureThreshold: 2, initialBackoffMs: 10, maxBackoffMs: 20 },
      services: { llm: { size: 0, overflow: 1, acquireTimeoutMs: 2_000 } },
    });
    await expect(registry.acquire('llm')).rejects.toBeInstanceOf(Error);
    await waitFor(() => registry.stats('llm').circuit === 'open', 5_000, 'the circuit to open');
    const s = registry.stats('llm');
    expect(s.connectFailures).toBeGreaterThanOrEqual(2);
    expect(s.connectFailures).toBe(server.connectAttempts);
    expect(s.created).toBe(0);
    expect(s.removed).toBe(0);
    await registry.close({ timeoutMs: 10 });
  });

  it('records the time to open each connection in since-start buckets', async () => {
    const server = new FakeServer();
    const clock = new FakeClock();
    const registry = createPoolRegistry({ Client: server.Client, clock, services: { auth: { size: 0, overflow: 2 } } });
    const lease = await registry.acquire('auth');
    lease.release();
    const h = registry.stats('auth').createTimeTotal;
    expect(h.count).toBe(1);
    expect(h.sumMs).toBe(0); // fake time does not move while connecting
    expect(h.buckets[0]).toBe(1);
    await registry.close({ timeoutMs: 10 });
  });
});

describe('wait buckets derived from the acquire timeouts', () => {
  it('cover every preset timeout with a finite bucket, plus one above the longest', () => {
    const timeouts = Object.values(servicePresets).map((p) => p.acquireTimeoutMs);
    const bounds = waitBoundsMs(timeouts);
    for (const t of timeouts) expect(bounds).toContain(t);
    expect(bounds.slice(-3)).toEqual([20_000, 30_000, 45_000]);
    expect([...bounds]).toEqual([...bounds].sort((x, y) => x - y));
    expect(new Set(bounds).size).toBe(bounds.length);
    for (const d of LATENCY_BOUNDS_MS) expect(bounds).toContain(d);
  });

  it('keep the default set for short timeouts, and go past very long ones', () => {
    // 500 is a default bound already; 2000 is added; nothing above 10 s is needed
    expect(waitBoundsMs([500, 2_000])).toEqual([...LATENCY_BOUNDS_MS, 2_000].sort((x, y) => x - y));
    expect(waitBoundsMs([7_200_000]).slice(-2)).toEqual([7_200_000, 14_400_000]);
  });

  it('are shared by every service of a registry and used by its wait histogram', async () => {
    const server = new FakeServer();
    const clock = new FakeClock();
    const registry = createPoolRegistry({ Client: server.Client, clock, services: { auth: { size: 1, overflow: 0, acquireTimeoutMs: 5_000 }, llm: { size: 1, overflow: 0, acquireTimeoutMs: 30_000 } } });
    const held = await registry.acquire('llm');
    const timingOut = registry.acquire('llm').catch((e: unknown) => e);
    await clock.advance(30_000);
    expect(await timingOut).toMatchObject({ code: 'ERR_ACQUIRE_TIMEOUT' });
    const llm = registry.stats('llm').acquireWaitTotal;
    const auth = registry.stats('auth').acquireWaitTotal;
    expect(auth.boundsMs).toEqual(llm.boundsMs);
    expect(llm.boundsMs).toContain(30_000);
    // the 30 s wait is in the 30 s bucket, not only in +Inf
    const i = llm.boundsMs.indexOf(30_000);
    expect(llm.buckets[i]).toBe(2);
    expect(llm.buckets[i - 1]).toBe(1);
    held.release();
    await registry.close({ timeoutMs: 10 });
  });
});

describe('the budget snapshot', () => {
  it('reports free shared slots and waiters by priority', async () => {
    const server = new FakeServer();
    const clock = new FakeClock();
    const registry = createPoolRegistry({
      Client: server.Client,
      clock,
      maxConnections: 3,
      reserve: 0,
      services: { auth: { size: 1, overflow: 2, priority: 'highest' }, llm: { size: 0, overflow: 3, priority: 'low' } },
    });
    expect(registry.stats().budget).toMatchObject({ shared: 2, sharedInUse: 0, free: 2, waitingByPriority: { highest: 0, high: 0, medium: 0, low: 0 } });
    const leases = [await registry.acquire('llm'), await registry.acquire('llm')];
    expect(registry.stats().budget).toMatchObject({ sharedInUse: 2, free: 0 });
    const waiting = registry.acquire('llm').catch((e: unknown) => e);
    await clock.advance(1);
    expect(registry.stats().budget.waitingByPriority).toEqual({ highest: 0, high: 0, medium: 0, low: 1 });
    await clock.advance(20_000);
    await waiting;
    for (const l of leases) l.release();
    await registry.close({ timeoutMs: 10 });
  });
});
