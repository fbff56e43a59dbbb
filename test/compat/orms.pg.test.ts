import connectPgSimple from 'connect-pg-simple';
import { eq, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, serial, text } from 'drizzle-orm/pg-core';
import session from 'express-session';
import { Kysely, PostgresDialect, sql as ksql } from 'kysely';
import pg from 'pg';
import Cursor from 'pg-cursor';
import QueryStream from 'pg-query-stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createPoolRegistry, type PoolRegistry } from '../../src/index';
import { adminClient, countBackends, describePg, pgUrl, uniqueAppName } from '../helpers/pg';
import { waitFor } from '../helpers/wait-for';

// The libraries that take a pg.Pool, given the registry's view of one service, on real PostgreSQL.
describePg('pg.Pool view with Drizzle, Kysely, connect-pg-simple and cursors (real PostgreSQL)', () => {
  const schema = `t13_orm_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
  const app = uniqueAppName('13orm');
  let admin: pg.Client;
  let registry: PoolRegistry<'api' | 'auth', pg.Client>;

  beforeAll(async () => {
    admin = await adminClient();
    await admin.query(`create schema ${schema}`);
    await admin.query(`create table ${schema}.items (id serial primary key, name text not null, qty int not null default 0)`);
    registry = createPoolRegistry({
      connection: pgUrl,
      applicationName: app,
      services: { api: { size: 1, overflow: 3, acquireTimeoutMs: 5_000 }, auth: { size: 1, overflow: 1, acquireTimeoutMs: 5_000 } },
    });
  });

  afterAll(async () => {
    const report = await registry?.close();
    expect(report?.clean).toBe(true);
    // Nothing left on the server: every session this suite opened through the registry is gone.
    expect(await countBackends(admin, `${app}:api`)).toBe(0);
    expect(await countBackends(admin, `${app}:auth`)).toBe(0);
    await admin?.query(`drop schema if exists ${schema} cascade`);
    await admin?.end();
  });

  it('Drizzle: insert, select, and a transaction that rolls back, run on one connection of the service', async () => {
    const app13 = pgSchema(schema);
    const items = app13.table('items', { id: serial('id').primaryKey(), name: text('name').notNull(), qty: integer('qty').notNull().default(0) });
    const db = drizzle(registry.pgPool('api'));
    const inserted = await db.insert(items).values({ name: 'drizzle-apple', qty: 3 }).returning();
    expect(inserted).toMatchObject([{ name: 'drizzle-apple', qty: 3 }]);
    const selected = await db.select().from(items).where(eq(items.name, 'drizzle-apple'));
    expect(selected).toEqual([{ id: inserted[0]?.id, name: 'drizzle-apple', qty: 3 }]);

    const pids: number[] = [];
    let seenOutside: unknown[] = ['not checked'];
    await expect(
      db.transaction(async (tx) => {
        await tx.insert(items).values({ name: 'drizzle-rolled-back', qty: 1 });
        const first = await tx.execute(sql`select pg_backend_pid() as pid`);
        const inside = await tx.select().from(items).where(eq(items.name, 'drizzle-rolled-back'));
        expect(inside).toHaveLength(1);
        const second = await tx.execute(sql`select pg_backend_pid() as pid`);
        pids.push(Number(first.rows[0]?.pid), Number(second.rows[0]?.pid));
        // Another connection does not see the uncommitted row: it really is a transaction.
        seenOutside = (await registry.query(`api`, `select * from ${schema}.items where name = 'drizzle-rolled-back'`)).rows;
        throw new Error('roll it back');
      }),
    ).rejects.toThrow('roll it back');
    expect(pids[0]).toBe(pids[1]);
    expect(seenOutside).toEqual([]);
    const after = await db.select().from(items).where(eq(items.name, 'drizzle-rolled-back'));
    expect(after).toEqual([]);
    expect(registry.stats('api').inUse).toBe(0);
    // Drizzle's queries (config objects with rowMode 'array') ran on the service and were timed.
    expect(registry.stats('api').queryTime.count).toBeGreaterThanOrEqual(6);
  });

  it('Kysely (PostgresDialect): query, a transaction that commits and one that rolls back, streaming with pg-cursor; destroy() leaves the service open', async () => {
    interface Database {
      [table: string]: { id: number; name: string; qty: number };
    }
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: registry.pgPool('api'), cursor: Cursor }) }).withSchema(schema);
    await db.insertInto('items').values([{ name: 'kysely-a', qty: 1 }, { name: 'kysely-b', qty: 2 }, { name: 'kysely-c', qty: 3 }] as never).execute();
    const rows = await db.selectFrom('items').select(['name', 'qty']).where('name', 'like', 'kysely-%').orderBy('name').execute();
    expect(rows).toEqual([
      { name: 'kysely-a', qty: 1 },
      { name: 'kysely-b', qty: 2 },
      { name: 'kysely-c', qty: 3 },
    ]);
    await db.transaction().execute(async (trx) => {
      await trx.updateTable('items').set({ qty: 10 }).where('name', '=', 'kysely-a').execute();
    });
    await expect(
      db.transaction().execute(async (trx) => {
        await trx.updateTable('items').set({ qty: 99 }).where('name', '=', 'kysely-b').execute();
        const pid1 = await ksql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
        const pid2 = await ksql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
        expect(pid1.rows[0]?.pid).toBe(pid2.rows[0]?.pid);
        throw new Error('kysely rollback');
      }),
    ).rejects.toThrow('kysely rollback');
    const after = await db.selectFrom('items').select(['name', 'qty']).where('name', 'in', ['kysely-a', 'kysely-b']).orderBy('name').execute();
    expect(after).toEqual([
      { name: 'kysely-a', qty: 10 },
      { name: 'kysely-b', qty: 2 },
    ]);
    const streamed: string[] = [];
    for await (const row of db.selectFrom('items').select('name').where('name', 'like', 'kysely-%').orderBy('name').stream(2)) streamed.push(row.name);
    expect(streamed).toEqual(['kysely-a', 'kysely-b', 'kysely-c']);
    expect(registry.stats('api').inUse).toBe(0);
    const connectionsBefore = registry.stats('api').total;
    await db.destroy(); // calls pool.end(): ends the handle, not the service
    expect(registry.stats('api').total).toBe(connectionsBefore);
    await expect(registry.query('api', 'select 1 as one')).resolves.toMatchObject({ rows: [{ one: 1 }] });
  });

  it("Kysely's cancel path: a control client built from pool.Client and pool.options reaches the server (the password never enumerable)", async () => {
    const pool = registry.pgPool('api');
    const control = new pool.Client({ ...pool.options, password: 'password' in pool.options ? pool.options.password : undefined });
    control.on('error', () => {});
    await control.connect();
    try {
      const { rows } = await control.query<{ ok: number }>('select 1 as ok');
      expect(rows).toEqual([{ ok: 1 }]);
    } finally {
      await control.end();
    }
  });

  it('connect-pg-simple: an express-session store sets, gets and destroys a session through the view', async () => {
    const Store = connectPgSimple(session);
    const store = new Store({ pool: registry.pgPool('auth'), schemaName: schema, tableName: 'sessions', createTableIfMissing: true, pruneSessionInterval: false });
    const cookie = { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000), httpOnly: true, path: '/' } as session.Cookie;
    const data = { cookie, user: 'ada' } as session.SessionData & { user: string };
    await new Promise<void>((resolve, reject) => store.set('sid-13', data, (err) => (err ? reject(err) : resolve())));
    const got = await new Promise<unknown>((resolve, reject) => store.get('sid-13', (err, value) => (err ? reject(err) : resolve(value))));
    expect(got).toMatchObject({ user: 'ada' });
    const { rows } = await admin.query(`select sid from ${schema}.sessions`);
    expect(rows).toEqual([{ sid: 'sid-13' }]);
    await new Promise<void>((resolve, reject) => store.destroy('sid-13', (err) => (err ? reject(err) : resolve())));
    const gone = await new Promise<unknown>((resolve, reject) => store.get('sid-13', (err, value) => (err ? reject(err) : resolve(value))));
    expect(gone ?? null).toBeNull(); // the store calls back with no session
    expect((await admin.query(`select sid from ${schema}.sessions`)).rows).toEqual([]);
    store.close();
    expect(registry.stats('auth').inUse).toBe(0);
    expect(registry.closed).toBe(false);
  });

  it('pool.query(submittable): pg-cursor and pg-query-stream run on a connection held until they are done, then released', async () => {
    const pool = registry.pgPool('api');
    const cursor = pool.query(new Cursor('select n from generate_series(1, 5) as n'));
    expect(await cursor.read(2)).toEqual([{ n: 1 }, { n: 2 }]);
    expect(registry.stats('api').inUse).toBe(1);
    expect(await cursor.read(10)).toEqual([{ n: 3 }, { n: 4 }, { n: 5 }]);
    await cursor.close();
    await waitFor(() => registry.stats('api').inUse === 0, 5_000, 'the cursor connection to come back');

    const stream = pool.query(new QueryStream('select n from generate_series(1, 7) as n', [], { batchSize: 3 }));
    const seen: number[] = [];
    for await (const row of stream) seen.push((row as { n: number }).n);
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7]);
    await waitFor(() => registry.stats('api').inUse === 0, 5_000, 'the stream connection to come back');

    // A stream closed early gives its connection back too.
    const early = pool.query(new QueryStream('select n from generate_series(1, 100000) as n', [], { batchSize: 10 }));
    for await (const row of early) {
      if ((row as { n: number }).n === 3) break;
    }
    await waitFor(() => registry.stats('api').inUse === 0, 5_000, 'the early-closed stream connection to come back');

    // One that fails on the server gives its connection back too, and the error reaches the reader.
    const failing = pool.query(new Cursor('select n / 0 from generate_series(1, 3) as n'));
    await expect(failing.read(10)).rejects.toMatchObject({ code: '22012' });
    await waitFor(() => registry.stats('api').inUse === 0, 5_000, 'the failed cursor connection to come back');
    const failingStream = pool.query(new QueryStream('select * from t13_no_such_table', []));
    await expect((async () => {
      for await (const row of failingStream) void row;
    })()).rejects.toMatchObject({ code: '42P01' });
    await waitFor(() => registry.stats('api').inUse === 0, 5_000, 'the failed stream connection to come back');
    const { rows } = await pool.query('select 1 as ok');
    expect(rows).toEqual([{ ok: 1 }]);
  });

  it('pg features through registry.query, lease.query and the view: named prepared statements, rowMode array, custom types', async () => {
    const named = { name: 't13-add', text: 'select $1::int + $2::int as sum', values: [2, 3] };
    expect((await registry.query<{ sum: number }>('api', named)).rows).toEqual([{ sum: 5 }]);
    expect((await registry.query<{ sum: number }>('api', { ...named, values: [4, 5] })).rows).toEqual([{ sum: 9 }]);
    const arrays = await registry.query<[number, string]>('api', { text: "select 1 as a, 'x' as b", rowMode: 'array' });
    expect(arrays.rows).toEqual([[1, 'x']]);
    const types = { getTypeParser: (oid: number, format?: string) => (oid === 23 ? (v: string) => `int:${v}` : pg.types.getTypeParser(oid, format as 'text')) };
    const custom = await registry.pgPool('api').query({ text: 'select 7::int as n', types } as pg.QueryConfig);
    expect(custom.rows).toEqual([{ n: 'int:7' }]);
    // lease.query takes the same configs, on the lease's own connection
    const lease = await registry.acquire('api');
    try {
      expect((await lease.query<{ sum: number }>({ name: 't13-lease-add', text: 'select $1::int + $2::int as sum' }, [20, 22])).rows).toEqual([{ sum: 42 }]);
      expect((await lease.query<{ sum: number }>({ name: 't13-lease-add', text: 'select $1::int + $2::int as sum', values: [1, 1] })).rows).toEqual([{ sum: 2 }]);
      const prepared = await lease.query<{ name: string }>('select name from pg_prepared_statements where name = $1', ['t13-lease-add']);
      expect(prepared.rows).toEqual([{ name: 't13-lease-add' }]);
      expect((await lease.query<[number, string]>({ text: "select 2 as a, 'y' as b", rowMode: 'array' })).rows).toEqual([[2, 'y']]);
      expect((await lease.query({ text: 'select 8::int as n', types } as pg.QueryConfig)).rows).toEqual([{ n: 'int:8' }]);
    } finally {
      lease.release();
    }
  });
});
