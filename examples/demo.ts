/**
 * The original incident in under 30 seconds: LLM handlers that hold a database connection while they await a
 * model starve authentication on one shared pool; with one bulkhead pool per service (same 12 connections in
 * all), auth is untouched, the usage tracker counts every request, and the interference detector says what it saw
 * and what it recommends, in its own words (nothing in the detector's section is written by the demo).
 *
 *   npm run demo                              # embedded PostgreSQL (pg-mem), no server needed
 *   DATABASE_URL=postgres://… npm run demo    # the same story on a real server
 *   npm run demo -- --quick                   # shorter phases (used by the tests)
 *   npm run demo -- --board                   # also serve the live board while the bulkheads run (20 s phases)
 *
 * Exit code: 0 when the bulkheads protected auth (no failed auth request), 1 when they did not, 2 on a crash.
 */
import {
  createBoardHandler,
  createInterferenceDetector,
  createPoolRegistry,
  createUsageTracker,
  isBulkheadError,
  type ClientConstructor,
  type ClientLike,
  type Incident,
  type InterferenceDetector,
  type UsageTracker,
  type PoolRegistry,
  type Recommendation,
} from '../src/index';

const quick = process.argv.includes('--quick');
const boardRequested = process.argv.includes('--board');
const phaseMs = quick ? 1_500 : boardRequested ? 20_000 : 6_000;
const url = process.env.DATABASE_URL || undefined;
const live = process.stdout.isTTY === true;
/** Every request gives up after 500 ms: a login page will not wait longer. */
const acquireTimeoutMs = 500;
/** Simulated model latency: the llm handler holds its connection all that time. */
const modelMs = 300;
/** Unique names, so concurrent runs on one real server never see each other's tables or sessions. */
const tag = `demo_${process.pid}`;

async function backend(): Promise<{ label: string; connection?: string; Client?: ClientConstructor }> {
  if (url !== undefined) return { label: 'real PostgreSQL (DATABASE_URL)', connection: url };
  const { newDb } = await import('pg-mem');
  const db = newDb();
  return { label: 'embedded pg-mem (set DATABASE_URL to use a real server)', Client: db.adapters.createPg().Client as ClientConstructor };
}

type Traffic = 'auth' | 'extension' | 'llm';

interface Tally {
  ok: number;
  failed: number;
  timeouts: number;
  readonly times: number[];
}

interface PhaseResult {
  readonly name: string;
  readonly tallies: Readonly<Record<Traffic, Tally>>;
}

function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sends the three kinds of traffic for `phaseMs`: auth lookups every 20 ms, extension calls every 40 ms (both
 * short queries), and 40 llm workers that each hold a connection for a 300 ms "model call". `route` says which
 * service of the registry each kind goes to; `onServed` is called for every successful request.
 */
async function phase<S extends string>(
  name: string,
  registry: PoolRegistry<S, ClientLike>,
  route: Readonly<Record<Traffic, S>>,
  onServed: (kind: Traffic) => void = () => {},
): Promise<PhaseResult> {
  const stopAt = performance.now() + phaseMs;
  const tallies: Record<Traffic, Tally> = {
    auth: { ok: 0, failed: 0, timeouts: 0, times: [] },
    extension: { ok: 0, failed: 0, timeouts: 0, times: [] },
    llm: { ok: 0, failed: 0, timeouts: 0, times: [] },
  };
  const record = async (kind: Traffic, work: () => Promise<unknown>): Promise<void> => {
    const started = performance.now();
    const tally = tallies[kind];
    try {
      await work();
      tally.ok++;
      tally.times.push(performance.now() - started);
      onServed(kind);
    } catch (error) {
      tally.failed++;
      if (isBulkheadError(error, 'ERR_ACQUIRE_TIMEOUT')) tally.timeouts++;
      else if (!isBulkheadError(error)) throw error; // a real bug in the demo: let it crash loudly
    }
  };
  const steady = async (kind: Traffic, everyMs: number, sql: string): Promise<void> => {
    const inFlight: Promise<void>[] = [];
    while (performance.now() < stopAt) {
      const id = 1 + Math.floor(Math.random() * 1000);
      inFlight.push(record(kind, () => registry.query(route[kind], sql, [id])));
      await sleep(everyMs);
    }
    await Promise.all(inFlight);
  };
  const llmWorker = async (): Promise<void> => {
    while (performance.now() < stopAt) {
      await record('llm', () =>
        registry.withClient(route.llm, async (client) => {
          await client.query(`select count(*) from ${tag}_users`);
          await sleep(modelMs); // awaiting the model, connection held
        }),
      );
    }
  };
  const progress = live
    ? setInterval(() => {
        const done = Math.min(20, Math.round((1 - (stopAt - performance.now()) / phaseMs) * 20));
        const { auth, extension, llm } = tallies;
        process.stdout.write(
          `\r  ${name.padEnd(24)} [${'#'.repeat(Math.max(0, done)).padEnd(20)}] auth ${auth.ok} ok ${auth.failed} failed · extension ${extension.ok}/${extension.failed} · llm ${llm.ok}/${llm.failed}   `,
        );
      }, 100)
    : undefined;
  await Promise.all([
    steady('auth', 20, `select name from ${tag}_users where id = $1`),
    steady('extension', 40, `select id from ${tag}_users where id = $1`),
    ...Array.from({ length: 40 }, llmWorker),
  ]);
  if (progress !== undefined) clearInterval(progress);
  const { auth, extension, llm } = tallies;
  // One stable line per phase (also what the tests read).
  process.stdout.write(
    `${live ? '\r\x1b[2K' : ''}  ${name}: auth ok ${auth.ok} failed ${auth.failed} (timeouts ${auth.timeouts}), extension ok ${extension.ok} failed ${extension.failed}, llm ok ${llm.ok} failed ${llm.failed}\n`,
  );
  for (const tally of Object.values(tallies)) tally.times.sort((a, b) => a - b);
  return { name, tallies };
}

function ms(value: number): string {
  return Number.isNaN(value) ? '—' : `${value.toFixed(1)} ms`;
}

function sideBySide(before: PhaseResult, after: PhaseResult): void {
  const rows: [string, (r: PhaseResult) => string][] = [
    ['auth p50', (r) => ms(percentile(r.tallies.auth.times, 0.5))],
    ['auth p99', (r) => ms(percentile(r.tallies.auth.times, 0.99))],
    ['auth ok / failed', (r) => `${r.tallies.auth.ok} / ${r.tallies.auth.failed}`],
    ['auth acquire timeouts', (r) => String(r.tallies.auth.timeouts)],
    ['extension ok / failed', (r) => `${r.tallies.extension.ok} / ${r.tallies.extension.failed}`],
    ['llm ok / failed', (r) => `${r.tallies.llm.ok} / ${r.tallies.llm.failed}`],
    ['failed requests, all', (r) => String(Object.values(r.tallies).reduce((n, t) => n + t.failed, 0))],
  ];
  const table = [['', before.name, after.name], ...rows.map(([label, of]) => [label, of(before), of(after)])];
  const widths = [0, 1, 2].map((c) => Math.max(...table.map((line) => (line[c] as string).length)));
  const format = (line: string[]): string => `  ${line.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] as number) : cell.padStart(widths[c] as number))).join('   ')}`;
  console.log(format(table[0] as string[]));
  console.log(`  ${widths.map((w) => '-'.repeat(w)).join('   ')}`);
  for (const line of table.slice(1)) console.log(format(line));
}

/** One recommendation as the detector made it: its fields, then its own text. */
function describeRecommendation(r: Recommendation): string {
  const change = r.option !== undefined && r.from !== undefined && r.to !== undefined ? `: ${r.service}.${r.option} ${r.from} → ${r.to}` : '';
  return `    recommended [${r.kind}${change}]: ${r.text}`;
}

/**
 * An incident as a person reads it: who suffered, from whom, how badly, the evidence and what the detector
 * recommends. Every figure and sentence after "evidence" and "recommended" is the detector's own.
 */
function describeIncident(incident: Incident): string {
  const victim = incident.victimProtected ? `${incident.victim} (protected)` : incident.victim;
  // The incident's type is the detector's verdict: interference (another service, or the server, involved),
  // saturation (its own pool or queries, nobody else involved) or connectivity.
  const cause =
    incident.type === 'saturation'
      ? 'a saturation, not interference: it ran out of its own pool and took nothing from any other service'
      : incident.type === 'connectivity'
        ? 'connectivity: it could not connect'
        : incident.aggressors.length === 0
          ? 'interference from outside the registry (the server)'
          : `interference caused by ${incident.aggressors
          .map((a) => `${a.service} (${a.priority} priority, holding ${a.inUse} connections, ${Math.round(a.share * 100)} % of all${a.blockedSessions > 0 ? `, blocking ${a.blockedSessions} sessions` : ''})`)
          .join(' and ')}`;
  const lines = [`  Incident ${incident.id} [${incident.type}, ${incident.severity}, ${incident.endedAt === null ? 'open' : 'closed'}]: ${victim} suffered ${incident.kinds.join(' and ')}; ${cause}.`];
  for (const signal of incident.signals) lines.push(`    evidence: ${signal.message}`);
  for (const r of incident.recommendations) lines.push(describeRecommendation(r));
  if (incident.recommendations.length === 0) lines.push(`    no recommendation: ${incident.noRecommendation}`);
  return lines.join('\n');
}

function limits(registry: PoolRegistry<string, ClientLike>): string {
  return registry.services
    .map((service) => {
      const o = registry.serviceOptions(service);
      return `${service} ${o.size} + ${o.overflow} overflow (${o.priority})`;
    })
    .join(', ');
}

async function main(): Promise<number> {
  const started = performance.now();
  const db = await backend();
  console.log(`pg-bulkhead demo on ${db.label}`);
  console.log(`auth every 20 ms, extension every 40 ms, 40 llm handlers holding a connection ${modelMs} ms each; requests give up after ${acquireTimeoutMs} ms\n`);
  const common = { connection: db.connection, Client: db.Client, applicationName: `pg-bulkhead-${tag}` };
  const setup = createPoolRegistry({ ...common, services: { setup: { size: 1, overflow: 0 } } });
  await setup.query('setup', `create table ${tag}_users (id int primary key, name text)`);
  const values = Array.from({ length: 1000 }, (_, i) => `(${i + 1}, 'user ${i + 1}')`).join(',');
  await setup.query('setup', `insert into ${tag}_users (id, name) values ${values}`);

  try {
    // 1. One shared pool of 12 connections for everything, as most services start out (a pg.Pool with max 12).
    const shared = createPoolRegistry({ ...common, services: { shared: { size: 12, overflow: 0, acquireTimeoutMs } } });
    const before = await phase('one shared pool', shared, { auth: 'shared', extension: 'shared', llm: 'shared' });
    await shared.close();

    // 2. The same 12 connections split into bulkheads, with the usage tracker and the detector attached.
    // 11 guaranteed, and the one shared slot is the registry's default reserve, which only high and highest
    // services (auth, extension) may take: so llm and usage get no overflow, and their pools are exactly their size.
    const bulkheads = createPoolRegistry({
      ...common,
      maxConnections: 12,
      services: {
        auth: { size: 2, overflow: 1, acquireTimeoutMs, priority: 'highest' },
        extension: { size: 2, overflow: 1, acquireTimeoutMs, priority: 'high' },
        llm: { size: 6, overflow: 0, acquireTimeoutMs, priority: 'medium' },
        usage: { size: 1, overflow: 0, acquireTimeoutMs: 5_000, priority: 'low' },
      },
    });
    console.log(`  bulkheads on maxConnections ${bulkheads.stats().budget.total}: ${limits(bulkheads)}`);
    const usage = createUsageTracker({ registry: bulkheads, service: 'usage', table: `${tag}_usage`, flushIntervalMs: 250 });
    await usage.ensureSchema();
    const detector = createInterferenceDetector({ registry: bulkheads, intervalMs: 250, windowMs: 10_000 });
    const phaseStarted = performance.now();
    const events: string[] = [];
    for (const type of ['interference', 'saturation', 'connectivity'] as const) {
      detector.on(type, (incident) => {
        events.push(
          `  at ${((performance.now() - phaseStarted) / 1000).toFixed(1)} s: '${type}' event, ${incident.occurrences === 1 ? 'opened' : 'escalated'} ${incident.id}, ${incident.victim}: ${incident.kinds.join(', ')} (${incident.severity}), ${incident.recommendations.length} recommendation(s)`,
        );
      });
    }
    detector.start();
    const board = boardRequested ? await serveBoard(bulkheads, detector, usage) : null;
    const loaded = phase('bulkheads + detector', bulkheads, { auth: 'auth', extension: 'extension', llm: 'llm' }, (kind) => usage.increment(`${kind}:requests`));
    // Read the detector while the load still runs: once it stops, llm's pool is idle and an evaluation sees only
    // the timeouts it left behind, not the full pool that explains them.
    const reading = sleep(phaseMs - 300).then(async () => {
      const health = await detector.check();
      return { health, incidents: [...detector.history(), ...health.incidents], recommendations: detector.recommendations() };
    });
    const [after, seen] = await Promise.all([loaded, reading]);
    await board?.close();
    await detector.stop();
    const closed = await usage.close({ timeoutMs: 5_000 });
    const { rows } = await bulkheads.query<{ key: string; count: string | number }>('usage', `select key, count from ${tag}_usage order by key`);
    await bulkheads.close();

    console.log();
    sideBySide(before, after);

    const { health, incidents, recommendations } = seen;
    console.log('\nWhat the interference detector said with the bulkheads (its own words; read 0.3 s before the load stopped):');
    // The interference the bulkheads prevented, as the detector sees it: the overloaded service's trouble is typed
    // saturation (its own), and auth, the service the story is about, has no incident.
    const saturated = [...new Set(incidents.filter((i) => i.type === 'saturation').map((i) => i.victim))];
    const authIncidents = incidents.filter((i) => i.victim === 'auth');
    console.log(
      `  interference prevented: ${saturated.join(', ') || 'no service'} saturated ${saturated.length === 1 ? 'its own bulkhead' : 'their own bulkheads'} (a 'saturation', not 'interference'); auth ${health.services.auth.status}, ${authIncidents.length === 0 ? 'with no incident' : `victim of ${authIncidents.map((i) => `${i.type} ${i.id}`).join(', ')}`}`,
    );
    const interference = incidents.filter((i) => i.type === 'interference');
    if (interference.length > 0) console.log(`  interference still seen: ${interference.map((i) => `${i.victim} by ${i.aggressors.map((a) => a.service).join(', ') || 'the server'}`).join('; ')}`);
    for (const line of events) console.log(line);
    console.log(incidents.length === 0 ? '  no incident' : incidents.map(describeIncident).join('\n'));
    console.log(`  open recommendations (detector.recommendations()): ${recommendations.length === 0 ? 'none' : recommendations.map((r) => `${r.kind} for ${r.service}`).join(', ')}`);
    console.log(`  health then: ${health.status}; ${Object.values(health.services).map((s) => `${s.service} ${s.status}`).join(', ')}`);

    const written = rows.map((r) => `${r.key} ${Number(r.count)}`).join(', ');
    console.log(`\nUsage counted by the tracker (written in batches through the usage pool): ${written || 'nothing'}${closed.clean ? '' : ` (${closed.unwrittenIncrements} unwritten)`}`);

    const beforeAuth = before.tallies.auth;
    const afterAuth = after.tallies.auth;
    const protectedAuth = afterAuth.failed === 0 && afterAuth.ok > 0;
    console.log(
      protectedAuth
        ? `\nVerdict: auth protected. With one shared pool, ${beforeAuth.failed} of ${beforeAuth.ok + beforeAuth.failed} auth requests failed (p99 ${ms(percentile(beforeAuth.times, 0.99))}) while the database sat idle behind slow llm handlers.\nWith bulkheads on the same 12 connections, auth failed ${afterAuth.failed} times (p99 ${ms(percentile(afterAuth.times, 0.99))}): llm can only exhaust its own pool.\nllm now fails on its own, by design: its overload stays in its bulkhead. The detector's advice above is how to give it more (more connections, or holding them for less time) without taking any from auth.`
        : `\nVerdict: NOT protected — auth failed ${afterAuth.failed} times with bulkheads. This is a bug, please report it.`,
    );
    console.log(`(${db.label.split(' (')[0]}, ${((performance.now() - started) / 1000).toFixed(1)} s)`);
    return protectedAuth ? 0 : 1;
  } finally {
    await setup.query('setup', `drop table if exists ${tag}_users, ${tag}_usage, ${tag}_usage_ledger`).catch(() => {});
    await setup.close();
  }
}

/**
 * `--board`: serves the live board of the bulkheads (`createBoardHandler`) on 127.0.0.1 (port BOARD_PORT, default
 * any free one) and prints its URL; `close()` stops serving.
 */
async function serveBoard<S extends string>(registry: PoolRegistry<S, ClientLike>, detector: InterferenceDetector<S>, usage: UsageTracker<S>): Promise<{ close(): Promise<void> }> {
  const { createServer } = await import('node:http');
  const handler = createBoardHandler({ registry, detector, usage, refreshMs: 1_000, title: 'pg-bulkhead demo' });
  const server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve) => server.listen(Number(process.env.BOARD_PORT ?? 0), '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  console.log(`  live board: http://127.0.0.1:${port}/board (served while the bulkheads run, ${phaseMs / 1000} s)`);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(2);
  },
);
