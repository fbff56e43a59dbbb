/**
 * A connection never goes back to the pool inside a transaction (issue: a lease released from inside
 * `transaction()` came back "idle in transaction", and the next caller's insert was silently never committed).
 * Real PostgreSQL: the transaction status comes from the server's ReadyForQuery messages, through
 * `Client#getTransactionStatus()` (pg >= 8.21) or, on the older pg that the peer range allows, read off the
 * protocol by the pool itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { isBulkheadError } from '../../src/errors';
import { createPoolRegistry, type PoolRegistry } from '../../src/registry/pool-registry';
import { adminClient, describePg, pgUrl, uniqueAppName } from '../helpers/pg';

const TABLE = `tx_release_${process.pid}_${Math.floor(Math.random() * 1e6)}`;

describePg('release inside a transaction (real PostgreSQL)', () => {
  let admin: pg.Client;
  let registry: PoolRegistry<'auth'>;
  let appName: string;

  beforeAll(async () => {
    admin = await adminClient();
    await admin.query(`create table ${TABLE} (id text primary key)`);
  });

  afterAll(async () => {
    await admin.query(`drop table if exists ${TABLE}`);
    await admin.end();
  });

  async function committed(id: string): Promise<boolean> {
    const result = await admin.query(`select 1 from ${TABLE} where id = $1`, [id]);
    return result.rows.length === 1;
  }

  async function inTransactionSessions(): Promise<number> {
    const result = await admin.query<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity where application_name like $1 and state like 'idle in transaction%'`,
      [`${appName}%`],
    );
    return result.rows[0]!.n;
  }

  /** pg before 8.21 had no `getTransactionStatus()`; the peer range (`pg >= 8.8`) allows it. */
  class PgBefore821 extends pg.Client {}
  Object.defineProperty(PgBefore821.prototype, 'getTransactionStatus', { value: undefined });

  describe('with a pg client that has no getTransactionStatus() (pg < 8.21): the pool reads ReadyForQuery itself', () => {
    beforeAll(() => {
      appName = uniqueAppName('txold');
      registry = createPoolRegistry({
        connection: pgUrl,
        applicationName: appName,
        Client: PgBefore821,
        services: { auth: { size: 1, overflow: 0, acquireTimeoutMs: 5_000 } },
      });
    });
    afterAll(async () => {
      await registry.close();
    });

    it('a client left inside BEGIN by withClient is closed on release, and the next insert commits', async () => {
      const lease = await registry.acquire('auth');
      expect(typeof (lease.client as { getTransactionStatus?: unknown }).getTransactionStatus).toBe('undefined');
      lease.release();
      const before = registry.stats('auth');
      await registry.withClient('auth', async (client) => {
        await client.query('begin');
        await client.query(`insert into ${TABLE} (id) values ('old-left-open')`);
      });
      expect(registry.stats('auth').closedInTransaction).toBe(before.closedInTransaction + 1);
      await registry.query('auth', `insert into ${TABLE} (id) values ('old-after-open')`);
      expect(await committed('old-left-open')).toBe(false);
      expect(await committed('old-after-open')).toBe(true);
      expect(await inTransactionSessions()).toBe(0);
    });

    it('a failed transaction (status E) released by hand is closed too; a committed one is reused', async () => {
      const before = registry.stats('auth');
      const lease = await registry.acquire('auth');
      await lease.query('begin');
      await expect(lease.query('select * from no_such_table_here')).rejects.toMatchObject({ code: '42P01' });
      lease.release();
      expect(registry.stats('auth').closedInTransaction).toBe(before.closedInTransaction + 1);

      const created = registry.stats('auth').created;
      await registry.withClient('auth', async (client) => {
        await client.query('begin');
        await client.query(`insert into ${TABLE} (id) values ('old-committed')`);
        await client.query('commit');
      });
      await registry.query('auth', 'select 1');
      expect(await committed('old-committed')).toBe(true);
      expect(registry.stats('auth')).toMatchObject({ created: created + 1, closedInTransaction: before.closedInTransaction + 1 });
    });
  });

  describe('with one connection, so any reuse would be of the same session', () => {
    beforeAll(() => {
      appName = uniqueAppName('txrel');
      registry = createPoolRegistry({ connection: pgUrl, applicationName: appName, services: { auth: { size: 1, overflow: 0, acquireTimeoutMs: 5_000 } } });
    });
    afterAll(async () => {
      await registry.close();
    });

    it('release() inside transaction() is refused with ERR_RELEASE_IN_TRANSACTION; the transaction rolls back and the next insert commits', async () => {
      const failure = await registry
        .transaction('auth', async (client, lease) => {
          await client.query(`insert into ${TABLE} (id) values ('inside')`);
          lease.release();
        })
        .catch((error: unknown) => error);
      expect(isBulkheadError(failure, 'ERR_RELEASE_IN_TRANSACTION')).toBe(true);
      expect((failure as Error).message).toMatch(/auth: release\(\) inside transaction\(\)/);
      expect(await committed('inside')).toBe(false);

      await registry.query('auth', `insert into ${TABLE} (id) values ('after-refused')`);
      expect(await committed('after-refused')).toBe(true);
      expect(await inTransactionSessions()).toBe(0);
      expect(registry.stats('auth')).toMatchObject({ inUse: 0, closedInTransaction: 0 });
    });

    it('a client left inside BEGIN by withClient is closed on release (remove reason in-transaction), and the next insert commits', async () => {
      const removed: string[] = [];
      registry.on('remove', (e) => removed.push(e.reason));
      const before = registry.stats('auth');
      await registry.withClient('auth', async (client) => {
        await client.query('begin');
        await client.query(`insert into ${TABLE} (id) values ('left-open')`);
      });
      expect(removed).toEqual(['in-transaction']);
      expect(registry.stats('auth').closedInTransaction).toBe(before.closedInTransaction + 1);

      await registry.query('auth', `insert into ${TABLE} (id) values ('after-open')`);
      expect(await committed('left-open')).toBe(false);
      expect(await committed('after-open')).toBe(true);
      expect(registry.stats('auth').created).toBe(before.created + 1); // a fresh session, not the one in the transaction
    });

    it('a failed transaction (status E) released by hand is closed too', async () => {
      const before = registry.stats('auth');
      const lease = await registry.acquire('auth');
      await lease.query('begin');
      await expect(lease.query('select * from no_such_table_here')).rejects.toMatchObject({ code: '42P01' });
      lease.release();
      expect(registry.stats('auth').closedInTransaction).toBe(before.closedInTransaction + 1);
      await registry.query('auth', `insert into ${TABLE} (id) values ('after-failed')`);
      expect(await committed('after-failed')).toBe(true);
    });

    it('release(error) inside transaction() closes the connection: the transaction rejects and nothing commits', async () => {
      const failure = await registry
        .transaction('auth', async (client, lease) => {
          await client.query(`insert into ${TABLE} (id) values ('destroyed')`);
          lease.release(new Error('give up on this connection'));
        })
        .catch((error: unknown) => error);
      expect(isBulkheadError(failure, 'ERR_LEASE_RELEASED')).toBe(true);
      expect(await committed('destroyed')).toBe(false);
      await registry.query('auth', `insert into ${TABLE} (id) values ('after-destroyed')`);
      expect(await committed('after-destroyed')).toBe(true);
      expect(await inTransactionSessions()).toBe(0);
    });

    it('an ordinary committed transaction and a plain query reuse the connection (no needless close)', async () => {
      const before = registry.stats('auth');
      await registry.transaction('auth', async (client) => {
        await client.query(`insert into ${TABLE} (id) values ('normal')`);
      });
      await registry.query('auth', 'select 1');
      expect(await committed('normal')).toBe(true);
      expect(registry.stats('auth')).toMatchObject({ created: before.created, closedInTransaction: before.closedInTransaction });
    });
  });
});
