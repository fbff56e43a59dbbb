/**
 * Bench 6, OpenTelemetry bridge cost: bench 1's `registry.query` load (`SELECT 1`, 10 connections, 50 loops)
 * with `instrumentRegistry` attached to a real OpenTelemetry SDK (a MeterProvider whose reader collects every
 * second into the SDK's in-memory exporter, as a scrape or an OTLP push would), versus the same registry with the
 * bridge never attached, with it attached and its histograms read by a `createHistogramProducer()` at collection
 * (nothing on the hot path), and with it attached and disposed before the trial (what `dispose()` leaves behind;
 * the control). The default, histograms recorded from every acquire and release, is measured beside them: its
 * cost is the SDK's `record()`. The four peers rotate. Target: attached with a producer ÷ not attached ≥ 0.97
 * (median of the per-round ratios).
 *
 * Part two, the bridge's own CPU: the same four peers on an in-process client that answers at once
 * (bench/lib/fake-client.ts), where a query costs about a microsecond and what the bridge adds per query shows
 * plainly. The loops never yield to timers there, so no collection runs inside these trials.
 *
 *   npm run bench -- --only otel [--quick]
 */
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import type { Meter } from '@opentelemetry/api';
import { createHistogramProducer, instrumentRegistry, type HistogramProducer } from '../src/otel/index';
import { alternate, fmt, fmtSummary, heading, quick, ratio, run, table, target, writeResults, type Peer } from './lib/harness';
import { createPoolRegistry } from '../src/index';
import { InstantClient } from './lib/fake-client';
import { closedLoop, closedLoopInProcess, type LoadFigures } from './lib/load';
import { loadSettings, openPools, operations, warmUp } from './overhead.bench';

/** Rotating orders of the four peers, three times each start (quick: one round). */
const ROUNDS = quick ? 1 : 16;
const COLLECT_EVERY_MS = 1_000;
const EVENTS = ['acquire', 'acquire-timeout', 'release', 'connect'] as const;

async function main(): Promise<void> {
  heading('OpenTelemetry bridge: registry.query SELECT 1 with the bridge attached, not attached, and disposed');
  const pools = await openPools();
  const registry = pools.registry;
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: COLLECT_EVERY_MS });
  const provider = new MeterProvider({ readers: [reader] });
  const meter = provider.getMeter('pg-bulkhead-bench');
  // A second SDK pipeline, as a service would set it up: the producer is given to the reader when it is built.
  const producer = createHistogramProducer();
  const producerExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const producerReader = new PeriodicExportingMetricReader({ exporter: producerExporter, exportIntervalMillis: COLLECT_EVERY_MS, metricProducers: [producer] });
  const producerProvider = new MeterProvider({ readers: [producerReader] });
  const producerMeter = producerProvider.getMeter('pg-bulkhead-bench');
  const listeners = (): number => EVENTS.reduce((n, e) => n + registry.listenerCount(e), 0);
  try {
    const ops = operations(pools);
    await warmUp({ registryQuery: ops.registryQuery });
    const listenersBefore = listeners();
    const notAttached: Peer<LoadFigures> = { name: 'bridge not attached', trial: () => closedLoop(loadSettings.loops, loadSettings.trialMs, ops.registryQuery) };
    const attached: Peer<LoadFigures> = {
      name: 'bridge attached',
      trial: async () => {
        const bridge = instrumentRegistry(registry, { meter });
        try {
          return await closedLoop(loadSettings.loops, loadSettings.trialMs, ops.registryQuery);
        } finally {
          bridge.dispose();
          exporter.reset(); // keep the exporter's memory flat across rounds
        }
      },
    };
    const viaProducer: Peer<LoadFigures> = {
      name: 'bridge attached, histograms from a producer',
      trial: async () => {
        const bridge = instrumentRegistry(registry, { meter: producerMeter, histograms: producer });
        try {
          return await closedLoop(loadSettings.loops, loadSettings.trialMs, ops.registryQuery);
        } finally {
          bridge.dispose();
          producerExporter.reset();
        }
      },
    };
    const disposed: Peer<LoadFigures> = {
      name: 'bridge disposed',
      trial: () => {
        instrumentRegistry(registry, { meter }).dispose();
        return closedLoop(loadSettings.loops, loadSettings.trialMs, ops.registryQuery);
      },
    };
    const result = await alternate([notAttached, viaProducer, attached, disposed], ROUNDS, undefined, { rotate: true });
    const listenersAfter = listeners();
    const qps = ratio(result, 'bridge attached', 'bridge not attached', 'qps');
    const cpu = ratio(result, 'bridge attached', 'bridge not attached', 'cpuUsPerQuery');
    const producerQps = ratio(result, 'bridge attached, histograms from a producer', 'bridge not attached', 'qps');
    const producerCpu = ratio(result, 'bridge attached, histograms from a producer', 'bridge not attached', 'cpuUsPerQuery');
    const controlQps = ratio(result, 'bridge disposed', 'bridge not attached', 'qps');
    const controlCpu = ratio(result, 'bridge disposed', 'bridge not attached', 'cpuUsPerQuery');
    table([
      ['registry.query SELECT 1', 'qps median (min…max)', 'CPU µs/query median (min…max)'],
      ...Object.keys(result.summary).map((name) => [name, fmtSummary(result.summary[name]!.qps), fmtSummary(result.summary[name]!.cpuUsPerQuery)]),
    ]);
    console.log(`  ratio with a producer / not attached over ${ROUNDS} rounds: qps ${fmtSummary(producerQps)}, CPU/query ${fmtSummary(producerCpu)}`);
    console.log(`  ratio recording every event (the default) / not attached: qps ${fmtSummary(qps)}, CPU/query ${fmtSummary(cpu)}`);
    console.log(`  control, disposed / not attached: qps ${fmtSummary(controlQps)}, CPU/query ${fmtSummary(controlCpu)}`);
    console.log(`  pool event listeners on the registry: ${listenersBefore} before any bridge, ${listenersAfter} after the rounds (every bridge disposed)`);
    const targets = [
      target('bridge attached (histograms from a producer) ≥ 0.97× throughput', producerQps.median >= 0.97, `median ratio ${fmt(producerQps.median)} (${fmt(producerQps.min)}…${fmt(producerQps.max)}), control disposed/not attached ${fmt(controlQps.median)} (${fmt(controlQps.min)}…${fmt(controlQps.max)})`),
      target('nothing left behind when not attached', listenersBefore === 0 && listenersAfter === 0, `${listenersBefore} listeners before, ${listenersAfter} after dispose`),
    ];
    const alone = await bridgeAlone(meter, producerMeter, producer);
    await writeResults(
      'otel',
      { ...loadSettings, rounds: ROUNDS, order: 'rotating (A B C D, D C B A, B C D A, …)', collectEveryMs: COLLECT_EVERY_MS },
      { summary: result.summary, perRound: result.perRound, orders: result.orders, ratios: { producerQps, producerCpu, everyEventQps: qps, everyEventCpu: cpu, controlQps, controlCpu }, listeners: { before: listenersBefore, after: listenersAfter }, inProcess: alone, targets },
    );
  } finally {
    await provider.shutdown();
    await producerProvider.shutdown();
    await pools.close();
  }
}

/** Part two: the bridge's CPU per query on an in-process client, where the pool's own work is about a microsecond. */
async function bridgeAlone(meter: Meter, producerMeter: Meter, producer: HistogramProducer) {
  heading('the bridge alone: registry.query on an in-process client, bridge not attached / with a producer / recording every event');
  const registry = createPoolRegistry({ Client: InstantClient as never, applicationName: 'bench-otel-alone', services: { api: { size: loadSettings.connections, overflow: 0 } } });
  const query = () => registry.query('api', 'SELECT 1');
  const trial = () => closedLoopInProcess(loadSettings.loops, loadSettings.trialMs, query);
  const attachedFor = (options: Parameters<typeof instrumentRegistry>[1]) => async () => {
    const bridge = instrumentRegistry(registry, options);
    try {
      return await trial();
    } finally {
      bridge.dispose();
    }
  };
  try {
    await closedLoopInProcess(loadSettings.loops, loadSettings.warmupMs, query);
    const peers: Peer<LoadFigures>[] = [
      { name: 'not attached', trial },
      { name: 'histograms from a producer', trial: attachedFor({ meter: producerMeter, histograms: producer }) },
      { name: 'recording every event', trial: attachedFor({ meter }) },
      { name: 'not attached (control)', trial },
    ];
    const result = await alternate(peers, ROUNDS);
    table([
      ['registry.query, in-process client', 'qps median (min…max)', 'CPU µs/query median (min…max)'],
      ...peers.map((p) => [p.name, fmtSummary(result.summary[p.name]!.qps), fmtSummary(result.summary[p.name]!.cpuUsPerQuery)]),
    ]);
    const producerCpu = ratio(result, 'histograms from a producer', 'not attached', 'cpuUsPerQuery');
    const everyEventCpu = ratio(result, 'recording every event', 'not attached', 'cpuUsPerQuery');
    const controlCpu = ratio(result, 'not attached (control)', 'not attached', 'cpuUsPerQuery');
    console.log(`  CPU/query vs not attached: with a producer ${fmtSummary(producerCpu)}, recording every event ${fmtSummary(everyEventCpu)}, control ${fmtSummary(controlCpu)}`);
    return { summary: result.summary, perRound: result.perRound, producerCpu, everyEventCpu, controlCpu };
  } finally {
    await registry.close();
  }
}

run(main);
