/**
 * Diagnostic (not part of `npm run bench`): the first second of the isolation bench's flood, repeated, with every
 * auth request timed in parts (wait for a connection, query) and every connection opened and closed per service.
 *
 * Kinds: `registry` (presets, as the bench), `registry-nograce` (preemptGraceMs 60 s: auth's spares are never
 * taken), `registry-auth3` (auth warmed up with 3 requests only: no spares to take), `dedicated` (as the bench),
 * `dedicated-warm` (its flood pool's 16 connections opened beforehand), `dedicated-3-21[-warm]` (auth 3, flood 21:
 * what the registry gave each side once auth's spares were taken). Prints, per kind, auth's p50 / p99 / max over the
 * flood's first 500 ms with the wait and query parts, connections opened and closed per service, where the
 * machine's CPU went, and event-loop stalls.
 *
 *   flock /tmp/bench.lock node --import tsx bench/onset-probe.ts [rounds] [kind,kind…]
 */
import pg from 'pg';
import { createPoolRegistry, servicePresets } from '../src/index';
import { cpuBetween, startCpuSampler } from './lib/cpu';
import { databaseUrl, percentile, runId, sleep, withAdminClient } from './lib/harness';
import { arrivals, holdInTransaction } from './lib/load';

const TOTAL = 24;
const HOLD_MS = 200;
const FLOOD_RATE = (3 * TOTAL * 1000) / HOLD_MS;
const AUTH_RATE = 100;
const UNLOADED = 1_000;
const FLOOD = 1_000;
const USERS = 10_000;
const table_ = `bench_probe_users_${runId}`;
const lookup = `select name from ${table_} where id = $1`;
const work = `select count(*) from ${table_} where id between $1 and $1 + 50`;
const rounds = Number(process.argv[2] ?? 6);
const kinds = (process.argv[3] ?? 'registry,dedicated').split(',');

interface AuthSample {
  t: number;
  waitMs: number;
  queryMs: number;
  totalMs: number;
}
interface Probe {
  auth(): Promise<{ waitMs: number; queryMs: number }>;
  flood(service: 'extension' | 'llm'): Promise<unknown>;
  ready(): Promise<void>;
  conns: { t: number; service: string; what: '+' | '-'; reason?: string }[];
  close(): Promise<void>;
}

function registryProbe(variant: string): Probe {
  const services = { auth: servicePresets.auth, extension: servicePresets.extension, llm: servicePresets.llm };
  const registry = createPoolRegistry({ connection: databaseUrl, applicationName: `probe-${runId}`.slice(0, 40), services, maxConnections: TOTAL, preemptGraceMs: variant === 'registry-nograce' ? 60_000 : undefined });
  const conns: Probe['conns'] = [];
  registry.on('connect', (e) => conns.push({ t: performance.now(), service: e.service, what: '+' }));
  registry.on('remove', (e) => conns.push({ t: performance.now(), service: e.service, what: '-', reason: e.reason }));
  return {
    conns,
    async auth() {
      const t0 = performance.now();
      const lease = await registry.acquire('auth');
      const t1 = performance.now();
      try {
        await lease.query(lookup, [1 + Math.floor(Math.random() * USERS)]);
      } finally {
        lease.release();
      }
      return { waitMs: t1 - t0, queryMs: performance.now() - t1 };
    },
    flood: (service) =>
      registry.transaction(service, async (client) => {
        await client.query(work, [Math.floor(Math.random() * USERS)]);
        await sleep(HOLD_MS);
      }),
    async ready() {
      const deadline = performance.now() + 10_000;
      const opened = () => Object.values(registry.stats().services).every((s) => s.total >= s.guaranteedSize);
      while (!opened() && performance.now() < deadline) await sleep(20);
    },
    close: async () => void (await registry.close({ timeoutMs: 500 })),
  };
}

function dedicatedProbe(authMax = 8, floodMax = 16, warmFlood = false): Probe {
  const conns: Probe['conns'] = [];
  const make = (max: number, label: string) => {
    const pool = new pg.Pool({ connectionString: databaseUrl, max, connectionTimeoutMillis: 30_000, application_name: `probe-${label}-${runId}`.slice(0, 40) });
    pool.on('error', () => {});
    pool.on('connect', () => conns.push({ t: performance.now(), service: label, what: '+' }));
    pool.on('remove', () => conns.push({ t: performance.now(), service: label, what: '-' }));
    return pool;
  };
  const authPool = make(authMax, 'auth');
  const floodPool = make(floodMax, 'flood');
  return {
    conns,
    async auth() {
      const t0 = performance.now();
      const client = await authPool.connect();
      const t1 = performance.now();
      try {
        await client.query(lookup, [1 + Math.floor(Math.random() * USERS)]);
      } finally {
        client.release();
      }
      return { waitMs: t1 - t0, queryMs: performance.now() - t1 };
    },
    flood: () => holdInTransaction(floodPool, work, [Math.floor(Math.random() * USERS)], HOLD_MS),
    ready: async () => {
      if (warmFlood) (await Promise.all(Array.from({ length: floodMax }, () => floodPool.connect()))).forEach((c) => c.release());
    },
    close: async () => {
      await Promise.all([authPool.end(), floodPool.end()]);
    },
  };
}


async function once(kind: string) {
  const sampler = startCpuSampler();
  const probe = kind === 'dedicated' ? dedicatedProbe() : kind === 'dedicated-3-21' ? dedicatedProbe(3, 21) : kind === 'dedicated-warm' ? dedicatedProbe(8, 16, true) : kind === 'dedicated-3-21-warm' ? dedicatedProbe(3, 21, true) : registryProbe(kind);
  await Promise.all(Array.from({ length: kind === 'registry-auth3' ? 3 : 30 }, () => probe.auth()));
  await probe.ready();
  await sleep(500);
  const start = performance.now() + 50;
  const onset = start + UNLOADED;
  const end = onset + FLOOD;
  for (const at of [onset - 500, onset, onset + 500]) setTimeout(() => sampler.mark(), at - performance.now());
  setTimeout(() => console.log(`ONSET ${kind} ${Number(process.hrtime.bigint() / 1000n)}`), onset - performance.now());
  const samples: AuthSample[] = [];
  const lags: { t: number; ms: number }[] = [];
  let last = performance.now();
  const lagTimer = setInterval(() => {
    const now = performance.now();
    if (now - last > 6) lags.push({ t: now - onset, ms: now - last - 1 });
    last = now;
  }, 1);
  const inflight: Promise<unknown>[] = [];
  const a = arrivals(AUTH_RATE, start, end, () => {
    const t = performance.now();
    inflight.push(probe.auth().then((r) => void samples.push({ t: t - onset, ...r, totalMs: performance.now() - t }), () => {}));
  });
  let n = 0;
  const f = arrivals(FLOOD_RATE, onset, end, () => {
    n++;
    inflight.push(probe.flood(n % 3 === 0 ? 'extension' : 'llm').catch(() => {}));
  });
  await Promise.all([a, f]);
  clearInterval(lagTimer);
  await Promise.race([sleep(1_000), Promise.allSettled(inflight)]);
  await probe.close();
  const snaps = await sampler.stop();
  const cpuPre = cpuBetween(snaps[0], snaps[1], 2);
  const cpuOn = cpuBetween(snaps[1], snaps[2], 2);
  const conns = probe.conns.filter((c) => c.t >= onset - 1 && c.t < end).map((c) => ({ ...c, t: c.t - onset }));
  return { kind, samples, lags, conns, cpuPre, cpuOn };
}

async function main() {
  await withAdminClient('probe', async (c) => {
    await c.query(`create table ${table_} (id int primary key, name text not null)`);
    await c.query(`insert into ${table_} select g, 'user ' || g from generate_series(1, ${USERS}) g`);
    await c.query(`analyze ${table_}`);
  });
  const all: Awaited<ReturnType<typeof once>>[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      for (const kind of r % 2 === 0 ? kinds : [...kinds].reverse()) {
        all.push(await once(kind));
        await sleep(500);
      }
    }
  } finally {
    await withAdminClient('probe', (c) => c.query(`drop table if exists ${table_}`));
  }
  for (const kind of kinds) {
    const runs = all.filter((r) => r.kind === kind);
    const onsetOf = (r: (typeof runs)[number]) => r.samples.filter((s) => s.t >= 0 && s.t < 500);
    const pooled = runs.flatMap(onsetOf);
    const sorted = (xs: number[]) => [...xs].sort((x, y) => x - y);
    const pre = sorted(runs.flatMap((r) => r.samples.filter((s) => s.t < 0).map((s) => s.totalMs)));
    console.log(`\n== ${kind}: ${runs.length} runs; unloaded p99 ${percentile(pre, 0.99).toFixed(2)}; onset (first 500 ms) n=${pooled.length} p50 ${percentile(sorted(pooled.map((s) => s.totalMs)), 0.5).toFixed(2)} p99 ${percentile(sorted(pooled.map((s) => s.totalMs)), 0.99).toFixed(2)} max ${Math.max(...pooled.map((s) => s.totalMs)).toFixed(1)}; wait p99 ${percentile(sorted(pooled.map((s) => s.waitMs)), 0.99).toFixed(2)} max ${Math.max(...pooled.map((s) => s.waitMs)).toFixed(1)}; query p99 ${percentile(sorted(pooled.map((s) => s.queryMs)), 0.99).toFixed(2)}`);
    const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1] as number;
    console.log(`   cpu (median of runs) 500 ms before: busy ${med(runs.map((r) => r.cpuPre.machineBusy)).toFixed(2)} pg ${med(runs.map((r) => r.cpuPre.postgresCores)).toFixed(2)} self ${med(runs.map((r) => r.cpuPre.selfCores)).toFixed(2)} other ${med(runs.map((r) => r.cpuPre.otherCores)).toFixed(2)}; first 500 ms: busy ${med(runs.map((r) => r.cpuOn.machineBusy)).toFixed(2)} pg ${med(runs.map((r) => r.cpuOn.postgresCores)).toFixed(2)} self ${med(runs.map((r) => r.cpuOn.selfCores)).toFixed(2)} other ${med(runs.map((r) => r.cpuOn.otherCores)).toFixed(2)}`);
    for (const [i, r] of runs.entries()) {
      const on = onsetOf(r);
      const worst = [...on].sort((x, y) => y.totalMs - x.totalMs).slice(0, 3);
      const per = (what: string) => {
        const m = new Map<string, number>();
        for (const c of r.conns) if (c.what === what && c.t < 500) m.set(c.service + (c.reason ? `/${c.reason}` : ''), (m.get(c.service + (c.reason ? `/${c.reason}` : '')) ?? 0) + 1);
        return [...m].map(([k, v]) => `${k} ${v}`).join(', ');
      };
      const opens = r.conns.filter((c) => c.what === '+' && c.t < 500).map((c) => c.t);
      const lagOn = r.lags.filter((l) => l.t >= 0 && l.t < 500);
      console.log(
        `  run ${i}: onset max ${on.length ? Math.max(...on.map((s) => s.totalMs)).toFixed(1) : '-'}; worst ${worst.map((s) => `t=${s.t.toFixed(0)} wait ${s.waitMs.toFixed(1)} query ${s.queryMs.toFixed(1)}`).join(' | ')}; opened [${per('+')}] ${opens.length ? `${Math.min(...opens).toFixed(0)}..${Math.max(...opens).toFixed(0)} ms` : ''}; closed [${per('-')}]; cpu busy ${r.cpuOn.machineBusy.toFixed(2)} pg ${r.cpuOn.postgresCores.toFixed(2)} other ${r.cpuOn.otherCores.toFixed(2)}; loop lags>6ms in onset: ${lagOn.map((l) => `${l.t.toFixed(0)}:${l.ms.toFixed(0)}`).join(' ')}`,
      );
    }
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
