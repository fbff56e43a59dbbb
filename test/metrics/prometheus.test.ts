import { describe, expect, it } from 'vitest';
import { createInterferenceDetector } from '../../src/detector/interference-detector';
import { toPrometheus } from '../../src/metrics/prometheus';
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
    const registry = createPoolRegistry({ Client: server.Client, clock, services: { auth: { size: 1, overflow: 2, priority: 'highest', acquireTimeoutMs: 500 }, llm: { size: 1, overflow: 1 } } });
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
    expect(valueOf(families, 'db_client_connection_count', { pool_name: 'auth', state: 'used' })).toBe(0);
    expect(valueOf(families, 'db_client_connection_count', { pool_name: 'auth', state: 'idle' })).toBe(registry.stats('auth').idle);
    expect(valueOf(families, 'db_client_connection_max', { pool_name: 'auth' })).toBe(3);
    expect(valueOf(families, 'db_client_connection_pending_requests', { pool_name: 'llm' })).toBe(0);
    expect(families.get('db_client_connection_timeouts_total')?.type).toBe('counter');
    expect(valueOf(families, 'db_client_connection_timeouts_total', { pool_name: 'llm' })).toBe(1);
    expect(families.get('db_client_connection_use_time_seconds')?.type).toBe('histogram');
    expect(valueOf(families, 'db_client_connection_use_time_seconds_count', { pool_name: 'auth' })).toBe(2);
    expect(valueOf(families, 'db_client_connection_use_time_seconds_sum', { pool_name: 'auth' })).toBeCloseTo(2.06, 6);
    expect(valueOf(families, 'db_client_connection_use_time_seconds_bucket', { pool_name: 'auth', le: '0.05' })).toBe(1);
    expect(valueOf(families, 'db_client_connection_use_time_seconds_bucket', { pool_name: 'auth', le: '2.5' })).toBe(2);
    // llm waits: 0, 0, 300 ms, and a timeout after 10 s
    expect(valueOf(families, 'db_client_connection_wait_time_seconds_count', { pool_name: 'llm' })).toBe(4);
    expect(valueOf(families, 'db_client_connection_wait_time_seconds_bucket', { pool_name: 'llm', le: '0.25' })).toBe(2);
    expect(valueOf(families, 'db_client_connection_wait_time_seconds_bucket', { pool_name: 'llm', le: '0.5' })).toBe(3);
    expect(valueOf(families, 'db_client_connection_wait_time_seconds_bucket', { pool_name: 'llm', le: '10' })).toBe(4);
    await detector.stop();
    await registry.close({ timeoutMs: 10 });
  });

  it('adds incidents by victim and aggressor, and the usage tracker pending and dropped counts', async () => {
    const { registry, detector, usage } = await llmStarvesAuth();
    const families = parseExposition(toPrometheus({ registry, detector, usage }));
    expect(valueOf(families, 'pg_bulkhead_incidents_open', { victim: 'auth', aggressor: 'llm', severity: 'critical' })).toBe(1);
    expect(valueOf(families, 'pg_bulkhead_incidents_opened_total', { victim: 'auth' })).toBe(1);
    expect(valueOf(families, 'pg_bulkhead_incidents_opened_total', { victim: 'llm' })).toBe(0);
    expect(valueOf(families, 'pg_bulkhead_usage_pending_keys', {})).toBe(12);
    expect(valueOf(families, 'pg_bulkhead_usage_pending_increments', {})).toBe(340);
    expect(valueOf(families, 'pg_bulkhead_usage_dropped_calls_total', {})).toBe(2);
    expect(valueOf(families, 'pg_bulkhead_usage_dropped_increments_total', {})).toBe(7);
    expect(valueOf(families, 'pg_bulkhead_connection_utilization_ratio', { pool_name: 'llm' })).toBeCloseTo(18 / 23, 10);
    await detector.stop();
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
  const usage = { stats: () => ({ pendingKeys: 12, pendingIncrements: 340, droppedCalls: 2, droppedIncrements: 7, state: 'open' }) };
  return { registry, detector, usage };
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
