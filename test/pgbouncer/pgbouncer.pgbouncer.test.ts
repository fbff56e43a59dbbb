import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isBulkheadError, type SettingNotAppliedError } from '../../src/errors';
import { createPoolRegistry, type PoolRegistry } from '../../src/registry/pool-registry';
import { ServerProbe } from '../../src/detector/server-probe';
import { systemClock } from '../../src/clock';
import { createUsageTracker } from '../../src/usage/usage-tracker';
import type { Pooler } from '../../src/pool/session-settings';
import type { SettingWarningEvent } from '../../src/pool/events';
import { adminClient } from '../helpers/pg';
import { waitFor } from '../helpers/wait-for';
import { createInterferenceDetector } from '../../src/detector/interference-detector';
import type { Incident } from '../../src/detector/incident';
import { alias, bouncerAdmin, describePgBouncer, pgbouncerSessionUrl, pgbouncerStrictUrl, pgbouncerTxUrl, showPools } from '../helpers/pgbouncer';

// Aliases configured by test/pgbouncer/start.sh: `test` (pool_size 4), `test_auth` and `test_llm` (2 each),
// `test_one` (1: the next client gets the very server connection the last one used).
const modes: { mode: 'transaction' | 'session'; pooler: Pooler; url: () => string }[] = [
  { mode: 'transaction', pooler: 'pgbouncer-transaction', url: () => pgbouncerTxUrl },
  { mode: 'session', pooler: 'pgbouncer-session', url: () => pgbouncerSessionUrl },
];

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => {});
});

function track<S extends string>(registry: PoolRegistry<S>): PoolRegistry<S> {
  cleanup.push(() => registry.close({ timeoutMs: 2_000 }));
  return registry;
}

async function plainClient(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: 'i15-plain' });
  client.on('error', () => {});
  await client.connect();
  cleanup.push(() => client.end());
  return client;
}

async function settingsOf(client: pg.Client): Promise<{ statement: string; idle: string }> {
  const st = await client.query('show statement_timeout');
  const it = await client.query('show idle_in_transaction_session_timeout');
  return { statement: String(st.rows[0].statement_timeout), idle: String(it.rows[0].idle_in_transaction_session_timeout) };
}

describePgBouncer.each(modes)('behind PgBouncer in $mode mode', ({ mode, pooler, url }) => {
  const app = `i15-${mode.slice(0, 2)}-${process.pid}`;

  it('connects, and query / withClient / transaction work (commit and rollback)', async () => {
    const registry = track(createPoolRegistry({ connection: url(), applicationName: app, pooler, services: { api: { size: 1, overflow: 1 } } }));
    const table = `i15_tx_${mode}_${process.pid}`;
    await registry.query('api', `create table if not exists ${table} (id int primary key)`);
    cleanup.push(() => registry.query('api', `drop table if exists ${table}`));
    expect((await registry.query<{ n: number }>('api', 'select $1::int + 1 as n', [41])).rows[0]?.n).toBe(42);
    expect(await registry.withClient('api', async (client) => (await client.query('select 7 as n')).rows[0].n)).toBe(7);
    await registry.transaction('api', (_c, lease) => lease.query(`insert into ${table} values (1)`));
    await expect(
      registry.transaction('api', async (_c, lease) => {
        await lease.query(`insert into ${table} values (2)`);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect((await registry.query('api', `select id from ${table} order by id`)).rows).toEqual([{ id: 1 }]);
  });

  it("the server sees each statement under <app>:<service>@<instance>, through PgBouncer too (what the probe and checkServer read)", async () => {
    const registry = track(createPoolRegistry({ connection: url(), applicationName: app, instanceId: 'api-7', pooler, services: { auth: { size: 0, overflow: 1 } } }));
    const admin = await adminClient();
    cleanup.push(() => admin.end());
    const name = `${app}:auth@api-7`;
    const running = registry.query('auth', 'select pg_sleep(0.5)');
    await waitFor(
      async () => (await admin.query(`select 1 from pg_stat_activity where application_name = $1 and state = 'active' and query like '%pg_sleep(0.5)%'`, [name])).rowCount === 1,
      5_000,
      `${name} in pg_stat_activity`,
    );
    await running;
    await registry.close(); // session mode: its connection pins one of the alias's 4 server connections
  });

  it('per-service timeouts take effect: a statement longer than statementTimeoutMs is cancelled (57014)', async () => {
    const warnings: SettingWarningEvent[] = [];
    const registry = track(
      createPoolRegistry({ connection: url(), applicationName: app, pooler, services: { auth: { size: 1, overflow: 0, statementTimeoutMs: 300, idleInTransactionTimeoutMs: 5_000 } } }),
    );
    registry.on('setting-warning', (w) => warnings.push(w));
    await expect(registry.query('auth', 'select pg_sleep(1.2)')).rejects.toMatchObject({ code: '57014' });
    await expect(registry.transaction('auth', (_c, lease) => lease.query('select pg_sleep(1.2)'))).rejects.toMatchObject({ code: '57014' });
    // Inside a transaction the settings are those of the service.
    const seen = await registry.transaction('auth', async (_c, lease) => (await lease.query('select current_setting($1) as st, current_setting($2) as it', ['statement_timeout', 'idle_in_transaction_session_timeout'])).rows[0]);
    expect(seen).toEqual({ st: '300ms', it: '5s' });
    // A short statement is not affected.
    await expect(registry.query('auth', 'select pg_sleep(0.05)')).resolves.toBeDefined();
    if (mode === 'session') {
      // Session settings (SET after connect): every path has them, the raw client too, and nothing is warned.
      await expect(registry.withClient('auth', (client) => client.query('select pg_sleep(1.2)'))).rejects.toMatchObject({ code: '57014' });
      expect(warnings).toEqual([]);
    } else {
      // Transaction pooling: the raw client cannot be covered, and the registry says so once per setting.
      expect(warnings.map((w) => [w.service, w.setting])).toEqual([
        ['auth', 'statement_timeout'],
        ['auth', 'idle_in_transaction_session_timeout'],
      ]);
      expect(warnings[0]?.message).toContain('ALTER ROLE');
    }
  });

  it('per-service timeouts take effect: a transaction idle longer than idleInTransactionTimeoutMs is ended by the server', async () => {
    const registry = track(createPoolRegistry({ connection: url(), applicationName: app, pooler, services: { auth: { size: 0, overflow: 1, idleInTransactionTimeoutMs: 300 } } }));
    const admin = await adminClient();
    cleanup.push(() => admin.end());
    let ended = false;
    const outcome = registry.transaction('auth', async (_client, lease) => {
      const pid = Number((await lease.query('select pg_backend_pid() as pid')).rows[0]?.pid);
      // Idle in the transaction until the server ends that session (polling the server's state, not timing logic).
      await waitFor(async () => (await admin.query('select 1 from pg_stat_activity where pid = $1', [pid])).rowCount === 0, 5_000, 'the server to end the idle transaction');
      ended = true;
      await lease.query('select 1');
    });
    await expect(outcome).rejects.toThrow();
    expect(ended).toBe(true);
    // The service goes on with a new connection.
    await expect(registry.query('auth', 'select 1 as n')).resolves.toMatchObject({ rows: [{ n: 1 }] });
    await registry.close(); // session mode: its connection pins one of the alias's 4 server connections
  });

  it("without the pooler option, the dropped startup parameters fail loudly (ERR_SETTING_NOT_APPLIED), never silently", async () => {
    const errors: Error[] = [];
    const registry = track(
      createPoolRegistry({ connection: url(), applicationName: app, connectTimeoutMs: 3_000, services: { auth: { size: 0, overflow: 1, statementTimeoutMs: 500, acquireTimeoutMs: 1_500 } } }),
    );
    registry.on('connect-error', (e) => errors.push(e.error));
    const failure = await registry.query('auth', 'select 1').then(
      () => null,
      (error: unknown) => error,
    );
    expect(failure).not.toBeNull();
    const cause = (failure as { cause?: unknown }).cause;
    expect(isBulkheadError(cause, 'ERR_SETTING_NOT_APPLIED')).toBe(true);
    expect(String((cause as Error).message)).toContain('auth: statement_timeout is 0 ms on the server, expected 500 ms');
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => isBulkheadError(e, 'ERR_SETTING_NOT_APPLIED'))).toBe(true);
  });

  it('usage counters are flushed exactly once through PgBouncer', async () => {
    const registry = track(createPoolRegistry({ connection: url(), applicationName: app, pooler, services: { usage: { size: 1, overflow: 1, statementTimeoutMs: 5_000 } } }));
    const table = `i15_usage_${mode}_${process.pid}`;
    const usage = createUsageTracker({ registry, service: 'usage', table, bucket: 'day' });
    cleanup.push(() => registry.query('usage', `drop table if exists ${table}, ${table}_ledger`));
    await usage.ensureSchema();
    for (let i = 0; i < 5_000; i++) usage.increment(`k${i % 50}`);
    await usage.flush();
    for (let i = 0; i < 5_000; i++) usage.increment(`k${i % 50}`, 2);
    const report = await usage.close({ timeoutMs: 10_000 });
    expect(report).toMatchObject({ clean: true, unwrittenIncrements: 0 });
    const { rows } = await registry.query<{ keys: number; sum: string; min: string; max: string; batches: number }>(
      'usage',
      `select count(*)::int as keys, sum(count)::text as sum, min(count)::text as min, max(count)::text as max, (select count(*)::int from ${table}_ledger) as batches from ${table}`,
    );
    expect(rows[0]).toMatchObject({ keys: 50, sum: '15000', min: '300', max: '300' });
    expect(rows[0]?.batches).toBeGreaterThanOrEqual(2);
  });

  it('leaves no session setting on the shared server connection: the next client of the pool sees the defaults', async () => {
    const one = alias(url(), 'test_one');
    // The check can fail: a plain session SET does reach the next client of a one-connection transaction pool.
    if (mode === 'transaction') {
      const careless = await plainClient(one);
      await careless.query('set statement_timeout = 4321');
      const next = await plainClient(one);
      expect((await settingsOf(next)).statement).toBe('4321ms');
      await next.query('reset all');
    }
    const registry = track(
      createPoolRegistry({ connection: one, applicationName: app, pooler, services: { auth: { size: 1, overflow: 0, statementTimeoutMs: 300, idleInTransactionTimeoutMs: 5_000 } } }),
    );
    await registry.query('auth', 'select 1');
    await registry.transaction('auth', (_c, lease) => lease.query('select 1'));
    await expect(registry.query('auth', 'select pg_sleep(1)')).rejects.toMatchObject({ code: '57014' });
    // Session mode: the registry's connection pins the pool's one server connection until it disconnects (and
    // PgBouncer resets it with DISCARD ALL).
    await registry.close({ timeoutMs: 2_000 });
    // The detector's server probe, on a client of the same pool.
    const probe = new ServerProbe(() => plainClient(one), app, ['auth'], { clock: systemClock, timeoutMs: 2_000 });
    await probe.sample(1_000);
    expect(probe.status).toBe('ok');
    await probe.close();
    const next = await plainClient(one);
    expect(await settingsOf(next)).toEqual({ statement: '0', idle: '0' });
  });

  it('bulkheads hold through the bouncer: with its own alias, auth stays fast while llm floods its alias', async () => {
    const floodMs = 1_500;
    // Session mode pins a server connection per client connection: llm's overflow must fit its PgBouncer pool (2),
    // so the flood queues in the registry; in transaction mode llm may have more and the flood queues in PgBouncer.
    const llmOverflow = mode === 'session' ? 2 : 6;
    async function run(authAlias: string): Promise<{ authP99: number; waitingLlm: number; waitingAuth: number }> {
      const registry = track(
        createPoolRegistry({
          connection: url(),
          applicationName: app,
          pooler,
          connectTimeoutMs: 10_000,
          services: {
            auth: { size: 1, overflow: 1, priority: 'highest', connection: alias(url(), authAlias) },
            llm: { size: 0, overflow: llmOverflow, priority: 'low', connection: alias(url(), 'test_llm') },
          },
        }),
      );
      await registry.query('auth', 'select 1'); // warm
      const admin = await bouncerAdmin(url());
      cleanup.push(() => admin.end());
      const flood = Array.from({ length: 6 }, () => registry.transaction('llm', (_c, lease) => lease.query(`select pg_sleep(${floodMs / 1000})`)));
      // Wait until the flood fills llm's PgBouncer pool and queues: inside PgBouncer (transaction mode) or in
      // llm's own pool (session mode).
      const queued = async (): Promise<number> => (await showPools(admin, 'test_llm')).clWaiting + registry.stats('llm').waiting;
      let waitingLlm = await queued();
      for (let i = 0; i < 100 && waitingLlm === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20)); // polling PgBouncer's state, not timing logic
        waitingLlm = await queued();
      }
      const latencies: number[] = [];
      let waitingAuth = 0;
      for (let i = 0; i < 5; i++) {
        const start = performance.now();
        await registry.query('auth', 'select 1');
        latencies.push(performance.now() - start);
        if (authAlias !== 'test_llm') waitingAuth = Math.max(waitingAuth, (await showPools(admin, authAlias)).clWaiting);
      }
      await Promise.all(flood);
      await registry.close({ timeoutMs: 2_000 });
      latencies.sort((a, b) => a - b);
      return { authP99: latencies[latencies.length - 1] as number, waitingLlm, waitingAuth };
    }
    const isolated = await run('test_auth');
    expect(isolated.waitingLlm).toBeGreaterThan(0); // the flood really queued inside PgBouncer
    expect(isolated.waitingAuth).toBe(0);
    expect(isolated.authP99).toBeLessThan(floodMs / 2);
    // The control (transaction mode; in session mode llm's idle connections would pin the pool for good): on llm's
    // alias, auth queues inside PgBouncer behind the flood, where acquireTimeoutMs cannot see it.
    if (mode === 'session') return;
    const shared = await run('test_llm');
    expect(shared.waitingLlm).toBeGreaterThan(0);
    expect(shared.authP99).toBeGreaterThan(floodMs / 2);
  });
});

describePgBouncer('a per-service role with ALTER ROLE … SET (transaction mode)', () => {
  const role = 'bulkhead_i15_auth'; // listed in PgBouncer's auth_file by test/pgbouncer/start.sh
  beforeAll(async () => {
    const admin = await adminClient();
    try {
      // Roles are cluster-wide: create it once, idempotently (another run may have created it).
      await admin.query(`do $$ begin if not exists (select from pg_roles where rolname = '${role}') then create role ${role} login; end if; end $$`);
      await admin.query(`alter role ${role} set statement_timeout = 300`);
      await admin.query(`alter role ${role} set idle_in_transaction_session_timeout = 5000`);
    } finally {
      await admin.end();
    }
  });

  it('the read-back finds the settings on the role: every path has them, the raw client too, and nothing is warned', async () => {
    const url = new URL(alias(pgbouncerTxUrl, 'test_auth'));
    url.username = role;
    const warnings: SettingWarningEvent[] = [];
    const statements: string[] = [];
    const registry = track(
      createPoolRegistry({
        connection: url.toString(),
        applicationName: `i15-role-${process.pid}`,
        pooler: 'pgbouncer-transaction',
        services: { auth: { size: 1, overflow: 0, statementTimeoutMs: 300, idleInTransactionTimeoutMs: 5_000 } },
      }),
    );
    registry.on('setting-warning', (w) => warnings.push(w));
    await expect(registry.withClient('auth', (client) => client.query('select pg_sleep(1)'))).rejects.toMatchObject({ code: '57014' });
    await expect(registry.query('auth', 'select pg_sleep(1)')).rejects.toMatchObject({ code: '57014' });
    await registry.transaction('auth', async (_client, lease) => {
      statements.push(String((await lease.query('select current_setting($1) as st', ['statement_timeout'])).rows[0]?.st));
    });
    expect(statements).toEqual(['300ms']);
    expect(warnings).toEqual([]);
  });
});

describePgBouncer('checkServer with PgBouncer', () => {
  let direct: pg.Client;
  beforeAll(async () => {
    direct = await adminClient();
    cleanup.push(() => direct.end());
  });

  it('session mode: says when the guaranteed sizes of every instance do not fit the PgBouncer pool', async () => {
    const url = pgbouncerSessionUrl;
    const admin = alias(url, 'pgbouncer');
    const app = `i15-cs-${process.pid}`;
    const fitting = track(createPoolRegistry({ connection: url, applicationName: app, pooler: 'pgbouncer-session', services: { auth: { size: 2, overflow: 0, connection: alias(url, 'test_auth') } } }));
    const ok = await fitting.checkServer({ pgbouncerAdmin: admin });
    expect(ok.pgbouncerPools).toEqual([{ database: 'test_auth', mode: 'session', poolSize: 2, maxDbConnections: 0, services: ['auth'], guaranteed: 2, fits: true }]);
    await fitting.close();
    const warnings: string[] = [];
    const tooBig = track(createPoolRegistry({ connection: url, applicationName: app, pooler: 'pgbouncer-session', services: { auth: { size: 3, overflow: 0, acquireTimeoutMs: 500, connection: alias(url, 'test_auth') } } }));
    tooBig.on('server-warning', (r) => warnings.push(r.warning ?? ''));
    const report = await tooBig.checkServer({ pgbouncerAdmin: admin });
    expect(report.fits).toBe(false);
    expect(report.pgbouncerPools?.[0]).toMatchObject({ database: 'test_auth', guaranteed: 3, poolSize: 2, fits: false });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('PgBouncer pool test_auth (session mode, pool_size + reserve_pool 2) cannot hold the guaranteed connections of 1 instance(s) × (auth 3) = 3');
  });

  it('session mode: max_db_connections below pool_size is the limit that counts', async () => {
    const url = pgbouncerSessionUrl;
    const warnings: string[] = [];
    const capped = track(createPoolRegistry({ connection: url, applicationName: `i15-cm-${process.pid}`, pooler: 'pgbouncer-session', services: { auth: { size: 2, overflow: 0, acquireTimeoutMs: 500, connection: alias(url, 'test_capped') } } }));
    capped.on('server-warning', (r) => warnings.push(r.warning ?? ''));
    const report = await capped.checkServer({ pgbouncerAdmin: alias(url, 'pgbouncer') });
    expect(report.fits).toBe(false);
    expect(report.pgbouncerPools).toEqual([{ database: 'test_capped', mode: 'session', poolSize: 4, maxDbConnections: 1, services: ['auth'], guaranteed: 2, fits: false }]);
    expect(warnings).toEqual([expect.stringContaining('PgBouncer pool test_capped (session mode, max_db_connections 1) cannot hold the guaranteed connections of 1 instance(s) × (auth 2) = 2')]);
    expect(warnings[0]).toContain('Raise its max_db_connections or lower the sizes');
  });

  it('transaction mode: the pool size is no limit on guaranteed connections', async () => {
    const url = pgbouncerTxUrl;
    const registry = track(createPoolRegistry({ connection: url, applicationName: `i15-ct-${process.pid}`, pooler: 'pgbouncer-transaction', services: { auth: { size: 3, overflow: 0, connection: alias(url, 'test_auth') } } }));
    const report = await registry.checkServer({ pgbouncerAdmin: alias(url, 'pgbouncer') });
    expect(report.pgbouncerPools?.[0]).toMatchObject({ database: 'test_auth', mode: 'transaction', guaranteed: 3, fits: true });
  });
});

describePgBouncer('checkServer behind PgBouncer in transaction mode: what reaches the server', () => {
  const url = () => pgbouncerTxUrl;
  // 450 (or 600) connections to PgBouncer (max_client_conn 500), which opens at most 2 + 2 server connections for
  // the two aliases; the server (max_connections 400) could never hold 450 sessions itself.
  const registryOf = (app: string, each: number) =>
    track(
      createPoolRegistry({
        connection: url(),
        applicationName: app,
        pooler: 'pgbouncer-transaction',
        maxConnections: 2 * each,
        services: { auth: { size: 1, overflow: each - 1, connection: alias(url(), 'test_auth') }, llm: { size: 0, overflow: each, connection: alias(url(), 'test_llm') } },
      }),
    );

  it("with the admin console: compares PgBouncer's server connections with the server's room, and the registries' connections with max_client_conn", async () => {
    const admin = alias(url(), 'pgbouncer');
    const fitting = registryOf(`i15-cx-${process.pid}`, 225);
    const report = await fitting.checkServer({ pgbouncerAdmin: admin });
    expect(report.combinedBudget).toBe(450);
    expect(report.available).toBeLessThan(450); // the registry's own connections would not fit: they are not what the server sees
    expect(report).toMatchObject({ pgbouncerServerConnections: 4, fits: true, warning: undefined });
    const warnings: string[] = [];
    const tooMany = registryOf(`i15-cy-${process.pid}`, 300);
    tooMany.on('server-warning', (r) => warnings.push(r.warning ?? ''));
    const refused = await tooMany.checkServer({ pgbouncerAdmin: admin });
    expect(refused).toMatchObject({ combinedBudget: 600, pgbouncerServerConnections: 4, fits: false });
    expect(warnings).toEqual([
      "the registry may open 600 connections to PgBouncer, above its max_client_conn 500 (shared with every other client of this PgBouncer): lower maxConnections or raise max_client_conn",
    ]);
  });

  it('without it: still compares the registry with the server, and says why that may be too strict', async () => {
    const warnings: string[] = [];
    const registry = registryOf(`i15-cz-${process.pid}`, 225);
    registry.on('server-warning', (r) => warnings.push(r.warning ?? ''));
    const report = await registry.checkServer();
    expect(report).toMatchObject({ fits: false, pgbouncerServerConnections: undefined });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^the registry may open 450 connections but the server has room for \d+ .*; behind PgBouncer in transaction mode the server sees PgBouncer's server connections instead: pass pgbouncerAdmin to compare those$/);
  });
});

describePgBouncer('a wait inside PgBouncer (transaction mode)', () => {
  it("is bounded by the service's queryTimeoutMs, which acquireTimeoutMs cannot do: auth fails while the flood still runs", async () => {
    const url = pgbouncerTxUrl;
    const registry = track(
      createPoolRegistry({
        connection: url,
        applicationName: `i15-qt-${process.pid}`,
        pooler: 'pgbouncer-transaction',
        services: {
          // On llm's alias on purpose: the wait happens inside PgBouncer, after the registry handed out a connection.
          auth: { size: 1, overflow: 0, priority: 'highest', queryTimeoutMs: 300, connection: alias(url, 'test_llm') },
          llm: { size: 0, overflow: 6, priority: 'low', connection: alias(url, 'test_llm') },
        },
      }),
    );
    await registry.query('auth', 'select 1'); // warm: auth's connection to PgBouncer is open
    let floodDone = false;
    const flood = Promise.all(Array.from({ length: 6 }, () => registry.transaction('llm', (_c, lease) => lease.query('select pg_sleep(1)')))).finally(() => {
      floodDone = true;
    });
    const admin = await bouncerAdmin(url);
    cleanup.push(() => admin.end());
    await waitFor(async () => (await showPools(admin, 'test_llm')).clWaiting > 0, 5_000, 'the flood to queue inside PgBouncer');
    await expect(registry.query('auth', 'select 1')).rejects.toThrow('Query read timeout');
    expect(floodDone).toBe(false);
    expect(registry.stats('auth').timeouts).toBe(0); // no acquire timeout: the registry had a connection for it
    await flood;
    await expect(registry.query('auth', 'select 1 as n')).resolves.toMatchObject({ rows: [{ n: 1 }] });
  });
});

describePgBouncer('the detector behind PgBouncer (transaction mode)', () => {
  it('reads SHOW POOLS and names the wait inside PgBouncer, and the alias auth shares with llm', async () => {
    const url = pgbouncerTxUrl;
    const registry = track(
      createPoolRegistry({
        connection: url,
        applicationName: `i15-det-${process.pid}`,
        pooler: 'pgbouncer-transaction',
        pgbouncerAdmin: alias(url, 'pgbouncer'),
        windowMs: 10_000,
        services: {
          auth: { size: 1, overflow: 1, priority: 'highest', connection: alias(url, 'test_llm') },
          llm: { size: 0, overflow: 6, priority: 'low', connection: alias(url, 'test_llm') },
        },
      }),
    );
    const detector = createInterferenceDetector({ registry, intervalMs: 200, windowMs: 5_000, thresholds: { slowQueryMs: 200 } });
    cleanup.push(() => detector.stop());
    await registry.query('auth', 'select 1');
    const flood = Array.from({ length: 6 }, () => registry.transaction('llm', (_c, lease) => lease.query('select pg_sleep(2)')));
    const admin = await bouncerAdmin(url);
    cleanup.push(() => admin.end());
    await waitFor(async () => (await showPools(admin, 'test_llm')).clWaiting > 0, 5_000, 'the flood to queue inside PgBouncer');
    // auth waits inside PgBouncer: no acquire wait, nothing slow yet (it has not finished): no client-side signal.
    const auth = registry.query('auth', 'select 1');
    await waitFor(() => registry.stats('auth').inUse === 1, 5_000, 'auth to send its query');
    let incident: Incident<string> | undefined;
    await waitFor(
      async () => {
        await detector.check();
        incident = detector.incidents().find((i) => i.victim === 'auth' && i.kinds.includes('pgbouncer-wait'));
        return incident !== undefined;
      },
      5_000,
      "the detector to see auth's wait inside PgBouncer",
    );
    const signal = incident?.signals.find((s) => s.kind === "pgbouncer-wait");
    expect(signal?.message).toMatch(/^\d+ client\(s\) wait inside PgBouncer for a server connection of test_llm, the longest \d+ ms \(no acquire timeout sees this\); it shares the alias with llm/);
    expect(registry.stats('auth').acquireWait.max).toBeLessThan(100);
    await Promise.all([auth, ...flood]);
  });
});

describePgBouncer('behind a PgBouncer that refuses the timeouts as startup parameters (its default)', () => {
  it("without the pooler option the connect fails with ERR_SETTING_NOT_APPLIED naming the service, its option and the fix, PgBouncer's error as cause", async () => {
    const errors: Error[] = [];
    const registry = track(
      createPoolRegistry({
        connection: pgbouncerStrictUrl,
        applicationName: `i15-strict-${process.pid}`,
        connectTimeoutMs: 3_000,
        services: { auth: { size: 0, overflow: 1, statementTimeoutMs: 500, acquireTimeoutMs: 1_500 } },
      }),
    );
    registry.on('connect-error', (e) => errors.push(e.error));
    const failure = await registry.query('auth', 'select 1').then(
      () => null,
      (error: unknown) => error,
    );
    expect(failure).not.toBeNull();
    const cause = (failure as { cause?: unknown }).cause;
    expect(isBulkheadError(cause, 'ERR_SETTING_NOT_APPLIED')).toBe(true);
    expect(String((cause as Error).message)).toContain(
      'auth: the connection was refused for statement_timeout (statementTimeoutMs 500 ms), sent as a startup parameter: unsupported startup parameter: statement_timeout',
    );
    expect(String((cause as Error).message)).toContain("set the registry's pooler option");
    expect(errors.length).toBeGreaterThan(0);
    for (const error of errors) {
      expect(isBulkheadError(error, 'ERR_SETTING_NOT_APPLIED')).toBe(true);
      expect((error as SettingNotAppliedError).actualMs).toBeNull();
    }
  });

  it("with pooler 'pgbouncer-transaction' the same PgBouncer connects, and the timeout takes effect (57014)", async () => {
    const registry = track(
      createPoolRegistry({
        connection: pgbouncerStrictUrl,
        applicationName: `i15-strict-ok-${process.pid}`,
        pooler: 'pgbouncer-transaction',
        services: { auth: { size: 0, overflow: 1, statementTimeoutMs: 500 } },
      }),
    );
    await expect(registry.query('auth', 'select 1 as ok')).resolves.toMatchObject({ rows: [{ ok: 1 }] });
    await expect(registry.query('auth', 'select pg_sleep(1.2)')).rejects.toMatchObject({ code: '57014' });
  });
});
