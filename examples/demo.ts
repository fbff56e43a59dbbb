/**
 * The original incident in a few seconds: slow LLM handlers that hold a database connection while they await a
 * model starve authentication on one shared pool; with one bulkhead pool per service, auth is untouched.
 *
 *   npm run demo                      # embedded PostgreSQL (pg-mem), no server needed
 *   DATABASE_URL=postgres://… npm run demo   # the same story on a real server
 *   npm run demo -- --quick           # shorter phases (used by the tests)
 */
import { createPoolRegistry, isBulkheadError, type ClientConstructor, type ClientLike, type PoolRegistry } from '../src/index';

const quick = process.argv.includes('--quick');
const phaseMs = quick ? 1_200 : 4_000;
const url = process.env.DATABASE_URL;

async function backend(): Promise<{ label: string; connection?: string; Client?: ClientConstructor }> {
  if (url) return { label: 'real PostgreSQL (DATABASE_URL)', connection: url };
  const { newDb } = await import('pg-mem');
  const db = newDb();
  return { label: 'embedded pg-mem (set DATABASE_URL to use a real server)', Client: db.adapters.createPg().Client as ClientConstructor };
}

interface PhaseResult {
  readonly name: string;
  readonly authP50: number;
  readonly authP99: number;
  readonly authOk: number;
  readonly authFailed: number;
  readonly llmServed: number;
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
}

/** Runs auth lookups at a steady rate and an LLM flood against `authService` / `llmService` of one registry. */
async function phase<S extends string>(name: string, registry: PoolRegistry<S, ClientLike>, authService: S, llmService: S): Promise<PhaseResult> {
  const stopAt = Date.now() + phaseMs;
  const authTimes: number[] = [];
  let authFailed = 0;
  let llmServed = 0;
  const llmWorkers = Array.from({ length: 40 }, async () => {
    while (Date.now() < stopAt) {
      try {
        await registry.withClient(llmService, async (client) => {
          await client.query('select count(*) from demo_users');
          await new Promise((resolve) => setTimeout(resolve, 300)); // awaiting the model, connection held
        });
        llmServed++;
      } catch (error) {
        if (!isBulkheadError(error)) throw error;
      }
    }
  });
  const authLoop = (async () => {
    const inFlight: Promise<void>[] = [];
    while (Date.now() < stopAt) {
      const started = performance.now();
      inFlight.push(
        registry
          .query(authService, 'select name from demo_users where id = $1', [1 + Math.floor(Math.random() * 1000)])
          .then(() => void authTimes.push(performance.now() - started))
          .catch(() => void authFailed++),
      );
      await new Promise((resolve) => setTimeout(resolve, 20));
      if (process.stdout.isTTY) {
        const done = Math.round(((phaseMs - (stopAt - Date.now())) / phaseMs) * 20);
        process.stdout.write(`\r  ${name.padEnd(30)} [${'#'.repeat(Math.max(0, done)).padEnd(20)}] auth ok ${authTimes.length} failed ${authFailed}  llm served ${llmServed}   `);
      }
    }
    await Promise.all(inFlight);
  })();
  await Promise.all([authLoop, ...llmWorkers]);
  process.stdout.write(process.stdout.isTTY ? '\n' : `  ${name}: auth ok ${authTimes.length} failed ${authFailed}, llm served ${llmServed}\n`);
  authTimes.sort((a, b) => a - b);
  return { name, authP50: percentile(authTimes, 0.5), authP99: percentile(authTimes, 0.99), authOk: authTimes.length, authFailed, llmServed };
}

async function main(): Promise<number> {
  const db = await backend();
  console.log(`pg-bulkhead demo on ${db.label}\n`);
  const common = { connection: db.connection, Client: db.Client, applicationName: 'pg-bulkhead-demo' };
  const setup = createPoolRegistry({ ...common, services: { setup: { size: 1, overflow: 0 } } });
  await setup.query('setup', 'create table if not exists demo_users (id int primary key, name text)');
  const values = Array.from({ length: 1000 }, (_, i) => `(${i + 1}, 'user ${i + 1}')`).join(',');
  await setup.query('setup', `insert into demo_users (id, name) values ${values} on conflict (id) do nothing`);
  await setup.close();

  // Every request gives up after 500 ms (a login page will not wait longer).
  // 1. One shared pool of 12 connections for everything, as most services start out.
  const shared = createPoolRegistry({ ...common, services: { shared: { size: 12, overflow: 0, acquireTimeoutMs: 500 } } });
  const before = await phase('one shared pool (12)', shared, 'shared', 'shared');
  await shared.close();

  // 2. The same 12 connections split into bulkheads: auth keeps its own.
  const bulkheads = createPoolRegistry({
    ...common,
    services: {
      auth: { size: 3, overflow: 1, acquireTimeoutMs: 500, priority: 'highest' },
      llm: { size: 6, overflow: 2, acquireTimeoutMs: 500, priority: 'medium' },
    },
  });
  const after = await phase('bulkheads (auth 3+1, llm 6+2)', bulkheads, 'auth', 'llm');
  await bulkheads.close();

  const rows = [before, after].map((r) => ({
    setup: r.name,
    'auth p50 ms': r.authP50.toFixed(1),
    'auth p99 ms': r.authP99.toFixed(1),
    'auth ok': r.authOk,
    'auth failed': r.authFailed,
    'llm served': r.llmServed,
  }));
  console.log();
  console.table(rows);
  const protectedAuth = after.authFailed === 0 && after.authOk > 0;
  console.log(
    protectedAuth
      ? `\nWith one shared pool, ${before.authFailed} auth requests failed while the database sat idle behind slow LLM handlers.\nWith bulkheads, auth failed ${after.authFailed} times: its connections were never taken.`
      : `\nThe bulkheads did not protect auth (${after.authFailed} failures): this is a bug, please report it.`,
  );
  return protectedAuth ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(2);
  },
);
