import { describe, expect, it } from 'vitest';
import { createHealthHandler, createPoolRegistry, isBulkheadError, type AcquireTimeoutError, type AcquireTimeoutEvent, type ServiceOptions } from '../../src/index';
import { createInterferenceDetector } from '../../src/detector/interference-detector';
import { FakeServer } from '../helpers/fake-client';
import { advance } from '../helpers/fake-time';
import { useFakeRegistries } from '../helpers/fake-registries';

const track = useFakeRegistries();

function setup<const S extends Record<string, ServiceOptions>>(services: S, extra: Record<string, unknown> = {}) {
  const server = new FakeServer();
  const registry = createPoolRegistry({ Client: server.Client, applicationName: 'app', maintenanceIntervalMs: 100, services, ...extra });
  track(registry);
  return { server, registry };
}

describe('registry.validateResize: the checks of resize, without the change', () => {
  it('says ok exactly when resize would succeed, and changes nothing', () => {
    const { registry } = setup({ auth: { size: 3, overflow: 5, priority: 'highest' }, llm: { size: 8, overflow: 15 } }, { maxConnections: 40, reserve: 3 });
    expect(registry.validateResize('llm', { overflow: 8 })).toEqual({ ok: true });
    expect(registry.validateResize('auth', { size: 29 })).toEqual({ ok: true }); // 29 + 8 + reserve 3 = 40
    expect(registry.serviceOptions('auth').size).toBe(3);
    expect(registry.stats().budget.guaranteed).toBe(11);
    expect(() => registry.resize('auth', { size: 29 })).not.toThrow();
  });

  it('budget: the issue\'s "raise auth size from 3 to 23" on maxConnections 40, with the maxConnections that would hold it', () => {
    const { registry } = setup(
      { auth: { size: 3, overflow: 5, priority: 'highest' }, extension: { size: 5, overflow: 10, priority: 'high' }, llm: { size: 8, overflow: 15 }, usage: { size: 2, overflow: 4, priority: 'low' } },
      { maxConnections: 40 },
    );
    const verdict = registry.validateResize('auth', { size: 23 });
    expect(verdict).toEqual({
      ok: false,
      reason: 'budget',
      problems: [{ path: 'auth.size', message: '23 would reserve 38 connections, leaving fewer shared slots than the reserve of 3 (maxConnections 40)' }],
      requiredMaxConnections: 41,
    });
    // resize refuses the same limits with the same problem
    try {
      registry.resize('auth', { size: 23 });
      expect.unreachable();
    } catch (error) {
      expect(isBulkheadError(error) && error.code).toBe('ERR_CONFIG');
      expect((error as { problems: unknown }).problems).toEqual(verdict.ok ? [] : verdict.problems);
    }
    // and with the maxConnections it names, the same resize is accepted
    const bigger = setup(
      { auth: { size: 3, overflow: 5, priority: 'highest' }, extension: { size: 5, overflow: 10, priority: 'high' }, llm: { size: 8, overflow: 15 }, usage: { size: 2, overflow: 4, priority: 'low' } },
      { maxConnections: 41, reserve: 3 },
    );
    expect(bigger.registry.validateResize('auth', { size: 23 })).toEqual({ ok: true });
  });

  it('invalid limits, and busy while other services borrow the slots a larger size would take', async () => {
    const { registry } = setup({ auth: { size: 1, overflow: 2, priority: 'highest' }, bg: { size: 0, overflow: 4, priority: 'low' } }, { maxConnections: 5, reserve: 0 });
    expect(registry.validateResize('auth', { size: -1 })).toMatchObject({ ok: false, reason: 'invalid', problems: [{ path: 'auth.size' }] });
    expect(registry.validateResize('auth', { size: 0, overflow: 0 })).toMatchObject({ ok: false, reason: 'invalid' });
    const leases = await Promise.all([1, 2, 3, 4].map(() => registry.acquire('bg')));
    expect(registry.validateResize('auth', { size: 3 })).toMatchObject({ ok: false, reason: 'busy', borrowedBy: { bg: 4 } });
    expect(() => registry.resize('auth', { size: 3 })).toThrow(/cannot be guaranteed now/);
    for (const lease of leases) lease.release();
    expect(() => registry.validateResize('nope' as 'auth', { size: 1 })).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_SERVICE' }));
  });
});

describe('an acquire timeout caused by waiting for shared slots names who holds them', () => {
  it('in the error (message and sharedSlotHolders), the acquire-timeout event, stats() and the detector\'s health', async () => {
    const { registry } = setup(
      { auth: { size: 1, overflow: 2, priority: 'highest', acquireTimeoutMs: 300 }, llm: { size: 1, overflow: 4, priority: 'medium' } },
      { maxConnections: 5, reserve: 0 },
    );
    const llm = await Promise.all([1, 2, 3, 4].map(() => registry.acquire('llm'))); // 1 own + 3 shared: every shared slot
    const auth = await registry.acquire('auth'); // its own size
    const events: AcquireTimeoutEvent[] = [];
    registry.on('acquire-timeout', (e) => events.push(e));
    const waiting = registry.acquire('auth').then(() => null as never, (e: unknown) => e as AcquireTimeoutError);
    await advance(1);
    const stats = registry.stats('auth');
    expect(stats.waitingForShared).toBe(1);
    expect(stats.sharedSlotHolders).toEqual({ llm: 3 });
    const detector = createInterferenceDetector({ registry, serverProbe: false });
    const report = await detector.check();
    expect(report.services.auth.sharedSlotHolders).toEqual({ llm: 3 });
    expect(report.services.auth.reasons).toContain('waiting for a shared slot: 3 of the 3 shared slots are held by llm 3');
    // the health JSON a load balancer or a person reads says the same
    let body = '';
    await createHealthHandler({ registry, detector })({ method: 'GET', url: '/health' }, { statusCode: 0, setHeader: () => undefined, end: (b?: string) => void (body = b ?? '') });
    expect(JSON.parse(body).services.auth).toMatchObject({ sharedSlotHolders: { llm: 3 }, reasons: expect.arrayContaining(['waiting for a shared slot: 3 of the 3 shared slots are held by llm 3']) });
    const incident = detector.incidents().find((i) => i.victim === 'auth');
    expect(incident).toMatchObject({ type: 'interference', aggressors: [expect.objectContaining({ service: 'llm', sharedSlots: 3 })] });
    expect(incident?.recommendations).toContainEqual(expect.objectContaining({ kind: 'lower-overflow', service: 'llm', from: 4, to: 2, validation: 'ok' }));
    await detector.stop();
    await advance(300);
    const error = await waiting;
    expect(error.code).toBe('ERR_ACQUIRE_TIMEOUT');
    expect(error.message).toBe('auth: no connection within 300 ms (1 in use, 3 max, 1 waiting); waiting for a shared slot: 3 of the 3 shared slots are held by llm 3');
    expect(error.sharedSlotHolders).toEqual({ llm: 3 });
    expect(events[0]?.sharedSlotHolders).toEqual({ llm: 3 });
    // a wait for its own connections says nothing about shared slots
    for (const lease of llm) lease.release();
    auth.release();
    expect(registry.stats('auth').sharedSlotHolders).toEqual({});
  });

  it('a timeout waiting for the service\'s own connections carries no holders', async () => {
    const { registry } = setup({ auth: { size: 1, overflow: 0, priority: 'highest', acquireTimeoutMs: 100 } });
    const lease = await registry.acquire('auth');
    const failed = registry.acquire('auth').then(() => null as never, (e: unknown) => e as AcquireTimeoutError);
    await advance(100);
    const error = await failed;
    expect(error.message).toBe('auth: no connection within 100 ms (1 in use, 1 max, 0 waiting)');
    expect(error.sharedSlotHolders).toBeUndefined();
    lease.release();
  });
});
