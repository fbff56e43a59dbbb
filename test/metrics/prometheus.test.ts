import { describe, expect, it } from 'vitest';
import { createInterferenceDetector } from '../../src/detector/interference-detector';
import { formatValue, toPrometheus } from '../../src/metrics/prometheus';
import { createPoolRegistry } from '../../src/registry/pool-registry';
import { FakeClock, presetRegistry } from '../detector/scripted-registry';
import { FakeServer } from '../helpers/fake-client';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { parseExposition, valueOf, type Family } from './exposition-parser';

describe('the strict exposition parser (the tests are only as good as it is)', () => {
  it.each([
    ['a missing final line feed', '# TYPE a gauge\na 1'],
    ['a bad metric name', '1a 1\n'],
    ['a bad value', 'a one\n'],
    ['an unescaped quote in a label value', 'a{x="a"b"} 1\n'],
    ['a duplicate label', 'a{x="1",x="2"} 1\n'],
    ['a duplicate series', 'a{x="1"} 1\na{x="1"} 2\n'],
    ['TYPE after samples', 'a 1\n# TYPE a gauge\n'],
    ['a family split in two groups', '# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x="2"} 1\n'],
    ['a negative counter', '# TYPE a_total counter\na_total -1\n'],
    ['a histogram without +Inf', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'],
    ['a non-cumulative histogram', '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="2"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 2\n'],
    ['+Inf differing from _count', '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n'],
  ])('rejects %s', (_, text) => {
    expect(() => parseExposition(text)).toThrow();
  });
  it('accepts a valid exposition', () => {
    const families = parseExposition('# HELP a x\\ny\n# TYPE a gauge\na{l="q\\"\\\\\\n"} 1.5e3\n# TYPE h histogram\nh_bucket{le="0.1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 0.3\nh_count 2\n');
    expect(families.get('a')?.help).toBe('x\ny');
    expect(valueOf(families, 'a', { l: 'q"\\\n' })).toBe(1500);
  });
});

describe('toPrometheus', () => {
  it('writes the OpenTelemetry connection metrics per pool, in seconds, as a valid exposition', async () => {
    const server = new FakeServer();
    const clock = new FakeClock();
    const registry = createPoolRegistry({ Client: server.Client, clock, applicationName: 'app16', services: { auth: { size: 1, overflow: 2, priority: 'highest', acquireTimeoutMs: 500 }, llm: { size: 1, overflow: 1 } } });
    const detector = createInterferenceDetector({ registry, clock, serverProbe: false });
    const leases = [await registry.acquire('auth'), await registry.acquire('auth')];
    await clock.advance(30);
    leases[0]?.release(); // held 30 ms
    await clock.advance(2_000);
    leases[1]?.release(); // held 2030 ms
    const held = await registry.acquire('llm');
    const other = await registry.acquire('llm');
    const waiter = registry.acquire('llm');
    await clock.advance(300);
    held.release(); // the waiter got it after 300 ms
    const third = await waiter;
    const timingOut = registry.acquire('llm').catch((e: unknown) => e);
    await clock.advance(10_000);
    await timingOut;
    other.release();
    third.release();

    const families = parseExposition(toPrometheus({ registry, detector }));
    expect(families.get('db_client_connection_count')?.type).toBe('gauge');
    expect(valueOf(families, 'db_client_connection_count', { db_client_connection_pool_name: 'app16:auth', db_client_connection_state: 'used' })).toBe(0);
    expect(valueOf(families, 'db_client_connection_count', { db_client_connection_pool_name: 'app16:auth', db_client_connection_state: 'idle' })).toBe(registry.stats('auth').idle);
    expect(valueOf(families, 'db_client_connection_max', { db_client_connection_pool_name: 'app16:auth' })).toBe(3);
    expect(valueOf(families, 'db_client_connection_pending_requests', { db_client_connection_pool_name: 'app16:llm' })).toBe(0);
    expect(families.get('db_client_connection_timeouts_total')?.type).toBe('counter');
    expect(valueOf(families, 'db_client_connection_timeouts_total', { db_client_connection_pool_name: 'app16:llm' })).toBe(1);
    expect(families.get('db_client_connection_use_time_seconds')?.type).toBe('histogram');
    expect(valueOf(families, 'db_client_connection_use_time_seconds_count', { db_client_connection_pool_name: 'app16:auth' })).toBe(2);
    expect(valueOf(families, 'db_client_connection_use_time_seconds_sum', { db_client_connection_pool_name: 'app16:auth' })).toBeCloseTo(2.06, 6);
    expect(valueOf(families, 'db_client_connection_use_time_seconds_bucket', { db_client_connection_pool_name: 'app16:auth', le: '0.05' })).toBe(1);
    expect(valueOf(families, 'db_client_connection_use_time_seconds_bucket', { db_client_connection_pool_name: 'app16:auth', le: '2.5' })).toBe(2);
    // llm waits: 0, 0, 300 ms, and a timeout after 10 s
    expect(valueOf(families, 'db_client_connection_wait_time_seconds_count', { db_client_connection_pool_name: 'app16:llm' })).toBe(4);
    expect(valueOf(families, 'db_client_connection_wait_time_seconds_bucket', { db_client_connection_pool_name: 'app16:llm', le: '0.25' })).toBe(2);
    expect(valueOf(families, 'db_client_connection_wait_time_seconds_bucket', { db_client_connection_pool_name: 'app16:llm', le: '0.5' })).toBe(3);
    expect(valueOf(families, 'db_client_connection_wait_time_seconds_bucket', { db_client_connection_pool_name: 'app16:llm', le: '10' })).toBe(4);
    await detector.stop();
    await registry.close({ timeoutMs: 10 });
  });

  it('adds incidents by kind, victim and aggressor, and the usage tracker series', async () => {
    const { registry, detector, usage, clock } = await llmStarvesAuth();
    const families = parseExposition(toPrometheus({ registry, detector, usage, clock }));
    expect(valueOf(families, 'pg_bulkhead_incidents_open', { kind: 'interference', victim: 'app:auth', aggressor: 'app:llm', severity: 'critical' })).toBe(1);
    expect(valueOf(families, 'pg_bulkhead_incidents_opened_total', { victim: 'app:auth' })).toBe(1);
    expect(valueOf(families, 'pg_bulkhead_incidents_opened_total', { victim: 'app:llm' })).toBe(0);
    expect(valueOf(families, 'pg_bulkhead_usage_pending_keys', {})).toBe(12);
    expect(valueOf(families, 'pg_bulkhead_usage_pending_increments', {})).toBe(340);
    expect(valueOf(families, 'pg_bulkhead_usage_dropped_calls_total', {})).toBe(2);
    expect(valueOf(families, 'pg_bulkhead_usage_dropped_increments_total', {})).toBe(7);
    expect(valueOf(families, 'pg_bulkhead_usage_flushed_increments_total', {})).toBe(900);
    expect(valueOf(families, 'pg_bulkhead_usage_flush_failures_total', {})).toBe(3);
    expect(valueOf(families, 'pg_bulkhead_usage_rejected_calls_total', {})).toBe(5);
    expect(valueOf(families, 'pg_bulkhead_usage_quarantined_rows_total', {})).toBe(1);
    expect(valueOf(families, 'pg_bulkhead_usage_quarantined_increments_total', {})).toBe(9);
    expect(valueOf(families, 'pg_bulkhead_usage_last_flush_age_seconds', {})).toBe(42.5);
    expect(valueOf(families, 'pg_bulkhead_connection_utilization_ratio', { db_client_connection_pool_name: 'app:llm' })).toBeCloseTo(18 / 23, 10);
    await detector.stop();
  });

  it('takes the incident kind from the incident, so new kinds flow through', async () => {
    const { registry, detector } = await llmStarvesAuth();
    const incident = detector.incidents()[0]!;
    const saturating = { incidents: () => [{ ...incident, type: 'saturation' as const, aggressors: [] }], openedIncidents: () => detector.openedIncidents() };
    const families = parseExposition(toPrometheus({ registry, detector: saturating }));
    expect(valueOf(families, 'pg_bulkhead_incidents_open', { kind: 'saturation', victim: 'app:auth', aggressor: '', severity: 'critical' })).toBe(1);
    expect(families.get('pg_bulkhead_incidents_open')?.samples).toHaveLength(1);
    await detector.stop();
  });

  it('leaves out the last flush age before the first flush', async () => {
    const registry = presetRegistry();
    const usage = { stats: () => ({ pendingKeys: 1, pendingIncrements: 1, droppedCalls: 0, droppedIncrements: 0, failedWrites: 0, lastFlushAt: null }) };
    const families = parseExposition(toPrometheus({ registry, usage }));
    expect(families.has('pg_bulkhead_usage_last_flush_age_seconds')).toBe(false);
    expect(valueOf(families, 'pg_bulkhead_usage_flush_failures_total', {})).toBe(0);
  });

  it('writes connection counters, closes by reason, the circuit and the budget from a live registry', async () => {
    const server = new FakeServer();
    const clock = new FakeClock();
    const registry = createPoolRegistry({
      Client: server.Client,
      clock,
      applicationName: 'app16',
      maxConnections: 6,
      reserve: 1,
      services: { auth: { size: 1, overflow: 2, maxWaiting: 1, priority: 'highest', acquireTimeoutMs: 15_000 }, llm: { size: 1, overflow: 3, priority: 'low', acquireTimeoutMs: 30_000 } },
    });
    const a = await registry.acquire('auth');
    const b = await registry.acquire('auth');
    const queued = [await registry.acquire('auth')];
    const waiter = registry.acquire('auth');
    await expect(registry.acquire('auth')).rejects.toMatchObject({ code: 'ERR_QUEUE_FULL' });
    a.release(new Error('connection lost'));
    queued.push(await waiter);
    const llm = await registry.acquire('llm');
    const llm2 = await registry.acquire('llm'); // the last shared slot outside the reserve: llm is low priority
    const llmWaiting = registry.acquire('llm').catch((e: unknown) => e);
    await clock.advance(1);
    const families = parseExposition(toPrometheus({ registry }));
    const auth = { db_client_connection_pool_name: 'app16:auth' };
    expect(valueOf(families, 'pg_bulkhead_connection_created_total', auth)).toBe(4);
    expect(valueOf(families, 'pg_bulkhead_connection_closed_total', { ...auth, reason: 'broken' })).toBe(1);
    expect(valueOf(families, 'pg_bulkhead_connection_closed_total', { ...auth, reason: 'overflow' })).toBe(0);
    expect(valueOf(families, 'pg_bulkhead_queue_rejections_total', auth)).toBe(1);
    expect(valueOf(families, 'pg_bulkhead_connection_create_failures_total', auth)).toBe(0);
    expect(valueOf(families, 'pg_bulkhead_circuit_state', { ...auth, state: 'closed' })).toBe(1);
    expect(valueOf(families, 'pg_bulkhead_circuit_state', { ...auth, state: 'open' })).toBe(0);
    expect(valueOf(families, 'db_client_connection_idle_min', auth)).toBe(1);
    expect(valueOf(families, 'db_client_connection_idle_max', auth)).toBe(3);
    expect(valueOf(families, 'pg_bulkhead_budget_limit', {})).toBe(6);
    expect(valueOf(families, 'pg_bulkhead_budget_guaranteed', {})).toBe(2);
    expect(valueOf(families, 'pg_bulkhead_budget_shared', {})).toBe(4);
    expect(valueOf(families, 'pg_bulkhead_budget_reserved', {})).toBe(1);
    expect(valueOf(families, 'pg_bulkhead_budget_shared_used', auth)).toBe(2);
    expect(valueOf(families, 'pg_bulkhead_budget_shared_used', { db_client_connection_pool_name: 'app16:llm' })).toBe(1);
    expect(valueOf(families, 'pg_bulkhead_budget_shared_free', {})).toBe(1); // the reserve, which llm may not take
    expect(valueOf(families, 'pg_bulkhead_budget_waiting', { priority: 'low' })).toBe(1);
    expect(valueOf(families, 'pg_bulkhead_budget_waiting', { priority: 'highest' })).toBe(0);
    // the wait buckets reach the longest acquire timeout (30 s) and one step above it
    const les = families.get('db_client_connection_wait_time_seconds')!.samples.filter((x) => x.name.endsWith('_bucket') && x.labels.db_client_connection_pool_name === 'app16:auth').map((x) => x.labels.le);
    expect(les.slice(-5)).toEqual(['10', '15', '30', '45', '+Inf']);
    expect(families.get('db_client_connection_create_time_seconds')?.type).toBe('histogram');
    expect(valueOf(families, 'db_client_connection_create_time_seconds_count', auth)).toBe(4);
    await clock.advance(30_000);
    await llmWaiting;
    for (const l of [b, ...queued, llm, llm2]) l.release();
    await registry.close({ timeoutMs: 10 });
  });

  it('prints numbers as Prometheus clients do: no float noise, integers without a fraction', () => {
    expect(formatValue(0.1 + 0.2)).toBe('0.3');
    expect(formatValue(2060.0000000000005 / 1_000)).toBe('2.06');
    expect(formatValue(18 / 23)).toBe('0.782608695652174');
    expect(formatValue(3)).toBe('3');
    expect(formatValue(0.005)).toBe('0.005');
    expect(formatValue(Number.NaN)).toBe('NaN');
    expect(formatValue(-Infinity)).toBe('-Inf');
    expect(formatValue(1e21)).toBe('1e+21');
  });

  it('leaves out detector and usage series when they are not given, and stays valid', () => {
    const families = parseExposition(toPrometheus({ registry: presetRegistry() }));
    // the latency histograms come from the pools themselves, so they are there without a detector
    expect(families.get('db_client_connection_wait_time_seconds')?.type).toBe('histogram');
    expect(families.has('pg_bulkhead_incidents_open')).toBe(false);
    expect(families.has('pg_bulkhead_usage_pending_keys')).toBe(false);
    expect([...families.keys()].every((name) => /^(db_client_connection_|pg_bulkhead_)/.test(name))).toBe(true);
    expect([...families.values()].filter((f) => f.type === 'counter').every((f) => f.name.endsWith('_total'))).toBe(true);
  });
});

/** Every non-histogram sample as `name{labels} value` lines, sorted: the common ground of both parsers' outputs. */
function samplesOfStrict(families: Map<string, Family>): string[] {
  return [...families.values()]
    .filter((f) => f.type !== 'histogram')
    .flatMap((f) => f.samples.map((s) => line(s.name, s.labels, s.value)))
    .sort();
}

/**
 * The independent parser's view. It folds a histogram's series into one label-less metric (it was written for
 * unlabelled histograms), so histogram families are compared by name and type only; their samples are checked by
 * the strict parser above.
 */
function samplesOfThirdParty(text: string): { types: Map<string, string>; samples: string[] } {
  const types = new Map<string, string>();
  const samples: string[] = [];
  for (const family of parsePrometheusTextFormat(text)) {
    types.set(family.name, family.type.toLowerCase());
    if (family.type === 'HISTOGRAM') continue;
    for (const metric of family.metrics) samples.push(line(family.name, metric.labels ?? {}, Number(metric.value)));
  }
  return { types, samples: samples.sort() };
}

function line(name: string, labels: Readonly<Record<string, string>>, value: number): string {
  const pairs = Object.entries(labels)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return `${name}{${pairs.join(',')}} ${value}`;
}

/** llm holds 18 of 30 connections while auth waits: an open incident, plus a tracker's pending and dropped counts. */
async function llmStarvesAuth() {
  const registry = presetRegistry();
  const detector = createInterferenceDetector({ registry, clock: new FakeClock(), serverProbe: false });
  registry.budgetMax = 30;
  registry.set('llm', { inUse: 18 });
  registry.set('auth', { inUse: 3, waiting: 2, acquireWait: { count: 10, p50: 200, p95: 400, p99: 400, max: 400, mean: 200 } });
  await detector.check();
  const clock = { wallNow: () => 1_700_000_042_500 };
  const usage = { stats: () => ({ pendingKeys: 12, pendingIncrements: 340, droppedCalls: 2, droppedIncrements: 7, flushedIncrements: 900, failedWrites: 3, rejectedCalls: 5, quarantinedRows: 1, quarantinedIncrements: 9, lastFlushAt: 1_700_000_000_000, state: 'open' }) };
  return { registry, detector, usage, clock };
}

describe('read by an independent parser (parse-prometheus-text-format, ported from the Prometheus Python client)', () => {
  it('sees the same families and types, and the same samples outside histograms, as the strict parser', async () => {
    const { registry, detector, usage } = await llmStarvesAuth();
    for (const text of [toPrometheus({ registry, detector, usage }), toPrometheus({ registry: presetRegistry() })]) {
      const strict = parseExposition(text);
      const other = samplesOfThirdParty(text);
      // No sample fell outside its declared family (the other parser files those under an extra UNTYPED family).
      expect([...other.types.values()]).not.toContain('untyped');
      expect(other.types).toEqual(new Map([...strict.values()].map((f) => [f.name, f.type])));
      expect(other.samples).toEqual(samplesOfStrict(strict));
      expect(other.samples.length).toBeGreaterThan(20);
      expect([...other.types.values()]).toContain('histogram');
    }
    await detector.stop();
  });
});
