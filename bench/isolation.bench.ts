/**
 * Bench 2, isolation (the headline). One process serves `auth` (short indexed lookups arriving at a steady
 * rate) while `extension` and `llm` handlers, each holding a connection in a transaction for ~200 ms (as if
 * awaiting a model), arrive at several times the capacity. The same total number of connections is given to one
 * shared `pg.Pool` and to the registry with the presets (`maxConnections`). Auth p50 / p99 / max and timeouts
 * in three phases: unloaded, flood, recovery. Writes the chart to `docs/isolation.svg`.
 *
 * Method. The registry's runs alternate, over several rounds in rotating order, with two references:
 *  - `dedicated`: auth on a plain `pg.Pool` of its own (its preset's size + overflow) and the flood on another
 *    `pg.Pool` with the rest of the connections: the same flood with no library in auth's path, so whatever
 *    auth's latency still does under the flood comes from the machine (PostgreSQL and the client sharing cores),
 *    not from the pool in front of it;
 *  - `control`: the registry with no flood at all, phases timed the same: its "flood" / unloaded p99 ratio is the
 *    same-versus-same noise of exactly the statistic of the target.
 * The shared `pg.Pool` runs first and last (it only shows the problem, and each of its runs takes seconds to
 * unwind). Per kind: the ratio round by round (median, min…max) and the ratio of p99s over every sample of the
 * phase pooled across rounds (about 10 times the samples of one run). Per phase: auth's wait for a connection and
 * its time holding one (the round trip to the server), event-loop delay, connections opened, and where the
 * machine's CPU went (whole machine, PostgreSQL's processes, this process, everything else).
 *
 *   npm run bench -- --only isolation [--quick]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pg from 'pg';
import { createPoolRegistry, servicePresets } from '../src/index';
import os from 'node:os';
import { cpuBetween, startCpuSampler, type CpuShares } from './lib/cpu';
import { databaseUrl, fmt, fmtSummary, heading, percentile, quick, roundOrder, run, runId, sleep, summarize, table, target, writeResults, withAdminClient, type Summary } from './lib/harness';
import { arrivals, holdInTransaction } from './lib/load';
import { latencyChart, type Sample } from './lib/svg';

const TOTAL_CONNECTIONS = 24;
const HOLD_MS = 200;
/** Flood arrivals per second: this many times what the whole connection budget can serve at HOLD_MS each. */
const FLOOD_FACTOR = 3;
const FLOOD_RATE = (FLOOD_FACTOR * TOTAL_CONNECTIONS * 1000) / HOLD_MS;
const AUTH_RATE = 100;
const AUTH_TIMEOUT_MS = servicePresets.auth.acquireTimeoutMs;
const PHASES = quick ? { unloaded: 600, flood: 1_200, recovery: 800 } : { unloaded: 3_000, flood: 5_000, recovery: 3_000 };
/** Rounds of registry, dedicated and control, in rotating order (A B C, C B A, B C A, A C B …). */
const ROUNDS = quick ? 1 : 4;
/** The shared pool first and last, the rounds in between; quick: shared once, then one round. */
const ORDER: Kind[] = [
  'shared',
  ...Array.from({ length: ROUNDS }, (_, round) => roundOrder<Kind>(['registry', 'dedicated', 'control'], round, true)).flat(),
  ...(quick ? [] : (['shared'] as Kind[])),
];
/** The dedicated reference: auth's pool as large as its preset allows, the flood's gets the rest. */
const DEDICATED_AUTH = servicePresets.auth.size + servicePresets.auth.overflow;
/**
 * The first part of the flood, reported apart (never left out of the target's figure): while the flood's pools
 * open their connections (a backend fork each) and fill up, the server and the client are busiest.
 */
const ONSET_MS = quick ? 200 : 500;
const USERS = 10_000;
const table_ = `bench_iso_users_${runId}`;

type Kind = 'shared' | 'registry' | 'dedicated' | 'control';
type Phase = 'unloaded' | 'flood' | 'recovery';

interface Target {
  auth(id: number): Promise<unknown>;
  /** Registry only: calls `listener` with every auth acquire wait and hold time (ms), and with every connection opened. */
  onAuthWait?(listener: (waitMs: number) => void): void;
  onAuthHeld?(listener: (heldMs: number) => void): void;
  onConnect?(listener: (service: string) => void): void;
  /** Registry only: calls `listener` when one of auth's connections is closed, with the reason. */
  onAuthRemoved?(listener: (reason: string) => void): void;
  flood(service: 'extension' | 'llm'): Promise<unknown>;
  /** Resolves once the connections the target opens on its own at start (the registry's guaranteed sizes) are open. */
  ready?(): Promise<void>;
  /** Stops everything still queued or running and closes the connections. */
  close(): Promise<void>;
}

const lookup = `select name from ${table_} where id = $1`;
const work = `select count(*) from ${table_} where id between $1 and $1 + 50`;

function openShared(): Target {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: TOTAL_CONNECTIONS,
    // One pool has one timeout for everyone: auth's.
    connectionTimeoutMillis: AUTH_TIMEOUT_MS,
    application_name: `bench-iso-shared-${runId}`.slice(0, 40),
  });
  pool.on('error', () => {});
  return {
    auth: (id) => pool.query(lookup, [id]),
    flood: () => holdInTransaction(pool, work, [Math.floor(Math.random() * USERS)], HOLD_MS),
    close: () => pool.end(),
  };
}

function openRegistry(): Target {
  const registry = createPoolRegistry({
    connection: databaseUrl,
    applicationName: `bench-iso-${runId}`.slice(0, 40),
    services: { auth: servicePresets.auth, extension: servicePresets.extension, llm: servicePresets.llm },
    maxConnections: TOTAL_CONNECTIONS,
  });
  return {
    auth: (id) => registry.query('auth', lookup, [id]),
    onAuthWait: (listener) => {
      registry.on('acquire', (event) => {
        if (event.service === 'auth') listener(event.waitMs);
      });
    },
    onAuthHeld: (listener) => {
      registry.on('release', (event) => {
        if (event.service === 'auth') listener(event.heldMs);
      });
    },
    onConnect: (listener) => {
      registry.on('connect', (event) => listener(event.service));
    },
    onAuthRemoved: (listener) => {
      registry.on('remove', (event) => {
        if (event.service === 'auth') listener(event.reason);
      });
    },
    async ready() {
      const deadline = performance.now() + 10_000;
      const opened = () => Object.values(registry.stats().services).every((s) => s.total >= s.guaranteedSize);
      while (!opened() && performance.now() < deadline) await sleep(20);
    },
    flood: (service) =>
      registry.transaction(service, async (client) => {
        await client.query(work, [Math.floor(Math.random() * USERS)]);
        await sleep(HOLD_MS);
      }),
    close: async () => {
      await registry.close({ timeoutMs: 2_000 });
    },
  };
}

function openDedicated(): Target {
  const options = (max: number, label: string): pg.PoolConfig => ({
    connectionString: databaseUrl,
    max,
    connectionTimeoutMillis: AUTH_TIMEOUT_MS,
    application_name: `bench-iso-${label}-${runId}`.slice(0, 40),
  });
  const authPool = new pg.Pool(options(DEDICATED_AUTH, 'auth'));
  const floodPool = new pg.Pool({ ...options(TOTAL_CONNECTIONS - DEDICATED_AUTH, 'flood'), connectionTimeoutMillis: servicePresets.llm.acquireTimeoutMs });
  authPool.on('error', () => {});
  floodPool.on('error', () => {});
  return {
    auth: (id) => authPool.query(lookup, [id]),
    flood: () => holdInTransaction(floodPool, work, [Math.floor(Math.random() * USERS)], HOLD_MS),
    close: async () => {
      await Promise.all([authPool.end(), floodPool.end()]);
    },
  };
}

interface PhaseFigures {
  readonly count: number;
  readonly timeouts: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** Event-loop delay p99 of this process during the phase, ms: CPU contention inside the client. */
  readonly eventLoopP99: number;
  /** Registry only: p99 of auth's wait for a connection during the phase, ms. */
  readonly acquireWaitP99: number | null;
  /** Registry only: p99 of the time auth held its connection (the query's round trip to the server), ms. */
  readonly heldP99: number | null;
  /** Registry only: connections opened (all services) during the phase. */
  readonly connectsOpened: number | null;
  /** Registry only: auth's connections opened and closed during the phase (closed: e.g. idle overflow given to another service). */
  readonly authConnectsOpened: number | null;
  readonly authConnectsClosed: number | null;
  /** Where the machine's CPU went during the phase. */
  readonly cpu: CpuShares;
  /** Flood phase only: p99 of auth over the first ONSET_MS of the flood, and over the rest, ms. */
  readonly onsetP99?: number;
  readonly afterOnsetP99?: number;
}

interface RunResult {
  readonly kind: Kind;
  readonly phases: Record<Phase, PhaseFigures>;
  readonly samples: Sample[];
  readonly flood: { readonly arrived: number; readonly served: number; readonly failed: number };
  /** Latencies (ms) of the auth requests that succeeded, per phase, for the pooled percentiles. */
  readonly latencies: Record<Phase, number[]>;
  /** The flood phase's latencies split at ONSET_MS. */
  readonly floodSplit: { readonly onset: number[]; readonly after: number[] };
}


async function runOnce(kind: Kind): Promise<RunResult> {
  const target_ = kind === 'shared' ? openShared() : kind === 'dedicated' ? openDedicated() : openRegistry();
  // Started before the warm-up, so its own start-up is over before anything is measured.
  const sampler = startCpuSampler();
  // Warm up: the connections auth needs when unloaded exist before measuring, for every peer, and the registry's
  // guaranteed connections of every service are open (opening them, a backend fork each, is not "unloaded").
  await Promise.all(Array.from({ length: 30 }, (_, i) => target_.auth(1 + i)));
  await target_.ready?.();
  await sleep(quick ? 100 : 500);
  const start = performance.now() + 50;
  const floodFrom = start + PHASES.unloaded;
  const floodTo = floodFrom + PHASES.flood;
  const end = floodTo + PHASES.recovery;
  const samples: Sample[] = [];
  const authInFlight: Promise<unknown>[] = [];
  const floodInFlight: Promise<unknown>[] = [];
  const waits: { t: number; ms: number }[] = [];
  const helds: { t: number; ms: number }[] = [];
  const connects: number[] = [];
  const authConnects: number[] = [];
  const authRemoved: number[] = [];
  target_.onAuthWait?.((ms) => waits.push({ t: (performance.now() - start) / 1000, ms }));
  target_.onAuthHeld?.((ms) => helds.push({ t: (performance.now() - start) / 1000, ms }));
  target_.onConnect?.((service) => {
    const t = (performance.now() - start) / 1000;
    connects.push(t);
    if (service === 'auth') authConnects.push(t);
  });
  target_.onAuthRemoved?.(() => authRemoved.push((performance.now() - start) / 1000));
  // CPU snapshots at the phase boundaries, taken by a child process (one pipe write here).
  const cpuTimers = [start, floodFrom, floodTo, end].map((at) => setTimeout(() => sampler.mark(), at - performance.now()));
  const loop = monitorEventLoopDelay({ resolution: 1 });
  const loopP99: number[] = [];
  const phaseTimers = [floodFrom, floodTo, end].map((at) =>
    setTimeout(() => {
      loopP99.push(loop.percentile(99) / 1e6);
      loop.reset();
    }, at - performance.now()),
  );
  setTimeout(() => loop.enable(), start - performance.now());
  const flood = { arrived: 0, served: 0, failed: 0 };
  const authDone = arrivals(AUTH_RATE, start, end, () => {
    const arrivedAt = performance.now();
    const t = (arrivedAt - start) / 1000;
    authInFlight.push(
      target_.auth(1 + Math.floor(Math.random() * USERS)).then(
        () => void samples.push({ t, ms: performance.now() - arrivedAt }),
        () => void samples.push({ t, ms: null }),
      ),
    );
  });
  // The control runs the registry with no flood at all: the same phases, nothing arriving in the middle one.
  const floodDone = arrivals(kind === 'control' ? 0 : FLOOD_RATE, floodFrom, floodTo, () => {
    flood.arrived++;
    // Two llm handlers for one extension handler.
    floodInFlight.push(
      target_.flood(flood.arrived % 3 === 0 ? 'extension' : 'llm').then(
        () => void flood.served++,
        () => void flood.failed++,
      ),
    );
  });
  await Promise.all([authDone, floodDone]);
  await sleep(5);
  loop.disable();
  for (const timer of phaseTimers) clearTimeout(timer);
  for (const timer of cpuTimers) clearTimeout(timer);
  const cpu = await sampler.stop();
  // Auth requests of the recovery phase get their answer (or their timeout); flood work still queued is cut off.
  await Promise.race([sleep(AUTH_TIMEOUT_MS + 1_000), Promise.allSettled(authInFlight)]);
  await target_.close();
  await Promise.race([sleep(5_000), Promise.allSettled(floodInFlight)]);
  const phaseOf = (t: number): Phase => (t * 1000 < PHASES.unloaded ? 'unloaded' : t * 1000 < PHASES.unloaded + PHASES.flood ? 'flood' : 'recovery');
  const phases = {} as Record<Phase, PhaseFigures>;
  const latencies = {} as Record<Phase, number[]>;
  const cores = os.cpus().length;
  const registryKind = target_.onAuthWait !== undefined;
  (['unloaded', 'flood', 'recovery'] as Phase[]).forEach((phase, p) => {
    const inPhase = samples.filter((s) => phaseOf(s.t) === phase);
    const ok = inPhase.filter((s) => s.ms !== null).map((s) => s.ms as number).sort((a, b) => a - b);
    latencies[phase] = ok;
    const phaseWaits = waits.filter((w) => phaseOf(w.t) === phase).map((w) => w.ms).sort((a, b) => a - b);
    const phaseHelds = helds.filter((w) => phaseOf(w.t) === phase).map((w) => w.ms).sort((a, b) => a - b);
    phases[phase] = {
      count: inPhase.length,
      timeouts: inPhase.length - ok.length,
      p50: percentile(ok, 0.5),
      p99: percentile(ok, 0.99),
      max: ok[ok.length - 1] ?? Number.NaN,
      eventLoopP99: loopP99[phase === 'unloaded' ? 0 : phase === 'flood' ? 1 : 2] ?? Number.NaN,
      acquireWaitP99: registryKind ? percentile(phaseWaits, 0.99) : null,
      heldP99: registryKind ? percentile(phaseHelds, 0.99) : null,
      connectsOpened: registryKind ? connects.filter((t) => t >= 0 && t * 1000 < end - start && phaseOf(t) === phase).length : null,
      authConnectsOpened: registryKind ? authConnects.filter((t) => t >= 0 && t * 1000 < end - start && phaseOf(t) === phase).length : null,
      authConnectsClosed: registryKind ? authRemoved.filter((t) => t >= 0 && t * 1000 < end - start && phaseOf(t) === phase).length : null,
      cpu: cpuBetween(cpu[p], cpu[p + 1], cores),
    };
  });
  const inOnset = (t: number): boolean => t * 1000 >= PHASES.unloaded && t * 1000 < PHASES.unloaded + ONSET_MS;
  const floodOk = samples.filter((x) => phaseOf(x.t) === 'flood' && x.ms !== null);
  const floodSplit = {
    onset: floodOk.filter((x) => inOnset(x.t)).map((x) => x.ms as number).sort((a, b) => a - b),
    after: floodOk.filter((x) => !inOnset(x.t)).map((x) => x.ms as number).sort((a, b) => a - b),
  };
  phases.flood = { ...phases.flood, onsetP99: percentile(floodSplit.onset, 0.99), afterOnsetP99: percentile(floodSplit.after, 0.99) };
  samples.sort((a, b) => a.t - b.t);
  return { kind, phases, samples, flood, latencies, floodSplit };
}

const withAdmin = <T>(fn: (client: pg.Client) => Promise<T>): Promise<T> => withAdminClient('iso', fn);

async function main(): Promise<void> {
  heading(
    `isolation: ${TOTAL_CONNECTIONS} connections in all; auth ${AUTH_RATE}/s; extension + llm floods at ${FLOOD_RATE}/s (${FLOOD_FACTOR}× capacity) holding ${HOLD_MS} ms in a transaction; phases ${PHASES.unloaded}/${PHASES.flood}/${PHASES.recovery} ms; order ${ORDER.join(' ')}`,
  );
  await withAdmin(async (c) => {
    await c.query(`create table ${table_} (id int primary key, name text not null)`);
    await c.query(`insert into ${table_} select g, 'user ' || g from generate_series(1, ${USERS}) g`);
    await c.query(`analyze ${table_}`);
  });
  const runs: RunResult[] = [];
  try {
    for (const kind of ORDER) {
      runs.push(await runOnce(kind));
      await sleep(quick ? 200 : 1_000);
    }
  } finally {
    await withAdmin((c) => c.query(`drop table if exists ${table_}`));
  }
  const pct = (share: number): string => `${Math.round(share * 100)} %`;
  const rows: string[][] = [['run', 'phase', 'auth n', 'p50 ms', 'p99 ms', 'max ms', 'timeouts', 'acq wait p99', 'held p99', 'conns opened (auth +/-)', 'flood p99: onset / after', 'loop lag p99', 'machine busy', 'pg cores', 'this cores', 'other cores', 'flood served/failed']];
  runs.forEach((r, i) => {
    for (const phase of ['unloaded', 'flood', 'recovery'] as Phase[]) {
      const p = r.phases[phase];
      rows.push([
        `${i + 1} ${r.kind}`,
        phase,
        String(p.count),
        fmt(p.p50),
        fmt(p.p99),
        fmt(p.max),
        String(p.timeouts),
        p.acquireWaitP99 === null ? '-' : fmt(p.acquireWaitP99),
        p.heldP99 === null ? '-' : fmt(p.heldP99),
        p.connectsOpened === null ? '-' : `${p.connectsOpened} (+${p.authConnectsOpened}/-${p.authConnectsClosed})`,
        p.onsetP99 === undefined ? '' : `${fmt(p.onsetP99)} / ${fmt(p.afterOnsetP99 ?? Number.NaN)}`,
        fmt(p.eventLoopP99),
        pct(p.cpu.machineBusy),
        fmt(p.cpu.postgresCores, 2),
        fmt(p.cpu.selfCores, 2),
        fmt(p.cpu.otherCores, 2),
        phase === 'flood' ? `${r.flood.served}/${r.flood.failed}` : '',
      ]);
    }
  });
  table(rows);

  const byKind = (kind: Kind) => runs.filter((r) => r.kind === kind);
  const floodRatio = (r: RunResult) => r.phases.flood.p99 / r.phases.unloaded.p99;
  /** p99 over every sample of the phase, pooled across the runs of one kind. */
  const pooledP99 = (kind: Kind, phase: Phase): number =>
    percentile(
      byKind(kind)
        .flatMap((r) => r.latencies[phase])
        .sort((a, b) => a - b),
      0.99,
    );
  const pooledCount = (kind: Kind, phase: Phase): number => byKind(kind).reduce((n, r) => n + r.latencies[phase].length, 0);
  const timeoutsOf = (kind: Kind): number => byKind(kind).reduce((n, r) => n + r.phases.flood.timeouts + r.phases.recovery.timeouts + r.phases.unloaded.timeouts, 0);
  const medianOf = (kind: Kind, pick: (r: RunResult) => number): number => summarize(byKind(kind).map(pick)).median;
  interface KindFigures {
    readonly runs: number;
    readonly perRoundRatio: Summary;
    readonly pooled: { readonly unloadedP99: number; readonly floodP99: number; readonly recoveryP99: number; readonly ratio: number; readonly samples: Record<Phase, number> };
    readonly timeouts: number;
    /** Pooled p99 over the first ONSET_MS of the flood and over the rest, and the rest's ratio to unloaded. */
    readonly floodOnset: { readonly onsetP99: number; readonly afterOnsetP99: number; readonly afterOnsetRatio: number; readonly onsetSamples: number };
    /** Medians over the runs, flood phase. */
    readonly flood: { readonly eventLoopP99: number; readonly machineBusy: number; readonly postgresCores: number; readonly selfCores: number; readonly otherCores: number };
    readonly unloaded: { readonly eventLoopP99: number; readonly machineBusy: number; readonly postgresCores: number; readonly selfCores: number; readonly otherCores: number };
  }
  const figuresOf = (kind: Kind): KindFigures => {
    const phaseMedians = (phase: Phase) => ({
      eventLoopP99: medianOf(kind, (r) => r.phases[phase].eventLoopP99),
      machineBusy: medianOf(kind, (r) => r.phases[phase].cpu.machineBusy),
      postgresCores: medianOf(kind, (r) => r.phases[phase].cpu.postgresCores),
      selfCores: medianOf(kind, (r) => r.phases[phase].cpu.selfCores),
      otherCores: medianOf(kind, (r) => r.phases[phase].cpu.otherCores),
    });
    const unloadedP99 = pooledP99(kind, 'unloaded');
    const floodP99 = pooledP99(kind, 'flood');
    return {
      runs: byKind(kind).length,
      perRoundRatio: summarize(byKind(kind).map(floodRatio)),
      pooled: {
        unloadedP99,
        floodP99,
        recoveryP99: pooledP99(kind, 'recovery'),
        ratio: floodP99 / unloadedP99,
        samples: { unloaded: pooledCount(kind, 'unloaded'), flood: pooledCount(kind, 'flood'), recovery: pooledCount(kind, 'recovery') },
      },
      timeouts: timeoutsOf(kind),
      floodOnset: (() => {
        const onset = byKind(kind).flatMap((r) => r.floodSplit.onset).sort((a, b) => a - b);
        const after = byKind(kind).flatMap((r) => r.floodSplit.after).sort((a, b) => a - b);
        return { onsetP99: percentile(onset, 0.99), afterOnsetP99: percentile(after, 0.99), afterOnsetRatio: percentile(after, 0.99) / unloadedP99, onsetSamples: onset.length };
      })(),
      flood: phaseMedians('flood'),
      unloaded: phaseMedians('unloaded'),
    };
  };
  const kinds = (['registry', 'dedicated', 'control', 'shared'] as Kind[]).filter((k) => byKind(k).length > 0);
  const figures = Object.fromEntries(kinds.map((k) => [k, figuresOf(k)])) as Partial<Record<Kind, KindFigures>>;
  const label: Record<Kind, string> = {
    registry: 'registry, flood',
    dedicated: 'auth on its own pg.Pool, flood on another',
    control: 'registry, no flood (control)',
    shared: 'one shared pg.Pool, flood',
  };
  console.log('');
  table([
    ['auth p99 "flood" / unloaded', 'runs', 'per run: median (min…max)', 'pooled p99 ms unloaded → flood', 'pooled ratio', 'samples', 'timeouts', `pooled flood p99 first ${ONSET_MS} ms / after; after ÷ unloaded`, 'flood: loop lag p99, machine busy, pg / this / other cores (medians)'],
    ...kinds.map((k) => {
      const f = figures[k]!;
      return [
        label[k],
        String(f.runs),
        fmtSummary(f.perRoundRatio),
        `${fmt(f.pooled.unloadedP99)} → ${fmt(f.pooled.floodP99)}`,
        fmt(f.pooled.ratio),
        `${f.pooled.samples.unloaded} / ${f.pooled.samples.flood}`,
        String(f.timeouts),
        `${fmt(f.floodOnset.onsetP99)} / ${fmt(f.floodOnset.afterOnsetP99)}; ${fmt(f.floodOnset.afterOnsetRatio)}`,
        `${fmt(f.flood.eventLoopP99)} ms, ${pct(f.flood.machineBusy)}, ${fmt(f.flood.postgresCores, 2)} / ${fmt(f.flood.selfCores, 2)} / ${fmt(f.flood.otherCores, 2)}`,
      ];
    }),
  ]);
  const reg = byKind('registry');
  const shared = byKind('shared');
  const registryFigures = figures.registry!;
  const sharedVsRegistryFloodP99 = figures.shared === undefined ? Number.NaN : figures.shared.pooled.floodP99 / registryFigures.pooled.floodP99;
  const authWaitP99 = Math.max(...reg.flatMap((r) => (['unloaded', 'flood', 'recovery'] as Phase[]).map((p) => r.phases[p].acquireWaitP99 ?? 0)));
  console.log(`  registry: auth's wait for a connection p99 at most ${fmt(authWaitP99)} ms in any phase of any run; shared pool auth p99 under flood / registry's: ${fmt(sharedVsRegistryFloodP99)}`);
  const targets = [
    target(
      'registry auth p99 under flood ≤ 1.3× unloaded p99',
      registryFigures.pooled.ratio <= 1.3,
      `pooled over ${registryFigures.runs} runs ${fmt(registryFigures.pooled.ratio)} (per run median ${fmt(registryFigures.perRoundRatio.median)}, ${fmt(registryFigures.perRoundRatio.min)}…${fmt(registryFigures.perRoundRatio.max)}); same statistic with no flood (control) ${figures.control ? fmt(figures.control.pooled.ratio) : '-'}; auth on a dedicated pg.Pool ${figures.dedicated ? fmt(figures.dedicated.pooled.ratio) : '-'}; after the first ${ONSET_MS} ms of the flood ${fmt(registryFigures.floodOnset.afterOnsetRatio)}`,
    ),
    target('no registry auth timeouts', registryFigures.timeouts === 0, `${registryFigures.timeouts} timeouts`),
  ];

  // The chart: the last run of each kind.
  const lastShared = shared[shared.length - 1]!;
  const lastRegistry = reg[reg.length - 1]!;
  const durationS = (PHASES.unloaded + PHASES.flood + PHASES.recovery) / 1000;
  const svg = latencyChart(
    [
      { label: `one shared pg.Pool (max ${TOTAL_CONNECTIONS})`, color: '#d62828', samples: lastShared.samples },
      { label: `pg-bulkhead registry (presets, ${TOTAL_CONNECTIONS} in all)`, color: '#1d6fb8', samples: lastRegistry.samples },
    ],
    {
      title: 'auth latency while extension + llm flood the database',
      subtitle: `${TOTAL_CONNECTIONS} connections in all · auth ${AUTH_RATE}/s indexed lookups · flood ${FLOOD_RATE}/s handlers holding a connection ${HOLD_MS} ms in a transaction (${FLOOD_FACTOR}× capacity)`,
      shade: { from: PHASES.unloaded / 1000, to: (PHASES.unloaded + PHASES.flood) / 1000, label: 'flood' },
      durationS,
      binS: quick ? 0.2 : 0.5,
    },
  );
  const root = dirname(dirname(fileURLToPath(import.meta.url)));
  const svgPath = quick ? join(root, 'bench', 'results', 'quick', 'isolation.svg') : join(root, 'docs', 'isolation.svg');
  mkdirSync(dirname(svgPath), { recursive: true });
  writeFileSync(svgPath, svg);
  console.log(`  → ${svgPath.slice(root.length + 1)}`);

  await writeResults(
    'isolation',
    {
      totalConnections: TOTAL_CONNECTIONS,
      authRatePerS: AUTH_RATE,
      floodRatePerS: FLOOD_RATE,
      floodFactor: FLOOD_FACTOR,
      holdMs: HOLD_MS,
      phasesMs: PHASES,
      rounds: ROUNDS,
      order: ORDER,
      sharedConnectionTimeoutMs: AUTH_TIMEOUT_MS,
      dedicated: { authMax: DEDICATED_AUTH, floodMax: TOTAL_CONNECTIONS - DEDICATED_AUTH },
      floodOnsetMs: ONSET_MS,
      presets: { auth: servicePresets.auth, extension: servicePresets.extension, llm: servicePresets.llm },
    },
    {
      runs: runs.map((r) => ({ kind: r.kind, phases: r.phases, flood: r.flood })),
      byKind: figures,
      ratios: {
        registryFloodOverUnloadedP99Pooled: registryFigures.pooled.ratio,
        registryFloodOverUnloadedP99PerRun: registryFigures.perRoundRatio,
        controlNoFloodPooled: figures.control?.pooled.ratio ?? null,
        controlNoFloodPerRun: figures.control?.perRoundRatio ?? null,
        dedicatedPoolPooled: figures.dedicated?.pooled.ratio ?? null,
        registryAfterOnsetOverUnloadedP99Pooled: registryFigures.floodOnset.afterOnsetRatio,
        dedicatedAfterOnsetOverUnloadedP99Pooled: figures.dedicated?.floodOnset.afterOnsetRatio ?? null,
        controlAfterOnsetOverUnloadedP99Pooled: figures.control?.floodOnset.afterOnsetRatio ?? null,
        sharedFloodOverUnloadedP99Pooled: figures.shared?.pooled.ratio ?? null,
        sharedOverRegistryFloodP99: sharedVsRegistryFloodP99,
      },
      registryAuthAcquireWaitP99MaxMs: authWaitP99,
      targets,
    },
  );
}

run(main);
