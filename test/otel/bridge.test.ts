import { afterEach, describe, expect, it, vi } from 'vitest';
import { createInterferenceDetector } from '../../src/detector/interference-detector';
import { toPrometheus } from '../../src/metrics/prometheus';
import { createHistogramProducer, instrumentRegistry } from '../../src/otel/index';
import { createUsageTracker } from '../../src/usage/usage-tracker';
import { FakeClock, latency, presetRegistry } from '../detector/scripted-registry';
import { memoryDatabase } from '../helpers/pg-mem';
import { parseExposition, valueOf } from '../metrics/exposition-parser';
import { otelHarness, pointOf, renderedPrometheusName, type Exported } from './harness';
import { loadRegistry, scriptedLoad } from './scripted-load';

const POOL = 'db.client.connection.pool.name';
const auth = { [POOL]: 'app16:auth' };
const llm = { [POOL]: 'app16:llm' };

/** The semantic conventions' pool instruments: kind and unit as the conventions define them. */
const SEMCONV: Record<string, { kind: Exported['kind']; unit: string }> = {
  'db.client.connection.count': { kind: 'updowncounter', unit: '{connection}' },
  'db.client.connection.idle.max': { kind: 'updowncounter', unit: '{connection}' },
  'db.client.connection.idle.min': { kind: 'updowncounter', unit: '{connection}' },
  'db.client.connection.max': { kind: 'updowncounter', unit: '{connection}' },
  'db.client.connection.pending_requests': { kind: 'updowncounter', unit: '{request}' },
  'db.client.connection.timeouts': { kind: 'counter', unit: '{timeout}' },
  'db.client.connection.create_time': { kind: 'histogram', unit: 's' },
  'db.client.connection.wait_time': { kind: 'histogram', unit: 's' },
  'db.client.connection.use_time': { kind: 'histogram', unit: 's' },
};

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** pg-mem, fake time, the bridge attached before any connection opens, a tracker and a detector. */
async function loadedOnPgMem() {
  const clock = new FakeClock();
  const { Client } = memoryDatabase();
  const registry = loadRegistry({ applicationName: 'app16', Client, clock });
  const otel = otelHarness();
  const written: number[] = [];
  const usage = createUsageTracker({ sink: async (batch) => void written.push(batch.rows.length), clock, flushIntervalMs: 3_600_000 });
  const detector = createInterferenceDetector({ registry, clock, serverProbe: false });
  const bridge = instrumentRegistry(registry, { meter: otel.meter, usage, detector, clock });
  cleanups.push(() => otel.shutdown(), () => registry.close({ timeoutMs: 10 }), () => usage.close({ timeoutMs: 10 }), () => detector.stop(), () => bridge.dispose());
  await scriptedLoad(registry, (ms) => clock.advance(ms));
  usage.increment('tenant-a', 3);
  usage.increment('tenant-b', 4);
  await usage.flush();
  usage.increment('tenant-c', 5);
  await clock.advance(2_500); // the last flush is 2.5 s old
  return { clock, registry, otel, usage, detector, bridge };
}

describe('instrumentRegistry on pg-mem, under a scripted load', () => {
  it('publishes every semantic-convention instrument with its name, kind, unit, attributes and values', async () => {
    const { registry, otel } = await loadedOnPgMem();
    const metrics = await otel.collect();
    for (const [name, expected] of Object.entries(SEMCONV)) {
      expect(metrics.get(name), name).toMatchObject({ kind: expected.kind, unit: expected.unit });
      expect(metrics.get(name)?.description, name).not.toBe('');
    }
    const a = registry.stats('auth');
    const l = registry.stats('llm');
    expect(pointOf(metrics, 'db.client.connection.count', { ...auth, 'db.client.connection.state': 'used' })?.value).toBe(0);
    expect(pointOf(metrics, 'db.client.connection.count', { ...auth, 'db.client.connection.state': 'idle' })?.value).toBe(1); // the broken one closed
    expect(pointOf(metrics, 'db.client.connection.count', { ...llm, 'db.client.connection.state': 'idle' })?.value).toBe(l.idle);
    expect(pointOf(metrics, 'db.client.connection.max', auth)?.value).toBe(2);
    expect(pointOf(metrics, 'db.client.connection.idle.max', auth)?.value).toBe(2);
    expect(pointOf(metrics, 'db.client.connection.idle.min', auth)?.value).toBe(1);
    expect(pointOf(metrics, 'db.client.connection.max', llm)?.value).toBe(3);
    expect(pointOf(metrics, 'db.client.connection.pending_requests', auth)?.value).toBe(0);
    expect(pointOf(metrics, 'db.client.connection.timeouts', auth)?.value).toBe(1);
    expect(pointOf(metrics, 'db.client.connection.timeouts', llm)?.value).toBe(0);
    // wait: auth's two immediate leases (0 s) and the timeout (0.3 s); llm's three queries (0 s)
    const wait = pointOf(metrics, 'db.client.connection.wait_time', auth)?.histogram;
    expect(wait).toMatchObject({ count: 3, sum: 0.3 });
    expect(wait?.buckets.boundaries).toContain(0.3); // the auth acquire timeout is a bucket bound
    expect(wait?.buckets.boundaries).toContain(1); // and llm's
    expect(pointOf(metrics, 'db.client.connection.wait_time', llm)?.histogram?.count).toBe(3);
    // use: both auth leases held 0.3 s (fake time moved only while waiting for the timeout)
    expect(pointOf(metrics, 'db.client.connection.use_time', auth)?.histogram).toMatchObject({ count: 2, sum: 0.6 });
    expect(pointOf(metrics, 'db.client.connection.use_time', llm)?.histogram?.count).toBe(3);
    // create: every connection opened since the bridge was attached, which was before the first one
    expect(pointOf(metrics, 'db.client.connection.create_time', auth)?.histogram?.count).toBe(a.created);
    expect(pointOf(metrics, 'db.client.connection.create_time', llm)?.histogram?.count).toBe(l.created);
    expect(a.created).toBe(2);
  });

  it('publishes the pools\' own counters, the circuit, the budget, the usage tracker and the detector', async () => {
    const { otel } = await loadedOnPgMem();
    const metrics = await otel.collect();
    expect(metrics.get('pg_bulkhead.connection.created')).toMatchObject({ kind: 'counter', unit: '{connection}' });
    expect(pointOf(metrics, 'pg_bulkhead.connection.created', auth)?.value).toBe(2);
    expect(pointOf(metrics, 'pg_bulkhead.connection.closed', { ...auth, reason: 'broken' })?.value).toBe(1);
    expect(pointOf(metrics, 'pg_bulkhead.connection.closed', { ...auth, reason: 'overflow' })?.value).toBe(0);
    expect(pointOf(metrics, 'pg_bulkhead.connection.create_failures', auth)?.value).toBe(0);
    expect(pointOf(metrics, 'pg_bulkhead.queue.rejections', auth)?.value).toBe(1);
    expect(pointOf(metrics, 'pg_bulkhead.queue.rejections', llm)?.value).toBe(0);
    expect(metrics.get('pg_bulkhead.circuit.state')?.kind).toBe('gauge');
    expect(pointOf(metrics, 'pg_bulkhead.circuit.state', { ...auth, state: 'closed' })?.value).toBe(1);
    expect(pointOf(metrics, 'pg_bulkhead.circuit.state', { ...auth, state: 'open' })?.value).toBe(0);
    expect(pointOf(metrics, 'pg_bulkhead.budget.limit', {})?.value).toBe(5);
    expect(pointOf(metrics, 'pg_bulkhead.budget.shared', {})?.value).toBe(3);
    expect(pointOf(metrics, 'pg_bulkhead.budget.shared.used', auth)?.value).toBe(0); // the overflow connection is closed
    expect(pointOf(metrics, 'pg_bulkhead.budget.shared.free', {})?.value).toBe(3);
    expect(pointOf(metrics, 'pg_bulkhead.budget.waiting', { priority: 'low' })?.value).toBe(0);
    expect(pointOf(metrics, 'pg_bulkhead.usage.pending.keys', {})?.value).toBe(1);
    expect(pointOf(metrics, 'pg_bulkhead.usage.pending.increments', {})?.value).toBe(5);
    expect(pointOf(metrics, 'pg_bulkhead.usage.flushed.increments', {})?.value).toBe(7);
    expect(pointOf(metrics, 'pg_bulkhead.usage.flush.failures', {})?.value).toBe(0);
    expect(pointOf(metrics, 'pg_bulkhead.usage.dropped.calls', {})?.value).toBe(0);
    expect(metrics.get('pg_bulkhead.usage.last_flush.age')).toMatchObject({ kind: 'gauge', unit: 's' });
    expect(pointOf(metrics, 'pg_bulkhead.usage.last_flush.age', {})?.value).toBe(2.5);
    expect(pointOf(metrics, 'pg_bulkhead.incidents.opened', { victim: 'app16:auth' })?.value).toBe(0);
    expect(metrics.get('pg_bulkhead.incidents.open')?.points ?? []).toEqual([]);
  });

  it('reports incidents by kind, victim and aggressor', async () => {
    const registry = presetRegistry();
    const detector = createInterferenceDetector({ registry, clock: new FakeClock(), serverProbe: false });
    registry.budgetMax = 30;
    registry.set('llm', { inUse: 18 });
    registry.set('auth', { inUse: 3, waiting: 2, acquireWait: latency(400) }); // waiting, and it hurts: starvation
    await detector.check();
    const otel = otelHarness();
    const bridge = instrumentRegistry(registry, { meter: otel.meter, detector });
    cleanups.push(() => otel.shutdown(), () => detector.stop(), () => bridge.dispose());
    const metrics = await otel.collect();
    expect(pointOf(metrics, 'pg_bulkhead.incidents.open', { kind: 'interference', victim: 'app:auth', aggressor: 'app:llm', severity: 'critical' })?.value).toBe(1);
    expect(pointOf(metrics, 'pg_bulkhead.incidents.opened', { victim: 'app:auth' })?.value).toBe(1);
    expect(pointOf(metrics, 'pg_bulkhead.incidents.opened', { victim: 'app:llm' })?.value).toBe(0);
  });

  it('writes the same names, labels and values as toPrometheus, as OpenTelemetry\'s Prometheus exporter renders them', async () => {
    const { registry, otel, usage, detector, clock } = await loadedOnPgMem();
    const metrics = await otel.collect();
    const families = parseExposition(toPrometheus({ registry, usage, detector, clock }));
    const rendered = new Map([...metrics.values()].map((m) => [renderedPrometheusName(m), m]));
    // A family with no sample (no incident open) is written with HELP and TYPE only; the SDK exports no metric for it.
    const withSamples = [...families.values()].filter((f) => f.samples.length > 0).map((f) => f.name);
    expect([...rendered.keys()].sort()).toEqual(withSamples.sort());
    expect([...families.keys()].filter((name) => !rendered.has(name))).toEqual(['pg_bulkhead_incidents_open']);
    for (const [name, metric] of rendered) {
      const family = families.get(name)!;
      expect(family.type, name).toBe(metric.kind === 'counter' ? 'counter' : metric.kind === 'histogram' ? 'histogram' : 'gauge');
      expect(family.help, name).toBe(metric.description);
      for (const point of metric.points) {
        const labels = Object.fromEntries(Object.entries(point.attributes).map(([k, v]) => [k.replace(/\./g, '_'), v]));
        if (point.histogram === undefined) {
          expect(valueOf(families, name, labels), `${name} ${JSON.stringify(labels)}`).toBe(point.value);
        } else {
          expect(valueOf(families, `${name}_count`, labels), name).toBe(point.histogram.count);
          expect(valueOf(families, `${name}_sum`, labels), name).toBeCloseTo(point.histogram.sum ?? Number.NaN, 9);
          const [label, value] = Object.entries(labels)[0]!;
          const les = family.samples.filter((s) => s.name === `${name}_bucket` && s.labels[label] === value).map((s) => Number(s.labels.le));
          expect(les.slice(0, -1), name).toEqual(point.histogram.buckets.boundaries);
        }
      }
      // every Prometheus sample has its OpenTelemetry point: nothing only one path shows
      const series = family.samples.filter((s) => !s.name.endsWith('_bucket') && !s.name.endsWith('_sum')).length;
      expect(series, name).toBe(metric.points.length);
    }
  });

  it('detaches every listener and callback on dispose(), and records nothing more', async () => {
    const { registry, otel, bridge, clock } = await loadedOnPgMem();
    const events = ['acquire', 'acquire-timeout', 'release', 'connect'] as const;
    for (const e of events) expect(registry.listenerCount(e), e).toBe(1);
    const stats = vi.spyOn(registry, 'stats');
    const before = await otel.collect();
    expect(stats).toHaveBeenCalledTimes(1); // one snapshot per collection, for every observable instrument
    bridge.dispose();
    bridge.dispose(); // idempotent
    for (const e of events) expect(registry.listenerCount(e), e).toBe(0);
    const held = await registry.acquire('auth');
    await clock.advance(10);
    const after = await otel.collect();
    held.release();
    // the observable instruments are no longer read: no snapshot taken, the lease that was out is not seen
    expect(stats).toHaveBeenCalledTimes(1);
    expect(pointOf(after, 'db.client.connection.count', { ...auth, 'db.client.connection.state': 'used' })?.value ?? 0).toBe(0);
    // the histograms keep what they had (cumulative) and gained nothing from the query after dispose
    expect(pointOf(after, 'db.client.connection.wait_time', auth)?.histogram?.count).toBe(pointOf(before, 'db.client.connection.wait_time', auth)?.histogram?.count);
    expect(pointOf(after, 'db.client.connection.use_time', auth)?.histogram?.count).toBe(2);
  });

  it('with histograms: false, attaches no listener and still publishes every observable instrument', async () => {
    const clock = new FakeClock();
    const { Client } = memoryDatabase();
    const registry = loadRegistry({ applicationName: 'app16', Client, clock });
    const otel = otelHarness();
    const bridge = instrumentRegistry(registry, { meter: otel.meter, histograms: false });
    cleanups.push(() => otel.shutdown(), () => registry.close({ timeoutMs: 10 }), () => bridge.dispose());
    for (const e of ['acquire', 'acquire-timeout', 'release', 'connect'] as const) expect(registry.listenerCount(e)).toBe(0);
    await scriptedLoad(registry, (ms) => clock.advance(ms));
    const metrics = await otel.collect();
    expect([...metrics.values()].filter((m) => m.kind === 'histogram')).toEqual([]);
    expect(pointOf(metrics, 'db.client.connection.timeouts', auth)?.value).toBe(1);
    expect(pointOf(metrics, 'pg_bulkhead.connection.closed', { ...auth, reason: 'broken' })?.value).toBe(1);
    expect(() => instrumentRegistry(registry, { meter: otel.meter, histograms: 'yes' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('options.histograms') }));
  });

  it('attaches no listener to a registry it was not given, and rejects what is not a meter or a registry', async () => {
    const { Client } = memoryDatabase();
    const registry = loadRegistry({ applicationName: 'app16', Client });
    cleanups.push(() => registry.close({ timeoutMs: 10 }));
    for (const e of ['acquire', 'acquire-timeout', 'release', 'connect'] as const) expect(registry.listenerCount(e)).toBe(0);
    expect(() => instrumentRegistry(registry, { meter: {} as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('options.meter') }));
    expect(() => instrumentRegistry(registry, undefined as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => instrumentRegistry({} as never, { meter: otelHarness().meter })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('registry') }));
    expect(() => instrumentRegistry(registry, { meter: otelHarness().meter, usage: {} as never })).toThrow(expect.objectContaining({ message: expect.stringContaining('options.usage') }));
    for (const e of ['acquire', 'acquire-timeout', 'release', 'connect'] as const) expect(registry.listenerCount(e)).toBe(0);
  });
});

describe('instrumentRegistry with a histogram producer', () => {
  /** The scripted load on pg-mem with two bridges on one registry: histograms from events, and from a producer. */
  async function bothWays() {
    const clock = new FakeClock();
    const { Client } = memoryDatabase();
    const registry = loadRegistry({ applicationName: 'app16', Client, clock });
    const events = otelHarness();
    const producer = createHistogramProducer({ clock });
    const produced = otelHarness(producer);
    const fromEvents = instrumentRegistry(registry, { meter: events.meter });
    const listeners = (): number => (['acquire', 'acquire-timeout', 'release', 'connect'] as const).reduce((n, e) => n + registry.listenerCount(e), 0);
    const before = listeners();
    const fromProducer = instrumentRegistry(registry, { meter: produced.meter, histograms: producer, clock });
    cleanups.push(() => events.shutdown(), () => produced.shutdown(), () => registry.close({ timeoutMs: 10 }), () => fromEvents.dispose(), () => fromProducer.dispose());
    expect(listeners()).toBe(before); // the producer path listens to nothing
    await scriptedLoad(registry, (ms) => clock.advance(ms));
    return { registry, clock, events, produced, producer, fromProducer };
  }

  it('reports exactly the histograms that recording every event gives, with no listener on the registry', async () => {
    const { events, produced } = await bothWays();
    const [a, b] = [await events.collect(), await produced.collect()];
    for (const name of ['db.client.connection.create_time', 'db.client.connection.wait_time', 'db.client.connection.use_time']) {
      expect(b.get(name), name).toMatchObject({ kind: 'histogram', unit: 's', description: a.get(name)!.description });
      const expected = a.get(name)!.points.map((p) => ({ attributes: p.attributes, count: p.histogram!.count, counts: p.histogram!.buckets.counts, boundaries: p.histogram!.buckets.boundaries, sum: p.histogram!.sum }));
      const actual = b.get(name)!.points.map((p) => ({ attributes: p.attributes, count: p.histogram!.count, counts: p.histogram!.buckets.counts, boundaries: p.histogram!.buckets.boundaries, sum: p.histogram!.sum }));
      expect(actual.length, name).toBe(2); // auth and llm
      expect(actual.map(({ sum, ...rest }) => rest), name).toEqual(expected.map(({ sum, ...rest }) => rest));
      actual.forEach((p, i) => expect(p.sum, name).toBeCloseTo(expected[i]!.sum!, 9));
    }
    expect(pointOf(b, 'db.client.connection.wait_time', auth)?.histogram).toMatchObject({ count: 3, sum: 0.3 });
    // the observable instruments come through the meter as with the default
    expect(pointOf(b, 'db.client.connection.timeouts', auth)?.value).toBe(1);
  });

  it('counts from the moment the registry is attached, and reports it no more after dispose()', async () => {
    const clock = new FakeClock();
    const { Client } = memoryDatabase();
    const registry = loadRegistry({ applicationName: 'app16', Client, clock });
    cleanups.push(() => registry.close({ timeoutMs: 10 }));
    for (let i = 0; i < 4; i++) await registry.query('llm', 'select 1'); // before the bridge: not counted
    const producer = createHistogramProducer({ clock });
    const otel = otelHarness(producer);
    cleanups.push(() => otel.shutdown());
    await clock.advance(5_000);
    const attachedAt = clock.wallNow();
    const bridge = instrumentRegistry(registry, { meter: otel.meter, histograms: producer, clock });
    const lease = await registry.acquire('llm');
    await clock.advance(120);
    lease.release();
    const metrics = await otel.collect();
    expect(pointOf(metrics, 'db.client.connection.use_time', llm)?.histogram).toMatchObject({ count: 1, sum: 0.12 });
    expect(pointOf(metrics, 'db.client.connection.wait_time', llm)?.histogram?.count).toBe(1);
    expect(pointOf(metrics, 'db.client.connection.create_time', llm)?.histogram?.count).toBe(0); // its connection was already open
    const exported = await producer.collect();
    expect(exported.resourceMetrics.scopeMetrics[0]?.scope.name).toBe('pg-bulkhead');
    const point = exported.resourceMetrics.scopeMetrics[0]!.metrics[0]!.dataPoints[0]!;
    expect(point.startTime[0] * 1_000 + point.startTime[1] / 1e6).toBeCloseTo(attachedAt, 6);
    expect(point.endTime[0] * 1_000 + point.endTime[1] / 1e6).toBeCloseTo(clock.wallNow(), 6);
    bridge.dispose();
    bridge.dispose();
    const after = await otel.collect();
    expect([...after.values()].filter((m) => m.kind === 'histogram')).toEqual([]);
    expect((await producer.collect()).resourceMetrics.scopeMetrics[0]?.metrics).toEqual([]);
  });

  it('rejects a histograms option that is neither a boolean nor a producer from createHistogramProducer()', () => {
    const { Client } = memoryDatabase();
    const registry = loadRegistry({ applicationName: 'app16', Client });
    cleanups.push(() => registry.close({ timeoutMs: 10 }));
    const lookalike = { collect: () => Promise.resolve({ resourceMetrics: { scopeMetrics: [] }, errors: [] }) };
    expect(() => instrumentRegistry(registry, { meter: otelHarness().meter, histograms: lookalike as never })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('createHistogramProducer()') }),
    );
  });

  it('refuses to attach one registry twice to one producer, and registers nothing for the refused bridge', async () => {
    const { Client } = memoryDatabase();
    const registry = loadRegistry({ applicationName: 'app16', Client });
    const producer = createHistogramProducer();
    const otel = otelHarness(producer);
    cleanups.push(() => otel.shutdown(), () => registry.close({ timeoutMs: 10 }));
    const first = instrumentRegistry(registry, { meter: otel.meter, histograms: producer });
    const meter = otelHarness().meter;
    const added = vi.spyOn(meter, 'addBatchObservableCallback');
    expect(() => instrumentRegistry(registry, { meter, histograms: producer })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('already attached') }));
    expect(added).not.toHaveBeenCalled();
    await registry.query('llm', 'select 1');
    expect(pointOf(await otel.collect(), 'db.client.connection.use_time', llm)?.histogram?.count).toBe(1); // once, not twice
    first.dispose();
    instrumentRegistry(registry, { meter: otel.meter, histograms: producer }).dispose(); // free again after dispose()
  });
});
