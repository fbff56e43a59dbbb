import type pg from 'pg';
import connectPgSimple from 'connect-pg-simple';
import { drizzle } from 'drizzle-orm/node-postgres';
import session from 'express-session';
import { Kysely, PostgresDialect } from 'kysely';
import { describe, expectTypeOf, it } from 'vitest';
import { createPoolRegistry, type PgPoolView } from '../../src/index';

interface Database {
  items: { id: number; name: string };
}

describe('pg.Pool view types', () => {
  const registry = createPoolRegistry({ connection: 'postgres://localhost/db', services: { api: { size: 1 }, auth: { size: 1 } } });

  it('is a pg.Pool for the type checker', () => {
    const pool = registry.pgPool('api');
    expectTypeOf(pool).toEqualTypeOf<PgPoolView>();
    expectTypeOf(pool).toMatchTypeOf<pg.Pool>();
    const asPool: pg.Pool = pool;
    void asPool;
    // @ts-expect-error unknown service
    registry.pgPool('apx');
  });

  it('drizzle, Kysely and connect-pg-simple take it without casts', () => {
    const db = drizzle(registry.pgPool('api'));
    void db;
    const kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool: registry.pgPool('api') }) });
    void kysely;
    const Store = connectPgSimple(session);
    const store = new Store({ pool: registry.pgPool('auth'), tableName: 'sessions' });
    void store;
  });

  it('query results are typed as pg types them: any rows by default, a named row type, array rows', async () => {
    const pool = registry.pgPool('api');
    const loose = await pool.query('select 1 as id');
    expectTypeOf(loose.rows).toEqualTypeOf<any[]>();
    const named = await pool.query<{ id: number }>('select 1 as id');
    expectTypeOf(named.rows).toEqualTypeOf<{ id: number }[]>();
    const arrays = await pool.query<[number]>({ text: 'select 1', rowMode: 'array' });
    expectTypeOf(arrays.rows).toEqualTypeOf<[number][]>();
    const client = await pool.connect();
    expectTypeOf(client).toEqualTypeOf<pg.PoolClient>();
    client.release(true);
  });

  it('registry.query and lease.query accept pg query configs; rows default to any like pg', async () => {
    const byDefault = await registry.query('api', 'select 1 as id');
    expectTypeOf(byDefault.rows).toEqualTypeOf<any[]>();
    const config = await registry.query<{ id: number }>('api', { name: 'one', text: 'select $1::int as id', values: [1] });
    expectTypeOf(config.rows).toEqualTypeOf<{ id: number }[]>();
    const arrays = await registry.query<[number]>('api', { text: 'select 1', rowMode: 'array' });
    expectTypeOf(arrays.rows).toEqualTypeOf<[number][]>();
    const lease = await registry.acquire('api', { signal: AbortSignal.timeout(100), timeoutMs: 50 });
    const viaLease = await lease.query<{ id: number }>({ text: 'select 1 as id' });
    expectTypeOf(viaLease.rows).toEqualTypeOf<{ id: number }[]>();
    const leaseDefault = await lease.query('select 1 as id');
    expectTypeOf(leaseDefault.rows).toEqualTypeOf<any[]>();
    const leaseArrays = await lease.query<[number]>({ text: 'select 1', rowMode: 'array' });
    expectTypeOf(leaseArrays.rows).toEqualTypeOf<[number][]>();
    lease.release();
    // @ts-expect-error a query config needs text
    void registry.query('api', { values: [1] });
    // code written against pg.Pool's typings compiles unchanged
    const poolLike: { query(text: string): Promise<pg.QueryResult> } = { query: (text) => registry.query('api', text) };
    void poolLike;
  });

  it('withClient and transaction take per-call options', async () => {
    const controller = new AbortController();
    await registry.withClient('api', async (client) => client.query('select 1'), { signal: controller.signal });
    await registry.transaction('api', async (client) => client.query('select 1'), { timeoutMs: 100 });
    createPoolRegistry({ services: { api: { maxUses: 100, onConnect: async (client) => void (await client.query('set search_path to app')) } } });
    // @ts-expect-error onConnect is a function
    createPoolRegistry({ services: { api: { onConnect: 'set role app' } } });
  });
});
