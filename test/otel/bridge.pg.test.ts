import { afterEach, expect, it } from 'vitest';
import { toPrometheus } from '../../src/metrics/prometheus';
import { createHistogramProducer, instrumentRegistry } from '../../src/otel/index';
import { createPoolRegistry } from '../../src/registry/pool-registry';
import { adminClient, countBackends, describePg, pgUrl, uniqueAppName } from '../helpers/pg';
import { waitFor } from '../helpers/wait-for';
import { parseExposition, valueOf } from '../metrics/exposition-parser';
import { otelHarness, pointOf, renderedPrometheusName } from './harness';
import { loadRegistry, scriptedLoad } from './scripted-load';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describePg('instrumentRegistry on real PostgreSQL', () => {
  it('publishes the pool instruments with the values the server and the pools show, under a scripted load', async () => {
    const app = uniqueAppName('16otel');
    const registry = loadRegistry({ applicationName: app, connection: pgUrl });
    const otel = otelHarness();
    const bridge = instrumentRegistry(registry, { meter: otel.meter });
    const admin = await adminClient();
    cleanups.push(() => admin.end(), () => otel.shutdown(), () => registry.close({ timeoutMs: 1_000 }), () => bridge.dispose());
    await scriptedLoad(registry, async () => {});
    // the connection released with an error is closed: wait for its backend to go
    await waitFor(async () => registry.stats('auth').removedByReason.broken === 1 && (await countBackends(admin, `${app}:auth`)) === registry.stats('auth').total, 10_000, 'the broken connection to close');
    const metrics = await otel.collect();
    const auth = { 'db.client.connection.pool.name': `${app}:auth` };
    const llm = { 'db.client.connection.pool.name': `${app}:llm` };
    // what the server sees: every open connection of the pool is a backend with its application_name
    const idle = pointOf(metrics, 'db.client.connection.count', { ...auth, 'db.client.connection.state': 'idle' })?.value;
    const used = pointOf(metrics, 'db.client.connection.count', { ...auth, 'db.client.connection.state': 'used' })?.value;
    expect(used).toBe(0);
    expect(idle).toBe(await countBackends(admin, `${app}:auth`));
    expect(idle).toBe(1);
    expect(pointOf(metrics, 'db.client.connection.count', { ...llm, 'db.client.connection.state': 'idle' })?.value).toBe(await countBackends(admin, `${app}:llm`));
    expect(pointOf(metrics, 'db.client.connection.max', auth)?.value).toBe(2);
    expect(pointOf(metrics, 'db.client.connection.idle.min', auth)?.value).toBe(1);
    expect(pointOf(metrics, 'db.client.connection.pending_requests', auth)?.value).toBe(0);
    expect(pointOf(metrics, 'db.client.connection.timeouts', auth)?.value).toBe(1);
    expect(pointOf(metrics, 'pg_bulkhead.queue.rejections', auth)?.value).toBe(1);
    expect(pointOf(metrics, 'pg_bulkhead.connection.closed', { ...auth, reason: 'broken' })?.value).toBe(1);
    expect(pointOf(metrics, 'pg_bulkhead.connection.created', auth)?.value).toBe(2);
    expect(pointOf(metrics, 'pg_bulkhead.connection.create_failures', auth)?.value).toBe(0);
    // wait: two immediate leases and one timeout of at least 300 ms, which lands in a finite bucket
    const wait = pointOf(metrics, 'db.client.connection.wait_time', auth)?.histogram;
    expect(wait?.count).toBe(3);
    expect(wait?.sum).toBeGreaterThanOrEqual(0.3);
    expect(wait?.buckets.counts.at(-1)).toBe(0); // nothing in +Inf
    // use: both leases were held across the 300 ms timeout
    const use = pointOf(metrics, 'db.client.connection.use_time', auth)?.histogram;
    expect(use?.count).toBe(2);
    expect(use?.sum).toBeGreaterThanOrEqual(0.6);
    expect(pointOf(metrics, 'db.client.connection.use_time', llm)?.histogram?.count).toBe(3);
    // create: every connection the pools opened, each taking real time
    const create = pointOf(metrics, 'db.client.connection.create_time', auth)?.histogram;
    expect(create?.count).toBe(registry.stats('auth').created);
    expect(create?.sum).toBeGreaterThan(0);
    expect(create?.min).toBeGreaterThan(0);
    // the Prometheus text names the same series with the same values
    const families = parseExposition(toPrometheus({ registry }));
    for (const metric of metrics.values()) {
      const name = renderedPrometheusName(metric);
      expect(families.has(name), name).toBe(true);
      if (metric.kind === 'histogram') continue;
      for (const point of metric.points) {
        const labels = Object.fromEntries(Object.entries(point.attributes).map(([k, v]) => [k.replace(/\./g, '_'), v]));
        if (metric.name.endsWith('.p95') || metric.name === 'pg_bulkhead.connection.utilization') continue; // rolling window: may move between the two reads
        expect(valueOf(families, name, labels), `${name} ${JSON.stringify(labels)}`).toBe(point.value);
      }
    }
  });

  it('a histogram producer reports the same histograms as recording each event, read from the pools at collection', async () => {
    const app = uniqueAppName('16prod');
    const registry = loadRegistry({ applicationName: app, connection: pgUrl });
    const events = otelHarness();
    const producer = createHistogramProducer();
    const produced = otelHarness(producer);
    const fromEvents = instrumentRegistry(registry, { meter: events.meter });
    const fromProducer = instrumentRegistry(registry, { meter: produced.meter, histograms: producer });
    cleanups.push(() => events.shutdown(), () => produced.shutdown(), () => registry.close({ timeoutMs: 1_000 }), () => fromEvents.dispose(), () => fromProducer.dispose());
    await scriptedLoad(registry, async () => {});
    await waitFor(() => registry.stats('auth').removedByReason.broken === 1, 10_000, 'the broken connection to close');
    const [a, b] = [await events.collect(), await produced.collect()];
    for (const name of ['db.client.connection.create_time', 'db.client.connection.wait_time', 'db.client.connection.use_time']) {
      for (const service of ['auth', 'llm']) {
        const attributes = { 'db.client.connection.pool.name': `${app}:${service}` };
        const expected = pointOf(a, name, attributes)?.histogram;
        const actual = pointOf(b, name, attributes)?.histogram;
        expect(expected?.count, `${name} ${service}`).toBeGreaterThan(0);
        expect(actual?.count, `${name} ${service}`).toBe(expected?.count);
        expect(actual?.buckets, `${name} ${service}`).toEqual(expected?.buckets);
        expect(actual?.sum, `${name} ${service}`).toBeCloseTo(expected?.sum ?? Number.NaN, 9);
      }
    }
    // real time: the timed-out acquire waited at least its 300 ms, in a finite bucket
    const wait = pointOf(b, 'db.client.connection.wait_time', { 'db.client.connection.pool.name': `${app}:auth` })?.histogram;
    expect(wait?.sum).toBeGreaterThanOrEqual(0.3);
    expect(wait?.buckets.counts.at(-1)).toBe(0);
  });

  it('counts failed opens and shows the circuit open when the server cannot be reached', async () => {
    const registry = createPoolRegistry({
      connection: 'postgres://postgres@127.0.0.1:1/test',
      applicationName: uniqueAppName('16down'),
      breaker: { failureThreshold: 2, initialBackoffMs: 10, maxBackoffMs: 20 },
      services: { llm: { size: 0, overflow: 1, acquireTimeoutMs: 2_000 } },
    });
    const otel = otelHarness();
    const bridge = instrumentRegistry(registry, { meter: otel.meter });
    cleanups.push(() => otel.shutdown(), () => registry.close({ timeoutMs: 100 }), () => bridge.dispose());
    await expect(registry.acquire('llm')).rejects.toBeInstanceOf(Error);
    await waitFor(() => registry.stats('llm').circuit === 'open', 10_000, 'the circuit to open');
    const metrics = await otel.collect();
    const pool = { 'db.client.connection.pool.name': `${registry.applicationName}:llm` };
    expect(pointOf(metrics, 'pg_bulkhead.connection.create_failures', pool)?.value).toBeGreaterThanOrEqual(2);
    expect(pointOf(metrics, 'pg_bulkhead.circuit.state', { ...pool, state: 'open' })?.value).toBe(1);
    expect(pointOf(metrics, 'pg_bulkhead.circuit.state', { ...pool, state: 'closed' })?.value).toBe(0);
    expect(pointOf(metrics, 'pg_bulkhead.connection.created', pool)?.value).toBe(0);
    expect(metrics.get('db.client.connection.create_time')?.points ?? []).toEqual([]);
  });
});
