import { describe, expect, it } from 'vitest';
import { ConfigError, createPoolRegistry, type CircuitEvent, type RemoveEvent, type ServiceOptions } from '../../src/index';
import { FakeServer } from '../helpers/fake-client';
import { advance } from '../helpers/fake-time';
import { useFakeRegistries } from '../helpers/fake-registries';

const track = useFakeRegistries();

/**
 * True when `promise` settles with fake time standing still (only zero-delay timers, such as the fake server's
 * connect, may run): it waited for no timeout, backoff or grace. Performance.now() is faked too, so measuring it
 * without advancing time could never fail.
 */
async function settlesWithoutTimePassing(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await advance(0);
  return settled;
}

function setup<const S extends Record<string, ServiceOptions>>(services: S, extra: Record<string, unknown> = {}) {
  const server = new FakeServer();
  const registry = createPoolRegistry({ Client: server.Client, applicationName: 'app', maintenanceIntervalMs: 100, services, ...extra });
  track(registry);
  return { server, registry };
}

describe('shared connection budget', () => {
  it('rejects a budget smaller than the guaranteed sizes, with the numbers', () => {
    const { Client } = new FakeServer();
    try {
      createPoolRegistry({ Client, maxConnections: 10, services: { auth: { size: 3 }, llm: { size: 8 } } });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems).toEqual([{ path: 'maxConnections', message: '10 cannot hold the guaranteed sizes (auth 3 + llm 8 = 11)' }]);
    }
    expect(() => createPoolRegistry({ Client, maxConnections: 12, reserve: 5, services: { auth: { size: 3 }, llm: { size: 8 } } })).toThrowError(/reserve: 5 is more than the 1 shared slots/);
  });

  it('defaults to the sum of size + overflow, with 10 % headroom when a service is high priority', async () => {
    const { registry } = setup({ auth: { size: 3, overflow: 5, priority: 'highest' }, llm: { size: 8, overflow: 15 } });
    expect(registry.stats().budget).toMatchObject({ total: 31, guaranteed: 11, shared: 20, reserve: 2, sharedInUse: 0 });
    const { registry: flat } = setup({ a: { size: 1, overflow: 1 }, b: { size: 1, overflow: 1 } });
    expect(flat.stats().budget).toMatchObject({ total: 4, reserve: 0 });
  });

  it('headroom: while llm has borrowed all it may, auth still gets an overflow connection at once', async () => {
    const { server, registry } = setup(
      { auth: { size: 1, overflow: 2, priority: 'highest' }, llm: { size: 2, overflow: 8, acquireTimeoutMs: 60_000 } },
      { maxConnections: 8, reserve: 2 },
    );
    // llm floods: it gets 2 guaranteed + 3 shared (5 shared minus the 2 in reserve), the rest wait
    const llm = Array.from({ length: 12 }, () => registry.acquire('llm'));
    await advance(10);
    expect(registry.stats('llm')).toMatchObject({ inUse: 5, sharedInUse: 3 });
    // 5 more llm connections would need slots: they wait in the budget, behind nobody
    expect(registry.stats().budget).toMatchObject({ sharedInUse: 3, waitingByService: { auth: 0, llm: 5 } });
    // auth needs more than its size: its guaranteed connection, then two from the reserve, without waiting
    const authAcquires = Promise.all([registry.acquire('auth'), registry.acquire('auth'), registry.acquire('auth')]);
    expect(await settlesWithoutTimePassing(authAcquires)).toBe(true);
    const auth = await authAcquires;
    expect(registry.stats('auth')).toMatchObject({ inUse: 3, sharedInUse: 2 });
    expect(server.open().length).toBe(8);
    for (const lease of auth) lease.release();
    for (const lease of await Promise.all(llm.slice(0, 5))) lease.release();
    await advance(10);
    for (const lease of await Promise.all(llm.slice(5, 10))) lease.release();
    await advance(10);
    for (const lease of await Promise.all(llm.slice(10))) lease.release();
    expect(server.open().length).toBeLessThanOrEqual(8);
  });

  it('guaranteed connections are never lent: a service always has its size, whatever the others do', async () => {
    const { registry } = setup({ auth: { size: 2, overflow: 0, priority: 'highest' }, llm: { size: 1, overflow: 5 } }, { maxConnections: 4, reserve: 0 });
    const llm = Array.from({ length: 10 }, () => registry.acquire('llm'));
    await advance(10);
    expect(registry.stats('llm').inUse).toBe(2); // 1 guaranteed + the 1 shared slot
    const auth = await Promise.all([registry.acquire('auth'), registry.acquire('auth')]);
    expect(auth).toHaveLength(2);
    auth.forEach((l) => l.release());
    for (const p of llm) (await p).release();
  });

  it('closes an idle connection of another service to make room for an entitled waiter (no idle-timeout wait)', async () => {
    const { server, registry } = setup(
      { auth: { size: 1, overflow: 2, priority: 'highest', acquireTimeoutMs: 2_000 }, llm: { size: 1, overflow: 3, idleTimeoutMs: 600_000 } },
      { maxConnections: 5, reserve: 0 },
    );
    const removed: RemoveEvent[] = [];
    registry.on('remove', (e) => removed.push(e));
    // llm bursts and leaves 3 idle overflow connections holding every shared slot
    const burst = await Promise.all([1, 2, 3, 4].map(() => registry.acquire('llm')));
    burst.forEach((l) => l.release());
    expect(registry.stats().budget.sharedInUse).toBe(3);
    const auth = await Promise.all([registry.acquire('auth'), registry.acquire('auth')]);
    await advance(0);
    expect(auth).toHaveLength(2);
    expect(removed).toEqual([expect.objectContaining({ service: 'llm', reason: 'idle' })]);
    expect(registry.stats().budget.sharedInUseByService).toEqual({ auth: 1, llm: 2 });
    expect(server.open().length).toBeLessThanOrEqual(5);
    auth.forEach((l) => l.release());
  });

  it('keeps a higher-priority service\'s recently used spare connections from a lower-priority waiter for preemptGraceMs', async () => {
    for (const preemptGraceMs of [0, 1_000, 5_000] as const) {
      const { registry } = setup(
        {
          auth: { size: 1, overflow: 2, priority: 'highest', idleTimeoutMs: 600_000 },
          llm: { size: 1, overflow: 3, priority: 'medium', acquireTimeoutMs: 60_000 },
        },
        { maxConnections: 4, reserve: 0, preemptGraceMs },
      );
      const removed: RemoveEvent[] = [];
      registry.on('remove', (e) => removed.push(e));
      // auth bursts: its two spare connections hold both shared slots, then sit idle between auth's bursts
      const burst = await Promise.all([1, 2, 3].map(() => registry.acquire('auth')));
      burst.forEach((l) => l.release());
      const llmOwn = await registry.acquire('llm');
      let served = false;
      const llmExtra = registry.acquire('llm').then((l) => ((served = true), l));
      await advance(1);
      const grace = preemptGraceMs;
      expect(served).toBe(grace === 0); // with no grace, auth's idle spare is closed at once
      if (grace > 0) {
        // auth bursts again before the grace is over: its spares are in use again, so neither is taken
        await advance(grace - 100);
        const again = await Promise.all([1, 2, 3].map(() => registry.acquire('auth')));
        again.forEach((l) => l.release());
        await advance(grace - 100);
        expect(served).toBe(false);
        expect(removed).toEqual([]);
        // auth stays quiet: once its least recently used spare has been idle for the grace, llm gets the slot
        await advance(400);
        expect(served).toBe(true);
      }
      expect(removed).toEqual([expect.objectContaining({ service: 'auth', reason: 'idle' })]);
      (await llmExtra).release();
      llmOwn.release();
    }
  });

  it('by default a lower-priority flood never takes a higher-priority service\'s spare before its own idleTimeoutMs', async () => {
    const { registry } = setup(
      {
        auth: { size: 1, overflow: 2, priority: 'highest', idleTimeoutMs: 30_000 },
        llm: { size: 1, overflow: 3, priority: 'medium', acquireTimeoutMs: 60_000 },
      },
      { maxConnections: 4, reserve: 0 },
    );
    const removed: RemoveEvent[] = [];
    registry.on('remove', (e) => removed.push(e));
    // auth bursts once: its two spares hold both shared slots, then sit idle (auth's steady load needs one)
    const burst = await Promise.all([1, 2, 3].map(() => registry.acquire('auth')));
    burst.forEach((l) => l.release());
    await advance(5_000);
    // llm floods: it has its own connection, and waits for a shared slot
    const llmOwn = await registry.acquire('llm');
    let served = false;
    const llmExtra = registry.acquire('llm').then((l) => ((served = true), l));
    await advance(20_000);
    // auth's spares are still there for it: when the flood slows auth down, it needs them at once
    expect(served).toBe(false);
    expect(removed).toEqual([]);
    expect(registry.stats('auth')).toMatchObject({ total: 3, idle: 3 });
    const slowAuth = await Promise.all([1, 2, 3].map(() => registry.acquire('auth')));
    expect(registry.stats('auth')).toMatchObject({ inUse: 3 });
    expect(registry.stats('auth').acquireWait.max).toBe(0);
    slowAuth.forEach((l) => l.release());
    // once its spares have been idle as long as auth keeps spares at all, they close and the flood gets a slot
    await advance(30_000 + 100);
    expect(served).toBe(true);
    expect(removed.map((e) => e.service)).toEqual(['auth', 'auth']);
    (await llmExtra).release();
    llmOwn.release();
  });

  it('asks again the moment the grace is over, not at the next maintenance run', async () => {
    const { registry } = setup(
      {
        auth: { size: 1, overflow: 1, priority: 'highest', idleTimeoutMs: 600_000 },
        llm: { size: 1, overflow: 1, priority: 'medium', acquireTimeoutMs: 5_000 },
      },
      { maxConnections: 3, reserve: 0, maintenanceIntervalMs: 60_000, preemptGraceMs: 1_000 },
    );
    const spare = await Promise.all([registry.acquire('auth'), registry.acquire('auth')]);
    spare.forEach((l) => l.release()); // auth's spare is idle from now on and holds the only shared slot
    const own = await registry.acquire('llm');
    let servedAt: number | null = null;
    const started = Date.now();
    const extra = registry.acquire('llm').then((l) => ((servedAt = Date.now() - started), l));
    await advance(999);
    expect(servedAt).toBeNull();
    await advance(2);
    expect(servedAt).toBe(1_000);
    (await extra).release();
    own.release();
  });

  it('serves the higher-priority service first when both wait for shared slots', async () => {
    const { registry } = setup(
      {
        bg: { size: 1, overflow: 3, priority: 'low', acquireTimeoutMs: 60_000 },
        ext: { size: 0, overflow: 3, priority: 'high', acquireTimeoutMs: 60_000 },
        hog: { size: 0, overflow: 3, priority: 'medium', acquireTimeoutMs: 60_000, idleTimeoutMs: 600_000 },
      },
      { maxConnections: 4, reserve: 0, priorityAgingMs: 0, preemptGraceMs: 1_000 },
    );
    const hog = await Promise.all([1, 2, 3].map(() => registry.acquire('hog')));
    const order: string[] = [];
    const bg = registry.acquire('bg').then((l) => (order.push('bg-guaranteed'), l));
    const bg2 = registry.acquire('bg').then((l) => (order.push('bg'), l));
    await advance(1);
    const ext = registry.acquire('ext').then((l) => (order.push('ext'), l));
    await advance(1);
    expect(order).toEqual(['bg-guaranteed']);
    hog[0]!.release(); // idle hog connection: preempted at once for ext (hog has the lower priority)
    await advance(1);
    expect(order).toEqual(['bg-guaranteed', 'ext']);
    hog[1]!.release(); // for bg, hog's idle connection goes only after preemptGraceMs: hog has the higher priority
    await advance(900);
    expect(order).toEqual(['bg-guaranteed', 'ext']);
    await advance(200);
    expect(order).toEqual(['bg-guaranteed', 'ext', 'bg']);
    for (const l of await Promise.all([bg, bg2, ext])) l.release();
    hog[2]!.release();
  });

  it('resize grows and shrinks within the budget; a size beyond it is refused', () => {
    const { registry } = setup({ auth: { size: 2, overflow: 1 }, llm: { size: 2, overflow: 4 } }, { maxConnections: 6 });
    expect(() => registry.resize('llm', { size: 5 })).toThrowError(/5 would reserve 7 connections, more than maxConnections 6/);
    registry.resize('llm', { size: 3, overflow: 1 });
    expect(registry.stats().budget).toMatchObject({ guaranteed: 5, shared: 1 });
  });

  it('a smaller size turns open connections into overflow before any waiter is granted the slots it frees', async () => {
    const { server, registry } = setup(
      {
        auth: { size: 1, overflow: 2, priority: 'highest', acquireTimeoutMs: 60_000 },
        llm: { size: 3, overflow: 3, acquireTimeoutMs: 60_000 },
        bg: { size: 0, overflow: 3, priority: 'low', acquireTimeoutMs: 60_000 },
      },
      { maxConnections: 8, reserve: 0 },
    );
    const leases = await Promise.all([
      ...[1, 2, 3].map(() => registry.acquire('llm')), // llm's guaranteed 3
      ...[1, 2, 3].map(() => registry.acquire('bg')), // 3 shared slots
      registry.acquire('auth'),
      registry.acquire('auth'), // auth's size + the last shared slot
    ]);
    const waiting = registry.acquire('auth'); // no shared slot left: auth waits
    await advance(1);
    expect(registry.stats().budget).toMatchObject({ shared: 4, sharedInUse: 4, waiting: 1 });
    registry.resize('llm', { size: 2 }); // frees a guaranteed slot, but llm's 3rd connection is overflow now
    await advance(1);
    expect(server.open()).toHaveLength(8);
    expect(registry.stats().budget).toMatchObject({ shared: 5, sharedInUse: 5, sharedInUseByService: { auth: 1, llm: 1, bg: 3 }, waiting: 1 });
    leases[0]!.release(); // llm's overflow connection goes back: over its new size it is closed, and auth gets the slot
    await advance(1);
    const third = await waiting;
    expect(server.open().length).toBeLessThanOrEqual(8);
    for (const lease of [...leases.slice(1), third]) lease.release();
  });

  it('a larger size lets a connection already queued for a shared slot go ahead within the new size', async () => {
    const { server, registry } = setup(
      {
        high: { size: 0, overflow: 4, priority: 'high', idleTimeoutMs: 600_000 },
        bg: { size: 2, overflow: 2, priority: 'low', acquireTimeoutMs: 10_000 },
      },
      { maxConnections: 8, reserve: 2 },
    );
    const high = await Promise.all([1, 2, 3, 4].map(() => registry.acquire('high'))); // every shared slot bg may take
    const bg = await Promise.all([registry.acquire('bg'), registry.acquire('bg')]);
    let served = false;
    const third = registry.acquire('bg').then((l) => ((served = true), l));
    await advance(1);
    expect(served).toBe(false);
    expect(registry.stats().budget.waitingByService.bg).toBe(1);
    registry.resize('bg', { size: 3 });
    await advance(1);
    expect(served).toBe(true);
    expect(registry.stats().budget).toMatchObject({ guaranteed: 3, sharedInUse: 4, sharedInUseByService: { high: 4, bg: 0 }, waiting: 0 });
    expect(server.open()).toHaveLength(7);
    for (const lease of [...high, ...bg, await third]) lease.release();
  });

  it('refuses a larger size while other services borrow the slots it would guarantee, and allows it once they are back', async () => {
    const { server, registry } = setup(
      {
        auth: { size: 1, overflow: 2, priority: 'highest' },
        bg: { size: 0, overflow: 4, priority: 'low', idleTimeoutMs: 1_000 },
      },
      { maxConnections: 5, reserve: 0, maintenanceIntervalMs: 100 },
    );
    const bg = await Promise.all([1, 2, 3, 4].map(() => registry.acquire('bg')));
    expect(() => registry.resize('auth', { size: 3 })).toThrowError(
      /auth\.size: 3 cannot be guaranteed now: other services are borrowing 4 shared slots \(bg 4\) and only 2 would be left for them/,
    );
    expect(registry.serviceOptions('auth').size).toBe(1);
    expect(registry.stats().budget).toMatchObject({ guaranteed: 1, shared: 4 });
    bg.forEach((lease) => lease.release());
    await advance(1_200); // bg's idle overflow connections close
    expect(registry.stats().budget.sharedInUse).toBe(0);
    registry.resize('auth', { size: 3 });
    await advance(200);
    expect(registry.stats('auth').total).toBe(3);
    expect(server.open().length).toBeLessThanOrEqual(5);
  });
});

describe('circuit breaker and recovery', () => {
  it('fails fast with ERR_DATABASE_UNAVAILABLE while the database is down, without spinning, and heals by itself', async () => {
    const { server, registry } = setup({ auth: { size: 2, overflow: 2, acquireTimeoutMs: 10_000 } }, { breaker: { failureThreshold: 3, initialBackoffMs: 500, maxBackoffMs: 4_000 } });
    const circuit: CircuitEvent[] = [];
    registry.on('circuit', (e) => circuit.push(e));
    await advance(10);
    expect(server.open('app:auth')).toHaveLength(2);
    // the server goes away: connections are killed and new ones refused
    server.refuse = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    server.terminateAll();
    await advance(2_000);
    expect(circuit[0]).toMatchObject({ service: 'auth', from: 'closed', to: 'open', lastError: { code: 'ECONNREFUSED' } });
    const failing = registry.acquire('auth').catch((e: unknown) => e);
    expect(await settlesWithoutTimePassing(failing)).toBe(true); // fast, not after the 10 s timeout
    expect(await failing).toMatchObject({ code: 'ERR_DATABASE_UNAVAILABLE', service: 'auth', cause: { code: 'ECONNREFUSED' } });
    // a minute down: probes back off exponentially up to 4 s, never a tight loop
    const attemptsBefore = server.connectAttempts;
    await advance(60_000);
    const attempts = server.connectAttempts - attemptsBefore;
    expect(attempts).toBeGreaterThanOrEqual(10);
    expect(attempts).toBeLessThanOrEqual(60_000 / 3_000 + 2);
    // the server is back: without any call from the host, the circuit closes within one backoff and size is refilled
    server.refuse = null;
    await advance(4_100);
    expect(circuit.at(-1)).toMatchObject({ to: 'closed' });
    expect(server.open('app:auth')).toHaveLength(2);
    expect(registry.stats('auth')).toMatchObject({ circuit: 'closed', consecutiveConnectFailures: 0, total: 2 });
    expect((await registry.query('auth', 'select 1')).command).toBe('SELECT');
  });

  it('a waiter already waiting for a new connection fails when the circuit opens', async () => {
    const { server, registry } = setup({ auth: { size: 0, overflow: 1, acquireTimeoutMs: 30_000 } }, { breaker: { failureThreshold: 2, initialBackoffMs: 1_000, maxBackoffMs: 1_000 } });
    server.refuse = Object.assign(new Error('the database system is shutting down'), { code: '57P03' });
    const outcome = registry.acquire('auth').catch((e: unknown) => e);
    await advance(500);
    expect(await outcome).toMatchObject({ code: 'ERR_DATABASE_UNAVAILABLE', cause: { code: '57P03' } });
  });

  it('a queue of 20 000 waiters fails fast when the circuit opens, without deepening the stack', async () => {
    const { server, registry } = setup({ auth: { size: 0, overflow: 1, acquireTimeoutMs: 60_000, maxWaiting: Infinity } }, { breaker: { failureThreshold: 1, initialBackoffMs: 5_000, maxBackoffMs: 5_000 } });
    server.refuse = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const outcomes = Array.from({ length: 20_000 }, () => registry.acquire('auth').then(() => 'served', (e: { code?: string }) => e.code));
    await advance(100);
    const codes = new Set(await Promise.all(outcomes));
    expect([...codes]).toEqual(['ERR_DATABASE_UNAVAILABLE']);
    expect(registry.stats('auth').waiting).toBe(0);
  });

  it('after an outage, close() is prompt and clean although generic-pool still had requests queued', async () => {
    const { server, registry } = setup({ auth: { size: 1, overflow: 2, acquireTimeoutMs: 1_000 } }, { breaker: { failureThreshold: 100 } });
    await advance(10);
    server.refuse = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    server.terminateAll();
    const timedOut = [1, 2, 3].map(() => registry.acquire('auth').catch((e: { code?: string }) => e.code));
    await advance(1_000);
    expect(await Promise.all(timedOut)).toEqual(['ERR_ACQUIRE_TIMEOUT', 'ERR_ACQUIRE_TIMEOUT', 'ERR_ACQUIRE_TIMEOUT']);
    expect(registry.stats('auth').waiting).toBe(0); // rejected callers are not counted as waiting
    const started = performance.now();
    let report: Awaited<ReturnType<typeof registry.close>> | undefined;
    void registry.close({ timeoutMs: 2_000 }).then((r) => (report = r));
    while (report === undefined && performance.now() - started < 5_000) await advance(50);
    expect(report?.clean).toBe(true);
    // at most one retry pause (≤ 500 ms) of a create in flight; not the 2 s timeout
    expect(performance.now() - started).toBeLessThanOrEqual(600);
    expect(server.open()).toHaveLength(0);
  });

  it('close() cuts short a create sleeping in the breaker backoff; stats count no connection that is not there', async () => {
    const { server, registry } = setup({ auth: { size: 1, overflow: 0 } }, { breaker: { failureThreshold: 1, initialBackoffMs: 4_000, maxBackoffMs: 4_000 } });
    server.refuse = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    await advance(500); // the warm connect failed; the refill now sleeps in the backoff
    expect(registry.stats('auth')).toMatchObject({ circuit: 'open', total: 0, idle: 0 });
    const started = performance.now();
    let report: Awaited<ReturnType<typeof registry.close>> | undefined;
    void registry.close({ timeoutMs: 0 }).then((r) => (report = r));
    while (report === undefined && performance.now() - started < 5_000) await advance(10);
    expect(report?.clean).toBe(true);
    expect(performance.now() - started).toBeLessThan(100);
  });
});
