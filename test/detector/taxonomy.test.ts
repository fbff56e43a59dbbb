import { afterEach, describe, expect, it } from 'vitest';
import { createInterferenceDetector, type InterferenceDetector } from '../../src/detector/interference-detector';
import type { Incident } from '../../src/detector/incident';
import { ConfigError, isBulkheadError } from '../../src/errors';
import { mulberry32 } from '../helpers/seeded-random';
import { FakeClock, latency, presetRegistry, ScriptedRegistry } from './scripted-registry';
import { fitServerCapacity } from '../../src/detector/recommendations';
import { checkRegistryOptions } from '../../src/registry/options';

type Svc = 'auth' | 'extension' | 'llm' | 'usage';
let detector: InterferenceDetector<Svc> | null = null;
afterEach(async () => {
  await detector?.stop();
  detector = null;
});

function setup(options: { serverProbe?: boolean; thresholds?: Record<string, number> } = {}) {
  const registry = presetRegistry();
  registry.budgetMax = 40;
  registry.budgetReserve = 3;
  const clock = new FakeClock();
  const d = createInterferenceDetector<Svc>({ registry, clock, intervalMs: 1_000, windowMs: 10_000, serverProbe: false, ...options });
  detector = d;
  const seen: { event: string; incident: Incident<Svc> }[] = [];
  for (const event of ['interference', 'saturation', 'connectivity'] as const) d.on(event, (incident) => seen.push({ event, incident }));
  const tick = async () => {
    await clock.advance(1_000);
    return d.check();
  };
  return { registry, clock, detector: d, seen, tick };
}

describe('server capacity: 53300 refusals are the server, not the connection', () => {
  it('a server-capacity signal with capacity advice (the maxConnections the server had room for), typed interference, no connectivity advice', async () => {
    const { registry, detector, seen, tick } = setup();
    registry.set('llm', { inUse: 18, connectionErrors: 6, consecutiveConnectFailures: 6, waiting: 4 });
    registry.set('auth', { inUse: 3 });
    for (let i = 0; i < 6; i++) {
      registry.emit('connect-error', { service: 'llm', error: Object.assign(new Error('sorry, too many clients already'), { code: '53300' }), consecutiveFailures: i + 1 });
    }
    await tick();
    const incident = detector.incidents().find((i) => i.victim === 'llm');
    expect(incident?.type).toBe('interference');
    expect(seen.map((x) => `${x.event} ${x.incident.victim}`)).toEqual(['interference llm']);
    expect(incident?.signals).toContainEqual(expect.objectContaining({ kind: 'server-capacity', service: 'llm', value: 6 }));
    const capacity = incident?.recommendations.find((r) => r.kind === 'fit-server-capacity');
    // the registry held 3 auth + 5 extension + 18 llm + 2 usage = 28 connections when the server said no
    expect(capacity?.registryChange).toEqual({ option: 'maxConnections', from: 40, to: 28 });
    expect(capacity?.text).toMatch(/^lower maxConnections from 40 to 28, so that waiting for a connection happens in the registry/);
    expect(capacity?.text).toContain("raise the server's max_connections");
    // not a connectivity problem, and more connections for llm would only meet more refusals
    expect(incident?.recommendations.map((r) => r.kind)).not.toContain('check-connectivity');
    expect(incident?.recommendations.map((r) => r.kind)).not.toContain('raise-overflow');
  });

  it('when the room is below what the sizes guarantee plus the reserve, no maxConnections change the registry would refuse: the figures of both changes', () => {
    const budget = { maxConnections: 40, guaranteed: 21, reserve: 4, mayTakeReserve: false };
    const advice = fitServerCapacity('llm', { refusals: 3, heldAtRefusal: 18 }, budget);
    expect(advice.registryChange).toBeUndefined();
    expect(advice.option).toBeUndefined();
    expect(advice.text).toMatch(/^the server has room for 18 of this registry's connections, fewer than its sizes guarantee \(21\) plus its reserve \(4\): lower the sizes and the reserve by 7 in all, then maxConnections from 40 to 18;/);
    // with room for the sizes and the reserve, the change alone is one the registry accepts
    const fits = fitServerCapacity('llm', { refusals: 3, heldAtRefusal: 25 }, budget);
    expect(fits.registryChange).toEqual({ option: 'maxConnections', from: 40, to: 25 });
    expect(() => checkRegistryOptions({ maxConnections: 25, reserve: 4, services: { a: { size: 21 } } } as never)).not.toThrow();
    expect(() => checkRegistryOptions({ maxConnections: 18, reserve: 4, services: { a: { size: 21 } } } as never)).toThrow();
  });

  it("PgBouncer's max_client_conn refusal (08P01) is server capacity too; its other 08P01 errors are not", async () => {
    const { registry, detector, tick } = setup();
    registry.set('llm', { inUse: 18, connectionErrors: 3, consecutiveConnectFailures: 3, waiting: 4 });
    registry.set('usage', { connectionErrors: 5, consecutiveConnectFailures: 5 });
    for (let i = 0; i < 3; i++) {
      registry.emit('connect-error', { service: 'llm', error: Object.assign(new Error('no more connections allowed (max_client_conn)'), { code: '08P01' }), consecutiveFailures: i + 1 });
      registry.emit('connect-error', { service: 'usage', error: Object.assign(new Error('pgbouncer cannot connect to server'), { code: '08P01' }), consecutiveFailures: i + 1 });
    }
    await tick();
    const llm = detector.incidents().find((i) => i.victim === 'llm');
    expect(llm?.type).toBe('interference');
    expect(llm?.signals).toContainEqual(expect.objectContaining({ kind: 'server-capacity', service: 'llm', value: 3 }));
    expect(llm?.recommendations.find((r) => r.kind === 'fit-server-capacity')?.text).toContain("PgBouncer's max_client_conn");
    const usage = detector.incidents().find((i) => i.victim === 'usage');
    expect(usage?.type).toBe('connectivity');
    expect(usage?.kinds).not.toContain('server-capacity');
  });

  it('refused connections of another kind are connectivity, with its own event and advice', async () => {
    const { registry, detector, seen, tick } = setup();
    registry.set('usage', { connectionErrors: 5, consecutiveConnectFailures: 5 });
    await tick();
    const incident = detector.incidents().find((i) => i.victim === 'usage');
    expect(incident?.type).toBe('connectivity');
    expect(seen.map((x) => x.event)).toEqual(['connectivity']);
    expect(incident?.recommendations).toEqual([expect.objectContaining({ kind: 'check-connectivity', text: 'check the database connection of usage: 5 consecutive connection failures; the circuit breaker backs off meanwhile' })]);
    // connections that broke (a restart) with reconnects succeeding: still connectivity, advice to look at why
    registry.set('extension', { connectionErrors: 8 });
    await tick();
    expect(detector.incidents().find((i) => i.victim === 'extension')?.recommendations[0]?.text).toMatch(/^check why 8 extension connections broke in 10000 ms: the server restarted or terminated them/);
  });
});

describe('connection churn: a recycle storm is the service\'s own', () => {
  it('more connections opened in the window than the threshold: saturation, advice on recycleMs; replacements of broken ones do not count', async () => {
    const registry = new ScriptedRegistry({ llm: { size: 4, overflow: 0, priority: 'medium', recycleMs: 300 } as never, auth: { size: 1, overflow: 1, priority: 'highest' } });
    const clock = new FakeClock();
    registry.set('llm', { created: 4 }); // its warm-up, before the detector starts
    const d = createInterferenceDetector({ registry, clock, intervalMs: 1_000, windowMs: 10_000, serverProbe: false });
    registry.set('llm', { created: 4 + 10 }); // 10 in the window (not more): max(10, 2 × 4) is the threshold
    await clock.advance(1_000);
    await d.check();
    expect(d.incidents()).toEqual([]);
    registry.set('llm', { created: 4 + 40, connectionErrors: 20 }); // 40 opened, 20 of them replacing broken ones
    await clock.advance(1_000);
    await d.check();
    expect(d.incidents().flatMap((i) => i.kinds)).toContain('connection-churn');
    const incident = d.incidents().find((i) => i.victim === 'llm');
    expect(incident?.signals).toContainEqual(expect.objectContaining({ kind: 'connection-churn', value: 20, threshold: 10 }));
    expect(incident?.recommendations).toContainEqual(expect.objectContaining({ kind: 'reduce-churn', option: 'recycleMs', from: 300, to: 1_800_000 }));
    await d.stop();
  });
});

describe('waiting for shared slots others hold', () => {
  it('a caller caught waiting at one evaluation with no harm is a blip; seen again at the next, it is interference naming the holders', async () => {
    const { registry, detector, seen, tick } = setup();
    registry.set('usage', { inUse: 2, sharedInUse: 0, waiting: 1, waitingForShared: 1 });
    registry.set('llm', { inUse: 11, sharedInUse: 3 });
    registry.set('extension', { inUse: 6, sharedInUse: 1 });
    await tick();
    expect(detector.incidents()).toEqual([]);
    await tick();
    const incident = detector.incidents().find((i) => i.victim === 'usage');
    expect(incident?.type).toBe('interference');
    expect(seen.map((x) => `${x.event} ${x.incident.victim}`)).toEqual(['interference usage']);
    expect(incident?.aggressors.map((a) => [a.service, a.sharedSlots])).toEqual([['llm', 3], ['extension', 1]]);
    // usage is low: llm and extension rank above it, so the budget serves them first; the advice is a larger budget
    expect(incident?.recommendations.map((r) => r.kind)).toEqual(['raise-budget']);
    // harm at once (waits above acquireWaitMs) needs no second evaluation
    registry.set('auth', { inUse: 3, waiting: 1, waitingForShared: 1, acquireWait: latency(300) });
    await tick();
    expect(detector.incidents().find((i) => i.victim === 'auth')?.kinds).toContain('shared-slots');
  });
});

describe('a service within its own guaranteed size takes nothing from anyone', () => {
  it('is named neither monopolizing nor aggressor, however large its share (the demo: llm 6 + 0 of 12)', async () => {
    const registry = new ScriptedRegistry({ auth: { size: 2, overflow: 1, priority: 'highest' }, llm: { size: 6, overflow: 0, priority: 'medium' }, extension: { size: 2, overflow: 1, priority: 'high' } });
    registry.budgetMax = 11;
    const d = createInterferenceDetector({ registry, clock: new FakeClock(), serverProbe: false });
    registry.set('llm', { inUse: 6 });
    registry.set('auth', { inUse: 3, waiting: 2, acquireWait: latency(400), sharedInUse: 1 });
    await d.check();
    const incident = d.incidents().find((i) => i.victim === 'auth');
    expect(incident?.kinds ?? []).not.toContain('monopolization');
    expect(incident?.aggressors.map((a) => a.service) ?? []).not.toContain('llm');
    // the same share through its overflow is another matter
    const over = new ScriptedRegistry({ auth: { size: 2, overflow: 1, priority: 'highest' }, llm: { size: 2, overflow: 4, priority: 'medium' } });
    over.budgetMax = 8;
    const d2 = createInterferenceDetector({ registry: over, clock: new FakeClock(), serverProbe: false });
    over.set('llm', { inUse: 6, sharedInUse: 4 });
    over.set('auth', { inUse: 2, waiting: 2, acquireWait: latency(400) });
    await d2.check();
    expect(d2.incidents().find((i) => i.victim === 'auth')?.kinds).toContain('monopolization');
    await d.stop();
    await d2.stop();
  });
});

describe('a protected service at its own size + overflow saturates: no other service is involved', () => {
  it("the issue's flood: auth at 8 of its 3 + 5 while llm holds 23 of 40 is saturation, advised on auth's own limits, never llm's", async () => {
    const { registry, detector, seen, tick } = setup();
    registry.set('llm', { inUse: 23, sharedInUse: 15 });
    registry.set('auth', { inUse: 8, sharedInUse: 5, waiting: 10, timeouts: 4, acquireWait: latency(300) });
    await tick();
    await tick();
    const incident = detector.incidents().find((i) => i.victim === 'auth');
    expect(incident).toMatchObject({ type: 'saturation', aggressors: [] });
    expect(incident?.kinds).not.toContain('monopolization');
    expect(seen.filter((x) => x.incident.victim === 'auth').map((x) => x.event)).toEqual(['saturation']);
    // llm's connections are nothing auth may take: lowering its overflow would not serve one more auth caller
    expect(incident?.recommendations.filter((r) => r.service !== 'auth')).toEqual([]);
    const own = incident?.recommendations.find((r) => r.option === 'size' || r.option === 'overflow');
    expect(own).toMatchObject({ service: 'auth', validation: 'ok' });
    expect(registry.validateResize('auth', { [own!.option!]: own!.to })).toEqual({ ok: true });
    expect(detector.incidents().flatMap((i) => i.aggressors.map((a) => a.service))).toEqual([]);
  });

  it('one connection below it, with llm monopolizing, the same figures are interference naming llm', async () => {
    const { registry, detector, tick } = setup();
    registry.set('llm', { inUse: 23, sharedInUse: 15 });
    registry.set('auth', { inUse: 7, sharedInUse: 4, waiting: 10, timeouts: 4, acquireWait: latency(300) });
    await tick();
    const incident = detector.incidents().find((i) => i.victim === 'auth');
    expect(incident).toMatchObject({ type: 'interference', aggressors: [expect.objectContaining({ service: 'llm' })] });
    expect(incident?.kinds).toContain('monopolization');
    expect(incident?.recommendations).toContainEqual(expect.objectContaining({ kind: 'lower-overflow', service: 'llm' }));
  });
});

describe('recommendations the registry accepts, or with what it takes', () => {
  it('a raise-size refused by the budget carries the maxConnections that makes it possible (the issue: auth 3 → 23 on 40)', async () => {
    const { registry, detector, tick } = setup();
    registry.set('llm', { inUse: 23, sharedInUse: 15 });
    registry.set('auth', { inUse: 3, waiting: 20, waitingForShared: 1, acquireWait: latency(400) });
    await tick();
    const incident = detector.incidents().find((i) => i.victim === 'auth');
    expect(incident?.type).toBe('interference');
    const raise = incident?.recommendations.find((r) => r.kind === 'raise-size');
    expect(raise).toMatchObject({ service: 'auth', option: 'size', from: 3, to: 23, validation: 'needs-registry-change', registryChange: { option: 'maxConnections', from: 40, to: 41 } });
    expect(raise?.text).toContain('the registry refuses it as configured (auth.size: 23 would reserve 38 connections): raise maxConnections to 41 (and set reserve: 3, or its default grows with maxConnections) first');
    const lower = incident?.recommendations.find((r) => r.kind === 'lower-overflow');
    expect(lower).toMatchObject({ service: 'llm', from: 15, to: 8, validation: 'ok' });
    // every size/overflow advice was checked with the registry's own validation, with exactly its figures
    for (const r of incident?.recommendations ?? []) {
      if (r.option === 'size' || r.option === 'overflow') expect(registry.validations).toContainEqual({ service: r.service, limits: { [r.option]: r.to } });
    }
    // with the registry change applied, the scripted registry's validation accepts it
    registry.budgetMax = raise!.registryChange!.to;
    expect(registry.validateResize('auth', { size: raise!.to! })).toEqual({ ok: true });
  });
});

describe('every incident carries a recommendation or says why none applies', () => {
  it('over 400 seeded evaluations of random figures, with the probe reporting blocking and idle transactions', async () => {
    const random = mulberry32(14);
    const registry = presetRegistry();
    registry.budgetMax = 40;
    registry.budgetReserve = 3;
    const clock = new FakeClock();
    const d = createInterferenceDetector<Svc>({ registry, clock, intervalMs: 1_000, windowMs: 5_000, calmIntervals: 1 });
    detector = d;
    const announced: Incident<Svc>[] = [];
    for (const event of ['interference', 'saturation', 'connectivity'] as const) d.on(event, (incident) => announced.push(incident));
    const services: Svc[] = ['auth', 'extension', 'llm', 'usage'];
    const pick = (n: number) => Math.floor(random() * n);
    const types = new Set<string>();
    let refusedBudget = 0;
    for (let round = 0; round < 400; round++) {
      for (const service of services) {
        const max = registry.serviceOptions(service).size + registry.serviceOptions(service).overflow;
        registry.set(service, {
          inUse: pick(max + 1),
          waiting: random() < 0.3 ? pick(25) : 0,
          timeouts: registry.script[service].timeouts + (random() < 0.2 ? pick(5) : 0),
          connectionErrors: registry.script[service].connectionErrors + (random() < 0.1 ? pick(6) : 0),
          consecutiveConnectFailures: random() < 0.1 ? pick(5) : 0,
          sharedInUse: pick(4),
          waitingForShared: random() < 0.2 ? pick(3) : 0,
          queryTime: latency(random() < 0.1 ? 3_000 : 20),
        });
      }
      registry.probeRows =
        random() < 0.3
          ? [
              { pid: 1, application_name: 'app:auth', state: 'active', state_ms: 500, blocked_by: [2] },
              { pid: 2, application_name: `app:${services[pick(4)]}`, state: random() < 0.5 ? 'idle in transaction' : 'active', state_ms: pick(8_000), blocked_by: [] },
            ]
          : [];
      if (random() < 0.05) registry.emit('connect-error', { service: services[pick(4)]!, error: Object.assign(new Error('too many clients'), { code: '53300' }), consecutiveFailures: 1 });
      await clock.advance(1_000);
      await d.check();
      for (const incident of d.incidents()) {
        types.add(incident.type);
        expect(incident.recommendations.length > 0 || (typeof incident.noRecommendation === 'string' && incident.noRecommendation.length > 0), JSON.stringify(incident)).toBe(true);
        if (incident.recommendations.length > 0) expect(incident.noRecommendation).toBeNull();
        // interference always has another party: an aggressor, or the server's capacity
        if (incident.type === 'interference') expect(incident.aggressors.length > 0 || incident.kinds.includes('server-capacity')).toBe(true);
        // a lock wait never gets "more connections" for its victim
        if (incident.signals.some((x) => x.kind === 'lock-blocking')) {
          expect(incident.recommendations.filter((r) => r.service === incident.victim && (r.kind === 'raise-size' || r.kind === 'raise-overflow' || r.kind === 'raise-budget'))).toEqual([]);
        }
        for (const r of incident.recommendations) {
          if (r.option !== 'size' && r.option !== 'overflow') continue;
          expect(r.validation).toBeDefined();
          if (r.validation === 'needs-registry-change') {
            expect(r.registryChange?.option).toBe('maxConnections');
            refusedBudget++;
          } else expect(registry.validateResize(r.service, { [r.option]: r.to })).toEqual({ ok: true });
        }
      }
      for (const incident of announced) expect(incident.type).toBeDefined();
    }
    expect([...types].sort()).toEqual(['connectivity', 'interference', 'saturation']);
    expect(refusedBudget).toBeGreaterThan(0);
  });
});

describe('bad input to protect, thresholds and mitigation: ERR_CONFIG naming the option', () => {
  const registry = new ScriptedRegistry({ auth: { size: 1, overflow: 1, priority: 'highest' }, llm: { size: 1, overflow: 1, priority: 'medium' } });
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    ['an unknown service in protect', { protect: ['auth', 'atuh'] }, 'protect[1]', /expected one of auth, llm, got "atuh"/],
    ['protect not an array', { protect: 'auth' }, 'protect', /an array of service names/],
    ['a negative ms threshold', { thresholds: { slowQueryMs: -5 } }, 'thresholds.slowQueryMs', /-5/],
    ['a negative idle threshold', { thresholds: { idleInTransactionMs: -1 } }, 'thresholds.idleInTransactionMs', /-1/],
    ['a negative failure count', { thresholds: { failures: -1 } }, 'thresholds.failures', /-1/],
    ['a share above 1', { thresholds: { monopolyShare: 1.5 } }, 'thresholds.monopolyShare', /from 0 to 1, got 1\.5/],
    ['a negative share', { thresholds: { aggressorShare: -0.1 } }, 'thresholds.aggressorShare', /from 0 to 1/],
    ['a rise ratio below 1', { thresholds: { waitRiseRatio: 0.5 } }, 'thresholds.waitRiseRatio', />= 1/],
    ['an unknown threshold', { thresholds: { slowQuery: 5 } }, 'thresholds.slowQuery', /./],
    ['thresholds not an object', { thresholds: 5 }, 'thresholds', /./],
    ['an unknown mitigation mode', { mitigation: 'fix' }, 'mitigation', /fix/],
  ];
  for (const [what, options, path, message] of cases) {
    it(`${what}: ${path}`, () => {
      let caught: unknown;
      try {
        createInterferenceDetector({ registry, ...options } as never);
      } catch (error) {
        caught = error;
      }
      expect(isBulkheadError(caught, 'ERR_CONFIG')).toBe(true);
      const problems = (caught as ConfigError).problems;
      expect(problems.map((p) => p.path)).toEqual([path]);
      expect(problems[0]?.message).toMatch(message);
      expect((caught as Error).message).toContain(path);
    });
  }
});
