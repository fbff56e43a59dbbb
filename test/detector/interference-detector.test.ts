import { afterEach, describe, expect, it } from 'vitest';
import { createInterferenceDetector, type InterferenceDetector } from '../../src/detector/interference-detector';
import type { Incident, MitigationAction } from '../../src/detector/incident';
import { Budget } from '../../src/budget/budget';
import { isBulkheadError } from '../../src/errors';
import type { Priority } from '../../src/pool/options';
import { checkRegistryOptions } from '../../src/registry/options';
import { mulberry32 } from '../helpers/seeded-random';
import { FakeClock, latency, presetRegistry, ScriptedRegistry } from './scripted-registry';

type Svc = 'auth' | 'extension' | 'llm' | 'usage';

let detector: InterferenceDetector<Svc> | null = null;
afterEach(async () => {
  await detector?.stop();
  detector = null;
});

function setup(options: Parameters<typeof createInterferenceDetector<Svc>>[0] extends infer O ? Omit<O, 'registry' | 'clock'> : never = {}) {
  const registry = presetRegistry();
  const clock = new FakeClock();
  const d = createInterferenceDetector<Svc>({ registry, clock, intervalMs: 1_000, windowMs: 10_000, serverProbe: false, ...options });
  detector = d;
  const events = {
    interference: [] as Incident<Svc>[],
    saturation: [] as Incident<Svc>[],
    connectivity: [] as Incident<Svc>[],
    recovered: [] as Incident<Svc>[],
    mitigation: [] as MitigationAction<Svc>[],
  };
  d.on('interference', (i) => events.interference.push(i));
  d.on('saturation', (i) => events.saturation.push(i));
  d.on('connectivity', (i) => events.connectivity.push(i));
  d.on('recovered', (i) => events.recovered.push(i));
  d.on('mitigation', (a) => events.mitigation.push(a));
  /** Moves time one interval and evaluates. */
  const tick = async () => {
    await clock.advance(1_000);
    return d.check();
  };
  return { registry, clock, detector: d, events, tick };
}

function kindsOf(incident: Incident | undefined): string[] {
  return incident === undefined ? [] : [...incident.kinds].sort();
}

describe('slow responses: p95 query time above slowQueryMs', () => {
  it('fires above the threshold, with the value and threshold as evidence', async () => {
    const { registry, detector, tick } = setup();
    registry.set('llm', { queryTime: latency(1_500) });
    const report = await tick();
    const incident = detector.incidents().find((i) => i.victim === 'llm');
    expect(kindsOf(incident)).toEqual(['slow-queries']);
    expect(incident?.signals[0]).toMatchObject({ kind: 'slow-queries', service: 'llm', value: 1_500, threshold: 1_000, unit: 'ms' });
    expect(incident?.recommendations.map((r) => r.text).join('\n')).toContain('set statementTimeoutMs on llm to 3000');
    expect(report.services.llm.status).toBe('degraded');
    expect(report.status).toBe('degraded');
  });
  it("behind PgBouncer in transaction mode the timeout is advised as the deployment can apply it (the registry's pooler)", async () => {
    const { registry, detector, tick } = setup();
    registry.pooler = 'pgbouncer-transaction';
    registry.set('llm', { queryTime: latency(1_500) });
    await tick();
    const advice = detector.incidents().find((i) => i.victim === 'llm')?.recommendations.find((r) => r.option === 'statementTimeoutMs');
    expect(advice?.text).toBe(
      "find llm's slow queries (p95 1500 ms) and set statementTimeoutMs on llm to 3000 (behind PgBouncer in transaction mode it is applied with SET LOCAL in query() and transaction(); for withClient() and acquire() too: ALTER ROLE <llm's role> SET statement_timeout = 3000)",
    );
  });
  it('stays quiet at or below it', async () => {
    const { registry, detector, tick } = setup();
    registry.set('llm', { queryTime: latency(1_000) });
    const report = await tick();
    expect(detector.incidents()).toEqual([]);
    expect(report.status).toBe('healthy');
  });
});

describe('repeated failures: connection failures plus acquire timeouts over the window', () => {
  it('fires when more than `failures` happen within the window', async () => {
    const { registry, detector, tick } = setup();
    registry.set('auth', { connectionErrors: 2, timeouts: 2 });
    await tick();
    const incident = detector.incidents()[0];
    expect(incident?.victim).toBe('auth');
    expect(incident?.signals).toContainEqual(expect.objectContaining({ kind: 'failures', value: 4, threshold: 3, message: expect.stringContaining('2 connection failures and 2 acquire timeouts') }));
    // a protected service failing is critical, and so unhealthy
    expect(incident?.severity).toBe('critical');
    expect(detector.health().services.auth.status).toBe('unhealthy');
    expect(detector.health().services.auth).toMatchObject({ errors: 2, connectionErrors: 2, timeouts: 2 });
  });
  it('stays quiet at the threshold, and forgets failures older than the window', async () => {
    const { registry, detector, tick } = setup({ calmIntervals: 1 });
    registry.set('auth', { connectionErrors: 3 });
    await tick();
    expect(detector.incidents()).toEqual([]);
    // failures that happened before the detector started do not count either
    const late = setup({ calmIntervals: 1 });
    late.registry.set('auth', { connectionErrors: 50 });
    expect(late.detector.incidents()).toEqual([]);
    // 4 failures, then the window moves past them: the incident closes
    registry.set('auth', { connectionErrors: 7 });
    await tick();
    expect(detector.incidents().map((i) => i.victim)).toEqual(['auth']);
    for (let i = 0; i < 11; i++) await tick();
    expect(detector.incidents()).toEqual([]);
    expect(detector.health().services.auth.connectionErrors).toBe(0);
  });
  it('stays quiet for a noisy but healthy service: SQL errors (constraint violations) are not failures', async () => {
    const { registry, detector, tick } = setup();
    for (let i = 1; i <= 20; i++) {
      registry.set('auth', { errors: 500 * i }); // failed queries only: every connection is fine
      const report = await tick();
      expect(report.status).toBe('healthy');
    }
    expect(detector.incidents()).toEqual([]);
    expect(detector.openedIncidents().auth).toBe(0);
    expect(detector.health().services.auth).toMatchObject({ status: 'healthy', errors: 5_000, connectionErrors: 0 });
  });
});

describe('pool exhaustion: utilization above the threshold', () => {
  it('fires above 0.8', async () => {
    const { registry, detector, tick } = setup();
    registry.set('usage', { inUse: 6, waiting: 4 }); // 6 of 6
    await tick();
    expect(kindsOf(detector.incidents()[0])).toEqual(['exhaustion']);
    expect(detector.incidents()[0]?.signals[0]).toMatchObject({ value: 1, threshold: 0.8, unit: 'ratio' });
  });
  it('fires with nobody waiting once acquire timeouts happened within the window', async () => {
    const { registry, detector, tick } = setup({ thresholds: { failures: 10 } });
    registry.set('usage', { inUse: 6, timeouts: 2 });
    await tick();
    expect(kindsOf(detector.incidents()[0])).toEqual(['exhaustion']);
    expect(detector.incidents()[0]?.signals[0]?.message).toBe('usage uses 6 of 6 connections (100 % > 80 %), 2 acquire timeouts in 10000 ms');
  });
  it('stays quiet for a one-connection pool that is briefly full with nobody waiting (the usage pool during a flush)', async () => {
    const registry = new ScriptedRegistry({ auth: { size: 3, overflow: 5, priority: 'highest' }, usage: { size: 1, overflow: 0, priority: 'low' } });
    const clock = new FakeClock();
    const d = createInterferenceDetector({ registry, clock, intervalMs: 1_000, serverProbe: false });
    try {
      for (let flush = 0; flush < 10; flush++) {
        registry.set('usage', { inUse: 1 }); // 100 % while the batch is written
        await clock.advance(1_000);
        expect((await d.check()).status).toBe('healthy');
        registry.set('usage', { inUse: 0 });
        await clock.advance(1_000);
        await d.check();
      }
      expect(d.openedIncidents().usage).toBe(0);
      // with one caller waiting behind the flush, it is exhaustion at once
      registry.set('usage', { inUse: 1, waiting: 1 });
      await clock.advance(1_000);
      await d.check();
      expect(d.incidents().map((i) => [i.victim, [...i.kinds]])).toEqual([['usage', ['exhaustion']]]);
    } finally {
      await d.stop();
    }
  });
  it('fires with nobody waiting once the pool stays full for sustainedExhaustionMs (2 × intervalMs: the third evaluation)', async () => {
    const { registry, detector, tick } = setup();
    expect(detector.options.thresholds.sustainedExhaustionMs).toBe(2_000);
    registry.set('usage', { inUse: 6 });
    await tick();
    await tick();
    expect(detector.incidents()).toEqual([]);
    await tick();
    expect(kindsOf(detector.incidents()[0])).toEqual(['exhaustion']);
    expect(detector.incidents()[0]?.signals[0]?.message).toBe('usage uses 6 of 6 connections (100 % > 80 %), full for 2000 ms');
    // one evaluation below the threshold starts the count again
    const again = setup();
    again.registry.set('usage', { inUse: 6 });
    await again.tick();
    await again.tick();
    again.registry.set('usage', { inUse: 1 });
    await again.tick();
    again.registry.set('usage', { inUse: 6 });
    await again.tick();
    await again.tick();
    expect(again.detector.incidents()).toEqual([]);
  });
  it('sustainedExhaustionMs: 0 reports a full pool at the first evaluation; negative values are rejected', async () => {
    const { registry, detector, tick } = setup({ thresholds: { sustainedExhaustionMs: 0 } });
    registry.set('usage', { inUse: 6 });
    await tick();
    expect(kindsOf(detector.incidents()[0])).toEqual(['exhaustion']);
    expect(() => createInterferenceDetector({ registry, thresholds: { sustainedExhaustionMs: -1 } })).toThrow(/thresholds\.sustainedExhaustionMs: expected a number of ms >= 0/);
  });
  it('stays quiet at 0.8', async () => {
    const { registry, detector, tick } = setup();
    registry.set('auth', { inUse: 6 }); // 6 of 8 = 0.75
    registry.set('usage', { inUse: 4 }); // 4 of 6 = 0.67
    await tick();
    expect(detector.incidents()).toEqual([]);
  });
});

describe('monopolization: a lower-priority service holds most connections while a protected one waits', () => {
  it('names the victim, the aggressor with its share, and concrete recommendations', async () => {
    const { registry, detector, tick, events } = setup();
    registry.budgetMax = 30;
    registry.set('llm', { inUse: 18 });
    registry.set('auth', { inUse: 3, waiting: 2, acquireWait: latency(400) });
    await tick();
    const incident = detector.incidents().find((i) => i.victim === 'auth');
    expect(incident?.victimProtected).toBe(true);
    expect(incident?.severity).toBe('critical');
    expect(incident?.aggressors).toEqual([expect.objectContaining({ service: 'llm', inUse: 18, share: 18 / 30, priority: 'medium' })]);
    expect(incident?.signals).toContainEqual(expect.objectContaining({ kind: 'monopolization', service: 'llm', value: 18 / 30, threshold: 0.5 }));
    const texts = incident?.recommendations.map((r) => r.text) ?? [];
    expect(texts).toContain('lower llm overflow from 15 to 8');
    expect(texts).toContain('raise auth size from 3 to 5');
    expect(incident?.recommendations).toContainEqual({ kind: 'lower-overflow', service: 'llm', option: 'overflow', from: 15, to: 8, validation: 'ok', text: 'lower llm overflow from 15 to 8' });
    expect(incident?.type).toBe('interference');
    expect(events.interference.map((i) => i.victim)).toEqual(['auth']);
    expect(events.saturation).toEqual([]);
    // every size/overflow advice went through the registry's own validation before it was offered
    for (const r of incident?.recommendations ?? []) if (r.option === 'size' || r.option === 'overflow') expect(registry.validations).toContainEqual({ service: r.service, limits: { [r.option]: r.to } });
    expect(detector.recommendations().map((r) => r.text)).toEqual(expect.arrayContaining(texts));
    // recommend mode never changes the registry
    expect(registry.resizes).toEqual([]);
  });
  it('uses totals.max as the capacity when the registry reports no budget', async () => {
    const registry = new ScriptedRegistry({ auth: { size: 1, overflow: 2, priority: 'highest' }, llm: { size: 1, overflow: 7, priority: 'medium' } });
    const d = createInterferenceDetector({ registry, clock: new FakeClock(), serverProbe: false });
    registry.set('llm', { inUse: 6 });
    registry.set('auth', { inUse: 1, waiting: 2, acquireWait: latency(300) });
    await d.check();
    expect(d.incidents()[0]?.aggressors[0]).toMatchObject({ service: 'llm', share: 6 / 11 });
    await d.stop();
  });
  it('stays quiet when the protected service is not waiting, or the share is small, or the hog has higher priority', async () => {
    const { registry, detector, tick } = setup();
    registry.budgetMax = 30;
    registry.set('llm', { inUse: 18 });
    await tick();
    expect(detector.incidents()).toEqual([]);
    registry.set('llm', { inUse: 10 });
    registry.set('auth', { inUse: 3, waiting: 1 });
    await tick();
    expect(detector.incidents().flatMap((i) => i.kinds)).not.toContain('monopolization');
    // extension (high) waiting while auth (highest) holds the connections is not monopolization
    registry.set('auth', { inUse: 8, waiting: 0 });
    registry.set('llm', { inUse: 0 });
    registry.set('extension', { inUse: 5, waiting: 2 });
    registry.budgetMax = 14;
    await tick();
    expect(detector.incidents().flatMap((i) => i.kinds)).not.toContain('monopolization');
  });
});

describe('a service that exhausts its own pool, with no other service involved', () => {
  it('is advised to raise its own overflow, with figures from serviceOptions (llm with 78 acquire timeouts)', async () => {
    const { registry, detector, tick, events } = setup();
    registry.set('llm', { inUse: 23, waiting: 0, timeouts: 78 }); // 23 of 8 + 15, nobody else busy
    await tick();
    const incident = detector.incidents().find((i) => i.victim === 'llm');
    expect(incident?.victimProtected).toBe(false);
    expect(incident?.aggressors).toEqual([]);
    // its own pool: a saturation, never announced as interference
    expect(incident?.type).toBe('saturation');
    expect(events.interference).toEqual([]);
    expect(events.saturation.map((i) => i.victim)).toEqual(['llm']);
    expect(incident?.noRecommendation).toBeNull();
    expect(incident?.recommendations).toEqual([
      {
        kind: 'raise-overflow',
        service: 'llm',
        option: 'overflow',
        from: 15,
        to: 16,
        validation: 'ok',
        text: 'raise llm overflow from 15 to 16 (or its size), or hold its connections for less time: llm runs out of its own pool (23 of 23 in use, 0 waiting, 78 acquire timeouts) and no other service is involved',
      },
    ]);
    // callers waiting now raise the suggestion; the incident keeps one per kind and service
    registry.set('llm', { waiting: 4, timeouts: 90 });
    await tick();
    const updated = detector.incidents().find((i) => i.victim === 'llm')?.recommendations ?? [];
    expect(updated.map((r) => [r.kind, r.from, r.to])).toEqual([['raise-overflow', 15, 19]]);
    expect(detector.recommendations().map((r) => r.kind)).toEqual(['raise-overflow']);
  });
  it('stays silent while the pool is not full, while it waits for shared slots, or while it starves a protected service', async () => {
    const { registry, detector, tick } = setup({ thresholds: { sustainedExhaustionMs: 0 } });
    registry.set('llm', { inUse: 20, timeouts: 78 }); // timeouts, but its pool has room: not its own limit
    await tick();
    expect(detector.recommendations()).toEqual([]);
    registry.set('llm', { inUse: 23, waitingForShared: 2 }); // others hold the shared slots it needs
    await tick();
    expect(detector.recommendations()).toEqual([]);
    // llm holds most connections while auth waits: it is an aggressor, and more connections for it would hurt auth
    registry.budgetMax = 30;
    registry.set('llm', { waitingForShared: 0 });
    registry.set('auth', { inUse: 3, waiting: 2, acquireWait: latency(400) });
    await tick();
    expect(detector.recommendations().map((r) => `${r.kind} ${r.service}`).sort()).toEqual(['lower-overflow llm', 'raise-size auth']);
  });
});

type Limits = Record<Svc, { size: number; overflow: number; priority: Priority }>;

/** The demo's bulkheads on maxConnections 12 (auth 2+1, extension 2+1, usage 1+0) with llm's limits as given. */
function demoLimits(llm: { size: number; overflow: number }): Limits {
  return {
    auth: { size: 2, overflow: 1, priority: 'highest' },
    extension: { size: 2, overflow: 1, priority: 'high' },
    llm: { ...llm, priority: 'medium' },
    usage: { size: 1, overflow: 0, priority: 'low' },
  };
}

/** A detector on a scripted registry with these limits and a shared budget of `maxConnections` and `reserve`. */
function budgetSetup(limits: Limits, maxConnections: number, reserve: number) {
  const registry = new ScriptedRegistry(limits);
  registry.budgetMax = maxConnections;
  registry.budgetReserve = reserve;
  const d = createInterferenceDetector<Svc>({ registry, clock: new FakeClock(), serverProbe: false });
  detector = d;
  return { registry, detector: d };
}

/**
 * How many shared slots a real Budget lends `service` under these limits, with nobody else borrowing: the
 * independent check that advice would work (and that the config it leads to passes validation).
 */
function slotsLent(limits: Limits, maxConnections: number, reserve: number, service: Svc): number {
  checkRegistryOptions({ maxConnections, reserve, services: limits });
  const clock = new FakeClock();
  const budget = new Budget({ total: maxConnections, reserve, agingMs: 0, clock, members: Object.entries(limits).map(([name, l]) => ({ service: name, ...(l as Limits[Svc]) })) });
  let lent = 0;
  while (budget.tryTake(service)) lent++;
  return lent;
}

function llmAdvice(d: InterferenceDetector<Svc>) {
  return d.incidents().find((i) => i.victim === 'llm')?.recommendations ?? [];
}

describe('advice that the shared budget can carry out', () => {
  it('raise-overflow beyond what the budget lends llm adds the maxConnections it takes (the demo: llm 6 + 0 on 12)', async () => {
    const limits = demoLimits({ size: 6, overflow: 0 });
    const [maxConnections, reserve] = [12, 1];
    const { registry, detector } = budgetSetup(limits, maxConnections, reserve);
    registry.set('llm', { inUse: 6, waiting: 34, timeouts: 84 });
    await detector.check();
    const advice = llmAdvice(detector);
    expect(advice.map((r) => r.kind)).toEqual(['raise-overflow']);
    const r = advice[0]!;
    const lendable = slotsLent(limits, maxConnections, reserve, 'llm');
    expect(lendable).toBe(0); // the one shared slot is the reserve
    expect([r.option, r.from, r.to]).toEqual(['overflow', 0, 34]); // one more per caller waiting
    expect(r.to!).toBeGreaterThan(lendable);
    expect(r.registryChange).toEqual({ option: 'maxConnections', from: maxConnections, to: maxConnections + (r.to! - lendable) });
    expect(r.text).toBe(
      `hold llm's connections for less time, or raise llm overflow from ${r.from} to ${r.to} and maxConnections from ${maxConnections} to ${r.registryChange!.to} (and set reserve: ${reserve}, or its default grows with maxConnections): ` +
        `llm runs out of its own pool (6 of 6 in use, 34 waiting, 84 acquire timeouts), no other service is involved, and the budget lends llm at most ${lendable} shared slots (maxConnections ${maxConnections} - sizes 11 - reserve ${reserve})`,
    );
    // "(or its size)" would be 6 → 40 within 12: rejected by validation, so it is not offered
    expect(r.text).not.toContain('or its size');
    expect(() => checkRegistryOptions({ maxConnections, reserve, services: { ...limits, llm: { ...limits.llm, size: 6 + r.to! } } })).toThrow(/maxConnections/);
    // Following the advice works: the budget then lends llm exactly the suggested overflow, and not one less.
    const advised = { ...limits, llm: { ...limits.llm, overflow: r.to! } };
    expect(slotsLent(advised, r.registryChange!.to, reserve, 'llm')).toBe(r.to);
    expect(slotsLent(advised, r.registryChange!.to - 1, reserve, 'llm')).toBe(r.to! - 1);
  });

  it('stays plain (no registryChange, "(or its size)" kept) while the budget can lend the suggested overflow', async () => {
    const limits = demoLimits({ size: 6, overflow: 2 });
    const [maxConnections, reserve] = [20, 1];
    const { registry, detector } = budgetSetup(limits, maxConnections, reserve);
    registry.set('llm', { inUse: 8, waiting: 3, timeouts: 9, sharedInUse: 2 });
    await detector.check();
    const r = llmAdvice(detector)[0];
    expect(r).toMatchObject({ kind: 'raise-overflow', option: 'overflow', from: 2, to: 5 });
    expect(r?.registryChange).toBeUndefined();
    expect(r?.text).toMatch(/^raise llm overflow from 2 to 5 \(or its size\), or hold its connections for less time: /);
    const advised = { ...limits, llm: { ...limits.llm, overflow: r!.to! } };
    expect(slotsLent(advised, maxConnections, reserve, 'llm')).toBeGreaterThanOrEqual(r!.to!);
    slotsLent({ ...limits, llm: { ...limits.llm, size: 6 + r!.to! - r!.from! } }, maxConnections, reserve, 'llm'); // the size route validates
  });

  it('raise-budget when llm waits for shared slots only the reserve has left (the old demo: llm 5 + 2 on 12)', async () => {
    const limits = demoLimits({ size: 5, overflow: 2 });
    const [maxConnections, reserve] = [12, 1];
    const { registry, detector } = budgetSetup(limits, maxConnections, reserve);
    registry.set('llm', { inUse: 6, waiting: 34, timeouts: 84, sharedInUse: 1, waitingForShared: 1 });
    await detector.check();
    const advice = llmAdvice(detector);
    expect(advice.map((r) => r.kind)).toEqual(['raise-budget']);
    const r = advice[0]!;
    const lendable = slotsLent(limits, maxConnections, reserve, 'llm');
    expect(lendable).toBe(1);
    const slots = 1 + 34; // what it holds, and one more per caller waiting
    expect([r.option, r.from, r.to]).toEqual(['overflow', 2, slots]);
    expect(r.registryChange).toEqual({ option: 'maxConnections', from: maxConnections, to: maxConnections + slots - lendable });
    expect(r.text).toBe(
      `raise maxConnections from ${maxConnections} to ${r.registryChange!.to} (and set reserve: ${reserve}, or its default grows with maxConnections) and llm overflow from 2 to ${slots}, or hold llm's connections for less time: ` +
        `llm waits for shared slots the budget never lends it (6 of 7 in use, 34 waiting, 84 acquire timeouts; it holds 1 shared slot and may hold at most ${lendable}: maxConnections ${maxConnections} - sizes 10 - reserve ${reserve}; the reserve of ${reserve} is for high and highest services only) and no other service is involved`,
    );
    const advised = { ...limits, llm: { ...limits.llm, overflow: r.to! } };
    expect(slotsLent(advised, r.registryChange!.to, reserve, 'llm')).toBe(slots);

    // One caller waiting: its configured overflow is enough once the budget lends it; or lower the reserve instead.
    registry.set('llm', { waiting: 1 });
    await detector.check();
    const small = llmAdvice(detector)[0]!;
    expect(small).toMatchObject({ kind: 'raise-budget', service: 'llm', registryChange: { option: 'maxConnections', from: 12, to: 13 } });
    expect(small.option).toBeUndefined();
    expect(small.text).toMatch(/^raise maxConnections from 12 to 13 \(and set reserve: 1, or its default grows with maxConnections\), or lower reserve from 1 to 0 instead of raising maxConnections \(less headroom for high and highest services\), or hold llm's connections for less time: /);
    expect(slotsLent(limits, small.registryChange!.to, reserve, 'llm')).toBe(limits.llm.overflow);
    expect(slotsLent(limits, maxConnections, 0, 'llm')).toBe(limits.llm.overflow);
    expect(detector.recommendations().map((x) => `${x.kind} ${x.service}`)).toEqual(['raise-budget llm']);
  });

  it('names the higher-priority holders of the shared slots llm waits for as aggressors, and the budget that lends llm more', async () => {
    const limits = demoLimits({ size: 5, overflow: 2 });
    const { registry, detector } = budgetSetup(limits, 14, 1); // 4 shared: llm may borrow 3
    registry.set('llm', { inUse: 6, waiting: 34, timeouts: 84, sharedInUse: 1, waitingForShared: 1 });
    registry.set('auth', { inUse: 3, sharedInUse: 1 });
    registry.set('extension', { inUse: 3, sharedInUse: 1 });
    const report = await detector.check();
    const incident = detector.incidents().find((i) => i.victim === 'llm');
    expect(incident?.type).toBe('interference');
    expect(incident?.aggressors.map((a) => [a.service, a.sharedSlots]).sort()).toEqual([['auth', 1], ['extension', 1]]);
    expect(incident?.signals).toContainEqual(expect.objectContaining({ kind: 'shared-slots', service: 'llm', value: 2, message: 'llm waits for shared slots (1 waiting): 3 of the 4 shared slots are held by auth 1, extension 1, llm 1' }));
    // both holders rank above llm: the budget serves them first by design, so the advice is a larger budget
    const advice = llmAdvice(detector);
    expect(advice.map((r) => r.kind)).toEqual(['raise-budget']);
    expect(advice[0]?.registryChange).toEqual({ option: 'maxConnections', from: 14, to: 15 });
    expect(advice[0]?.text).toContain('held by higher-priority services (auth 1, extension 1)');
    expect(slotsLent(limits, 15, 1, 'llm')).toBe(2); // with 15, the budget lends llm its full overflow of 2
    // the health report names the holders too
    expect(report.services.llm.sharedSlotHolders).toEqual({ auth: 1, extension: 1, llm: 1 });
    expect(report.services.llm.reasons).toContain('waiting for a shared slot: 3 of the 4 shared slots are held by auth 1, extension 1, llm 1');

    const bare = budgetSetup(demoLimits({ size: 5, overflow: 2 }), 12, 1);
    // Without maxConnections the budget is every service's size + overflow (14, 4 shared, reserve 1): llm holds 1 of
    // the 3 shared slots it may borrow and nobody else holds any, so the budget will lend it one: no change is due.
    bare.registry.budgetMax = null;
    bare.registry.set('llm', { inUse: 6, waiting: 34, timeouts: 84, sharedInUse: 1, waitingForShared: 1 });
    await bare.detector.check();
    expect(llmAdvice(bare.detector)).toEqual([]);
    await bare.detector.stop();

    const calm = budgetSetup(demoLimits({ size: 5, overflow: 2 }), 12, 1);
    calm.registry.set('llm', { inUse: 6, waiting: 0, sharedInUse: 1, waitingForShared: 1 }); // 6 of 7, nobody waits
    await calm.detector.check();
    expect(calm.detector.incidents()).toEqual([]);
    await calm.detector.stop();
  });
});

describe("wait rise: a protected service's acquire wait above its own baseline", () => {
  async function run(shortWaitMs: number, shortSamples: number) {
    const ctx = setup({ shortWindowMs: 1_000, windowMs: 10_000, thresholds: { minSamples: 10 } });
    for (let i = 0; i < 6; i++) {
      ctx.registry.recordWait('auth', 2, 20);
      await ctx.tick();
    }
    ctx.registry.recordWait('auth', shortWaitMs, shortSamples);
    await ctx.tick();
    return ctx;
  }
  it('fires when the short-window mean rises well above the long-window baseline', async () => {
    const { detector } = await run(120, 20);
    const incident = detector.incidents().find((i) => i.victim === 'auth');
    expect(kindsOf(incident)).toEqual(['wait-rise']);
    expect(incident?.signals[0]).toMatchObject({ kind: 'wait-rise', value: 120, threshold: 52, unit: 'ms' });
  });
  it('stays quiet for a steady wait, for a small rise, and with too few samples', async () => {
    expect((await run(2, 20)).detector.incidents()).toEqual([]);
    await detector?.stop();
    expect((await run(40, 20)).detector.incidents()).toEqual([]); // below baseline + waitRiseMinMs
    await detector?.stop();
    expect((await run(500, 9)).detector.incidents()).toEqual([]); // 9 samples < minSamples 10
  });
  it('counts acquire timeouts as waits', async () => {
    const ctx = setup({ shortWindowMs: 2_000, thresholds: { minSamples: 5 } });
    for (let i = 0; i < 5; i++) {
      ctx.registry.recordWait('auth', 1, 10);
      await ctx.tick();
    }
    ctx.registry.recordWait('auth', 5_000, 10); // acquire timeouts count as waits, at the time waited
    await ctx.tick();
    expect(ctx.detector.incidents()[0]?.kinds).toContain('wait-rise');
  });
});

describe('server probe: lock blocking and idle transactions', () => {
  const rows = [
    { pid: 10, application_name: 'app:auth', state: 'active', state_ms: 2_000, blocked_by: [20] },
    { pid: 11, application_name: 'app:auth', state: 'active', state_ms: 1_500, blocked_by: '{10}' }, // queued behind pid 10
    { pid: 20, application_name: 'app:llm', state: 'idle in transaction', state_ms: 9_000, blocked_by: [] },
    { pid: 30, application_name: 'other:llm', state: 'idle in transaction', state_ms: 9_000, blocked_by: [] },
  ];
  it('names the blocking service and the idle transaction, and recommends idleInTransactionTimeoutMs', async () => {
    const { registry, detector, tick } = setup({ serverProbe: true });
    registry.probeRows = rows;
    registry.set('auth', { inUse: 8, waiting: 1 }); // the client-side signal that triggers the probe
    const report = await tick();
    expect(report.serverProbe).toBe('ok');
    const incident = detector.incidents().find((i) => i.victim === 'auth');
    expect(kindsOf(incident)).toEqual(['exhaustion', 'idle-in-transaction', 'lock-blocking']);
    expect(incident?.aggressors).toEqual([expect.objectContaining({ service: 'llm', blockedSessions: 2 })]);
    expect(incident?.signals).toContainEqual(expect.objectContaining({ kind: 'idle-in-transaction', service: 'llm', value: 9_000, threshold: 0 }));
    expect(incident?.recommendations).toContainEqual(expect.objectContaining({ service: 'llm', option: 'idleInTransactionTimeoutMs', from: 0, to: 5_000 }));
    // lock waits get lock advice: the blocking session named, and never more connections for auth
    expect(incident?.recommendations).toContainEqual(expect.objectContaining({ kind: 'shorten-transactions', service: 'llm', text: expect.stringContaining('where pid in (20) (pid 20 idle in transaction for 9000 ms)') }));
    expect(incident?.recommendations.filter((r) => r.service === 'auth')).toEqual([]);
    expect(incident?.type).toBe('interference');
    expect(incident?.severity).toBe('critical');
    expect(JSON.stringify(incident)).not.toMatch(/app:|other:/);
  });
  it("when the server refuses connections, names who holds its sessions by service and instance (every instance's, busiest first)", async () => {
    const { registry, detector, tick } = setup({ serverProbe: true });
    registry.instanceId = 'a';
    registry.probeRows = [
      ...[1, 2, 3].map((pid) => ({ pid, application_name: 'app:llm@c', state: 'active', state_ms: 100, blocked_by: [] })),
      { pid: 4, application_name: 'app:llm@c', state: 'idle', state_ms: 100, blocked_by: [] },
      { pid: 5, application_name: 'app:auth@a', state: 'active', state_ms: 100, blocked_by: [] },
      { pid: 6, application_name: 'app:auth@a', state: 'idle', state_ms: 100, blocked_by: [] },
      { pid: 7, application_name: 'app:usage', state: 'idle', state_ms: 100, blocked_by: [] },
    ];
    registry.emit('connect-error', { service: 'auth', error: Object.assign(new Error('sorry, too many clients already'), { code: '53300' }), consecutiveFailures: 1 });
    const report = await tick();
    expect(report.serverProbe).toBe('ok');
    const capacity = detector.incidents().find((i) => i.victim === 'auth')?.signals.find((s) => s.kind === 'server-capacity');
    expect(capacity?.message).toMatch(
      /^the server refused 1 auth connection\(s\) for lack of capacity .*; this application's 7 session\(s\) on the server \(every instance\): llm@c 4 \(3 active\), auth@a 2 \(1 active\), usage 1 \(0 active\)$/,
    );
  });
  it('with probeIntervalMs, probes while every client-side figure is calm, and names a lock another instance holds', async () => {
    const { registry, detector, tick } = setup({ serverProbe: true, probeIntervalMs: 3_000 });
    registry.instanceId = 'a';
    // One of auth's sessions waits on instance b's llm: nothing on this instance's figures shows it yet.
    registry.probeRows = [
      { pid: 1, application_name: 'app:auth@a', state: 'active', state_ms: 400, blocked_by: [2] },
      { pid: 2, application_name: 'app:llm@b', state: 'idle in transaction', state_ms: 900, blocked_by: [] },
    ];
    await tick(); // t = 1 s: the first evaluation probes
    expect(registry.probeClients).toHaveLength(1);
    expect(registry.probeClients[0]?.queries).toBe(1);
    const incident = detector.incidents().find((i) => i.victim === 'auth');
    expect(incident?.signals.find((s) => s.kind === 'lock-blocking')?.message).toBe('1 auth session(s) wait on locks held by llm (instance b)');
    await tick(); // t = 2 s, 3 s: not due again yet
    await tick();
    expect(registry.probeClients[0]?.queries).toBe(1);
    await tick(); // t = 4 s: 3 s after the last probe
    expect(registry.probeClients[0]?.queries).toBe(2);
  });
  it('rejects a probeIntervalMs that is not a duration', () => {
    expect(() => setup({ serverProbe: true, probeIntervalMs: -1 })).toThrow(/probeIntervalMs: expected/);
  });
  it('does not query the server while every client-side figure is calm', async () => {
    const { registry, tick } = setup({ serverProbe: true });
    registry.probeRows = rows;
    await tick();
    await tick();
    expect(registry.probeClients).toEqual([]);
  });
  it('degrades quietly to client-side signals when the probe fails (pg-mem, no privileges) and retries later', async () => {
    const { registry, detector, tick } = setup({ serverProbe: true });
    registry.set('auth', { inUse: 8, waiting: 1 });
    const report = await tick();
    expect(report.serverProbe).toBe('unavailable');
    expect(kindsOf(detector.incidents()[0])).toEqual(['exhaustion']);
    expect(registry.probeClients[0]?.ended).toBe(true);
    registry.openClientError = new Error('permission denied');
    await expect(tick()).resolves.toMatchObject({ serverProbe: 'unavailable' });
  });
  it('ends its client on stop', async () => {
    const { registry, detector, tick } = setup({ serverProbe: true });
    registry.probeRows = [];
    registry.set('auth', { inUse: 8, waiting: 1 });
    await tick();
    expect(registry.probeClients).toHaveLength(1);
    expect(registry.probeClients[0]?.ended).toBe(false);
    await detector.stop();
    expect(registry.probeClients[0]?.ended).toBe(true);
  });
  it('gives up on a probe query that never answers after probeTimeoutMs, ends that client, and sets statement_timeout for its transaction only', async () => {
    const { registry, clock, detector } = setup({ serverProbe: true, probeTimeoutMs: 500 });
    registry.probeHangs = 'query'; // a half-open connection: the query is sent and nothing ever comes back
    registry.set('auth', { inUse: 8, waiting: 1 });
    let settled = false;
    const checking = detector.check().then((report) => {
      settled = true;
      return report;
    });
    await clock.advance(499);
    expect(settled).toBe(false);
    await clock.advance(1);
    await expect(checking).resolves.toMatchObject({ serverProbe: 'unavailable' });
    expect(kindsOf(detector.incidents()[0])).toEqual(['exhaustion']);
    expect(registry.probeClients).toHaveLength(1);
    // SET LOCAL, never a session SET: behind PgBouncer (transaction mode) a session setting would reach other clients.
    expect(registry.probeClients[0]?.texts[0]).toBe('BEGIN READ ONLY; SET LOCAL statement_timeout = 500');
    expect(registry.probeClients[0]?.texts.some((t) => /^set /i.test(t))).toBe(false);
    expect(registry.probeClients[0]?.ended).toBe(true);
    expect(clock.timers.size).toBe(0);
  });
  it('stop() settles at once while the probe query hangs, and ends that client', async () => {
    const { registry, clock, detector } = setup({ serverProbe: true });
    registry.probeHangs = 'query';
    registry.set('auth', { inUse: 8, waiting: 1 });
    detector.start();
    await clock.advance(1_000); // the interval fires: an evaluation starts and waits on the probe
    let stopped = false;
    const stopping = detector.stop().then(() => (stopped = true));
    for (let i = 0; i < 20; i++) await Promise.resolve();
    expect(stopped).toBe(true); // no fake time passed: stop() did not wait for the probe timeout
    await stopping;
    expect(registry.probeClients).toHaveLength(1);
    expect(registry.probeClients[0]?.ended).toBe(true);
    expect(clock.timers.size).toBe(0);
  });
  it('stop() waits at most probeTimeoutMs for a probe connection that never opens', async () => {
    const { registry, clock, detector } = setup({ serverProbe: true, probeTimeoutMs: 300 });
    registry.probeHangs = 'connect';
    registry.set('auth', { inUse: 8, waiting: 1 });
    detector.start();
    await clock.advance(1_000);
    let stopped = false;
    const stopping = detector.stop().then(() => (stopped = true));
    await clock.advance(299);
    expect(stopped).toBe(false);
    await clock.advance(1);
    await stopping;
    expect(detector.running).toBe(false);
    expect(clock.timers.size).toBe(0);
  });
  it('a check() after stop() ends the probe client it opened', async () => {
    const { registry, detector, tick } = setup({ serverProbe: true });
    registry.probeRows = [];
    registry.set('auth', { inUse: 8, waiting: 1 });
    await tick();
    await detector.stop();
    await expect(tick()).resolves.toMatchObject({ serverProbe: 'ok' });
    expect(registry.probeClients).toHaveLength(2);
    expect(registry.probeClients.map((c) => c.ended)).toEqual([true, true]);
  });
});

describe('incident lifecycle', () => {
  it('keeps one recommendation per kind and service however long an incident lasts, with the latest figures', async () => {
    const registry = new ScriptedRegistry({
      auth: { size: 3, overflow: 5, priority: 'highest', statementTimeoutMs: 5_000 },
      llm: { size: 8, overflow: 15, priority: 'medium' },
    });
    const d = createInterferenceDetector({ registry, clock: new FakeClock(), serverProbe: false });
    // Every figure the texts quote drifts on every evaluation, as in a long incident.
    for (let i = 1; i <= 5_000; i++) {
      // auth 7 of its 8, callers waiting; llm 18 of 31 connections: monopolizing, not itself exhausted
      registry.set('auth', { inUse: 7, waiting: 1 + (i % 7), queryTime: latency(1_000 + i), connectionErrors: 10 * i, consecutiveConnectFailures: i });
      registry.set('llm', { inUse: 18 });
      await d.check();
    }
    const [incident, ...others] = d.incidents();
    expect(others).toEqual([]);
    expect(incident?.occurrences).toBe(5_000);
    const keys = incident!.recommendations.map((r) => `${r.service}:${r.kind}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.sort()).toEqual(['auth:bound-slow-queries', 'auth:check-connectivity', 'auth:raise-size', 'llm:lower-overflow']);
    expect(incident!.recommendations).toContainEqual(expect.objectContaining({ kind: 'bound-slow-queries', text: expect.stringContaining('p95 6000 ms') }));
    expect(incident!.recommendations).toContainEqual(expect.objectContaining({ kind: 'check-connectivity', text: expect.stringContaining(': 5000 consecutive') }));
    expect(d.recommendations()).toHaveLength(4);
  });
  it('updates one open incident per victim instead of duplicating it, and re-emits only on escalation', async () => {
    const { registry, detector, tick, events } = setup();
    registry.set('auth', { inUse: 7, waiting: 1 }); // 7/8 and waiting: exhaustion, warning
    await tick();
    await tick();
    expect(detector.incidents()).toHaveLength(1);
    expect(detector.incidents()[0]?.occurrences).toBe(2);
    expect(events.saturation).toHaveLength(1);
    registry.set('auth', { connectionErrors: 10 });
    await tick();
    expect(detector.incidents()).toHaveLength(1);
    // the same incident, escalated: now a connectivity one, announced as such
    expect(events.connectivity).toHaveLength(1);
    expect(events.connectivity[0]?.id).toBe(events.saturation[0]?.id);
    expect(events.connectivity[0]?.severity).toBe('critical');
    expect(events.connectivity[0]?.type).toBe('connectivity');
    // and once a lower-priority service holds most connections while auth could still grow, interference
    registry.set('auth', { connectionErrors: 10, inUse: 7, waiting: 3 });
    registry.set('llm', { inUse: 20 });
    await tick();
    expect(events.interference.map((i) => [i.id, i.type])).toEqual([[events.saturation[0]?.id, 'interference']]);
  });
  it('closes only after calmIntervals calm evaluations (hysteresis) and emits recovered', async () => {
    const { registry, detector, clock, tick, events } = setup({ calmIntervals: 3 });
    registry.set('auth', { inUse: 8, waiting: 1 });
    await tick();
    const startedAt = clock.wallNow();
    registry.set('auth', { inUse: 1, waiting: 0 });
    await tick();
    await tick();
    registry.set('auth', { inUse: 8, waiting: 1 }); // a relapse resets the calm count
    await tick();
    registry.set('auth', { inUse: 1, waiting: 0 });
    await tick();
    await tick();
    expect(detector.incidents()).toHaveLength(1);
    expect(events.recovered).toEqual([]);
    await tick();
    expect(detector.incidents()).toEqual([]);
    expect(events.recovered).toHaveLength(1);
    expect(events.recovered[0]).toMatchObject({ victim: 'auth', startedAt, endedAt: clock.wallNow() });
    expect(detector.history()).toEqual(events.recovered);
    expect(detector.health().status).toBe('healthy');
  });
  it('keeps a bounded history ring of closed incidents', async () => {
    const { registry, detector, tick } = setup({ calmIntervals: 1, historySize: 2 });
    for (let n = 0; n < 5; n++) {
      registry.set('auth', { inUse: 8, waiting: 1 });
      await tick();
      registry.set('auth', { inUse: 0, waiting: 0 });
      await tick();
    }
    expect(detector.history().map((i) => i.id)).toEqual(['auth-4', 'auth-5']);
  });
});

describe('its own cost', () => {
  it('stays bounded over thousands of evaluations and events: what it keeps stops growing once its caps are reached (fake time, seeded)', async () => {
    const { registry, detector, tick } = setup({ calmIntervals: 1, historySize: 20 });
    const random = mulberry32(20261129);
    const services = ['auth', 'extension', 'llm', 'usage'] as const;
    const footprint = (): number => JSON.stringify({ h: detector.history(), i: detector.incidents(), r: detector.recommendations(), e: detector.lastConnectionErrors(), health: detector.health() }).length;
    const sizes: number[] = [];
    for (let round = 1; round <= 3_000; round++) {
      // churn: every service flips between calm, exhausted, slow and failing; errors arrive as registry events
      for (const service of services) {
        const mood = Math.floor(random() * 4);
        registry.set(service, {
          inUse: mood === 1 ? 30 : Math.floor(random() * 3),
          waiting: mood === 1 ? 5 : 0,
          queryTime: latency(mood === 2 ? 2_500 : 3),
          errors: mood === 3 ? round : 0,
          timeouts: mood === 3 ? round : 0,
        });
        if (random() < 0.3) registry.emit('connect-error', { service, error: new Error(`connect ECONNREFUSED #${round}`), consecutiveFailures: 1 });
      }
      await tick();
      if (round % 500 === 0) sizes.push(footprint());
    }
    expect(detector.history().length).toBe(20);
    expect(Object.keys(detector.lastConnectionErrors()).length).toBeLessThanOrEqual(services.length);
    for (const incident of detector.incidents()) {
      expect(incident.signals.length).toBeLessThanOrEqual(50);
      expect(incident.recommendations.length).toBeLessThanOrEqual(20);
    }
    // from the second checkpoint on (caps reached), what it holds no longer grows with the number of evaluations
    const plateau = sizes.slice(1);
    expect(Math.max(...plateau)).toBeLessThan(Math.min(...plateau) * 1.5);
  });
});

describe("mitigation: 'auto'", () => {
  it("shrinks the aggressor's overflow through registry.resize, emits mitigation, and restores it after recovery", async () => {
    const { registry, detector, tick, events } = setup({ mitigation: 'auto', calmIntervals: 2 });
    registry.budgetMax = 30;
    registry.set('llm', { inUse: 18 });
    registry.set('auth', { inUse: 3, waiting: 2, acquireWait: latency(400) });
    await tick();
    expect(registry.resizes).toEqual([{ service: 'llm', limits: { overflow: 8 }, reason: expect.stringContaining('starves auth') }]);
    expect(events.mitigation).toEqual([expect.objectContaining({ action: 'shrink', service: 'llm', victim: 'auth', previous: { size: 8, overflow: 15 }, current: { size: 8, overflow: 8 } })]);
    // still starving: no second shrink, and the recommendation keeps quoting the configured number
    await tick();
    expect(registry.resizes).toHaveLength(1);
    expect(detector.recommendations().map((r) => r.text)).toContain('lower llm overflow from 15 to 8');
    registry.set('llm', { inUse: 8 });
    registry.set('auth', { inUse: 1, waiting: 0 });
    await tick();
    expect(registry.serviceOptions('llm').overflow).toBe(8);
    await tick();
    expect(registry.serviceOptions('llm').overflow).toBe(15);
    expect(events.mitigation.map((a) => a.action)).toEqual(['shrink', 'restore']);
    expect(events.recovered[0]?.mitigations.map((a) => a.action)).toEqual(['shrink', 'restore']);
  });
  it('does not restore over a limit somebody else changed meanwhile, and restores on stop', async () => {
    const { registry, detector, tick, events } = setup({ mitigation: 'auto', calmIntervals: 1 });
    registry.budgetMax = 30;
    registry.set('llm', { inUse: 18 });
    registry.set('auth', { waiting: 2, acquireWait: latency(400) });
    await tick();
    registry.resize('llm', { overflow: 2 }, 'operator');
    registry.set('auth', { waiting: 0 });
    registry.set('llm', { inUse: 0 });
    await tick();
    expect(registry.serviceOptions('llm').overflow).toBe(2);
    expect(events.mitigation.map((a) => a.action)).toEqual(['shrink']);

    const again = setup({ mitigation: 'auto' });
    again.registry.budgetMax = 30;
    again.registry.set('llm', { inUse: 18 });
    again.registry.set('auth', { waiting: 2, acquireWait: latency(400) });
    await again.tick();
    expect(again.registry.serviceOptions('llm').overflow).toBe(8);
    await again.detector.stop();
    expect(again.registry.serviceOptions('llm').overflow).toBe(15);
    void detector;
  });
});

describe('start / stop', () => {
  it('evaluates every intervalMs on an unref-ed timer and leaves nothing running after stop (idempotent)', async () => {
    const { registry, clock, detector, events } = setup();
    detector.start();
    detector.start();
    expect([...clock.timers.values()]).toEqual([expect.objectContaining({ keepAlive: false })]);
    registry.set('auth', { inUse: 8, waiting: 1 });
    await clock.advance(999);
    expect(events.saturation).toEqual([]);
    await clock.advance(1);
    expect(events.saturation).toHaveLength(1);
    await clock.advance(1_000);
    expect(detector.incidents()[0]?.occurrences).toBe(2);
    await detector.stop();
    await detector.stop();
    expect(clock.timers.size).toBe(0);
    expect(registry.listenerCount('acquire')).toBe(0);
    expect(detector.running).toBe(false);
  });
  it('a throwing listener does not break evaluation', async () => {
    const { registry, detector, tick } = setup();
    detector.on('saturation', () => {
      throw new Error('boom');
    });
    registry.set('auth', { inUse: 8, waiting: 1 });
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    await expect(tick()).resolves.toBeDefined();
    await new Promise((r) => setImmediate(r));
    process.off('warning', onWarning);
    expect(detector.incidents()).toHaveLength(1);
    expect(warnings.join()).toContain('boom');
  });
});

describe('latency histograms', () => {
  it("gives each service's since-start acquire waits and hold times, as the registry counts them, for metrics", async () => {
    const { registry, detector, tick } = setup();
    registry.recordWait('auth', 3, 4);
    registry.recordWait('auth', 400);
    registry.recordHold('llm', 120, 2);
    const histograms = detector.latencyHistograms();
    expect(Object.keys(histograms).sort()).toEqual(['auth', 'extension', 'llm', 'usage']);
    expect(histograms.auth.waitTime).toMatchObject({ count: 5, sumMs: 412 });
    expect(histograms.auth.useTime.count).toBe(0);
    expect(histograms.llm.useTime).toMatchObject({ count: 2, sumMs: 240 });
    const within = (h: { boundsMs: readonly number[]; buckets: readonly number[] }, ms: number): number => h.buckets[h.boundsMs.findIndex((b) => b >= ms)] ?? 0;
    expect(within(histograms.auth.waitTime, 3)).toBe(4); // cumulative buckets: 4 waits of at most 3 ms
    // since-start counters: an evaluation does not reset them, and later samples add to them
    await tick();
    registry.recordWait('auth', 3);
    expect(detector.latencyHistograms().auth.waitTime.count).toBe(6);
  });
});

describe('last connection errors', () => {
  it("keeps each service's last connect-error or idle connection error, and stops listening on stop()", async () => {
    const { registry, clock, detector } = setup();
    expect(detector.lastConnectionErrors()).toEqual({});
    registry.emit('connect-error', { service: 'auth', error: Object.assign(new Error('connect ECONNREFUSED db:5432'), { code: 'ECONNREFUSED' }), consecutiveFailures: 1 });
    await clock.advance(500);
    registry.emit('error', { service: 'auth', connectionId: 3, error: Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }) });
    registry.emit('connect-error', { service: 'llm', error: new Error('x'.repeat(600)), consecutiveFailures: 1 });
    const errors = detector.lastConnectionErrors();
    expect(errors.auth).toEqual({ message: 'terminating connection due to administrator command', code: '57P01', at: clock.wallNow() });
    expect(errors.llm?.message).toHaveLength(501); // capped, with an ellipsis
    expect(errors.llm?.code).toBeUndefined();
    expect(registry.listenerCount('connect-error')).toBe(1);
    await detector.stop();
    expect(registry.listenerCount('connect-error') + registry.listenerCount('error')).toBe(0);
    detector.start();
    expect(registry.listenerCount('connect-error')).toBe(1);
  });
});

describe('options', () => {
  it('rejects invalid options all at once with their paths', () => {
    const registry = presetRegistry();
    try {
      createInterferenceDetector({ registry, intervalMs: 0, protect: ['auht' as 'auth'], thresholds: { utilization: 2, failures: -1 }, mitigation: 'fix' as 'auto', bogus: 1 } as never);
      expect.unreachable();
    } catch (error) {
      expect(isBulkheadError(error, 'ERR_CONFIG')).toBe(true);
      const paths = (error as { problems: { path: string }[] }).problems.map((p) => p.path).sort();
      expect(paths).toEqual(['bogus', 'intervalMs', 'mitigation', 'protect[0]', 'thresholds.failures', 'thresholds.utilization']);
    }
  });
  it('protects the highest and high priority services by default', () => {
    const d = createInterferenceDetector({ registry: presetRegistry(), clock: new FakeClock() });
    expect(d.options.protect).toEqual(['auth', 'extension']);
    expect(d.options.thresholds).toMatchObject({ slowQueryMs: 1_000, failures: 3, utilization: 0.8 });
    void d.stop();
  });
});
