/**
 * Bench 4, detector cost.
 *  a) Bench 1's `registry.query` load with the interference detector running (evaluating every second) and its
 *     health handler answering a poll every 100 ms, versus the same registry with the detector stopped
 *     (stopped: no evaluations, no health polls). The detector-off peer runs twice per round: A-vs-A control.
 *  b) The detector's memory after an hour of simulated traffic on fake time: a real registry on an in-process
 *     client (no server), 50 acquires per simulated second, and one minute in five where auth waits 500 ms for a
 *     connection (so incidents open, close and fill the history), evaluated every `intervalMs`.
 *
 *   npm run bench -- --only detector [--quick]
 */
import { EventEmitter } from 'node:events';
import { createHealthHandler, createInterferenceDetector, createPoolRegistry, type Clock, type ClientConstructor, type HealthResponse } from '../src/index';
import { alternate, fmt, fmtSummary, heading, quick, ratio, run, table, target, writeResults, type Peer } from './lib/harness';
import { closedLoop, type LoadFigures } from './lib/load';
import { loadSettings, openPools, operations, warmUp } from './overhead.bench';

const DETECTOR_INTERVAL_MS = 1_000;
const HEALTH_POLL_MS = 100;
const SIMULATED_S = quick ? 600 : 3_600;
/** Acquires per simulated second, through the real registry on an in-process client. */
const AUTH_PER_S = 20;
const LLM_PER_S = 30;

async function cost(): Promise<Record<string, unknown>> {
  const pools = await openPools();
  const registry = pools.registry;
  const detector = createInterferenceDetector({ registry, intervalMs: DETECTOR_INTERVAL_MS });
  await detector.stop();
  const handler = createHealthHandler({ registry, detector });
  const response: HealthResponse = { statusCode: 0, setHeader: () => undefined, end: () => undefined };
  let polls = 0;
  try {
    const ops = operations(pools);
    await warmUp({ registryQuery: ops.registryQuery });
    const off: Peer<LoadFigures> = { name: 'detector off', trial: () => closedLoop(loadSettings.loops, loadSettings.trialMs, ops.registryQuery) };
    const on: Peer<LoadFigures> = {
      name: 'detector + health on',
      trial: async () => {
        detector.start();
        const poll = setInterval(() => {
          polls++;
          void handler({ method: 'GET', url: '/health' }, response);
        }, HEALTH_POLL_MS);
        try {
          return await closedLoop(loadSettings.loops, loadSettings.trialMs, ops.registryQuery);
        } finally {
          clearInterval(poll);
          await detector.stop();
        }
      },
    };
    const control: Peer<LoadFigures> = { ...off, name: 'detector off (control)' };
    const result = await alternate([off, on, control], loadSettings.rounds);
    const qps = ratio(result, 'detector + health on', 'detector off', 'qps');
    const cpu = ratio(result, 'detector + health on', 'detector off', 'cpuUsPerQuery');
    const controlQps = ratio(result, 'detector off (control)', 'detector off', 'qps');
    table([
      ['registry.query SELECT 1', 'qps median (min…max)', 'CPU µs/query median (min…max)'],
      ...Object.keys(result.summary).map((name) => [name, fmtSummary(result.summary[name]!.qps), fmtSummary(result.summary[name]!.cpuUsPerQuery)]),
    ]);
    console.log(`  ratio on / off: qps ${fmtSummary(qps)}, CPU/query ${fmtSummary(cpu)}; control off/off qps ${fmtSummary(controlQps)}; ${polls} health polls`);
    return { settings: { ...loadSettings, detectorIntervalMs: DETECTOR_INTERVAL_MS, healthPollMs: HEALTH_POLL_MS }, summary: result.summary, perRound: result.perRound, ratios: { qps, cpu, controlQps } };
  } finally {
    await detector.stop();
    await pools.close();
  }
}

/** A clock whose time only moves when told to; due timers run in order. */
class ManualClock implements Clock {
  #now = 0;
  #timers = new Map<number, { at: number; fn: () => void }>();
  #next = 1;
  now = (): number => this.#now;
  wallNow = (): number => 1_700_000_000_000 + this.#now;
  setTimeout = (fn: () => void, ms: number): number => {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id;
  };
  clearTimeout = (handle: unknown): void => {
    this.#timers.delete(handle as number);
  };
  advance(ms: number): void {
    const until = this.#now + ms;
    for (;;) {
      let first: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) if (entry[1].at <= until && (first === undefined || entry[1].at < first[1].at)) first = entry;
      if (first === undefined) break;
      this.#timers.delete(first[0]);
      this.#now = first[1].at;
      first[1].fn();
    }
    this.#now = until;
  }
}

/** The smallest pg.Client stand-in: connects and answers every query with no rows. */
class NullClient extends EventEmitter {
  async connect(): Promise<void> {}
  async query(): Promise<{ rows: never[]; rowCount: number; command: string; oid: number; fields: never[] }> {
    return { rows: [], rowCount: 0, command: 'SELECT', oid: 0, fields: [] };
  }
  async end(): Promise<void> {}
}

function heapUsed(): number {
  (globalThis as { gc?: () => void }).gc?.();
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

async function memory(): Promise<Record<string, unknown>> {
  const clock = new ManualClock();
  const registry = createPoolRegistry({
    Client: NullClient as unknown as ClientConstructor,
    clock,
    services: { auth: { size: 1, overflow: 2, priority: 'highest' }, llm: { size: 1, overflow: 4, priority: 'medium' } },
  });
  await new Promise((resolve) => setImmediate(resolve));
  const detector = createInterferenceDetector({ registry, clock, serverProbe: false, historySize: 100 });
  const baseline = heapUsed();
  const checkpoints: { simulatedMin: number; heapDeltaBytes: number; history: number; open: number }[] = [];
  const intervalMs = detector.options.intervalMs;
  let acquires = 0;
  for (let second = 1; second <= SIMULATED_S; second++) {
    // One minute in every five, auth waits half a second for a connection: its wait rises far above its own
    // baseline, an incident opens, and closes again once calm.
    const bad = Math.floor(second / 60) % 5 === 4;
    if (bad) {
      const held = await Promise.all([registry.acquire('auth'), registry.acquire('auth'), registry.acquire('auth')]);
      const waiting = Array.from({ length: AUTH_PER_S }, () => registry.query('auth', 'select 1'));
      clock.advance(500);
      for (const lease of held) lease.release();
      await Promise.all(waiting);
      acquires += AUTH_PER_S + 3;
      clock.advance(500);
    } else {
      for (let i = 0; i < AUTH_PER_S; i++) await registry.query('auth', 'select 1');
      acquires += AUTH_PER_S;
    }
    await Promise.all(Array.from({ length: LLM_PER_S }, () => registry.query('llm', 'select 1')));
    acquires += LLM_PER_S;
    if (!bad) clock.advance(1_000);
    if ((second * 1000) % intervalMs === 0) await detector.check();
    if (second % 600 === 0) checkpoints.push({ simulatedMin: second / 60, heapDeltaBytes: heapUsed() - baseline, history: detector.history().length, open: detector.incidents().length });
  }
  await detector.stop();
  await registry.close({ timeoutMs: 0 });
  table([['simulated minutes', 'heap Δ KiB', 'closed incidents kept', 'open'], ...checkpoints.map((c) => [String(c.simulatedMin), fmt(c.heapDeltaBytes / 1024), String(c.history), String(c.open)])]);
  const first = checkpoints[0]!;
  const last = checkpoints[checkpoints.length - 1]!;
  console.log(`  ${acquires.toLocaleString('en-US')} acquires over ${SIMULATED_S / 60} simulated minutes; heap Δ at 10 min ${fmt(first.heapDeltaBytes / 1024)} KiB, at the end ${fmt(last.heapDeltaBytes / 1024)} KiB`);
  return { settings: { simulatedSeconds: SIMULATED_S, authPerSecond: AUTH_PER_S, llmPerSecond: LLM_PER_S, intervalMs, historySize: 100 }, acquires, checkpoints };
}

async function main(): Promise<void> {
  heading(`detector cost: bench 1 load with the detector (interval ${DETECTOR_INTERVAL_MS} ms) and health handler (poll ${HEALTH_POLL_MS} ms) on vs off; memory over ${SIMULATED_S / 60} simulated minutes`);
  const costFigures = await cost();
  console.log('');
  const memoryFigures = await memory();
  const qps = (costFigures.ratios as { qps: { median: number } }).qps.median;
  const checkpoints = memoryFigures.checkpoints as { heapDeltaBytes: number }[];
  const growth = checkpoints[checkpoints.length - 1]!.heapDeltaBytes - checkpoints[0]!.heapDeltaBytes;
  const targets = [
    target('detector on ≥ 0.98× throughput', qps >= 0.98, `median ratio ${fmt(qps)}`),
    target('detector memory bounded over the simulated hour', growth < 256 * 1024, `heap growth from the first checkpoint to the last ${fmt(growth / 1024)} KiB`),
  ];
  await writeResults('detector', { cost: costFigures.settings, memory: memoryFigures.settings }, { cost: costFigures, memory: memoryFigures, targets });
}

run(main);
