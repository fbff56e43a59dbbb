/**
 * Bench 4, detector cost.
 *  a) Bench 1's `registry.query` load with the interference detector running (evaluating every second) and its
 *     health handler answering a poll every 100 ms, versus the same registry with the detector stopped
 *     (stopped: no evaluations, no health polls). The detector-off peer runs twice per round: A-vs-A control.
 *     The three peers rotate through every position (all six orders over six rounds). Next to the noisy ratio,
 *     the detector's own CPU is timed directly: µs per evaluation and per health request, and the share of one
 *     core they take at this interval and poll rate, which is the throughput a CPU-bound client would lose.
 *  b) The detector's memory on fake time: a real registry on an in-process client (no server), 50 acquires per
 *     simulated second, and one minute in five where auth waits 500 ms for a connection (so incidents open,
 *     close and fill the history), evaluated every `intervalMs`. Run long enough for the closed-incident
 *     history to reach `historySize` (about 12 incidents per simulated hour), sampled every 30 simulated
 *     minutes. Each pass runs in a fresh Node process: the detector's, and a control with the same registry and
 *     traffic but no detector; the detector's heap is the difference, so what the registry and V8 itself
 *     accumulate (compiled code, feedback) cancels out. Heap is V8's data heap after two full collections,
 *     without the code spaces.
 *
 *   npm run bench -- --only detector [--quick]
 */
import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { createHealthHandler, createInterferenceDetector, createPoolRegistry, type Clock, type ClientConstructor, type HealthResponse } from '../src/index';
import { alternate, fmt, fmtSummary, heading, quick, ratio, run, summarize, table, target, writeResults, type Peer, type Summary } from './lib/harness';
import { closedLoop, type LoadFigures } from './lib/load';
import { loadSettings, openPools, operations, warmUp } from './overhead.bench';

const DETECTOR_INTERVAL_MS = 1_000;
const HEALTH_POLL_MS = 100;
/** Closed incidents kept: the default; quick mode keeps fewer so the cap is reached within a short run. */
const HISTORY_SIZE = quick ? 10 : 100;
/**
 * Simulated time: well past the point where the history is full (about 12 closed incidents per hour, full at 7-8 h),
 * so the trend once full is a slope over some 35 checkpoints: over 10, the heap's own noise could read 15 KiB/h.
 */
const SIMULATED_S = quick ? 2 * 3_600 : 24 * 3_600;
const CHECKPOINT_S = quick ? 600 : 1_800;
/** Rounds of the cost comparison: all six orders of the three peers, twice (quick: one round). */
const COST_ROUNDS = quick ? 1 : 12;
/** Timed calls of `check()` and of the health handler, after the rounds. */
const TIMED_CALLS = quick ? 50 : 500;
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
    const result = await alternate([off, on, control], COST_ROUNDS, undefined, { rotate: true });
    const qps = ratio(result, 'detector + health on', 'detector off', 'qps');
    const cpu = ratio(result, 'detector + health on', 'detector off', 'cpuUsPerQuery');
    const controlQps = ratio(result, 'detector off (control)', 'detector off', 'qps');
    const controlCpu = ratio(result, 'detector off (control)', 'detector off', 'cpuUsPerQuery');
    table([
      ['registry.query SELECT 1', 'qps median (min…max)', 'CPU µs/query median (min…max)'],
      ...Object.keys(result.summary).map((name) => [name, fmtSummary(result.summary[name]!.qps), fmtSummary(result.summary[name]!.cpuUsPerQuery)]),
    ]);
    console.log(`  ratio on / off over ${COST_ROUNDS} rounds: qps ${fmtSummary(qps)}, CPU/query ${fmtSummary(cpu)}; control off/off qps ${fmtSummary(controlQps)}, CPU/query ${fmtSummary(controlCpu)}; ${polls} health polls`);

    // The detector's own CPU, timed call by call on the same registry with no load running (so wall time is its
    // CPU): an evaluation, and a health request while the detector runs (answered from the last evaluation).
    const timeCalls = async (fn: () => Promise<unknown>): Promise<Summary> => {
      const us: number[] = [];
      for (let i = 0; i < TIMED_CALLS; i++) {
        const t0 = performance.now();
        await fn();
        us.push((performance.now() - t0) * 1000);
      }
      return summarize(us);
    };
    const checkUs = await timeCalls(() => detector.check());
    // …and an evaluation with an incident open, the expensive path: blame, advice, each size/overflow recommendation
    // checked with registry.validateResize.
    const incidentUs = await incidentEvaluationUs(timeCalls);
    detector.start();
    const healthUs = await timeCalls(() => handler({ method: 'GET', url: '/health' }, response));
    await detector.stop();
    // Share of one core at the bench's rates: what a client bound on its one JavaScript thread would lose.
    const coreShare = (checkUs.median * (1000 / DETECTOR_INTERVAL_MS) + healthUs.median * (1000 / HEALTH_POLL_MS)) / 1e6;
    console.log(
      `  detector CPU, timed: evaluation ${fmtSummary(checkUs)} µs (with an incident open and advice validated: ${fmtSummary(incidentUs)} µs), health request ${fmtSummary(healthUs)} µs (medians of ${TIMED_CALLS}); at 1 evaluation/${DETECTOR_INTERVAL_MS} ms and 1 poll/${HEALTH_POLL_MS} ms: ${fmt(coreShare * 100)} % of one core, an expected throughput ratio of ${fmt(1 - coreShare)}`,
    );
    return {
      settings: { ...loadSettings, rounds: COST_ROUNDS, order: 'rotating (every order of the three peers)', detectorIntervalMs: DETECTOR_INTERVAL_MS, healthPollMs: HEALTH_POLL_MS, timedCalls: TIMED_CALLS },
      summary: result.summary,
      perRound: result.perRound,
      orders: result.orders,
      ratios: { qps, cpu, controlQps, controlCpu },
      timed: { evaluationUs: checkUs, incidentEvaluationUs: incidentUs, healthRequestUs: healthUs, coreShare, expectedThroughputRatio: 1 - coreShare },
    };
  } finally {
    await detector.stop();
    await pools.close();
  }
}

/**
 * µs per `check()` while an incident is open: on an in-process client, llm holds every shared slot and auth has
 * callers waiting for one (shared-slots, monopolization, advice checked with validateResize), no server probe.
 */
async function incidentEvaluationUs(timeCalls: (fn: () => Promise<unknown>) => Promise<Summary>): Promise<Summary> {
  const registry = createPoolRegistry({
    Client: NullClient as unknown as ClientConstructor,
    maxConnections: 8,
    reserve: 0,
    services: { auth: { size: 1, overflow: 2, priority: 'highest', acquireTimeoutMs: 60_000 }, llm: { size: 1, overflow: 7, priority: 'medium' } },
  });
  const leases = await Promise.all([...Array.from({ length: 7 }, () => registry.acquire('llm')), registry.acquire('auth')]);
  const waiting = [registry.acquire('auth'), registry.acquire('auth')];
  await new Promise((resolve) => setImmediate(resolve));
  const detector = createInterferenceDetector({ registry, serverProbe: false, thresholds: { acquireWaitMs: 0 } });
  try {
    await detector.check();
    await detector.check();
    if (detector.incidents().length === 0) throw new Error('detector bench: the incident scene opened no incident');
    return await timeCalls(() => detector.check());
  } finally {
    await detector.stop();
    for (const lease of leases) lease.release();
    for (const lease of await Promise.all(waiting)) lease.release();
    await registry.close();
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

/** V8's data heap after two full collections, without the code spaces (compiled code is not the detector's data). */
function dataHeapUsed(): number {
  (globalThis as { gc?: () => void }).gc?.();
  (globalThis as { gc?: () => void }).gc?.();
  let used = 0;
  for (const space of v8.getHeapSpaceStatistics()) if (!space.space_name.startsWith('code_')) used += space.space_used_size;
  return used;
}

interface Checkpoint {
  readonly simulatedMin: number;
  /** Data heap now minus before the first simulated second, bytes. */
  readonly heapDeltaBytes: number;
  readonly history: number;
  readonly open: number;
}

/**
 * One memory pass (run in a fresh process by {@link memory}): the simulated traffic on fake time, with the
 * detector evaluating every `intervalMs`, or (`withDetector` false) the same registry and traffic alone.
 */
async function memoryPass(withDetector: boolean): Promise<{ checkpoints: Checkpoint[]; acquires: number; intervalMs: number }> {
  const clock = new ManualClock();
  const registry = createPoolRegistry({
    Client: NullClient as unknown as ClientConstructor,
    clock,
    services: { auth: { size: 1, overflow: 2, priority: 'highest' }, llm: { size: 1, overflow: 4, priority: 'medium' } },
  });
  await new Promise((resolve) => setImmediate(resolve));
  const detector = withDetector ? createInterferenceDetector({ registry, clock, serverProbe: false, historySize: HISTORY_SIZE }) : null;
  const intervalMs = detector?.options.intervalMs ?? 5_000;
  const baseline = dataHeapUsed();
  const checkpoints: Checkpoint[] = [];
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
    if (detector !== null && (second * 1000) % intervalMs === 0) await detector.check();
    if (second % CHECKPOINT_S === 0) {
      checkpoints.push({ simulatedMin: second / 60, heapDeltaBytes: dataHeapUsed() - baseline, history: detector?.history().length ?? 0, open: detector?.incidents().length ?? 0 });
    }
  }
  await detector?.stop();
  await registry.close({ timeoutMs: 0 });
  return { checkpoints, acquires, intervalMs };
}

function runPass(withDetector: boolean): { checkpoints: Checkpoint[]; acquires: number; intervalMs: number } {
  const args = ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), '--memory-pass', withDetector ? 'detector' : 'control', ...(quick ? ['--quick'] : [])];
  const child = spawnSync(process.execPath, args, { encoding: 'utf8', env: process.env, maxBuffer: 16 * 1024 * 1024 });
  if (child.status !== 0) throw new Error(`memory pass (${withDetector ? 'detector' : 'control'}) failed: ${child.stderr}`);
  return JSON.parse(child.stdout.trim().split('\n').pop() as string) as { checkpoints: Checkpoint[]; acquires: number; intervalMs: number };
}

/** Least-squares slope of y over x. */
function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  const sxx = points.reduce((a, p) => a + (p.x - mx) ** 2, 0);
  return sxx === 0 ? Number.NaN : points.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0) / sxx;
}

async function memory(): Promise<Record<string, unknown>> {
  const withDetector = runPass(true);
  const control = runPass(false);
  const rows = withDetector.checkpoints.map((c, i) => {
    const base = control.checkpoints[i]!;
    return { ...c, controlDeltaBytes: base.heapDeltaBytes, detectorBytes: c.heapDeltaBytes - base.heapDeltaBytes };
  });
  table([
    ['simulated h', 'heap Δ KiB, with detector', 'heap Δ KiB, control (no detector)', 'detector KiB (difference)', 'closed incidents kept', 'open'],
    ...rows.map((r) => [fmt(r.simulatedMin / 60, 1), fmt(r.heapDeltaBytes / 1024), fmt(r.controlDeltaBytes / 1024), fmt(r.detectorBytes / 1024), String(r.history), String(r.open)]),
  ]);
  // One simulated hour (the figure the issue asks for), the cost of a history entry while the ring fills, and
  // the plateau once it is full.
  const oneHour = rows.find((r) => r.simulatedMin === 60) ?? rows[0]!;
  const filling = rows.filter((r) => r.history < HISTORY_SIZE);
  const capped = rows.filter((r) => r.history >= HISTORY_SIZE);
  const bytesPerEntry = slope(filling.map((r) => ({ x: r.history, y: r.detectorBytes })));
  const plateau = summarize(capped.map((r) => r.detectorBytes));
  const plateauDrift = capped.length >= 2 ? capped[capped.length - 1]!.detectorBytes - capped[0]!.detectorBytes : Number.NaN;
  const plateauHours = capped.length >= 2 ? (capped[capped.length - 1]!.simulatedMin - capped[0]!.simulatedMin) / 60 : 0;
  const controlDrift = capped.length >= 2 ? capped[capped.length - 1]!.controlDeltaBytes - capped[0]!.controlDeltaBytes : Number.NaN;
  // Trends in bytes per simulated hour: while the ring fills, and once it is full (should be about zero).
  const fillingPerHour = slope(filling.map((r) => ({ x: r.simulatedMin / 60, y: r.detectorBytes })));
  const plateauPerHour = slope(capped.map((r) => ({ x: r.simulatedMin / 60, y: r.detectorBytes })));
  console.log(
    `  ${withDetector.acquires.toLocaleString('en-US')} acquires over ${SIMULATED_S / 3600} simulated hours per pass; after 1 h the detector holds ${fmt(oneHour.detectorBytes / 1024)} KiB (${oneHour.history} closed incidents kept)`,
  );
  console.log(
    `  while the history fills: ${fmt(bytesPerEntry)} bytes per closed incident (slope over ${filling.length} checkpoints); history full (${HISTORY_SIZE}) from ${capped[0] ? fmt(capped[0].simulatedMin / 60, 1) : '-'} h: detector heap ${fmtSummary({ min: plateau.min / 1024, median: plateau.median / 1024, max: plateau.max / 1024 })} KiB over ${capped.length} checkpoints, first to last ${fmt(plateauDrift / 1024)} KiB in ${fmt(plateauHours, 1)} h (control registry alone ${fmt(controlDrift / 1024)} KiB); trend ${fmt(fillingPerHour / 1024)} KiB/h while filling, ${fmt(plateauPerHour / 1024)} KiB/h once full`,
  );
  return {
    settings: { simulatedSeconds: SIMULATED_S, checkpointSeconds: CHECKPOINT_S, authPerSecond: AUTH_PER_S, llmPerSecond: LLM_PER_S, intervalMs: withDetector.intervalMs, historySize: HISTORY_SIZE, heap: 'V8 data heap (code spaces excluded) after two full collections; each pass in a fresh process' },
    acquires: withDetector.acquires,
    checkpoints: rows,
    oneHour: { detectorBytes: oneHour.detectorBytes, history: oneHour.history },
    bytesPerHistoryEntry: bytesPerEntry,
    plateau: { fromMinute: capped[0]?.simulatedMin ?? null, checkpoints: capped.length, detectorBytes: plateau, driftBytes: plateauDrift, hours: plateauHours, controlDriftBytes: controlDrift },
    trendBytesPerHour: { filling: fillingPerHour, full: plateauPerHour },
  };
}

async function main(): Promise<void> {
  heading(
    `detector cost: bench 1 load with the detector (interval ${DETECTOR_INTERVAL_MS} ms) and health handler (poll ${HEALTH_POLL_MS} ms) on vs off, ${COST_ROUNDS} rounds; memory over ${SIMULATED_S / 3600} simulated hours (historySize ${HISTORY_SIZE})`,
  );
  const costFigures = await cost();
  console.log('');
  const memoryFigures = await memory();
  const qps = (costFigures.ratios as { qps: Summary }).qps;
  const control = (costFigures.ratios as { controlQps: Summary }).controlQps;
  const expected = (costFigures.timed as { expectedThroughputRatio: number }).expectedThroughputRatio;
  const plateau = memoryFigures.plateau as { checkpoints: number; driftBytes: number; detectorBytes: Summary };
  const perEntry = memoryFigures.bytesPerHistoryEntry as number;
  const trend = memoryFigures.trendBytesPerHour as { filling: number; full: number };
  // Bounded: once the history is full, the detector's heap trend is under a tenth of its trend while filling.
  const bounded = plateau.checkpoints >= 3 && Math.abs(trend.full) <= 0.1 * trend.filling;
  const targets = [
    target('detector on ≥ 0.98× throughput', qps.median >= 0.98, `median ratio ${fmt(qps.median)} (${fmt(qps.min)}…${fmt(qps.max)}), control off/off ${fmt(control.median)} (${fmt(control.min)}…${fmt(control.max)}); timed detector CPU implies ${fmt(expected)}`),
    target(
      'detector memory bounded',
      bounded,
      `≈ ${fmt(perEntry)} bytes per closed incident up to historySize ${HISTORY_SIZE} (≈ ${fmt((perEntry * HISTORY_SIZE) / 1024)} KiB); once full, ${fmt(plateau.detectorBytes.median / 1024)} KiB (${fmt(plateau.detectorBytes.min / 1024)}…${fmt(plateau.detectorBytes.max / 1024)}) over ${plateau.checkpoints} checkpoints, trend ${fmt(trend.full / 1024)} KiB/h vs ${fmt(trend.filling / 1024)} KiB/h while filling`,
    ),
  ];
  await writeResults('detector', { cost: costFigures.settings, memory: memoryFigures.settings }, { cost: costFigures, memory: memoryFigures, targets });
}

const passAt = process.argv.indexOf('--memory-pass');
if (passAt >= 0) {
  memoryPass(process.argv[passAt + 1] === 'detector').then(
    (result) => {
      process.stdout.write(`${JSON.stringify(result)}\n`);
      process.exit(0);
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
} else {
  run(main);
}
