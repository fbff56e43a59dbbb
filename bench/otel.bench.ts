/**
 * Bench 6, OpenTelemetry bridge cost: bench 1's `registry.query` load (`SELECT 1`, 10 connections, 50 loops)
 * with `instrumentRegistry` attached to a real OpenTelemetry SDK (a MeterProvider whose reader collects every
 * second into the SDK's in-memory exporter, as a scrape or an OTLP push would), versus the same registry with the
 * bridge never attached, with it attached with `histograms: false` (observable instruments only, no listener),
 * and with it attached and disposed before the trial (what `dispose()` leaves behind; the control). The four peers
 * rotate. Target: attached ÷ not attached ≥ 0.97 (median of the per-round ratios).
 *
 *   npm run bench -- --only otel [--quick]
 */
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { instrumentRegistry } from '../src/otel/index';
import { alternate, fmt, fmtSummary, heading, quick, ratio, run, table, target, writeResults, type Peer } from './lib/harness';
import { closedLoop, type LoadFigures } from './lib/load';
import { loadSettings, openPools, operations, warmUp } from './overhead.bench';

/** Rotating orders of the four peers, three times each start (quick: one round). */
const ROUNDS = quick ? 1 : 12;
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
    const observablesOnly: Peer<LoadFigures> = {
      name: 'bridge attached, histograms off',
      trial: async () => {
        const bridge = instrumentRegistry(registry, { meter, histograms: false });
        try {
          return await closedLoop(loadSettings.loops, loadSettings.trialMs, ops.registryQuery);
        } finally {
          bridge.dispose();
          exporter.reset();
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
    const result = await alternate([notAttached, attached, observablesOnly, disposed], ROUNDS, undefined, { rotate: true });
    const listenersAfter = listeners();
    const qps = ratio(result, 'bridge attached', 'bridge not attached', 'qps');
    const cpu = ratio(result, 'bridge attached', 'bridge not attached', 'cpuUsPerQuery');
    const observablesQps = ratio(result, 'bridge attached, histograms off', 'bridge not attached', 'qps');
    const observablesCpu = ratio(result, 'bridge attached, histograms off', 'bridge not attached', 'cpuUsPerQuery');
    const controlQps = ratio(result, 'bridge disposed', 'bridge not attached', 'qps');
    const controlCpu = ratio(result, 'bridge disposed', 'bridge not attached', 'cpuUsPerQuery');
    table([
      ['registry.query SELECT 1', 'qps median (min…max)', 'CPU µs/query median (min…max)'],
      ...Object.keys(result.summary).map((name) => [name, fmtSummary(result.summary[name]!.qps), fmtSummary(result.summary[name]!.cpuUsPerQuery)]),
    ]);
    console.log(`  ratio attached / not attached over ${ROUNDS} rounds: qps ${fmtSummary(qps)}, CPU/query ${fmtSummary(cpu)}`);
    console.log(`  ratio histograms off / not attached: qps ${fmtSummary(observablesQps)}, CPU/query ${fmtSummary(observablesCpu)}; disposed / not attached qps ${fmtSummary(controlQps)}, CPU/query ${fmtSummary(controlCpu)}`);
    console.log(`  pool event listeners on the registry: ${listenersBefore} before any bridge, ${listenersAfter} after the rounds (every bridge disposed)`);
    const targets = [
      target('bridge attached ≥ 0.97× throughput', qps.median >= 0.97, `median ratio ${fmt(qps.median)} (${fmt(qps.min)}…${fmt(qps.max)}), control disposed/not attached ${fmt(controlQps.median)} (${fmt(controlQps.min)}…${fmt(controlQps.max)})`),
      target('bridge attached, histograms off ≥ 0.97× throughput', observablesQps.median >= 0.97, `median ratio ${fmt(observablesQps.median)} (${fmt(observablesQps.min)}…${fmt(observablesQps.max)})`),
      target('nothing left behind when not attached', listenersBefore === 0 && listenersAfter === 0, `${listenersBefore} listeners before, ${listenersAfter} after dispose`),
    ];
    await writeResults(
      'otel',
      { ...loadSettings, rounds: ROUNDS, order: 'rotating (A B C D, D C B A, B C D A, …)', collectEveryMs: COLLECT_EVERY_MS },
      { summary: result.summary, perRound: result.perRound, orders: result.orders, ratios: { qps, cpu, observablesQps, observablesCpu, controlQps, controlCpu }, listeners: { before: listenersBefore, after: listenersAfter }, targets },
    );
  } finally {
    await provider.shutdown();
    await pools.close();
  }
}

run(main);
