/**
 * Bench 3, usage writes.
 *  a) A request handler (auth lookup + count the call) that does `UPDATE … SET count = count + 1` per request,
 *     as the original system did, versus `usage.increment` with batched flushes: requests per second, rows
 *     written, and the auth lookup latency while each runs.
 *  b) The raw hot path: `usage.increment` over 10,000 keys, against a plain `Map` as the floor (target ≥ 5 M/s).
 *  c) Time to flush 10,000 and 100,000 pending keys through the built-in PostgreSQL sink.
 *
 *   npm run bench -- --only usage [--quick]
 */
import pg from 'pg';
import { createPoolRegistry, createUsageTracker, servicePresets } from '../src/index';
import { alternate, databaseUrl, fmt, fmtSummary, heading, percentile, quick, ratio, run, runId, table, target, writeResults, type Peer , withAdminClient } from './lib/harness';

const LOOPS = 50;
const KEYS = 1_000;
const TRIAL_MS = quick ? 200 : 1_500;
const ROUNDS = quick ? 2 : 4;
const HOT_KEYS = 10_000;
const HOT_INCREMENTS = quick ? 1_000_000 : 10_000_000;
const HOT_ROUNDS = quick ? 2 : 6;
const FLUSH_SIZES = quick ? [1_000, 10_000] : [10_000, 100_000];
const FLUSH_ROUNDS = quick ? 1 : 3;
const users = `bench_usage_users_${runId}`;
const counters = `bench_usage_upd_${runId}`;
const trackerTable = `bench_usage_ctr_${runId}`;
const flushTable = `bench_usage_flush_${runId}`;
const TRACKER = { batchSize: 1_000, flushIntervalMs: 1_000 };

interface HandlerFigures extends Record<string, number> {
  rps: number;
  authP50: number;
  authP99: number;
  rowsWritten: number;
}

const admin = <T>(fn: (client: pg.Client) => Promise<T>): Promise<T> => withAdminClient('usage', fn);

async function handlers(): Promise<Record<string, unknown>> {
  const registry = createPoolRegistry({
    connection: databaseUrl,
    applicationName: `bench-usage-${runId}`.slice(0, 40),
    services: { auth: servicePresets.auth, usage: servicePresets.usage },
  });
  const usage = createUsageTracker({ registry, service: 'usage', table: trackerTable, ...TRACKER });
  await usage.ensureSchema();
  const keys = Array.from({ length: KEYS }, (_, i) => `ext:${i}:calls`);
  const lookup = `select name from ${users} where id = $1`;
  try {
    const trial = (count: (key: string) => Promise<unknown> | void, rowsWritten: () => Promise<number> | number) => async (): Promise<HandlerFigures> => {
      const latencies: number[] = [];
      let requests = 0;
      let stop = false;
      const rowsBefore = await rowsWritten();
      const started = performance.now();
      const timer = setTimeout(() => (stop = true), TRIAL_MS);
      await Promise.all(
        Array.from({ length: LOOPS }, async () => {
          while (!stop) {
            const t0 = performance.now();
            await registry.query('auth', lookup, [1 + Math.floor(Math.random() * 10_000)]);
            latencies.push(performance.now() - t0);
            await count(keys[Math.floor(Math.random() * KEYS)] as string);
            requests++;
          }
        }),
      );
      clearTimeout(timer);
      const elapsed = performance.now() - started;
      // The tracker's rows are those its flushes wrote in this trial (a final flush is included: they are owed).
      const rows = (await rowsWritten()) - rowsBefore;
      latencies.sort((a, b) => a - b);
      return { rps: (requests * 1000) / elapsed, authP50: percentile(latencies, 0.5), authP99: percentile(latencies, 0.99), rowsWritten: rows };
    };
    let updates = 0;
    const peers: Peer<HandlerFigures>[] = [
      {
        name: 'UPDATE per request',
        trial: trial(
          async (key) => {
            await registry.query('usage', `update ${counters} set count = count + 1 where key = $1`, [key]);
            updates++;
          },
          () => updates,
        ),
      },
      {
        name: 'usage.increment',
        trial: trial(
          (key) => usage.increment(key),
          async () => {
            await usage.flush();
            return usage.stats().flushedRows;
          },
        ),
      },
    ];
    const result = await alternate(peers, ROUNDS);
    const rpsRatio = ratio(result, 'usage.increment', 'UPDATE per request', 'rps');
    const p99Ratio = ratio(result, 'usage.increment', 'UPDATE per request', 'authP99');
    table([
      ['handler', 'requests/s', 'rows written / trial', 'auth p50 ms', 'auth p99 ms'],
      ...peers.map((p) => {
        const s = result.summary[p.name]!;
        return [p.name, fmtSummary(s.rps), fmtSummary(s.rowsWritten), fmtSummary(s.authP50), fmtSummary(s.authP99)];
      }),
    ]);
    console.log(`  ratio usage.increment / UPDATE: rps ${fmtSummary(rpsRatio)}, auth p99 ${fmtSummary(p99Ratio)}`);
    return { settings: { loops: LOOPS, keys: KEYS, trialMs: TRIAL_MS, rounds: ROUNDS, tracker: TRACKER, presets: ['auth', 'usage'] }, summary: result.summary, perRound: result.perRound, ratios: { rps: rpsRatio, authP99: p99Ratio } };
  } finally {
    await usage.close({ timeoutMs: 5_000 });
    await registry.close();
  }
}

function hotPath(): Record<string, unknown> {
  const keys = Array.from({ length: HOT_KEYS }, (_, i) => `ext:${i}:calls`);
  // A custom sink that never runs: batchSize above the key count, so no flush is triggered while timing.
  const usage = createUsageTracker({ sink: async () => {}, batchSize: HOT_KEYS + 1, maxPendingKeys: HOT_KEYS + 1, flushIntervalMs: 3_600_000 });
  const map = new Map<string, number>();
  const peers: { name: string; trial: () => number }[] = [
    {
      name: 'usage.increment',
      trial: () => {
        const t0 = performance.now();
        for (let i = 0, k = 0; i < HOT_INCREMENTS; i++) {
          usage.increment(keys[k] as string);
          if (++k === HOT_KEYS) k = 0;
        }
        return HOT_INCREMENTS / ((performance.now() - t0) / 1000);
      },
    },
    {
      name: 'Map.set(get + 1)',
      trial: () => {
        const t0 = performance.now();
        for (let i = 0, k = 0; i < HOT_INCREMENTS; i++) {
          const key = keys[k] as string;
          map.set(key, (map.get(key) ?? 0) + 1);
          if (++k === HOT_KEYS) k = 0;
        }
        return HOT_INCREMENTS / ((performance.now() - t0) / 1000);
      },
    },
  ];
  peers.push({ name: 'usage.increment (control)', trial: peers[0]!.trial });
  const perRound: Record<string, number[]> = {};
  for (let round = 0; round < HOT_ROUNDS; round++) {
    const order = round % 2 === 0 ? peers : [...peers].reverse();
    for (const p of order) (perRound[p.name] ??= []).push(p.trial());
  }
  const asRounds = { perRound: Object.fromEntries(Object.entries(perRound).map(([k, v]) => [k, { ops: v }])), summary: {}, orders: [] };
  const vsMap = ratio(asRounds, 'usage.increment', 'Map.set(get + 1)', 'ops');
  const control = ratio(asRounds, 'usage.increment (control)', 'usage.increment', 'ops');
  const summary = Object.fromEntries(Object.entries(perRound).map(([k, v]) => [k, { min: Math.min(...v), median: [...v].sort((a, b) => a - b)[v.length >> 1]!, max: Math.max(...v) }]));
  table([['hot path, 10,000 keys', 'increments/s median (min…max)'], ...Object.entries(summary).map(([k, s]) => [k, fmtSummary(s)])]);
  console.log(`  ratio usage.increment / Map: ${fmtSummary(vsMap)}; control usage/usage: ${fmtSummary(control)}`);
  void usage.close({ timeoutMs: 0 });
  return { settings: { keys: HOT_KEYS, incrementsPerTrial: HOT_INCREMENTS, rounds: HOT_ROUNDS }, summary, perRound, ratios: { vsMap, control } };
}

async function flushes(): Promise<Record<string, unknown>> {
  const registry = createPoolRegistry({
    connection: databaseUrl,
    applicationName: `bench-flush-${runId}`.slice(0, 40),
    services: { usage: servicePresets.usage },
  });
  const largest = Math.max(...FLUSH_SIZES);
  const usage = createUsageTracker({ registry, service: 'usage', table: flushTable, batchSize: largest + 1, maxPendingKeys: largest + 1, flushIntervalMs: 3_600_000 });
  await usage.ensureSchema();
  const out: Record<string, { ms: number[]; usPerKey: number[] }> = {};
  try {
    for (let round = 0; round < FLUSH_ROUNDS; round++) {
      for (const size of round % 2 === 0 ? FLUSH_SIZES : [...FLUSH_SIZES].reverse()) {
        // Fresh keys every time, so each flush inserts the same number of new rows.
        for (let i = 0; i < size; i++) usage.increment(`r${round}:n${size}:k${i}`, 1 + (i % 7));
        const t0 = performance.now();
        const report = await usage.flush();
        const ms = performance.now() - t0;
        if (!report.ok || report.rows !== size) throw new Error(`flush of ${size} keys: ${report.error?.message ?? `${report.rows} rows`}`);
        const slot = (out[String(size)] ??= { ms: [], usPerKey: [] });
        slot.ms.push(ms);
        slot.usPerKey.push((ms * 1000) / size);
      }
    }
  } finally {
    await usage.close({ timeoutMs: 5_000 });
    await registry.close();
  }
  const summary = Object.fromEntries(
    Object.entries(out).map(([size, v]) => {
      const sorted = [...v.ms].sort((a, b) => a - b);
      return [size, { ms: { min: sorted[0]!, median: sorted[sorted.length >> 1]!, max: sorted[sorted.length - 1]! }, usPerKeyMedian: (sorted[sorted.length >> 1]! * 1000) / Number(size) }];
    }),
  );
  table([['flush (built-in sink, chunkSize 5000)', 'ms median (min…max)', 'µs per key'], ...Object.entries(summary).map(([size, s]) => [`${Number(size).toLocaleString('en-US')} pending keys`, fmtSummary(s.ms), fmt(s.usPerKeyMedian)])]);
  return { settings: { sizes: FLUSH_SIZES, rounds: FLUSH_ROUNDS, chunkSize: 5_000 }, summary, perRound: out };
}

async function main(): Promise<void> {
  heading(`usage writes: ${LOOPS} loops, ${KEYS} keys, ${ROUNDS} rounds × ${TRIAL_MS} ms; hot path ${HOT_KEYS} keys; flush ${FLUSH_SIZES.join(' / ')} keys`);
  await admin(async (c) => {
    await c.query(`create table ${users} (id int primary key, name text not null)`);
    await c.query(`insert into ${users} select g, 'user ' || g from generate_series(1, 10000) g`);
    await c.query(`create table ${counters} (key text primary key, count bigint not null default 0)`);
    await c.query(`insert into ${counters} select 'ext:' || g || ':calls', 0 from generate_series(0, ${KEYS - 1}) g`);
  });
  try {
    const handler = await handlers();
    console.log('');
    const hot = hotPath();
    console.log('');
    const flush = await flushes();
    const hotMedian = (hot.summary as Record<string, { median: number }>)['usage.increment']!.median;
    const targets = [target('hot path ≥ 5 M increments/s over 10,000 keys', hotMedian >= 5e6, `median ${fmt(hotMedian)}/s`)];
    await writeResults('usage', { handler: handler.settings, hotPath: hot.settings, flush: flush.settings }, { handler, hotPath: hot, flush, targets });
  } finally {
    await admin(async (c) => {
      for (const t of [users, counters, trackerTable, `${trackerTable}_ledger`, flushTable, `${flushTable}_ledger`]) await c.query(`drop table if exists ${t}`);
    });
  }
}

run(main);
