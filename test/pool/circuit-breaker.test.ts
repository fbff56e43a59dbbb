import { describe, expect, it } from 'vitest';
import type { Clock } from '../../src/clock';
import { CircuitBreaker, type CircuitTransition } from '../../src/pool/circuit-breaker';

function setup(threshold = 2, random?: () => number) {
  let now = 0;
  const clock: Clock = { now: () => now, wallNow: () => now, setTimeout: () => 0, clearTimeout: () => {} };
  const transitions: CircuitTransition[] = [];
  const breaker = new CircuitBreaker(clock, { failureThreshold: threshold, initialBackoffMs: 1_000, maxBackoffMs: 4_000 }, (t) => transitions.push(t), random);
  return { breaker, transitions, advance: (ms: number) => (now += ms) };
}

describe('CircuitBreaker', () => {
  it('takes its jitter from the injected random source: 75 % of the backoff at 0, all of it near 1', () => {
    for (const [random, expected] of [[0, 750], [0.999_999, 1_000]] as const) {
      const { breaker, transitions } = setup(1, () => random);
      breaker.failure(breaker.begin());
      expect(transitions).toHaveLength(1);
      expect(transitions[0]?.retryInMs).toBeCloseTo(expected, 0);
      expect(breaker.delayBeforeAttempt()).toBeCloseTo(expected, 0);
    }
  });

  it('a capacity refusal (refused) never opens a closed circuit but lengthens the pause between attempts; a refused probe reopens', () => {
    const { breaker, transitions, advance } = setup(2, () => 0.5);
    for (let i = 0; i < 10; i++) breaker.refused(breaker.begin());
    expect(breaker.state).toBe('closed');
    expect(transitions).toEqual([]);
    expect(breaker.consecutiveFailures).toBe(10);
    // The pause grows toward initialBackoffMs: a full server is not hammered.
    expect(breaker.delayBeforeAttempt()).toBeCloseTo(750, 0);
    breaker.success(breaker.begin());
    expect(breaker.delayBeforeAttempt()).toBe(0);
    // An outage opens it as usual; a probe refused for lack of room counts as a failed probe.
    breaker.failure(breaker.begin());
    breaker.failure(breaker.begin());
    expect(breaker.state).toBe('open');
    advance(1_000);
    breaker.refused(breaker.begin());
    expect(breaker.state).toBe('open');
    expect(transitions.map((t) => t.to)).toEqual(['open', 'half-open', 'open']);
  });

  it('opens after the threshold, lets one probe through after the backoff, and closes on success', () => {
    const { breaker, transitions, advance } = setup();
    breaker.failure(breaker.begin());
    expect(breaker.state).toBe('closed');
    breaker.failure(breaker.begin());
    expect(breaker.state).toBe('open');
    expect(breaker.rejecting).toBe(true);
    expect(breaker.delayBeforeAttempt()).toBeGreaterThanOrEqual(750);
    advance(1_000);
    expect(breaker.rejecting).toBe(false);
    expect(breaker.delayBeforeAttempt()).toBe(0);
    const probe = breaker.begin();
    expect(probe.probe).toBe(true);
    expect(breaker.state).toBe('half-open');
    expect(breaker.rejecting).toBe(true); // one probe at a time
    expect(breaker.delayBeforeAttempt()).toBeGreaterThan(0);
    breaker.success(probe);
    expect(transitions.map((t) => t.to)).toEqual(['open', 'half-open', 'closed']);
    expect(breaker.consecutiveFailures).toBe(0);
  });

  it('doubles the backoff after each failed probe, up to the maximum', () => {
    const { breaker, transitions, advance } = setup(1);
    breaker.failure(breaker.begin());
    for (let i = 0; i < 4; i++) {
      advance(10_000);
      breaker.failure(breaker.begin());
    }
    const waits = transitions.filter((t) => t.to === 'open').map((t) => t.retryInMs as number);
    const ceilings = [1_000, 2_000, 4_000, 4_000, 4_000];
    waits.forEach((wait, i) => {
      expect(wait).toBeGreaterThanOrEqual(ceilings[i]! * 0.75);
      expect(wait).toBeLessThanOrEqual(ceilings[i]!);
    });
  });

  it('a slow failure from before the circuit opened is not mistaken for the probe', () => {
    const { breaker, advance } = setup(2);
    const straggler = breaker.begin(); // started while closed, still connecting
    breaker.failure(breaker.begin());
    breaker.failure(breaker.begin());
    expect(breaker.state).toBe('open');
    advance(1_000);
    const probe = breaker.begin();
    breaker.failure(straggler); // arrives while the probe is in flight
    expect(breaker.state).toBe('half-open');
    breaker.success(probe);
    expect(breaker.state).toBe('closed');
  });

  it('an attempt abandoned for lack of a shared slot neither closes nor reopens the circuit', () => {
    const { breaker, advance } = setup(1);
    breaker.failure(breaker.begin());
    advance(1_000);
    const probe = breaker.begin();
    breaker.abandon(probe);
    expect(breaker.state).toBe('half-open');
    expect(breaker.consecutiveFailures).toBe(1);
    expect(breaker.rejecting).toBe(false); // another attempt may probe now
    expect(breaker.begin().probe).toBe(true);
  });
});
