/**
 * `queryTimeoutMs` on real PostgreSQL behind the fault proxy: a stalled network (no byte moves, no reset) is the
 * failure a server-side `statement_timeout` cannot see. Without a client-side limit these calls never settle.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import pg from 'pg';
import { createPoolRegistry } from '../../src/registry/pool-registry';
import { createUsageTracker } from '../../src/usage/usage-tracker';
import { adminClient, describePg, pgUrl, uniqueAppName } from '../helpers/pg';
import { startProxy, type TcpProxy } from '../helpers/tcp-proxy';
import { waitFor } from '../helpers/wait-for';

const TABLE = `usage_qt_${process.pid}_${Math.floor(Math.random() * 1e6)}`;

/** Records every query text sent, per client, so a test can see what was (not) sent on a connection. */
const sent: string[] = [];
class RecordingClient extends pg.Client {
  override query(...args: unknown[]): never {
    if (typeof args[0] === 'string') sent.push(args[0]);
    return (super.query as (...a: unknown[]) => never).apply(this, args);
  }
}

describePg('queryTimeoutMs (client-side) on real PostgreSQL', () => {
  let proxy: TcpProxy;
  let admin: pg.Client;

  beforeAll(async () => {
    const target = new URL(pgUrl);
    proxy = await startProxy({ host: target.hostname, port: Number(target.port || 5432) });
    admin = await adminClient();
  });

  afterAll(async () => {
    proxy.stall(false);
    await proxy.close();
    await admin.query(`drop table if exists ${TABLE}, ${TABLE}_ledger`);
    await admin.end();
  });

  it('a query whose reply stalls rejects with "Query read timeout", its connection is destroyed, and the service serves again', async () => {
    const registry = createPoolRegistry({
      connection: proxy.url(pgUrl),
      applicationName: uniqueAppName('qt'),
      services: { auth: { size: 1, overflow: 0, acquireTimeoutMs: 5_000, queryTimeoutMs: 300 } },
    });
    try {
      expect((await registry.query<{ one: number }>('auth', 'select 1 as one')).rows[0]?.one).toBe(1);
      proxy.stall(true);
      await expect(registry.query('auth', 'select 2')).rejects.toThrow('Query read timeout');
      expect(registry.stats('auth')).toMatchObject({ removed: 1, inUse: 0 });
      proxy.stall(false);
      expect((await registry.query<{ one: number }>('auth', 'select 1 as one')).rows[0]?.one).toBe(1);
      expect(registry.stats('auth').created).toBe(2); // a fresh connection, not the stuck one
    } finally {
      proxy.stall(false);
      await registry.close();
    }
  });

  it('a query given up after queryTimeoutMs does not keep running on the server: its backend is ended', async () => {
    const app = uniqueAppName('qt-orphan');
    const registry = createPoolRegistry({ connection: pgUrl, applicationName: app, services: { auth: { size: 1, overflow: 0, queryTimeoutMs: 300 } } });
    const running = async (): Promise<number> =>
      (await admin.query(`select count(*)::int as n from pg_stat_activity where application_name = $1 and query like '%pg_sleep%' and state = 'active'`, [`${app}:auth`])).rows[0].n;
    try {
      await expect(registry.query('auth', 'select pg_sleep(30)')).rejects.toThrow('Query read timeout');
      // pg only stops waiting for the reply; without the cleanup the backend would sleep on for 30 s
      await waitFor(async () => (await running()) === 0, 5_000, 'the abandoned backend to be ended');
      await waitFor(async () => (await admin.query(`select count(*)::int as n from pg_stat_activity where application_name = $1`, [`${app}:cleanup`])).rows[0].n === 0, 5_000, 'the cleanup session to end');
      expect((await registry.query<{ one: number }>('auth', 'select 1 as one')).rows[0]?.one).toBe(1);
    } finally {
      await registry.close();
    }
  });

  it('a connection released with a query still pending (timeout caught, or never awaited) is not handed out again', async () => {
    const app = uniqueAppName('qt-pending');
    const registry = createPoolRegistry({ connection: pgUrl, applicationName: app, services: { auth: { size: 1, overflow: 0, queryTimeoutMs: 300 } } });
    const sleeping = async (): Promise<number> =>
      (await admin.query(`select count(*)::int as n from pg_stat_activity where application_name = $1 and query like '%pg_sleep%' and state = 'active'`, [`${app}:auth`])).rows[0].n;
    try {
      // the caller swallows the timeout and returns normally
      await registry.withClient('auth', async (client) => {
        await client.query('select pg_sleep(30)').catch(() => undefined);
      });
      expect(registry.stats('auth')).toMatchObject({ removed: 1, inUse: 0 });
      // the caller fires a query and does not await it
      await registry.withClient('auth', (client) => {
        void client.query('select pg_sleep(30)').catch(() => undefined);
      });
      expect(registry.stats('auth')).toMatchObject({ removed: 2, inUse: 0 });
      await waitFor(async () => (await sleeping()) === 0, 5_000, 'both abandoned backends to be ended');
      expect((await registry.query<{ one: number }>('auth', 'select 1 as one')).rows[0]?.one).toBe(1);
    } finally {
      await registry.close();
    }
  });

  it('a transaction whose query stalls rejects without queueing a ROLLBACK behind the stuck query', async () => {
    const registry = createPoolRegistry({
      connection: proxy.url(pgUrl),
      Client: RecordingClient,
      applicationName: uniqueAppName('qt-tx'),
      services: { auth: { size: 1, overflow: 0, queryTimeoutMs: 300 } },
    });
    try {
      await registry.query('auth', 'select 1');
      sent.length = 0;
      const outcome = registry.transaction('auth', async (client) => {
        await client.query('select 1');
        proxy.stall(true);
        await client.query('select 2');
      });
      await expect(outcome).rejects.toThrow('Query read timeout');
      expect(sent).toEqual(['BEGIN', 'select 1', 'select 2']);
      expect(registry.stats('auth')).toMatchObject({ removed: 1, inUse: 0 });
    } finally {
      proxy.stall(false);
      await registry.close();
    }
  });

  it('a usage flush on a stalled connection fails instead of hanging, and the retry writes every count once', async () => {
    const registry = createPoolRegistry({
      connection: proxy.url(pgUrl),
      applicationName: uniqueAppName('qt-usage'),
      services: { usage: { size: 1, overflow: 1, acquireTimeoutMs: 5_000, queryTimeoutMs: 300 } },
    });
    const usage = createUsageTracker({ registry, service: 'usage', table: TABLE, retryBaseMs: 50, retryMaxMs: 100 });
    try {
      await usage.ensureSchema();
      usage.increment('stalled', 4);
      usage.increment('other', 1);
      proxy.stall(true);
      const first = await usage.flush();
      expect(first.ok).toBe(false);
      expect(first.error?.message).toMatch(/Query read timeout/);
      expect(usage.stats()).toMatchObject({ frozenKeys: 2, failedWrites: 1 });
      proxy.stall(false);
      const report = await usage.close({ timeoutMs: 10_000 });
      expect(report).toMatchObject({ clean: true, unwrittenIncrements: 0, inDoubt: null });
      const { rows } = await admin.query(`select key, count::int as count from ${TABLE} order by key`);
      expect(rows).toEqual([
        { key: 'other', count: 1 },
        { key: 'stalled', count: 4 },
      ]);
    } finally {
      proxy.stall(false);
      await usage.close({ timeoutMs: 1_000 });
      await registry.close();
    }
  });
});
