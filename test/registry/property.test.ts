import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createPoolRegistry, isBulkheadError, type Lease } from '../../src/index';
import { FakeServer } from '../helpers/fake-client';
import { advance, useFakeTime } from '../helpers/fake-time';
import { mulberry32 } from '../helpers/seeded-random';

type Service = 'auth' | 'llm' | 'bg';
const SERVICES: readonly Service[] = ['auth', 'llm', 'bg'];
const LIMITS = {
  auth: { size: 1, overflow: 2, priority: 'highest', acquireTimeoutMs: 300, maxWaiting: 5 },
  llm: { size: 2, overflow: 4, priority: 'medium', acquireTimeoutMs: 500, maxWaiting: 8 },
  bg: { size: 0, overflow: 3, priority: 'low', acquireTimeoutMs: 400, maxWaiting: 4 },
} as const;
const MAX_CONNECTIONS = 8;

type Command =
  | { kind: 'acquire'; service: Service; holdMs: number; fail: boolean }
  | { kind: 'advance'; ms: number }
  | { kind: 'refuse'; on: boolean }
  | { kind: 'kill'; service: Service }
  | { kind: 'resize'; service: Service; overflow: number; size: number | null };

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('acquire' as const), service: fc.constantFrom(...SERVICES), holdMs: fc.integer({ min: 0, max: 800 }), fail: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 400 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('refuse' as const), on: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('kill' as const), service: fc.constantFrom(...SERVICES) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('resize' as const), service: fc.constantFrom(...SERVICES), overflow: fc.integer({ min: 1, max: 4 }), size: fc.option(fc.integer({ min: 0, max: 3 })) }) },
);

beforeEach(() => useFakeTime());
afterEach(() => vi.useRealTimers());

describe('registry invariants under random schedules (seeded)', () => {
  it('never exceeds its limits, settles every waiter by its timeout, and its stats add up', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 10, maxLength: 60 }), fc.integer(), async (commands, jitterSeed) => {
        const server = new FakeServer();
        const registry = createPoolRegistry({
          Client: server.Client,
          random: mulberry32(jitterSeed), // breaker and recycle jitter replay with the fast-check seed too
          applicationName: 'p',
          maxConnections: MAX_CONNECTIONS,
          reserve: 1,
          maintenanceIntervalMs: 50,
          breaker: { failureThreshold: 2, initialBackoffMs: 100, maxBackoffMs: 400 },
          services: LIMITS,
        });
        const overflowHighWater: Record<Service, number> = { auth: LIMITS.auth.overflow, llm: LIMITS.llm.overflow, bg: LIMITS.bg.overflow };
        const sizeHighWater: Record<Service, number> = { auth: LIMITS.auth.size, llm: LIMITS.llm.size, bg: LIMITS.bg.size };
        const outcomes: Promise<void>[] = [];
        const served: Record<Service, number> = { auth: 0, llm: 0, bg: 0 };
        const timedOut: Record<Service, number> = { auth: 0, llm: 0, bg: 0 };
        const rejectedFull: Record<Service, number> = { auth: 0, llm: 0, bg: 0 };
        const held = new Set<Lease>();
        const violations: string[] = [];

        const checkLimits = (): void => {
          let total = 0;
          for (const service of SERVICES) {
            const open = server.open(`p:${service}`).length;
            total += open;
            const ceiling = sizeHighWater[service] + overflowHighWater[service];
            if (open > ceiling) violations.push(`${service} has ${open} open connections > ${ceiling}`);
          }
          if (total > MAX_CONNECTIONS) violations.push(`${total} open connections > maxConnections ${MAX_CONNECTIONS}`);
          const budget = registry.stats().budget;
          const sum = SERVICES.reduce((acc, s) => acc + registry.stats(s).sharedInUse, 0);
          if (sum !== budget.sharedInUse) violations.push(`budget says ${budget.sharedInUse} shared slots, services hold ${sum}`);
        };

        for (const step of commands) {
          if (step.kind === 'acquire') {
            const start = performance.now();
            const timeout = LIMITS[step.service].acquireTimeoutMs;
            outcomes.push(
              registry.acquire(step.service).then(
                (lease) => {
                  served[step.service]++;
                  held.add(lease);
                  setTimeout(() => {
                    held.delete(lease);
                    lease.release(step.fail ? new Error('handler broke the connection') : undefined);
                  }, step.holdMs);
                },
                (error: unknown) => {
                  const waited = performance.now() - start;
                  if (waited > timeout + 1) violations.push(`${step.service} settled after ${waited} ms > timeout ${timeout}`);
                  if (isBulkheadError(error, 'ERR_ACQUIRE_TIMEOUT')) timedOut[step.service]++;
                  else if (isBulkheadError(error, 'ERR_QUEUE_FULL')) rejectedFull[step.service]++;
                  else if (!isBulkheadError(error, 'ERR_DATABASE_UNAVAILABLE')) violations.push(`unexpected rejection: ${String(error)}`);
                },
              ),
            );
          } else if (step.kind === 'advance') {
            await advance(step.ms);
          } else if (step.kind === 'refuse') {
            server.refuse = step.on ? Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) : null;
          } else if (step.kind === 'kill') {
            server.terminateAll(`p:${step.service}`);
          } else {
            const limits = step.size === null ? { overflow: step.overflow } : { size: step.size, overflow: step.overflow };
            try {
              registry.resize(step.service, limits);
              overflowHighWater[step.service] = Math.max(overflowHighWater[step.service], step.overflow);
              if (step.size !== null) sizeHighWater[step.service] = Math.max(sizeHighWater[step.service], step.size);
            } catch (error) {
              // A size the budget cannot guarantee is refused whole, with ERR_CONFIG; the limits stay as they were.
              if (!isBulkheadError(error, 'ERR_CONFIG')) violations.push(`resize threw ${String(error)}`);
            }
            const now = registry.serviceOptions(step.service);
            const budget = registry.stats().budget;
            if (budget.guaranteed > MAX_CONNECTIONS) violations.push(`guaranteed ${budget.guaranteed} > maxConnections ${MAX_CONNECTIONS}`);
            if (now.size + now.overflow < 1) violations.push(`${step.service} resized to no connections at all`);
          }
          await advance(0);
          checkLimits();
        }
        // Let everything settle: every hold ends, every waiter is served or times out.
        server.refuse = null;
        await advance(3_000);
        await Promise.all(outcomes);
        checkLimits();
        expect(violations).toEqual([]);
        expect(held.size).toBe(0);
        for (const service of SERVICES) {
          const stats = registry.stats(service);
          expect(stats.acquired).toBe(served[service]);
          expect(stats.timeouts).toBe(timedOut[service]);
          expect(stats.queueRejections).toBe(rejectedFull[service]);
          expect(stats.inUse).toBe(0);
          expect(stats.waiting).toBe(0);
        }
        const report = await registry.close({ timeoutMs: 100 });
        await advance(2_000);
        expect(report.clean).toBe(true);
        expect(server.open()).toHaveLength(0);
      }),
      { seed: 20261129, numRuns: 40 },
    );
  });
});

describe('slot accounting across resizes', () => {
  it('stays exact when sizes go down under leases and up under overflow connections', async () => {
    const warnings = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const server = new FakeServer();
      const registry = createPoolRegistry({
        Client: server.Client,
        applicationName: 'r',
        maxConnections: 6,
        reserve: 0,
        maintenanceIntervalMs: 50,
        services: { a: { size: 3, overflow: 3, acquireTimeoutMs: 1_000 }, b: { size: 1, overflow: 3, acquireTimeoutMs: 1_000 } },
      });
      const consistent = () => {
        const budget = registry.stats().budget;
        const a = registry.stats('a');
        const b = registry.stats('b');
        expect(budget.sharedInUse).toBe(a.sharedInUse + b.sharedInUse);
        expect(a.sharedInUse).toBe(Math.max(0, a.total - a.guaranteedSize));
        expect(b.sharedInUse).toBe(Math.max(0, b.total - b.guaranteedSize));
        expect(server.open().length).toBeLessThanOrEqual(6);
      };
      const leases = await Promise.all([1, 2, 3].map(() => registry.acquire('a')));
      await advance(10);
      consistent();
      // size down under leases: the three open connections are now overflow and count against the budget
      registry.resize('a', { size: 1 });
      await advance(10);
      consistent();
      expect(registry.stats('a').sharedInUse).toBe(2);
      // b can only get what is left: 6 - 1 - 1 - 2 = 2 shared slots
      const b = await Promise.all([1, 2, 3].map(() => registry.acquire('b')));
      expect(server.open('r:b')).toHaveLength(3);
      consistent();
      leases.forEach((l) => l.release());
      b.forEach((l) => l.release());
      // size up while overflow connections are open: their slots go back
      registry.resize('a', { size: 3 });
      await advance(10);
      consistent();
      expect(registry.stats('a').sharedInUse).toBe(0);
      await registry.close({ timeoutMs: 100 });
      expect(warnings).not.toHaveBeenCalled();
    } finally {
      warnings.mockRestore();
    }
  });
});
