// The detector's rule table, row by row: each rule fires on the figures it names and stays quiet just below them.
// Time is fake: the sampler is fed snapshots at explicit monotonic times, as the detector does once per evaluation.
import { describe, expect, it } from 'vitest';
import { resolveDetectorOptions, type DetectorOptions } from '../../src/detector/options';
import { applyRules, RULES, ruleContext, type Rule, type RuleContext } from '../../src/detector/rules';
import { Sampler } from '../../src/detector/sampler';
import type { SignalKind } from '../../src/detector/incident';
import { latency, presetRegistry } from './scripted-registry';

type Svc = 'auth' | 'extension' | 'llm' | 'usage';

const INTERVAL_MS = 1_000;

/** A scripted registry, a sampler and a fake monotonic time, evaluated by hand. */
function bench(options: Omit<DetectorOptions<Svc>, 'clock'> = {}) {
  const registry = presetRegistry();
  const detector = resolveDetectorOptions<Svc>(
    { intervalMs: INTERVAL_MS, windowMs: 10_000, shortWindowMs: 1_000, protect: ['auth'], ...options },
    registry.services,
    (s) => registry.serviceOptions(s).priority,
  );
  const sampler = new Sampler<Svc>(registry.services, detector);
  let now = 0;
  sampler.push(registry.stats(), now, true);
  /** Moves fake time by `ms`, takes a snapshot as one evaluation does, and returns `victim`'s rule context. */
  const evaluate = (victim: Svc, ms = INTERVAL_MS): RuleContext<Svc> => {
    now += ms;
    const stats = registry.stats();
    sampler.push(stats, now);
    const capacity = Math.max(1, stats.budget?.total ?? stats.totals.max);
    return ruleContext(stats, victim, registry.services.indexOf(victim), now, {
      sampler,
      services: registry.services,
      options: registry.serviceOptions(victim),
      isProtected: detector.protect.includes(victim),
      detector,
      capacity,
    });
  };
  return { registry, sampler, evaluate };
}

function rule(kind: SignalKind): Rule {
  const found = RULES.find((r) => r.kind === kind);
  if (found === undefined) throw new Error(`no rule ${kind}`);
  return found;
}

/** What `kind` reads in `c`, as [service, value, threshold] triples. */
function readings(kind: SignalKind, c: RuleContext<Svc>): [string, number, number][] {
  return rule(kind).test(c).map((r) => [r.service, r.value, r.threshold]);
}

describe('the rule table', () => {
  it('has one row per client-side signal kind, in the order an incident lists its signals', () => {
    expect(RULES.map((r) => r.kind)).toEqual(['slow-queries', 'failures', 'exhaustion', 'shared-slots', 'connection-churn', 'server-capacity', 'wait-rise', 'monopolization']);
    expect(RULES.filter((r) => r.protectedOnly).map((r) => r.kind)).toEqual(['wait-rise', 'monopolization']);
  });

  it('slow-queries: fires when p95 query time is above slowQueryMs, with the statement timeout advice', () => {
    const { registry, evaluate } = bench();
    registry.set('llm', { queryTime: latency(1_500) });
    const c = evaluate('llm');
    expect(readings('slow-queries', c)).toEqual([['llm', 1_500, 1_000]]);
    const found = applyRules(c);
    expect(found.signals).toEqual([{ kind: 'slow-queries', service: 'llm', value: 1_500, threshold: 1_000, unit: 'ms', message: 'llm p95 query time 1500 ms > 1000 ms' }]);
    expect(found.recommendations).toEqual([expect.objectContaining({ kind: 'bound-slow-queries', service: 'llm', option: 'statementTimeoutMs', to: 3_000 })]);
  });

  it('slow-queries: quiet at the threshold, and without queries', () => {
    const { registry, evaluate } = bench();
    registry.set('llm', { queryTime: latency(1_000) });
    expect(readings('slow-queries', evaluate('llm'))).toEqual([]);
    registry.set('llm', { queryTime: latency(5_000, 0) });
    expect(readings('slow-queries', evaluate('llm'))).toEqual([]);
  });

  it('failures: fires above `failures` connection failures plus acquire timeouts within the window', () => {
    const { registry, evaluate } = bench();
    registry.set('usage', { connectionErrors: 2, timeouts: 2, consecutiveConnectFailures: 2 });
    const c = evaluate('usage');
    expect(readings('failures', c)).toEqual([['usage', 4, 3]]);
    expect(rule('failures').message(c, rule('failures').test(c)[0]!)).toBe('usage had 2 connection failures and 2 acquire timeouts in 10000 ms (more than 3)');
    expect(rule('failures').recommend(c, rule('failures').test(c)[0]!)).toMatchObject({ kind: 'check-connectivity', service: 'usage' });
  });

  it('failures: quiet at the threshold, for SQL errors, and once the failures leave the window', () => {
    const { registry, evaluate } = bench();
    registry.set('usage', { connectionErrors: 2, timeouts: 1, errors: 50 });
    expect(readings('failures', evaluate('usage'))).toEqual([]);
    registry.set('usage', { connectionErrors: 5, timeouts: 1 });
    expect(readings('failures', evaluate('usage'))).toEqual([['usage', 6, 3]]);
    // nothing new for longer than the window: the counts within it fall back to zero
    for (let i = 0; i < 12; i++) evaluate('usage');
    expect(readings('failures', evaluate('usage'))).toEqual([]);
  });

  it('failures: capacity refusals alone get no connectivity advice', () => {
    const { registry, sampler, evaluate } = bench();
    for (let i = 0; i < 4; i++) sampler.countCapacityRefusal(registry.services.indexOf('usage'), 10);
    registry.set('usage', { connectionErrors: 4 });
    const c = evaluate('usage');
    const [reading] = rule('failures').test(c);
    expect(reading).toBeDefined();
    expect(rule('failures').recommend(c, reading!)).toBeNull();
  });

  it('exhaustion: fires above `utilization` when somebody waits', () => {
    const { registry, evaluate } = bench();
    registry.set('usage', { inUse: 6, waiting: 2 });
    const c = evaluate('usage');
    expect(readings('exhaustion', c)).toEqual([['usage', 1, 0.8]]);
    expect(rule('exhaustion').message(c, rule('exhaustion').test(c)[0]!)).toBe('usage uses 6 of 6 connections (100 % > 80 %), 2 waiting');
  });

  it('exhaustion: a full pool with nobody waiting fires only once it has stayed full for sustainedExhaustionMs', () => {
    const { registry, evaluate } = bench();
    registry.set('usage', { inUse: 6 });
    expect(readings('exhaustion', evaluate('usage'))).toEqual([]); // full since now
    expect(readings('exhaustion', evaluate('usage'))).toEqual([]); // 1000 ms
    const c = evaluate('usage'); // 2000 ms = 2 × intervalMs, the default
    expect(readings('exhaustion', c)).toEqual([['usage', 1, 0.8]]);
    expect(rule('exhaustion').message(c, rule('exhaustion').test(c)[0]!)).toBe('usage uses 6 of 6 connections (100 % > 80 %), full for 2000 ms');
    registry.set('usage', { inUse: 4 }); // 67 %: the run ends, and starts again from zero
    expect(readings('exhaustion', evaluate('usage'))).toEqual([]);
    registry.set('usage', { inUse: 6 });
    expect(readings('exhaustion', evaluate('usage'))).toEqual([]);
  });

  it('exhaustion: quiet at the utilization threshold, even with callers waiting', () => {
    const { registry, evaluate } = bench({ thresholds: { utilization: 5 / 6 } });
    registry.set('usage', { inUse: 5, waiting: 3 });
    expect(readings('exhaustion', evaluate('usage'))).toEqual([]);
  });

  it('shared-slots: fires when the victim waits for shared slots others hold at two evaluations in a row', () => {
    const { registry, evaluate } = bench();
    registry.budgetMax = 24; // sizes 18: 6 shared slots
    registry.set('llm', { inUse: 12, sharedInUse: 4 });
    registry.set('extension', { inUse: 6, waiting: 1, waitingForShared: 1, sharedInUse: 1 });
    expect(readings('shared-slots', evaluate('extension'))).toEqual([]); // a blip so far
    const c = evaluate('extension', INTERVAL_MS / 2);
    expect(readings('shared-slots', c)).toEqual([['extension', 4, 6]]);
    expect(rule('shared-slots').message(c, rule('shared-slots').test(c)[0]!)).toBe('extension waits for shared slots (1 waiting): 5 of the 6 shared slots are held by llm 4, extension 1');
  });

  it('shared-slots: fires at once with an acquire timeout; quiet when only the victim holds shared slots', () => {
    const { registry, evaluate } = bench();
    registry.budgetMax = 24;
    registry.set('llm', { inUse: 12, sharedInUse: 4 });
    registry.set('extension', { inUse: 6, waiting: 1, waitingForShared: 1, timeouts: 1 });
    expect(readings('shared-slots', evaluate('extension'))).toEqual([['extension', 4, 6]]);
    registry.set('llm', { inUse: 8, sharedInUse: 0 });
    expect(readings('shared-slots', evaluate('extension'))).toEqual([]);
    expect(readings('shared-slots', evaluate('extension'))).toEqual([]);
  });

  it('connection-churn: fires above max(10, 2 × max) connections opened within the window, broken ones not counted', () => {
    const { registry, evaluate } = bench();
    registry.set('llm', { created: 47 }); // llm max 23: threshold 46
    const c = evaluate('llm');
    expect(readings('connection-churn', c)).toEqual([['llm', 47, 46]]);
    expect(rule('connection-churn').recommend(c, rule('connection-churn').test(c)[0]!)).toMatchObject({ kind: 'reduce-churn', service: 'llm' });
    registry.set('usage', { created: 20, connectionErrors: 8 }); // usage max 6: threshold 12, 20 - 8 opened
    expect(readings('connection-churn', evaluate('usage'))).toEqual([]);
  });

  it('connection-churn: quiet at the threshold, and a configured threshold replaces the default', () => {
    const { registry, evaluate } = bench({ thresholds: { connectionChurn: 50 } });
    registry.set('llm', { created: 50 });
    expect(readings('connection-churn', evaluate('llm'))).toEqual([]);
    registry.set('llm', { created: 51 });
    expect(readings('connection-churn', evaluate('llm'))).toEqual([['llm', 51, 50]]); // counted from the oldest sample in the window
  });

  it('server-capacity: fires for capacity refusals within the window, naming the connections held then', () => {
    const { registry, sampler, evaluate } = bench();
    expect(readings('server-capacity', evaluate('llm'))).toEqual([]);
    sampler.countCapacityRefusal(registry.services.indexOf('llm'), 17);
    const c = evaluate('llm');
    expect(readings('server-capacity', c)).toEqual([['llm', 1, 0]]);
    expect(rule('server-capacity').message(c, rule('server-capacity').test(c)[0]!)).toBe(
      "the server refused 1 llm connection(s) for lack of capacity (53300 too many clients, or PgBouncer's client limit) in 10000 ms, with 17 registry connections open",
    );
  });

  it('wait-rise: fires when the short-window mean wait rises above its baseline, for a protected service only', () => {
    const { registry, evaluate } = bench({ thresholds: { minSamples: 10 } });
    for (let i = 0; i < 6; i++) {
      registry.recordWait('auth', 2, 20);
      registry.recordWait('llm', 2, 20);
      evaluate('auth');
    }
    registry.recordWait('auth', 400, 20);
    registry.recordWait('llm', 400, 20);
    const c = evaluate('auth');
    const [reading] = rule('wait-rise').test(c);
    expect(reading?.service).toBe('auth');
    expect(reading!.value).toBeGreaterThan(reading!.threshold);
    expect(reading!.threshold).toBeGreaterThanOrEqual(50); // at least waitRiseMinMs above a ~2 ms baseline
    expect(applyRules(c).signals.map((x) => x.kind)).toContain('wait-rise');
    // llm is not protected: the rule is not applied to it
    expect(applyRules(evaluate('llm', 0)).signals.map((x) => x.kind)).not.toContain('wait-rise');
  });

  it('wait-rise: quiet with fewer than minSamples acquires in the short window, and for a steady wait', () => {
    const few = bench({ thresholds: { minSamples: 10 } });
    for (let i = 0; i < 6; i++) {
      few.registry.recordWait('auth', 2, 20);
      few.evaluate('auth');
    }
    few.registry.recordWait('auth', 400, 5);
    expect(readings('wait-rise', few.evaluate('auth'))).toEqual([]);
    const steady = bench({ thresholds: { minSamples: 10 } });
    for (let i = 0; i < 7; i++) {
      steady.registry.recordWait('auth', 30, 20);
      steady.evaluate('auth');
    }
    expect(readings('wait-rise', steady.evaluate('auth', 0))).toEqual([]);
  });

  it('monopolization: fires for each lower-priority service using its overflow beyond monopolyShare while a protected one starves', () => {
    const { registry, evaluate } = bench();
    registry.budgetMax = 30;
    registry.set('auth', { inUse: 3, waiting: 2, acquireWait: latency(250) });
    registry.set('llm', { inUse: 20 }); // 12 beyond its size of 8: 20 of 30
    const c = evaluate('auth');
    expect(readings('monopolization', c)).toEqual([['llm', 20 / 30, 0.5]]);
    expect(rule('monopolization').message(c, rule('monopolization').test(c)[0]!)).toBe(
      'llm (medium) holds 20 of 30 connections (67 % > 50 %) while auth waits (2 waiting, p95 wait 250 ms)',
    );
  });

  it('monopolization: quiet while the victim does not starve, for a holder within its own size, and for an unprotected victim', () => {
    const { registry, evaluate } = bench({ protect: ['auth', 'extension'] });
    registry.budgetMax = 30;
    registry.set('llm', { inUse: 20 });
    registry.set('auth', { inUse: 3, waiting: 2, acquireWait: latency(20) }); // waits, but briefly
    expect(readings('monopolization', evaluate('auth'))).toEqual([]);
    registry.set('auth', { inUse: 3, waiting: 2, acquireWait: latency(250) });
    registry.set('llm', { inUse: 8 }); // within its size: its own connections
    registry.set('extension', { inUse: 5 });
    expect(readings('monopolization', evaluate('auth'))).toEqual([]);
    registry.set('llm', { inUse: 20 });
    registry.set('usage', { inUse: 2, waiting: 2, acquireWait: latency(250) }); // llm ranks above usage
    expect(applyRules(evaluate('usage', 0)).signals.map((x) => x.kind)).not.toContain('monopolization');
  });
});
