// Security on real PostgreSQL: a password given in a connection string, in its query, or in a pg.ClientConfig
// never appears in anything the library produces (errors and their cause chains, event payloads, stats, health
// JSON, metrics text, warnings), under refused, stalled, cut and terminated connections, connect timeouts and a
// wrong database. A real role with that password is created for the test and dropped after it.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createHealthHandler, createInterferenceDetector, createPoolRegistry, createUsageTracker, toPrometheus } from '../../src/index';
import { adminClient, describePg, pgUrl, uniqueAppName } from '../helpers/pg';
import { startProxy, type TcpProxy } from '../helpers/tcp-proxy';
import { waitFor } from '../helpers/wait-for';
import { createScanner, serialize } from '../soak/scan';

const ROLE = `pgb_sec_${process.pid}_${randomBytes(3).toString('hex')}`;
const PASSWORD = `Pw-${randomBytes(8).toString('base64url')}/@:? #%`;

function connectionVariants(host: string, port: number, database: string): { label: string; connection: string | pg.ClientConfig }[] {
  const encoded = encodeURIComponent(PASSWORD);
  return [
    { label: 'connection string', connection: `postgres://${ROLE}:${encoded}@${host}:${port}/${database}` },
    { label: 'password in the query string', connection: `postgres://${ROLE}@${host}:${port}/${database}?password=${encoded}` },
    { label: 'pg.ClientConfig', connection: { host, port, user: ROLE, password: PASSWORD, database } },
  ];
}

describePg('passwords never leak (real PostgreSQL)', () => {
  let admin: pg.Client;
  let proxy: TcpProxy;
  const target = new URL(pgUrl || 'postgres://x@127.0.0.1:5432/test');
  beforeAll(async () => {
    admin = await adminClient();
    await admin.query(`create role ${ROLE} login password '${PASSWORD.replace(/'/g, "''")}'`);
    await admin.query(`grant usage, create on schema public to ${ROLE}`);
    proxy = await startProxy({ host: '127.0.0.1', port: Number(target.port || 5432) });
  });
  afterAll(async () => {
    await proxy?.close();
    if (admin) {
      await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where usename = $1', [ROLE]).catch(() => {});
      // a role with sessions cannot be dropped: wait until the terminated ones are gone
      await waitFor(async () => (await admin.query('select 1 from pg_stat_activity where usename = $1', [ROLE])).rowCount === 0, 5_000, 'the sessions to end').catch(() => {});
      await admin.query(`drop owned by ${ROLE}`).catch(() => {});
      await admin.query(`drop role if exists ${ROLE}`).catch(() => {});
      await admin.end();
    }
  });

  for (const variant of connectionVariants('127.0.0.1', 0, target.pathname.slice(1) || 'test')) {
    it(`${variant.label}: nothing captured under every fault carries the password`, async () => {
      const scanner = createScanner([PASSWORD]);
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      const onWarning = (warning: Error) => scanner.scan('process warning', serialize(warning));
      process.on('unhandledRejection', onUnhandled);
      process.on('warning', onWarning);
      const withPort = (port: number, database?: string) => {
        const v = connectionVariants('127.0.0.1', port, database ?? (target.pathname.slice(1) || 'test')).find((x) => x.label === variant.label);
        return v!.connection;
      };
      const app = uniqueAppName('secret');
      const registry = createPoolRegistry({
        connection: withPort(proxy.port),
        applicationName: app,
        connectTimeoutMs: 800,
        maintenanceIntervalMs: 50,
        breaker: { failureThreshold: 2, initialBackoffMs: 50, maxBackoffMs: 200 },
        services: { auth: { size: 1, overflow: 1, acquireTimeoutMs: 1_000, leakDetectionMs: 100 }, usage: { size: 1, overflow: 0, acquireTimeoutMs: 2_000 } },
      });
      const registries = [
        registry,
        // nothing listens there: ECONNREFUSED
        createPoolRegistry({ connection: withPort(1), applicationName: `${app}-r`, connectTimeoutMs: 300, services: { auth: { size: 1, overflow: 0, acquireTimeoutMs: 300 } } }),
        // the server answers with a FATAL error: a database that does not exist
        createPoolRegistry({ connection: withPort(proxy.port, 'no_such_db_pgb'), applicationName: `${app}-d`, services: { auth: { size: 0, overflow: 1, acquireTimeoutMs: 500 } } }),
      ];
      for (const r of registries as unknown[]) {
        for (const event of ['connect', 'connect-error', 'acquire', 'release', 'acquire-timeout', 'queue-full', 'remove', 'leak', 'error', 'resize', 'close', 'circuit', 'server-warning']) {
          (r as unknown as { on(e: string, l: (p: unknown) => void): void }).on(event, (p) => scanner.scan(`event ${event}`, serialize(p)));
        }
      }
      const usage = createUsageTracker({ registry, service: 'usage', table: `pgb_sec_usage_${process.pid}`, flushIntervalMs: 50, retryBaseMs: 20, retryMaxMs: 100 });
      for (const event of ['flush', 'flush-error', 'drop', 'close'] as const) usage.on(event, (p: unknown) => scanner.scan(`usage ${event}`, serialize(p)));
      const detector = createInterferenceDetector({ registry, intervalMs: 100 }).start();
      const health = createHealthHandler({ registry, detector });
      const surfaces = async (): Promise<void> => {
        for (const r of registries) scanner.scan('stats', serialize((r as { stats(): unknown }).stats()));
        scanner.scan('usage stats', serialize(usage.stats()));
        scanner.scan('metrics', toPrometheus({ registry, detector, usage }));
        let body = '';
        await health({ url: '/health' }, { statusCode: 0, setHeader: () => undefined, end: (b?: string) => void (body = b ?? '') });
        scanner.scan('health', body);
        expect(body).not.toContain(ROLE);
        expect(body).not.toContain('127.0.0.1');
      };
      const attempt = async (what: string, run: () => Promise<unknown>): Promise<void> => {
        try {
          await run();
        } catch (error) {
          scanner.scan(`${what} rejection`, serialize(error));
        }
      };
      try {
        await usage.ensureSchema();
        for (let i = 0; i < 20; i++) usage.increment(`k${i % 3}`);
        await attempt('query ok', () => registry.query('auth', 'select 1'));
        // a leak event (a lease held beyond leakDetectionMs)
        const held = await registry.acquire('auth');
        await new Promise<void>((resolve) => registry.once('leak', () => resolve()));
        held.release();
        // refused and cut
        proxy.refuse(true);
        proxy.cutAll();
        for (let i = 0; i < 4; i++) await attempt('refused', () => registry.query('auth', 'select 1'));
        await attempt('openClient refused', () => registry.openClient('probe'));
        await attempt('checkServer refused', () => registry.checkServer());
        await usage.flush();
        await surfaces();
        proxy.refuse(false);
        // stalled: connects time out, a query in flight hangs until the stall ends. First the pool reconnects (its
        // guaranteed connection, once the breaker's backoff has passed), so the stall meets a working pool.
        await waitFor(() => registry.stats('auth').circuit === 'closed', 5_000, 'the pool to reconnect after the refusals');
        // (a query already on a stalled connection waits for the network: there is no client-side query timeout)
        proxy.stall(true);
        const stalled = attempt('stalled', () => registry.query('auth', 'select 1'));
        await attempt('openClient stalled', () => registry.openClient('probe'));
        proxy.stall(false);
        await stalled;
        // terminated mid-query
        await waitFor(async () => registry.stats('auth').consecutiveConnectFailures === 0 || (await registry.query('auth', 'select 1').then(() => true, () => false)), 5_000, 'recovery');
        const running = async (): Promise<boolean> =>
          (await admin.query("select 1 from pg_stat_activity where application_name like $1 and state = 'active' and query = 'select pg_sleep(1)'", [`${app}:%`])).rowCount! > 0;
        const inFlight = attempt('terminated', () => registry.query('auth', 'select pg_sleep(1)'));
        await waitFor(running, 5_000, 'the query to run on the server');
        await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name like $1', [`${app}:%`]);
        await inFlight;
        // cut mid-query
        await waitFor(() => registry.query('auth', 'select 1').then(() => true, () => false), 5_000, 'recovery after kill');
        const cut = attempt('cut', () => registry.query('auth', 'select pg_sleep(1)'));
        await waitFor(running, 5_000, 'the query to run on the server');
        proxy.cutAll();
        await cut;
        for (const r of registries.slice(1) as { query(s: 'auth', t: string): Promise<unknown> }[]) {
          await attempt('refused registry', () => r.query('auth', 'select 1'));
          await attempt('wrong database', () => r.query('auth', 'select 1'));
        }
        // (events that come later are scanned too: the listeners stay until the registries are closed below)
        await surfaces();
      } finally {
        proxy.stall(false);
        proxy.refuse(false);
        await detector.stop();
        scanner.scan('usage close', serialize(await usage.close({ timeoutMs: 2_000 })));
        for (const r of registries as { close(o: { timeoutMs: number }): Promise<unknown> }[]) scanner.scan('registry close', serialize(await r.close({ timeoutMs: 1_000 })));
        await admin.query(`drop table if exists pgb_sec_usage_${process.pid}, pgb_sec_usage_${process.pid}_ledger`).catch(() => {});
        process.off('unhandledRejection', onUnhandled);
        process.off('warning', onWarning);
      }
      expect(scanner.items).toBeGreaterThan(50);
      expect(scanner.leaks).toEqual([]);
      expect(unhandled).toEqual([]);
    });
  }
});
