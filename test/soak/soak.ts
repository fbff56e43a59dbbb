// Chaos soak on real PostgreSQL (issue 8). `npm run soak` (60 s) or `npm run soak -- --quick` (about 10 s, CI).
// `--seed N` replays a fault schedule; the seed is printed at the start and again in the result table.
//
// A throwaway PostgreSQL 15 cluster (initdb under /tmp, free port, SCRAM passwords) sits behind the TCP fault
// proxy. Five services put mixed load on one registry (and a usage tracker on `usage`) while the seeded schedule
// terminates backends, stops and starts the whole server, refuses, stalls and cuts connections and adds latency.
// Everything the library emits (errors and their cause chains, event payloads, stats, health JSON, metrics text,
// warnings) is scanned for the passwords as it is produced. Then four child processes, each with its own registry
// and tracker, count into one table while their backends are killed. The process exits 1 when any check fails.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import {
  createHealthHandler,
  createInterferenceDetector,
  createPoolRegistry,
  createUsageTracker,
  isBulkheadError,
  isConnectionError,
  toPrometheus,
  type Lease,
} from '../../src/index';
import { startProxy } from '../helpers/tcp-proxy';
import { createCluster, type Cluster } from './cluster';
import { createScanner, mulberry32, serialize, sleep } from './scan';

// ---------------------------------------------------------------------------------------------- arguments
const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const QUICK = argv.includes('--quick');
const SEED = Number(flag('--seed') ?? Math.floor(Math.random() * 2 ** 31));
const DURATION_MS = Number(flag('--duration-ms') ?? (QUICK ? 10_000 : 60_000));
const RECOVER_MS = QUICK ? 2_500 : 6_000;
const CHILD_MS = QUICK ? 4_000 : 15_000;
/** How long past its timeout an acquire may settle before it counts as hung (event-loop lag under load). */
const SETTLE_SLACK_MS = 1_000;
/** "Serves again within a few seconds" after the last fault. */
const RECOVERY_LIMIT_MS = 5_000;
if (!Number.isSafeInteger(SEED) || !(DURATION_MS > 0)) {
  console.error('usage: soak [--quick] [--seed N] [--duration-ms MS]');
  process.exit(2);
}

const SERVICES = {
  auth: { size: 2, overflow: 2, acquireTimeoutMs: 1_500, priority: 'highest', maxWaiting: 100, validateAfterIdleMs: 500 },
  extension: { size: 2, overflow: 3, acquireTimeoutMs: 2_000, priority: 'high', maxWaiting: 100, validateAfterIdleMs: 500 },
  llm: { size: 2, overflow: 4, acquireTimeoutMs: 3_000, priority: 'medium', maxWaiting: 100, idleTimeoutMs: 2_000 },
  usage: { size: 1, overflow: 2, acquireTimeoutMs: 3_000, priority: 'low' },
  background: { size: 1, overflow: 2, acquireTimeoutMs: 2_500, priority: 'low', maxWaiting: 100, recycleMs: QUICK ? 3_000 : 10_000 },
} as const;
type Service = keyof typeof SERVICES;
const NAMES = Object.keys(SERVICES) as Service[];
/** Seed of the poison counter: bigint's maximum, so adding anything to it overflows (22003). */
const POISON_MAX_SEED = 9223372036854775807n;
const MAX_CONNECTIONS = 14;

// ---------------------------------------------------------------------------------------------- the schedule
type FaultKind = 'kill' | 'restart' | 'refuse' | 'stall' | 'cut' | 'latency';
interface Fault {
  readonly at: number;
  readonly kind: FaultKind;
  /** How long the fault lasts, ms (0: instantaneous). */
  readonly durationMs: number;
  /** kill: share of backends terminated; latency: ms each way. */
  readonly param: number;
}

function schedule(seed: number): Fault[] {
  const random = mulberry32(seed);
  const pick = (lo: number, hi: number): number => Math.round(lo + random() * (hi - lo));
  const kinds: FaultKind[] = ['kill', 'restart', 'refuse', 'stall', 'cut', 'latency'];
  // Every kind once, in a seeded order, then seeded extras while there is time.
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j] as FaultKind, kinds[i] as FaultKind];
  }
  const faults: Fault[] = [];
  const scale = QUICK ? 0.5 : 1;
  let at = 800;
  for (let n = 0; ; n++) {
    const kind = n < kinds.length ? (kinds[n] as FaultKind) : (['kill', 'kill', 'restart', 'refuse', 'stall', 'cut', 'cut', 'latency'][Math.floor(random() * 8)] as FaultKind);
    const durationMs = kind === 'kill' || kind === 'cut' ? 0 : pick(300 * scale, 1_600 * scale);
    const param = kind === 'kill' ? Math.round((0.3 + random() * 0.7) * 100) / 100 : kind === 'latency' ? pick(20, 150) : 0;
    if (n >= kinds.length && at + durationMs > DURATION_MS - RECOVER_MS) break;
    faults.push({ at, kind, durationMs, param });
    at += durationMs + (kind === 'restart' ? 400 : 0) + pick(250 * scale, 1_500 * scale);
  }
  return faults;
}

// ---------------------------------------------------------------------------------------------- main
const FAULTS = schedule(SEED);
const RUN_MS = Math.max(DURATION_MS, (FAULTS.at(-1)?.at ?? 0) + (FAULTS.at(-1)?.durationMs ?? 0) + RECOVER_MS);
const root = fileURLToPath(new URL('../..', import.meta.url));

const unhandled: string[] = [];
const uncaught: string[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(serialize(reason).slice(0, 500)));
process.on('uncaughtException', (error) => uncaught.push(serialize(error).slice(0, 500)));

// Passwords: random, with characters a URL must encode, never printed.
const USER = 'soak_user';
const PASSWORD = `Sk-${randomBytes(9).toString('base64url')}/p@ss w#rd`;
const ADMIN_PASSWORD = `Adm-${randomBytes(9).toString('base64url')}:%&`;
const scanner = createScanner([PASSWORD, ADMIN_PASSWORD]);
process.on('warning', (warning) => scanner.scan('process warning', serialize(warning)));

function log(line: string): void {
  scanner.scan('log line', line);
  console.log(line);
}

interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly figure: string;
}
const checks: Check[] = [];
const check = (name: string, ok: boolean, figure: string): void => {
  checks.push({ name, ok, figure });
};

log(`pg-bulkhead chaos soak: seed ${SEED}, ${QUICK ? 'quick' : 'full'}, ${RUN_MS} ms of load, then ${CHILD_MS} ms with 4 processes`);
log(`replay: npm run soak -- ${QUICK ? '--quick ' : ''}--seed ${SEED}`);
log('fault schedule:');
log('    at ms  fault     lasts ms  parameter');
for (const f of FAULTS) {
  const param = f.kind === 'kill' ? `${Math.round(f.param * 100)} % of backends` : f.kind === 'latency' ? `+${f.param} ms each way` : '';
  log(`  ${String(f.at).padStart(7)}  ${f.kind.padEnd(8)}  ${String(f.durationMs).padStart(8)}  ${param}`);
}

let cluster: Cluster | null = null;
let exitCode = 1;
try {
  cluster = await createCluster({ adminPassword: ADMIN_PASSWORD, database: 'soak' });
  exitCode = await soak(cluster);
} catch (error) {
  log(`soak failed to run: ${scanner.redact(serialize(error)).slice(0, 2_000)}`);
  exitCode = 1;
} finally {
  await cluster?.destroy();
}
process.exit(exitCode);

async function soak(cluster: Cluster): Promise<number> {
  const setup = new pg.Client(cluster.adminUrl('soak'));
  await setup.connect();
  await setup.query(`create role ${USER} login password '${PASSWORD.replace(/'/g, "''")}'`);
  await setup.query(`grant all on schema public to ${USER}`);
  await setup.query(`create table soak_background (id bigserial primary key, v int not null)`);
  await setup.query(`alter table soak_background owner to ${USER}`);
  await setup.end();

  const proxy = await startProxy({ host: '127.0.0.1', port: cluster.port });
  const appName = `soak-${SEED % 100_000}`;
  const direct = `postgres://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${cluster.port}/soak`;
  const registry = createPoolRegistry({
    connection: proxy.url(direct),
    applicationName: appName,
    maxConnections: MAX_CONNECTIONS,
    connectTimeoutMs: 1_500,
    maintenanceIntervalMs: 200,
    breaker: { failureThreshold: 3, initialBackoffMs: 100, maxBackoffMs: 1_000 },
    services: SERVICES,
  });
  const EVENTS = ['connect', 'connect-error', 'acquire', 'release', 'acquire-timeout', 'queue-full', 'remove', 'leak', 'error', 'resize', 'close', 'circuit', 'server-warning'] as const;
  const eventCounts: Record<string, number> = {};
  for (const event of EVENTS) {
    (registry as unknown as { on(e: string, l: (p: unknown) => void): void }).on(event, (payload) => {
      eventCounts[event] = (eventCounts[event] ?? 0) + 1;
      scanner.scan(`registry event ${event}`, serialize(payload));
    });
  }
  const usage = createUsageTracker({
    registry,
    service: 'usage',
    table: 'soak_usage',
    batchSize: 200,
    flushIntervalMs: 250,
    retryBaseMs: 100,
    retryMaxMs: 1_000,
  });
  // Recovery is measured from the end of the last fault to the first success after it, per service.
  let faultsOver = false;
  let lastFaultEnd = 0;
  const firstServedAfterFaults: Record<string, number> = {};
  const servedNow = (what: string): void => {
    if (faultsOver && firstServedAfterFaults[what] === undefined) firstServedAfterFaults[what] = performance.now();
  };
  let flushErrors = 0;
  usage.on('flush', (e) => {
    servedNow('usage (tracker flush)');
    scanner.scan('usage event flush', serialize(e));
  });
  usage.on('flush-error', (e) => {
    flushErrors++;
    scanner.scan('usage event flush-error', serialize(e));
  });
  usage.on('drop', (e) => scanner.scan('usage event drop', serialize(e)));
  usage.on('close', (e) => scanner.scan('usage event close', serialize(e)));
  await usage.ensureSchema();
  let poisonMaxMade = 0;
  const invalid = { made: 0, rejected: 0, uncoded: 0 };
  const detector = createInterferenceDetector({ registry, intervalMs: 500 });
  for (const event of ['interference', 'recovered', 'mitigation'] as const) {
    (detector as unknown as { on(e: string, l: (p: unknown) => void): void }).on(event, (payload) => scanner.scan(`detector event ${event}`, serialize(payload)));
  }
  detector.start();
  const health = createHealthHandler({ registry, detector });
  // The health body must not name the host, the user, the database or carry SQL, since nobody opted in.
  const healthForbidden = ['127.0.0.1', String(cluster.port), String(proxy.port), USER, 'soak_background', 'pg_sleep', 'select ', 'insert '];
  const healthLeaks = new Set<string>();
  // A port must stand alone: as a bare substring, 42857 is also in a utilization of 1/7 (0.142857…).
  const mentions = (text: string, word: string): boolean =>
    /^\d+$/.test(word) ? new RegExp(`(^|[^0-9.])${word}([^0-9]|$)`).test(text) : text.includes(word);

  // ------------------------------------------------------------------ admin side: sampling and kills
  let admin: pg.Client | null = null;
  const adminQuery = async <R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[] | null> => {
    try {
      if (admin === null) {
        const client = new pg.Client({ connectionString: cluster.adminUrl('soak'), application_name: 'soak-admin', connectionTimeoutMillis: 1_000 });
        client.on('error', () => {});
        await client.connect();
        admin = client;
      }
      return (await admin.query<R>(text, values)).rows;
    } catch {
      const broken = admin;
      admin = null;
      await broken?.end().catch(() => {});
      return null;
    }
  };
  // Poison the server can refuse although the input is valid: a counter at the top of bigint, so any batch that
  // adds to it fails with 22003 and must be bisected, quarantining only that row.
  if ((await adminQuery(`insert into soak_usage (key, bucket, count) values ('poison-max', 'epoch', $1) returning key`, [POISON_MAX_SEED.toString()])) === null) {
    throw new Error('soak: could not seed the poison counter');
  }

  const limitOf = (s: Service): number => SERVICES[s].size + SERVICES[s].overflow;
  const peakLive: Record<string, number> = {};
  const peakAll: Record<string, number> = {};
  let peakLiveTotal = 0;
  let samples = 0;
  const limitViolations: string[] = [];
  const sample = async (): Promise<void> => {
    const rows = await adminQuery<{ app: string; port: number | null }>(
      "select application_name as app, client_port as port from pg_stat_activity where application_name like $1 || ':%'",
      [appName],
    );
    if (rows === null) return;
    const live = proxy.upstreamPorts();
    samples++;
    const liveBy: Record<string, number> = {};
    const allBy: Record<string, number> = {};
    for (const row of rows) {
      const service = row.app.slice(appName.length + 1);
      allBy[service] = (allBy[service] ?? 0) + 1;
      if (row.port !== null && live.has(row.port)) liveBy[service] = (liveBy[service] ?? 0) + 1;
    }
    let total = 0;
    for (const service of NAMES) {
      const n = liveBy[service] ?? 0;
      total += n;
      peakLive[service] = Math.max(peakLive[service] ?? 0, n);
      peakAll[service] = Math.max(peakAll[service] ?? 0, allBy[service] ?? 0);
      if (n > limitOf(service)) limitViolations.push(`${service}: ${n} > ${limitOf(service)}`);
    }
    peakLiveTotal = Math.max(peakLiveTotal, total);
    if (total > MAX_CONNECTIONS) limitViolations.push(`total: ${total} > ${MAX_CONNECTIONS}`);
  };

  // ------------------------------------------------------------------ load
  let stopping = false;
  const started = performance.now();
  const elapsed = (): number => performance.now() - started;
  interface Pending {
    readonly service: Service;
    readonly at: number;
  }
  const pendingAcquires = new Set<Pending>();
  const acquireOutcomes: Record<string, Record<string, number>> = {};
  const queryOutcomes: Record<string, number> = {};
  const late: string[] = [];
  const uncoded: string[] = [];
  let served = 0;
  const count = (table: Record<string, number>, key: string): void => {
    table[key] = (table[key] ?? 0) + 1;
  };

  const acquire = async (service: Service): Promise<Lease | null> => {
    const entry: Pending = { service, at: performance.now() };
    pendingAcquires.add(entry);
    const outcomes = (acquireOutcomes[service] ??= {});
    try {
      const lease = await registry.acquire(service);
      count(outcomes, 'served');
      served++;
      return lease;
    } catch (error) {
      scanner.scan(`acquire rejection (${service})`, serialize(error));
      if (isBulkheadError(error)) count(outcomes, (error as { code: string }).code);
      else {
        count(outcomes, 'uncoded');
        uncoded.push(scanner.redact(serialize(error)).slice(0, 300));
      }
      return null;
    } finally {
      pendingAcquires.delete(entry);
      const waited = performance.now() - entry.at;
      if (waited > SERVICES[service].acquireTimeoutMs + SETTLE_SLACK_MS) late.push(`${service} settled after ${Math.round(waited)} ms`);
    }
  };
  const work = async (lease: Lease, fn: (lease: Lease) => Promise<void>): Promise<void> => {
    let failure: Error | undefined;
    try {
      await fn(lease);
      count(queryOutcomes, 'ok');
      servedNow(lease.service);
    } catch (error) {
      scanner.scan(`query error (${lease.service})`, serialize(error));
      const code = (error as { code?: unknown }).code;
      count(queryOutcomes, typeof code === 'string' ? code : 'other');
      if (isConnectionError(error)) failure = error as Error;
    } finally {
      lease.release(failure);
    }
  };
  const think = (lo: number, hi: number): Promise<void> => sleep(lo + Math.random() * (hi - lo));
  const loop = async (service: Service, body: (lease: Lease) => Promise<void>, pause: [number, number]): Promise<void> => {
    while (!stopping) {
      const lease = await acquire(service);
      if (lease !== null) await work(lease, body);
      else await think(20, 60);
      await think(...pause);
    }
  };
  const expected = new Map<string, number>();
  let increments = 0;
  const workers: Promise<void>[] = [];
  for (let i = 0; i < 4; i++)
    workers.push(
      loop('auth', async (l) => {
        const { rows } = await l.query<{ n: number }>('select $1::int as n', [i]);
        if (rows[0]?.n !== i) throw new Error('auth: wrong answer');
      }, [2, 10]),
    );
  for (let i = 0; i < 4; i++) workers.push(loop('extension', async (l) => void (await l.query('select pg_sleep(0.01), $1::text', [`ext-${i}`])), [5, 20]));
  for (let i = 0; i < 6; i++)
    workers.push(
      loop('llm', async (l) => {
        await l.query('select pg_sleep(0.05)');
        await think(100, 300); // awaiting the model with the connection held
        await l.query('select 1');
      }, [10, 50]),
    );
  for (let i = 0; i < 2; i++)
    workers.push(
      loop('background', async (l) => {
        await l.query('begin');
        await l.query('insert into soak_background (v) values ($1)', [i]);
        await l.query('select pg_sleep(0.1)');
        await l.query('commit');
      }, [20, 80]),
    );
  workers.push(
    (async () => {
      while (!stopping) {
        for (let i = 0; i < 25; i++) {
          const key = `k${Math.floor(Math.random() * 300)}`;
          const by = 1 + Math.floor(Math.random() * 5);
          usage.increment(key, by);
          expected.set(key, (expected.get(key) ?? 0) + by);
          increments += by;
        }
        await sleep(2);
      }
    })(),
  );
  // The poison actor: input that could never be stored, mixed into the load, must be refused at once and counted;
  // a valid increment the server refuses for good is quarantined, and neither may hold up any other key.
  workers.push(
    (async () => {
      const bad: (() => void)[] = [
        () => usage.increment(`nul-${Math.random()}\u0000`),
        () => usage.increment('x'.repeat(1_025 + Math.floor(Math.random() * 8_000))),
        () => usage.increment('k1', 1, 1e16),
        () => usage.increment('k1', 1, -1e15),
        () => usage.increment('k1', Number.MAX_SAFE_INTEGER + 2),
        () => usage.increment('k1', [0, -1 - Math.floor(Math.random() * 100), 0.5 + Math.random(), Number.NaN, Number.POSITIVE_INFINITY][Math.floor(Math.random() * 5)]),
        () => usage.increment(['', 42, null][Math.floor(Math.random() * 3)] as string),
      ];
      while (!stopping) {
        const call = bad[Math.floor(Math.random() * bad.length)] as () => void;
        invalid.made++;
        try {
          call();
        } catch (error) {
          if ((error as { code?: string }).code === 'ERR_INVALID_ARGUMENT') invalid.rejected++;
          else invalid.uncoded++;
        }
        const by = 1 + Math.floor(Math.random() * 3);
        usage.increment('poison-max', by);
        poisonMaxMade += by;
        await sleep(20);
      }
    })(),
  );
  // The surfaces a host exposes, scraped as they would be.
  workers.push(
    (async () => {
      while (!stopping) {
        scanner.scan('registry.stats()', serialize(registry.stats()));
        scanner.scan('usage.stats()', serialize(usage.stats()));
        scanner.scan('detector.health()', serialize(detector.health()));
        scanner.scan('metrics text', toPrometheus({ registry, detector, usage }));
        let body = '';
        await health({ url: '/health', method: 'GET' }, { statusCode: 0, setHeader: () => undefined, end: (b?: string) => void (body = b ?? '') });
        scanner.scan('health JSON', body);
        for (const word of healthForbidden) if (mentions(body, word)) healthLeaks.add(word);
        await sleep(250);
      }
    })(),
  );
  workers.push(
    (async () => {
      while (!stopping) {
        await sample();
        await sleep(100);
      }
    })(),
  );

  // ------------------------------------------------------------------ faults
  const random = mulberry32(SEED ^ 0x5eed);
  let killed = 0;
  const applied: string[] = [];
  for (const fault of FAULTS) {
    const wait = fault.at - elapsed();
    if (wait > 0) await sleep(wait);
    const t0 = elapsed();
    switch (fault.kind) {
      case 'kill': {
        const rows = (await adminQuery<{ pid: number }>("select pid from pg_stat_activity where application_name like $1 || ':%' order by pid", [appName])) ?? [];
        const victims = rows.filter(() => random() < fault.param).map((r) => r.pid);
        if (victims.length > 0) await adminQuery('select pg_terminate_backend(pid) from unnest($1::int[]) as pid', [victims]);
        killed += victims.length;
        break;
      }
      case 'restart':
        await cluster.stop();
        await sleep(fault.durationMs);
        await cluster.start();
        break;
      case 'refuse':
        proxy.refuse(true);
        proxy.cutAll();
        await sleep(fault.durationMs);
        proxy.refuse(false);
        break;
      case 'stall':
        proxy.stall(true);
        await sleep(fault.durationMs);
        proxy.stall(false);
        break;
      case 'cut':
        proxy.cutAll();
        break;
      case 'latency':
        proxy.latency(fault.param);
        await sleep(fault.durationMs);
        proxy.latency(0);
        break;
    }
    lastFaultEnd = performance.now();
    applied.push(`${fault.kind}@${Math.round(t0)}`);
  }
  faultsOver = true;

  // ------------------------------------------------------------------ recovery after the last fault
  const recoveryMs: Record<string, number> = {};
  const watched = [...NAMES.filter((n) => n !== 'usage'), 'usage (tracker flush)'];
  const recoveryDeadline = performance.now() + 15_000;
  while (watched.some((w) => firstServedAfterFaults[w] === undefined) && performance.now() < recoveryDeadline) await sleep(20);
  for (const w of watched) recoveryMs[w] = firstServedAfterFaults[w] === undefined ? Number.POSITIVE_INFINITY : Math.round((firstServedAfterFaults[w] as number) - lastFaultEnd);
  const rest = RUN_MS - elapsed();
  if (rest > 0) await sleep(rest);

  // ------------------------------------------------------------------ stop and close
  stopping = true;
  const loadStopped = await Promise.race([Promise.allSettled(workers).then(() => true), sleep(20_000).then(() => false)]);
  const hung = [...pendingAcquires].map((p) => `${p.service} pending for ${Math.round(performance.now() - p.at)} ms`);
  await detector.stop();
  const usageStats = usage.stats();
  let t = performance.now();
  const usageClose = await usage.close({ timeoutMs: 10_000 });
  const usageCloseMs = Math.round(performance.now() - t);
  t = performance.now();
  const registryClose = await registry.close({ timeoutMs: 5_000 });
  const registryCloseMs = Math.round(performance.now() - t);
  scanner.scan('registry close report', serialize(registryClose));
  let leftover = -1;
  const leftoverDeadline = performance.now() + 3_000;
  do {
    const rows = await adminQuery<{ n: number }>("select count(*)::int as n from pg_stat_activity where application_name like $1 || ':%'", [appName]);
    leftover = rows?.[0]?.n ?? -1;
    if (leftover === 0) break;
    await sleep(50);
  } while (performance.now() < leftoverDeadline);
  await proxy.close();

  // The rest must be exact; the poison counter is checked apart, exactly (it must never move from its seed).
  const { lost, doubled, dbTotal } = await compareTotals(adminQuery, 'soak_usage', expected, new Set(['poison-max']));
  // Exactly, as text: a JS number cannot tell the seed from the seed + 1.
  const poisonRow = await adminQuery<{ n: string }>(`select count::text as n from soak_usage where key = 'poison-max'`);
  const poisonUntouched = poisonRow?.[0]?.n === POISON_MAX_SEED.toString();
  const poisonLeft = [...usageClose.unwritten, ...(usageClose.inDoubt?.rows ?? [])].filter((r) => r.key === 'poison-max').reduce((n, r) => n + r.count, 0);
  const usageAfter = usage.stats();
  const memoryBoundHit = usageStats.droppedCalls > 0 || usageClose.unwrittenIncrements > 0;

  // ------------------------------------------------------------------ four processes, one table, backend kills
  const multi = await multiProcess(cluster, appName, adminQuery);
  await (admin as pg.Client | null)?.end().catch(() => {});

  // ------------------------------------------------------------------ verdict
  const totalAcquires = Object.values(acquireOutcomes).reduce((a, o) => a + Object.values(o).reduce((x, y) => x + y, 0), 0);
  const outcomeText = NAMES.filter((s) => s !== 'usage').map((s) => `${s} ${Object.entries(acquireOutcomes[s] ?? {}).map(([k, v]) => `${k}:${v}`).join(' ')}`).join('; ');
  check('process never crashed (no uncaught exception)', uncaught.length === 0, uncaught.length === 0 ? '0' : `${uncaught.length}: ${scanner.redact(uncaught[0] ?? '')}`);
  check('zero unhandled rejections', unhandled.length === 0, unhandled.length === 0 ? '0' : `${unhandled.length}: ${scanner.redact(unhandled[0] ?? '')}`);
  check('load stopped (no worker stuck)', loadStopped, loadStopped ? 'yes' : 'workers still running after 20 s');
  check(
    'every acquire settled within its timeout (+1 s), coded when rejected',
    hung.length === 0 && late.length === 0 && uncoded.length === 0,
    `${totalAcquires} acquires, ${served} served, ${hung.length} hung, ${late.length} late, ${uncoded.length} uncoded${late[0] ? ` (${late[0]})` : ''}${uncoded[0] ? ` (${uncoded[0]})` : ''}`,
  );
  check(
    'server connections per application_name never above the limits',
    limitViolations.length === 0,
    `${samples} samples; peak live ${NAMES.map((s) => `${s} ${peakLive[s] ?? 0}/${limitOf(s)}`).join(', ')}, total ${peakLiveTotal}/${MAX_CONNECTIONS}${limitViolations[0] ? `; first violation ${limitViolations[0]}` : ''}`,
  );
  const worstRecovery = Math.max(...Object.values(recoveryMs));
  check(
    `every service serves again within ${RECOVERY_LIMIT_MS / 1000} s of the last fault`,
    worstRecovery <= RECOVERY_LIMIT_MS,
    Object.entries(recoveryMs).map(([s, ms]) => `${s} ${ms} ms`).join(', '),
  );
  check(
    'usage totals exact (none lost, none double counted)',
    memoryBoundHit || (lost === 0 && doubled === 0),
    `${increments} increments made, ${dbTotal} in the database, ${lost} lost, ${doubled} doubled${memoryBoundHit ? ' (memory bound hit: not asserted)' : ''}; ${flushErrors} failed writes retried`,
  );
  check(
    'poison input: every invalid increment refused (coded) and counted; the refused counter quarantined, never written',
    invalid.uncoded === 0 && invalid.rejected === invalid.made && usageAfter.rejectedCalls === invalid.made && usageAfter.quarantinedIncrements + poisonLeft === poisonMaxMade && poisonUntouched,
    `${invalid.made} invalid calls, ${invalid.rejected} refused, ${usageAfter.rejectedCalls} counted, ${invalid.uncoded} uncoded; poison-max ${poisonMaxMade} made, ${usageAfter.quarantinedIncrements} quarantined in ${usageAfter.quarantinedRows} rows, ${poisonLeft} left at close, database row ${poisonUntouched ? 'untouched' : `changed to ${poisonRow?.[0]?.n}`}`,
  );
  check('usage.close() within its timeout, clean', usageClose.clean && usageCloseMs <= 10_000 + SETTLE_SLACK_MS, `${usageCloseMs} ms, clean ${usageClose.clean}`);
  check('registry.close() within its timeout, clean', registryClose.clean && registryCloseMs <= 5_000 + SETTLE_SLACK_MS, `${registryCloseMs} ms, clean ${registryClose.clean}`);
  check('no connection left on the server after close', leftover === 0, `${leftover} left`);
  check('health JSON names no host, port, user, table or SQL', healthLeaks.size === 0, healthLeaks.size === 0 ? 'none' : `found ${[...healthLeaks].join(', ')}`);
  check(
    '4 processes: totals exact, no deadlock, no crash',
    multi.ok,
    multi.figure,
  );
  check('passwords never in anything captured', scanner.leaks.length === 0 && multi.leaks === 0, `${scanner.items} items, ${(scanner.bytes / 1e6).toFixed(1)} MB scanned (+ children: ${multi.leaks} leaks); ${scanner.leaks.length} leaks${scanner.leaks[0] ? ` (${scanner.leaks[0]})` : ''}`);

  const width = Math.max(...checks.map((c) => c.name.length));
  log('');
  log(`result (seed ${SEED}, ${QUICK ? 'quick' : 'full'}, ${Math.round(RUN_MS / 1000)} s, faults applied: ${applied.join(' ')}; ${killed} backends terminated)`);
  log(`  ${'check'.padEnd(width)}  ok    figure`);
  for (const c of checks) log(`  ${c.name.padEnd(width)}  ${c.ok ? 'PASS' : 'FAIL'}  ${c.figure}`);
  log(`  acquire outcomes: ${outcomeText}`);
  log(`  query outcomes: ${Object.entries(queryOutcomes).map(([k, v]) => `${k}:${v}`).join(' ')}`);
  log(`  events: ${Object.entries(eventCounts).map(([k, v]) => `${k}:${v}`).join(' ')}`);
  log(`  peak backends incl. orphans of cut connections: ${NAMES.map((s) => `${s} ${peakAll[s] ?? 0}`).join(', ')}`);
  const failed = checks.filter((c) => !c.ok);
  log(failed.length === 0 ? 'SOAK PASSED' : `SOAK FAILED: ${failed.map((c) => c.name).join('; ')}`);
  return failed.length === 0 ? 0 : 1;
}

async function multiProcess(
  cluster: Cluster,
  appName: string,
  adminQuery: AdminQuery,
): Promise<{ ok: boolean; figure: string; leaks: number }> {
  const url = `postgres://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${cluster.port}/soak`;
  const prefix = `${appName}-w`;
  const children = Array.from({ length: 4 }, (_, i) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/soak/worker.ts'], {
      cwd: root,
      env: { ...process.env, SOAK_URL: url, SOAK_APP: `${prefix}${i}`, SOAK_MS: String(CHILD_MS), SOAK_SEED: String(SEED + i) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_MS + 40_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
    return done;
  });
  const random = mulberry32(SEED ^ 0xc41d);
  let kills = 0;
  let running = true;
  const killer = (async () => {
    await sleep(500);
    while (running) {
      const rows = (await adminQuery<{ pid: number }>("select pid from pg_stat_activity where application_name like $1 || '%' order by pid", [prefix])) ?? [];
      const victims = rows.filter(() => random() < 0.5).map((r) => r.pid);
      if (victims.length > 0) await adminQuery('select pg_terminate_backend(pid) from unnest($1::int[]) as pid', [victims]);
      kills += victims.length;
      await sleep(200 + random() * 500);
    }
  })();
  const results = await Promise.all(children);
  running = false;
  await killer;
  let leaks = 0;
  const expected = new Map<string, number>();
  let deadlocks = 0;
  let failedWrites = 0;
  const problems: string[] = [];
  for (const [i, r] of results.entries()) {
    for (const secret of [PASSWORD, encodeURIComponent(PASSWORD)]) if (r.stdout.includes(secret) || r.stderr.includes(secret)) leaks++;
    const line = r.stdout.trim().split('\n').at(-1) ?? '';
    let parsed: { expected: Record<string, number>; dropped: number; clean: boolean; deadlocks: number; failedWrites: number; unhandled: number; leaks: number } | null = null;
    try {
      parsed = JSON.parse(line);
    } catch {
      problems.push(`child ${i} exited ${r.code} without a result: ${scannerRedact(r.stderr).slice(0, 300)}`);
    }
    if (r.code !== 0) problems.push(`child ${i} exited with ${r.code}`);
    if (parsed === null) continue;
    for (const [key, n] of Object.entries(parsed.expected)) expected.set(key, (expected.get(key) ?? 0) + n);
    deadlocks += parsed.deadlocks;
    failedWrites += parsed.failedWrites;
    leaks += parsed.leaks;
    if (!parsed.clean || parsed.dropped > 0) problems.push(`child ${i}: close clean ${parsed.clean}, dropped ${parsed.dropped}`);
    if (parsed.unhandled > 0) problems.push(`child ${i}: ${parsed.unhandled} unhandled rejections`);
  }
  const { lost, doubled } = await compareTotals(adminQuery, 'soak_multi_usage', expected);
  const made = [...expected.values()].reduce((a, b) => a + b, 0);
  const ok = problems.length === 0 && lost === 0 && doubled === 0 && deadlocks === 0 && made > 0;
  return {
    ok,
    leaks,
    figure: `${made} increments, ${lost} lost, ${doubled} doubled, ${deadlocks} deadlocks, ${failedWrites} failed writes retried, ${kills} backends killed${problems[0] ? `; ${problems[0]}` : ''}`,
  };
}

type AdminQuery = <R extends pg.QueryResultRow>(text: string, values?: unknown[]) => Promise<R[] | null>;

/** Database totals of a usage table against the increments made: what was lost and what was counted twice. */
async function compareTotals(adminQuery: AdminQuery, table: string, expected: ReadonlyMap<string, number>, exclude: ReadonlySet<string> = new Set()): Promise<{ lost: number; doubled: number; dbTotal: number }> {
  const totals = new Map<string, number>();
  for (const row of (await adminQuery<{ key: string; n: string }>(`select key, count::text as n from ${table}`)) ?? []) if (!exclude.has(row.key)) totals.set(row.key, Number(row.n));
  let lost = 0;
  let doubled = 0;
  for (const key of new Set([...expected.keys(), ...totals.keys()])) {
    const diff = (totals.get(key) ?? 0) - (expected.get(key) ?? 0);
    if (diff < 0) lost -= diff;
    else doubled += diff;
  }
  return { lost, doubled, dbTotal: [...totals.values()].reduce((a, b) => a + b, 0) };
}

function scannerRedact(text: string): string {
  return scanner.redact(text);
}
