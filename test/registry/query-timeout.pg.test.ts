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
