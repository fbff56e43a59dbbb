/**
 * Bench 1, overhead: `SELECT 1` through `registry.query` versus a raw `pg.Pool` and a raw `generic-pool` of
 * `pg.Client`, 10 connections each, 50 concurrent loops; plus `registry.withClient` versus
 * `pool.connect()` / `client.release()`; and the registry's pg.Pool view of the same service (`registry.pgPool('api')`,
 * what an ORM is given) side by side with `pg.Pool`, for `query` and for `connect`/`release`. A second `pg.Pool` trial in every round is the A-vs-A control: how far
 * run order and noise alone move a ratio on this machine.
 *
 * Part two, the pools alone: the same loops through `registry.query`, the pg.Pool view's `query` and `pg.Pool.query`
 * on an in-process client that answers at once (bench/lib/fake-client.ts), so the CPU per query is the pool's own
 * work and nothing of pg's protocol or the server's: what the view adds shows here without the server's noise.
 * Alternated A B B A, with a pg.Pool control. Targets: registry ≤ 0.90× pg.Pool's CPU per query and ≥ 1.00× its
 * throughput; the view ≤ 1.03× (≥ 0.97× pg.Pool's throughput, CPU-bound as it is here).
 *
 *   npm run bench -- --only overhead [--quick]
 */
import { createPool } from 'generic-pool';
import pg from 'pg';
import { createPoolRegistry } from '../src/index';
import { alternate, databaseUrl, fmt, fmtSummary, heading, quick, ratio, run, runId, table, target, writeResults, type Peer, type RoundsResult } from './lib/harness';
import { InstantClient } from './lib/fake-client';
import { closedLoop, closedLoopInProcess, type LoadFigures } from './lib/load';

const CONNECTIONS = 10;
const LOOPS = 50;
const TRIAL_MS = quick ? 150 : 1_000;
const ROUNDS = quick ? 2 : 6;
const WARMUP_MS = quick ? 100 : 1_000;

/** The three peers' pools, opened once and kept warm for every round. */
export interface OverheadPools {
  readonly pool: pg.Pool;
  readonly registry: ReturnType<typeof openRegistry>;
  /** The registry's pg.Pool view of its `api` service. */
  readonly view: pg.Pool;
  readonly generic: ReturnType<typeof createPool<pg.Client>>;
  close(): Promise<void>;
}

function openRegistry() {
  return createPoolRegistry({
    connection: databaseUrl,
    applicationName: `bench-ovh-${runId}`.slice(0, 40),
    // One service with exactly the same number of connections as the peers, none of them overflow.
    services: { api: { size: CONNECTIONS, overflow: 0, acquireTimeoutMs: 10_000, maxWaiting: 10_000 } },
  });
}

export async function openPools(): Promise<OverheadPools> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: CONNECTIONS, application_name: `bench-pgpool-${runId}`.slice(0, 40) });
  pool.on('error', () => {});
  const registry = openRegistry();
  const generic = createPool<pg.Client>(
    {
      create: async () => {
        const client = new pg.Client({ connectionString: databaseUrl, application_name: `bench-gp-${runId}`.slice(0, 40) });
        client.on('error', () => {});
        await client.connect();
        return client;
      },
      destroy: (client) => client.end(),
    },
    { max: CONNECTIONS, min: CONNECTIONS, acquireTimeoutMillis: 10_000 },
  );
  return {
    pool,
    registry,
    view: registry.pgPool('api'),
    generic,
    async close() {
      await registry.close();
      await pool.end();
      await generic.drain();
      await generic.clear();
    },
  };
}

/** The plain `SELECT 1` operations, one per peer. */
export function operations(p: OverheadPools) {
  return {
    pgPoolQuery: () => p.pool.query('SELECT 1'),
    registryQuery: () => p.registry.query('api', 'SELECT 1'),
    genericPool: async () => {
      const client = await p.generic.acquire();
      try {
        await client.query('SELECT 1');
      } finally {
        await p.generic.release(client);
      }
    },
    pgPoolConnect: async () => {
      const client = await p.pool.connect();
      try {
        await client.query('SELECT 1');
      } finally {
        client.release();
      }
    },
    registryWithClient: () => p.registry.withClient('api', (client) => client.query('SELECT 1')),
    viewQuery: () => p.view.query('SELECT 1'),
    viewConnect: async () => {
      const client = await p.view.connect();
      try {
        await client.query('SELECT 1');
      } finally {
        client.release();
      }
    },
  };
}

export const loadSettings = { connections: CONNECTIONS, loops: LOOPS, trialMs: TRIAL_MS, rounds: ROUNDS, warmupMs: WARMUP_MS, query: 'SELECT 1' };

export async function warmUp(ops: Record<string, () => Promise<unknown>>): Promise<void> {
  for (const op of Object.values(ops)) await closedLoop(LOOPS, WARMUP_MS / Object.keys(ops).length, op);
}

export function peer(name: string, op: () => Promise<unknown>): Peer<LoadFigures> {
  return { name, trial: () => closedLoop(LOOPS, TRIAL_MS, op) };
}

export function ratioRow(result: RoundsResult<LoadFigures>, b: string, a: string) {
  const qps = ratio(result, b, a, 'qps');
  const cpu = ratio(result, b, a, 'cpuUsPerQuery');
  return { pair: `${b} / ${a}`, qps, cpu };
}

async function main(): Promise<void> {
  heading(`overhead: SELECT 1, ${CONNECTIONS} connections, ${LOOPS} loops, ${ROUNDS} rounds × ${TRIAL_MS} ms per peer`);
  const pools = await openPools();
  try {
    const ops = operations(pools);
    await warmUp(ops);
    const peers: Peer<LoadFigures>[] = [
      peer('pg.Pool.query', ops.pgPoolQuery),
      peer('registry.query', ops.registryQuery),
      peer('generic-pool', ops.genericPool),
      peer('pg.Pool.connect', ops.pgPoolConnect),
      peer('registry.withClient', ops.registryWithClient),
      peer('pgPool view.query', ops.viewQuery),
      peer('pgPool view.connect', ops.viewConnect),
      peer('pg.Pool.query (control)', ops.pgPoolQuery),
    ];
    const result = await alternate(peers, ROUNDS);
    table([
      ['peer', 'qps median (min…max)', 'CPU µs/query median (min…max)'],
      ...peers.map((p) => [p.name, fmtSummary(result.summary[p.name]!.qps), fmtSummary(result.summary[p.name]!.cpuUsPerQuery)]),
    ]);
    const pairs = [
      ratioRow(result, 'registry.query', 'pg.Pool.query'),
      ratioRow(result, 'generic-pool', 'pg.Pool.query'),
      ratioRow(result, 'registry.query', 'generic-pool'),
      ratioRow(result, 'registry.withClient', 'pg.Pool.connect'),
      ratioRow(result, 'pg.Pool.query (control)', 'pg.Pool.query'),
      ratioRow(result, 'pgPool view.query', 'pg.Pool.query'),
      ratioRow(result, 'pgPool view.connect', 'pg.Pool.connect'),
    ];
    console.log('');
    table([['ratio (same round)', 'qps median (min…max)', 'CPU/query median (min…max)'], ...pairs.map((r) => [r.pair, fmtSummary(r.qps), fmtSummary(r.cpu)])]);
    const main = pairs[0]!;
    const control = pairs[4]!;
    const targets = [
      target('registry.query ≥ 0.97× pg.Pool throughput', main.qps.median >= 0.97, `median ratio ${fmt(main.qps.median)} (control pg.Pool/pg.Pool ${fmt(control.qps.median)}, spread ${fmt(control.qps.min)}…${fmt(control.qps.max)})`),
      target('pgPool view.query ≥ 0.97× pg.Pool.query throughput', pairs[5]!.qps.median >= 0.97, `median ratio ${fmt(pairs[5]!.qps.median)}`),
      target('pgPool view.connect ≥ 0.97× pg.Pool.connect throughput', pairs[6]!.qps.median >= 0.97, `median ratio ${fmt(pairs[6]!.qps.median)}`),
    ];
    const alone = await poolsAlone();
    targets.push(
      target('registry.query CPU per query ≤ 0.90× pg.Pool, pools alone (in-process client)', alone.cpu.median <= 0.9, `median ratio ${fmt(alone.cpu.median)} (${fmt(alone.cpu.min)}…${fmt(alone.cpu.max)}), control pg.Pool/pg.Pool ${fmt(alone.control.median)}`),
      target('registry.query throughput ≥ 1.00× pg.Pool, pools alone (in-process client)', alone.qps.median >= 1, `median ratio ${fmt(alone.qps.median)} (${fmt(alone.qps.min)}…${fmt(alone.qps.max)}), control pg.Pool/pg.Pool ${fmt(alone.controlQps.median)}`),
      // CPU-bound on an instant client, so ≥ 0.97× the throughput is ≤ 1/0.97 the CPU per query; CPU is the figure
      // other processes on a shared host disturb least.
      target('pgPool view.query CPU per query ≤ 1.03× pg.Pool (≥ 0.97× its throughput), pools alone (in-process client)', alone.view.cpu.median <= 1 / 0.97, `median ratio ${fmt(alone.view.cpu.median)} (${fmt(alone.view.cpu.min)}…${fmt(alone.view.cpu.max)}), control pg.Pool/pg.Pool ${fmt(alone.control.median)}; throughput ratio ${fmt(alone.view.qps.median)}`),
    );
    await writeResults('overhead', loadSettings, { summary: result.summary, perRound: result.perRound, orders: result.orders, ratios: pairs, poolsAlone: alone, targets });
  } finally {
    await pools.close();
  }
}

/** Part two: registry.query and the view versus pg.Pool.query on an in-process client, so only the pools' own work is timed. */
async function poolsAlone() {
  heading('the pools alone: registry.query, the pg.Pool view and pg.Pool.query on an in-process client that answers at once');
  const registry = createPoolRegistry({ Client: InstantClient as never, applicationName: 'bench-alone', services: { api: { size: CONNECTIONS, overflow: 0 } } });
  const pool = new pg.Pool({ Client: InstantClient as never, max: CONNECTIONS });
  try {
    const view = registry.pgPool('api');
    const ops = { registry: () => registry.query('api', 'SELECT 1'), view: () => view.query('SELECT 1'), pgPool: () => pool.query('SELECT 1') };
    const inProcess = (name: string, op: () => Promise<unknown>): Peer<LoadFigures> => ({ name, trial: () => closedLoopInProcess(LOOPS, TRIAL_MS, op) });
    for (const op of Object.values(ops)) await closedLoopInProcess(LOOPS, WARMUP_MS / 3, op);
    const peers = [inProcess('pg.Pool.query', ops.pgPool), inProcess('registry.query', ops.registry), inProcess('pgPool view.query', ops.view), inProcess('pg.Pool.query (control)', ops.pgPool)];
    const result = await alternate(peers, ROUNDS * 2);
    table([
      ['peer (in-process client)', 'qps median (min…max)', 'CPU µs/query median (min…max)'],
      ...peers.map((p) => [p.name, fmtSummary(result.summary[p.name]!.qps), fmtSummary(result.summary[p.name]!.cpuUsPerQuery)]),
    ]);
    const cpu = ratio(result, 'registry.query', 'pg.Pool.query', 'cpuUsPerQuery');
    const qps = ratio(result, 'registry.query', 'pg.Pool.query', 'qps');
    const control = ratio(result, 'pg.Pool.query (control)', 'pg.Pool.query', 'cpuUsPerQuery');
    const controlQps = ratio(result, 'pg.Pool.query (control)', 'pg.Pool.query', 'qps');
    const viewRatios = { qps: ratio(result, 'pgPool view.query', 'pg.Pool.query', 'qps'), cpu: ratio(result, 'pgPool view.query', 'pg.Pool.query', 'cpuUsPerQuery') };
    console.log(`  registry.query / pg.Pool.query: CPU/query ${fmtSummary(cpu)}, qps ${fmtSummary(qps)}; control CPU/query ${fmtSummary(control)}`);
    console.log(`  pgPool view.query / pg.Pool.query: CPU/query ${fmtSummary(viewRatios.cpu)}, qps ${fmtSummary(viewRatios.qps)}; control qps ${fmtSummary(controlQps)}`);
    return { summary: result.summary, perRound: result.perRound, orders: result.orders, cpu, qps, control, controlQps, view: viewRatios };
  } finally {
    await registry.close();
    await pool.end();
  }
}

if (process.argv[1]?.endsWith('overhead.bench.ts')) run(main);
