// Detector scenario corpus, part 1 of 3 (the harness and how a scenario works: scenario-harness.ts): troubles of the
// shared connection budget and of a service's own pool.
import { expect, it } from 'vitest';
import { describePg, pgUrl, uniqueAppName } from '../helpers/pg';
import { apply, adviceCell, type Config, expectAppliable, incidentOf, ms, open, p99, rows, run, useScenarioHooks, verdictCell, waitedLonger } from './scenario-harness';

const pct = (share: number): string => `${Math.round(share * 100)} %`;

useScenarioHooks('the shared budget');

describePg('detector scenario corpus on real PostgreSQL (issue 14): the shared budget', () => {
  it('1. llm floods the shared budget: auth waits for the slots llm holds; lowering llm overflow (and the size the registry then accepts) ends it', async () => {
    const app = uniqueAppName('14-flood');
    let config: Config = {
      maxConnections: 8,
      reserve: 0,
      services: { auth: { size: 1, overflow: 2, priority: 'highest', acquireTimeoutMs: 800 }, llm: { size: 1, overflow: 7, priority: 'medium', acquireTimeoutMs: 20_000 } },
    };
    let registry = open(pgUrl, app, config);
    const workers = [
      { service: 'llm', concurrency: 12, sql: () => 'select pg_sleep(0.2)' },
      { service: 'auth', concurrency: 2, sql: () => 'select pg_sleep(0.02)' },
    ];
    const before = await run(registry, workers, 2_500, { serverProbe: false });
    const incident = incidentOf(before, 'auth');
    expect(incident, JSON.stringify(before.detector.incidents())).toBeDefined();
    expect(incident!.type).toBe('interference');
    expect(incident!.aggressors.map((a) => a.service)).toEqual(['llm']);
    expect(incident!.kinds).toContain('shared-slots');
    expect(before.announced.filter((a) => a.incident.victim === 'llm' && a.type === 'interference')).toEqual([]);
    expect(incident!.recommendations).toContainEqual(expect.objectContaining({ kind: 'lower-overflow', service: 'llm', from: 7, to: 4 }));
    expectAppliable(registry, config, incident!);
    ({ registry, config } = await apply(registry, config, incident!, pgUrl, app));
    expect(registry.serviceOptions('llm').overflow).toBe(4);
    const after = await run(registry, workers, 2_500, { serverProbe: false });
    expect(incidentOf(after, 'auth'), JSON.stringify(incidentOf(after, 'auth'))).toBeUndefined();
    expect(after.errors.auth).toEqual([]);
    // The effect: auth stops waiting for connections. Its p99 is only reported: the registry's priorities already keep
    // it within tens of ms (74 → 32 ms in the table), where a loaded 2-core machine's noise can reverse the comparison
    // (47.6 against 47.4 ms in one run); the share of acquires that waited is the signal, far from the noise.
    expect(waitedLonger(before, 'auth', 10)).toBeGreaterThan(0.5);
    expect(waitedLonger(after, 'auth', 10)).toBeLessThan(0.05);
    rows.push({
      scenario: 'llm flood through the shared budget',
      verdict: verdictCell(incident!),
      advice: adviceCell(incident!),
      effect: `auth p99 ${ms(p99(before.latencies.auth))} → ${ms(p99(after.latencies.auth))}, auth acquires waiting > 10 ms ${pct(waitedLonger(before, 'auth', 10))} → ${pct(waitedLonger(after, 'auth', 10))}, auth errors ${before.errors.auth?.length} → 0; no incident after`,
    });
  });

  it('2. llm saturates its own pool: a saturation event, never interference, with an overflow the budget can lend', async () => {
    const app = uniqueAppName('14-self');
    let config: Config = { services: { llm: { size: 2, overflow: 0, priority: 'medium', acquireTimeoutMs: 300 } } };
    let registry = open(pgUrl, app, config);
    const workers = [{ service: 'llm', concurrency: 6, sql: () => 'select pg_sleep(0.15)' }];
    const before = await run(registry, workers, 2_000, { serverProbe: false });
    const incident = incidentOf(before, 'llm');
    expect(incident).toBeDefined();
    expect(incident!.type).toBe('saturation');
    expect(incident!.aggressors).toEqual([]);
    expect(new Set(before.announced.map((a) => a.type))).toEqual(new Set(['saturation']));
    const raise = incident!.recommendations.find((r) => r.kind === 'raise-overflow');
    expect(raise).toMatchObject({ service: 'llm', option: 'overflow', from: 0, validation: 'needs-registry-change' });
    expect(raise!.registryChange).toEqual({ option: 'maxConnections', from: 2, to: 2 + raise!.to! });
    expectAppliable(registry, config, incident!);
    ({ registry, config } = await apply(registry, config, incident!, pgUrl, app));
    const after = await run(registry, workers, 2_000, { serverProbe: false });
    expect(after.errors.llm).toEqual([]);
    expect(p99(after.latencies.llm)).toBeLessThan(p99(before.latencies.llm));
    rows.push({
      scenario: 'self-saturation (llm 2 + 0, 6 callers)',
      verdict: verdictCell(incident!),
      advice: adviceCell(incident!),
      effect: `llm p99 ${ms(p99(before.latencies.llm))} → ${ms(p99(after.latencies.llm))}, acquire timeouts ${before.errors.llm?.length} → 0${incidentOf(after, 'llm') === undefined ? '; no incident after' : ''}`,
    });
  });

  it('7. a background batch monopolizes the connections: auth is the victim, background the aggressor; its lower overflow ends it', async () => {
    const app = uniqueAppName('14-batch');
    let config: Config = {
      maxConnections: 8,
      reserve: 0,
      services: { auth: { size: 1, overflow: 3, priority: 'highest', acquireTimeoutMs: 800 }, background: { size: 1, overflow: 8, priority: 'low', acquireTimeoutMs: 30_000 } },
    };
    let registry = open(pgUrl, app, config);
    const workers = [
      { service: 'background', concurrency: 10, sql: () => 'select pg_sleep(0.3)' },
      { service: 'auth', concurrency: 3, sql: () => 'select pg_sleep(0.02)' },
    ];
    const before = await run(registry, workers, 2_500, { serverProbe: false });
    const incident = incidentOf(before, 'auth');
    expect(incident, JSON.stringify(before.detector.incidents())).toBeDefined();
    expect(incident!.type).toBe('interference');
    expect(incident!.aggressors.map((a) => a.service)).toEqual(['background']);
    expect(incident!.kinds).toEqual(expect.arrayContaining(['monopolization', 'shared-slots']));
    expect(incident!.recommendations).toContainEqual(expect.objectContaining({ kind: 'lower-overflow', service: 'background', from: 8, to: 4 }));
    expectAppliable(registry, config, incident!);
    ({ registry, config } = await apply(registry, config, incident!, pgUrl, app));
    const after = await run(registry, workers, 2_500, { serverProbe: false });
    expect(incidentOf(after, 'auth')).toBeUndefined();
    expect(after.errors.auth).toEqual([]);
    // The effect: auth stops waiting for connections. Its p99 is only reported: the registry's priorities already keep
    // it within tens of ms (74 → 32 ms in the table), where a loaded 2-core machine's noise can reverse the comparison
    // (47.6 against 47.4 ms in one run); the share of acquires that waited is the signal, far from the noise.
    expect(waitedLonger(before, 'auth', 10)).toBeGreaterThan(0.5);
    expect(waitedLonger(after, 'auth', 10)).toBeLessThan(0.05);
    rows.push({
      scenario: 'a background batch monopolizing',
      verdict: verdictCell(incident!),
      advice: adviceCell(incident!),
      effect: `auth p99 ${ms(p99(before.latencies.auth))} → ${ms(p99(after.latencies.auth))}, auth acquires waiting > 10 ms ${pct(waitedLonger(before, 'auth', 10))} → ${pct(waitedLonger(after, 'auth', 10))}, auth errors ${before.errors.auth?.length} → 0; no incident after`,
    });
  });
});
