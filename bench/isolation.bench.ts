/**
 * Bench 2, isolation (the headline). One process serves `auth` (short indexed lookups arriving at a steady
 * rate) while `extension` and `llm` handlers, each holding a connection in a transaction for ~200 ms (as if
 * awaiting a model), arrive at several times the capacity. The same total number of connections is given to one
 * shared `pg.Pool` and to the registry with the presets (`maxConnections`). Auth p50 / p99 / max and timeouts
 * in three phases: unloaded, flood, recovery. Writes the chart to `docs/isolation.svg`.
 *
 *   npm run bench -- --only isolation [--quick]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pg from 'pg';
import { createPoolRegistry, servicePresets } from '../src/index';
import { databaseUrl, fmt, heading, percentile, quick, run, runId, sleep, summarize, table, target, writeResults , withAdminClient } from './lib/harness';
import { latencyChart, type Sample } from './lib/svg';

const TOTAL_CONNECTIONS = 24;
const HOLD_MS = 200;
/** Flood arrivals per second: this many times what the whole connection budget can serve at HOLD_MS each. */
const FLOOD_FACTOR = 3;
const FLOOD_RATE = (FLOOD_FACTOR * TOTAL_CONNECTIONS * 1000) / HOLD_MS;
const AUTH_RATE = 100;
const AUTH_TIMEOUT_MS = servicePresets.auth.acquireTimeoutMs;
const PHASES = quick ? { unloaded: 600, flood: 1_200, recovery: 800 } : { unloaded: 3_000, flood: 6_000, recovery: 4_000 };
/** shared, registry, registry, shared (A B B A); quick: A B. */
const ORDER: Kind[] = quick ? ['shared', 'registry'] : ['shared', 'registry', 'registry', 'shared'];
const USERS = 10_000;
const table_ = `bench_iso_users_${runId}`;

type Kind = 'shared' | 'registry';
type Phase = 'unloaded' | 'flood' | 'recovery';

interface Target {
  auth(id: number): Promise<unknown>;
  /** Registry only: calls `listener` with every auth acquire wait (ms). */
  onAuthWait?(listener: (waitMs: number) => void): void;
  flood(service: 'extension' | 'llm'): Promise<unknown>;
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
    async flood() {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(work, [Math.floor(Math.random() * USERS)]);
        await sleep(HOLD_MS); // awaiting the model, connection held
        await client.query('COMMIT');
      } finally {
        client.release();
      }
    },
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
}

interface RunResult {
  readonly kind: Kind;
  readonly phases: Record<Phase, PhaseFigures>;
  readonly samples: Sample[];
  readonly flood: { readonly arrived: number; readonly served: number; readonly failed: number };
}

/** Fires `rate` calls per second of `fire` between `from` and `to` (ms, performance.now()), open loop. */
async function arrivals(rate: number, from: number, to: number, fire: () => void): Promise<void> {
  let fired = 0;
  while (performance.now() < from) await sleep(Math.max(1, from - performance.now()));
  for (;;) {
    const now = performance.now();
    if (now >= to) break;
    const due = Math.floor(((now - from) * rate) / 1000);
    while (fired < due) {
      fired++;
      fire();
    }
    await sleep(5);
  }
}

async function runOnce(kind: Kind): Promise<RunResult> {
  const target_ = kind === 'shared' ? openShared() : openRegistry();
  // Warm up: the connections auth needs when unloaded exist before measuring, for both peers.
  await Promise.all(Array.from({ length: 30 }, (_, i) => target_.auth(1 + i)));
  const start = performance.now() + 50;
  const floodFrom = start + PHASES.unloaded;
  const floodTo = floodFrom + PHASES.flood;
  const end = floodTo + PHASES.recovery;
  const samples: Sample[] = [];
  const authInFlight: Promise<unknown>[] = [];
  const floodInFlight: Promise<unknown>[] = [];
  const waits: { t: number; ms: number }[] = [];
  target_.onAuthWait?.((ms) => waits.push({ t: (performance.now() - start) / 1000, ms }));
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
  const floodDone = arrivals(FLOOD_RATE, floodFrom, floodTo, () => {
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
  // Auth requests of the recovery phase get their answer (or their timeout); flood work still queued is cut off.
  await Promise.race([sleep(AUTH_TIMEOUT_MS + 1_000), Promise.allSettled(authInFlight)]);
  await target_.close();
  await Promise.race([sleep(5_000), Promise.allSettled(floodInFlight)]);
  const phaseOf = (t: number): Phase => (t * 1000 < PHASES.unloaded ? 'unloaded' : t * 1000 < PHASES.unloaded + PHASES.flood ? 'flood' : 'recovery');
  const phases = {} as Record<Phase, PhaseFigures>;
  for (const phase of ['unloaded', 'flood', 'recovery'] as Phase[]) {
    const inPhase = samples.filter((s) => phaseOf(s.t) === phase);
    const ok = inPhase.filter((s) => s.ms !== null).map((s) => s.ms as number).sort((a, b) => a - b);
    const phaseWaits = waits.filter((w) => phaseOf(w.t) === phase).map((w) => w.ms).sort((a, b) => a - b);
    phases[phase] = {
      count: inPhase.length,
      timeouts: inPhase.length - ok.length,
      p50: percentile(ok, 0.5),
      p99: percentile(ok, 0.99),
      max: ok[ok.length - 1] ?? Number.NaN,
      eventLoopP99: loopP99[phase === 'unloaded' ? 0 : phase === 'flood' ? 1 : 2] ?? Number.NaN,
      acquireWaitP99: target_.onAuthWait === undefined ? null : percentile(phaseWaits, 0.99),
    };
  }
  samples.sort((a, b) => a.t - b.t);
  return { kind, phases, samples, flood };
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
  const rows: string[][] = [['run', 'phase', 'auth n', 'p50 ms', 'p99 ms', 'max ms', 'timeouts', 'acq wait p99', 'loop lag p99', 'flood served/failed']];
  runs.forEach((r, i) => {
    for (const phase of ['unloaded', 'flood', 'recovery'] as Phase[]) {
      const p = r.phases[phase];
      rows.push([`${i + 1} ${r.kind}`, phase, String(p.count), fmt(p.p50), fmt(p.p99), fmt(p.max), String(p.timeouts), p.acquireWaitP99 === null ? '-' : fmt(p.acquireWaitP99), fmt(p.eventLoopP99), phase === 'flood' ? `${r.flood.served}/${r.flood.failed}` : '']);
    }
  });
  table(rows);

  const byKind = (kind: Kind) => runs.filter((r) => r.kind === kind);
  const floodRatio = (r: RunResult) => r.phases.flood.p99 / r.phases.unloaded.p99;
  const reg = byKind('registry');
  const shared = byKind('shared');
  const regRatio = summarize(reg.map(floodRatio));
  const sharedRatio = summarize(shared.map(floodRatio));
  const regTimeouts = reg.reduce((n, r) => n + r.phases.flood.timeouts + r.phases.recovery.timeouts + r.phases.unloaded.timeouts, 0);
  // A-vs-A control: the same peer's unloaded p99 from one run to the next (run order and noise alone).
  const control = reg.length >= 2 ? reg[1]!.phases.unloaded.p99 / reg[0]!.phases.unloaded.p99 : Number.NaN;
  const sharedVsRegistryFloodP99 = summarize(shared.map((s, i) => s.phases.flood.p99 / (reg[i] ?? reg[0]!).phases.flood.p99));
  console.log('');
  table([
    ['ratio', 'median (min…max)'],
    ['registry auth p99 flood / unloaded', `${fmt(regRatio.median)} (${fmt(regRatio.min)}…${fmt(regRatio.max)})`],
    ['shared auth p99 flood / unloaded', `${fmt(sharedRatio.median)} (${fmt(sharedRatio.min)}…${fmt(sharedRatio.max)})`],
    ['shared / registry auth p99 under flood', `${fmt(sharedVsRegistryFloodP99.median)} (${fmt(sharedVsRegistryFloodP99.min)}…${fmt(sharedVsRegistryFloodP99.max)})`],
    ['control: registry unloaded p99 run 2 / run 1', fmt(control)],
  ]);
  const targets = [
    target('registry auth p99 under flood ≤ 1.3× unloaded p99', regRatio.max <= 1.3, `median ${fmt(regRatio.median)}, worst ${fmt(regRatio.max)}`),
    target('no registry auth timeouts', regTimeouts === 0, `${regTimeouts} timeouts`),
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
    { totalConnections: TOTAL_CONNECTIONS, authRatePerS: AUTH_RATE, floodRatePerS: FLOOD_RATE, floodFactor: FLOOD_FACTOR, holdMs: HOLD_MS, phasesMs: PHASES, order: ORDER, sharedConnectionTimeoutMs: AUTH_TIMEOUT_MS, presets: { auth: servicePresets.auth, extension: servicePresets.extension, llm: servicePresets.llm } },
    {
      runs: runs.map((r) => ({ kind: r.kind, phases: r.phases, flood: r.flood })),
      ratios: { registryFloodOverUnloadedP99: regRatio, sharedFloodOverUnloadedP99: sharedRatio, sharedOverRegistryFloodP99: sharedVsRegistryFloodP99, controlRegistryUnloadedP99: control },
      targets,
    },
  );
}

run(main);
