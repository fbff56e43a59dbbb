// The health report's circuit is the registry's breaker, which opens after the configured failureThreshold
// (not after a number of the detector's own). Fake time drives the breaker's backoff one attempt at a time.
import { describe, expect, it } from 'vitest';
import { createInterferenceDetector, createPoolRegistry } from '../../src/index';
import { FakeServer } from '../helpers/fake-client';
import { FakeClock } from './scripted-registry';

describe("the detector's view of a service's circuit", () => {
  it('stays closed below breaker.failureThreshold and opens with the breaker, unhealthy with the failures named', async () => {
    const server = new FakeServer();
    server.refuse = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    const clock = new FakeClock();
    const registry = createPoolRegistry({
      Client: server.Client,
      clock,
      breaker: { failureThreshold: 5, initialBackoffMs: 10, maxBackoffMs: 10 },
      services: { llm: { size: 0, overflow: 1, acquireTimeoutMs: 60_000 } },
    });
    const detector = createInterferenceDetector({ registry, clock, serverProbe: false });
    const failures = (): number => registry.stats('llm').consecutiveConnectFailures;
    /** Moves fake time until `failures()` reaches `n` (each attempt waits out a 10 ms backoff). */
    const failUntil = async (n: number): Promise<void> => {
      for (let step = 0; step < 1_000 && failures() < n; step++) {
        await clock.advance(1);
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    const waiting = registry.acquire('llm').then(
      (lease) => lease.release(),
      () => {},
    );
    try {
      await failUntil(4);
      expect(failures()).toBe(4);
      const below = await detector.check();
      expect(below.services.llm.circuit).toBe('closed');
      expect(below.services.llm.consecutiveConnectFailures).toBe(4);
      expect(below.services.llm.reasons.filter((r) => r.startsWith('circuit'))).toEqual([]);
      await failUntil(5);
      const open = await detector.check();
      expect(open.services.llm.circuit).toBe('open');
      expect(open.services.llm.status).toBe('unhealthy');
      expect(open.services.llm.reasons).toContain('circuit open: 5 consecutive connection failures');
    } finally {
      await detector.stop();
      await registry.close({ timeoutMs: 10 });
      await waiting;
    }
  });
});
