import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createPoolRegistry, isBulkheadError, type PgPoolView, type ServiceOptions } from '../../src/index';
import { FakeServer, result, type FakeClient } from '../helpers/fake-client';
import { advance } from '../helpers/fake-time';
import { useFakeRegistries } from '../helpers/fake-registries';

// pg-pool's public behaviour as node-postgres documents it (the "pg.Pool" API page: connect / release /
// query / end, the counts and the five events), run against the view of one service. Where the view differs on
// purpose (end() leaves the shared service's connections open, SQL errors do not destroy), the test says so.

const track = useFakeRegistries();

function setup(api: ServiceOptions = { size: 0, overflow: 2 }) {
  const server = new FakeServer();
  server.onQuery = (text, values) => {
    if (text === 'fail') throw Object.assign(new Error('syntax error at or near "fail"'), { code: '42601' });
    return result('SELECT', [{ text, values: values ?? null }]);
  };
  const registry = createPoolRegistry({
    Client: server.Client,
    connection: 'postgres://app:s3cret-pw@db.example:6543/shop?sslmode=disable',
    applicationName: 'view',
    services: { api, auth: { size: 1, overflow: 0 } },
  });
  track(registry);
  return { server, registry, pool: registry.pgPool('api') };
}

describe('pool.connect and client.release', () => {
  it('connect() resolves a client; release() returns it to the idle set, so the next connect reuses it', async () => {
    const { pool, server } = setup();
    const client = await pool.connect();
    expect(pool.totalCount).toBe(1);
    expect(pool.idleCount).toBe(0);
    const { rows } = await client.query('select 1');
    expect(rows).toEqual([{ text: 'select 1', values: null }]);
    client.release();
    expect(pool.idleCount).toBe(1);
    const again = await pool.connect();
    expect(again).toBe(client);
    again.release();
    expect(server.clients.filter((c) => c.config.application_name === 'view:api')).toHaveLength(1);
  });

  it('connect(callback) calls back with (err, client, done); done() releases', async () => {
    const { pool } = setup();
    const got = await new Promise<{ err: Error | undefined; client: pg.PoolClient | undefined; done: (r?: Error | boolean) => void }>((resolve) => {
      pool.connect((err, client, done) => resolve({ err, client, done }));
    });
    expect(got.err).toBeUndefined();
    expect(pool.idleCount).toBe(0);
    got.done();
    expect(pool.idleCount).toBe(1);
  });

  it('connect(callback) receives the acquire error (here: the service timed out) and no client', async () => {
    const { pool } = setup({ size: 0, overflow: 1, acquireTimeoutMs: 500 });
    const held = await pool.connect();
    const settled = new Promise<{ err: Error | undefined; client: unknown }>((resolve) => pool.connect((err, client) => resolve({ err, client })));
    await advance(600);
    const { err, client } = await settled;
    expect(isBulkheadError(err, 'ERR_ACQUIRE_TIMEOUT')).toBe(true);
    expect(client).toBeUndefined();
    held.release();
  });

  it('release(err) and release(true) destroy the connection instead of returning it; the remove event carries the client', async () => {
    const { pool, server } = setup();
    const removed: unknown[] = [];
    const released: [unknown, unknown][] = [];
    pool.on('remove', (client) => removed.push(client));
    pool.on('release', (err, client) => released.push([err, client]));
    const first = await pool.connect();
    const badState = new Error('bad state');
    first.release(badState);
    expect(released).toEqual([[badState, first]]);
    await advance();
    expect(removed).toEqual([first]);
    expect((first as unknown as FakeClient).ended).toBe(true);
    expect(pool.totalCount).toBe(0);
    const second = await pool.connect();
    expect(second).not.toBe(first);
    second.release(true);
    expect(released[1]).toEqual([true, second]);
    await advance();
    expect(removed).toEqual([first, second]);
    expect(server.open()).toHaveLength(1); // auth's own connection only
  });

  it('a second release throws pg-pool\'s error; a stale release from an earlier checkout cannot release the next holder', async () => {
    const { pool } = setup({ size: 0, overflow: 1 });
    const client = await pool.connect();
    const staleRelease = client.release;
    client.release();
    expect(() => client.release()).toThrow('Release called on client which has already been released to the pool.');
    const again = await pool.connect();
    expect(again).toBe(client);
    expect(() => staleRelease()).toThrow(/already been released/);
    expect(pool.idleCount).toBe(0); // still held by the second checkout
    again.release();
    expect(pool.idleCount).toBe(1);
  });
});

describe('pool.query', () => {
  it('promise form with text and values, and with a query config (name, rowMode, types pass through to the client)', async () => {
    const { pool, server } = setup();
    const seen: unknown[] = [];
    server.onQuery = (query, values) => {
      seen.push(query);
      return result('SELECT', [{ values: values ?? null }]);
    };
    const plain = await pool.query('select $1::int', [7]);
    expect(plain.rows).toEqual([{ values: [7] }]);
    const config = { name: 'by-id', text: 'select $1::int', values: [8], rowMode: 'array' as const };
    await pool.query(config);
    expect(seen).toEqual(['select $1::int', config]);
    expect(pool.idleCount).toBe(1);
  });

  it('callback forms (text, callback) and (text, values, callback) call back with (err, result)', async () => {
    const { pool } = setup();
    const one = await new Promise<unknown>((resolve, reject) => pool.query('select 1', (err, res) => (err ? reject(err) : resolve(res.rows))));
    expect(one).toEqual([{ text: 'select 1', values: null }]);
    const two = await new Promise<unknown>((resolve, reject) => pool.query('select $1', [2], (err, res) => (err ? reject(err) : resolve(res.rows))));
    expect(two).toEqual([{ text: 'select $1', values: [2] }]);
    const failed = await new Promise<Error>((resolve) => pool.query('fail', (err) => resolve(err)));
    expect(failed).toMatchObject({ code: '42601' });
  });

  it('an SQL error reaches the caller unchanged and leaves the connection in the pool (pg-pool would destroy it)', async () => {
    const { pool } = setup();
    await expect(pool.query('fail')).rejects.toMatchObject({ code: '42601' });
    expect(pool.totalCount).toBe(1);
    expect(pool.idleCount).toBe(1);
  });

  it('emits acquire and release for each query, with the client', async () => {
    const { pool } = setup();
    const acquired: unknown[] = [];
    const released: [unknown, unknown][] = [];
    pool.on('acquire', (client) => acquired.push(client));
    pool.on('release', (err, client) => released.push([err, client]));
    for (let i = 0; i < 3; i++) await pool.query('select 1');
    await pool.query('fail').catch(() => {});
    expect(acquired).toHaveLength(4);
    expect(new Set(acquired).size).toBe(1);
    expect(released.map(([err]) => err === undefined)).toEqual([true, true, true, false]);
    expect(released[3]?.[0]).toMatchObject({ code: '42601' });
    expect(released[0]?.[1]).toBe(acquired[0]);
  });

  it('bad input: a config with neither text nor submit, non-array values, or a non-function callback are ERR_INVALID_ARGUMENT naming the argument; nothing is borrowed', async () => {
    const { pool, server, registry } = setup();
    await expect(pool.query({ values: [1] } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('query config') });
    await expect(pool.query('select 1', 'x' as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('values') });
    expect(() => pool.query('select 1', [1], 'not a function' as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('callback') }));
    expect(() => pool.connect(42 as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    const viaCallback = await new Promise<Error>((resolve) => pool.query({ name: 'x' } as never, (err: Error) => resolve(err)));
    expect(viaCallback).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect(registry.stats('api')).toMatchObject({ acquired: 0, inUse: 0, errors: 0 });
    expect(server.open('view:api')).toHaveLength(0);
  });
});

describe('counts', () => {
  it('totalCount, idleCount and waitingCount follow pg-pool: waiting counts queued requests when every client is out', async () => {
    const { pool } = setup({ size: 0, overflow: 2, acquireTimeoutMs: 5_000 });
    expect([pool.totalCount, pool.idleCount, pool.waitingCount, pool.expiredCount]).toEqual([0, 0, 0, 0]);
    const a = await pool.connect();
    const b = await pool.connect();
    expect([pool.totalCount, pool.idleCount, pool.waitingCount]).toEqual([2, 0, 0]);
    const third = pool.connect();
    const fourth = pool.connect();
    await advance();
    expect(pool.waitingCount).toBe(2);
    a.release();
    const c = await third;
    expect(c).toBe(a);
    expect(pool.waitingCount).toBe(1);
    b.release();
    (await fourth).release();
    c.release();
    expect([pool.totalCount, pool.idleCount, pool.waitingCount]).toEqual([2, 2, 0]);
  });

  it('expiredCount counts checked-out clients past maxUses, closed when they come back', async () => {
    const { pool } = setup({ size: 0, overflow: 1, maxUses: 2 });
    (await pool.connect()).release();
    const second = await pool.connect();
    expect(pool.expiredCount).toBe(1);
    second.release();
    await advance();
    expect([pool.totalCount, pool.expiredCount]).toEqual([0, 0]);
  });
});

describe('events', () => {
  it('connect fires once per new connection with the client, before acquire', async () => {
    const { pool } = setup();
    const order: string[] = [];
    const connected: unknown[] = [];
    pool.on('connect', (client) => {
      connected.push(client);
      order.push('connect');
    });
    pool.on('acquire', () => order.push('acquire'));
    const client = await pool.connect();
    client.release();
    (await pool.connect()).release();
    expect(connected).toEqual([client]);
    expect(order).toEqual(['connect', 'acquire', 'acquire']);
  });

  it('error fires with (err, client) when an idle client fails, and the client is removed; without a listener nothing throws', async () => {
    const { pool, server } = setup();
    (await pool.connect()).release();
    const errors: [Error, unknown][] = [];
    const removed: unknown[] = [];
    // A handle with no 'error' listener: a failing idle client must not throw (pg-pool's would crash the process).
    const silent = setup();
    (await silent.pool.connect()).release();
    silent.server.terminateAll('view:api');
    await advance();
    expect(silent.pool.totalCount).toBe(0);
    pool.on('error', (err, client) => errors.push([err, client]));
    pool.on('remove', (client) => removed.push(client));
    const [victim] = server.open('view:api');
    victim?.terminate();
    await advance();
    expect(errors).toHaveLength(1);
    expect(errors[0]?.[0]).toMatchObject({ code: '57P01' });
    expect(errors[0]?.[1]).toBe(victim);
    expect(removed).toEqual([victim]);
    expect(pool.totalCount).toBe(0);
  });
});

describe('listeners that throw', () => {
  it('a throwing acquire/release/connect listener breaks neither the checkout nor the listeners after it; it becomes a process warning', async () => {
    const { pool } = setup();
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on('warning', onWarning);
    try {
      const after: string[] = [];
      for (const event of ['connect', 'acquire', 'release'] as const) {
        pool.on(event, () => {
          throw new Error(`${event} listener failed`);
        });
        pool.on(event, () => after.push(event));
      }
      const client = await pool.connect();
      client.release();
      await expect(pool.query('select 1')).resolves.toBeDefined();
      expect(after).toEqual(['connect', 'acquire', 'release', 'acquire', 'release']);
      expect(pool.idleCount).toBe(1);
      expect(pool.totalCount).toBe(1);
      await advance();
      expect(warnings).toContain("pg-bulkhead: a listener of 'acquire' threw: acquire listener failed");
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('pool.end', () => {
  it('ends this handle only: it waits for its clients, then rejects new work with pg-pool\'s message; the service keeps its connections for everyone else', async () => {
    const { pool, registry, server } = setup({ size: 1, overflow: 1 });
    const other = registry.pgPool('api');
    const held = await pool.connect();
    await advance();
    const opened = server.open('view:api').length;
    let ended = false;
    const ending = pool.end().then(() => {
      ended = true;
    });
    expect(pool.ending).toBe(true);
    expect(pool.ended).toBe(false);
    await expect(pool.query('select 1')).rejects.toThrow('Cannot use a pool after calling end on the pool');
    await expect(pool.connect()).rejects.toThrow('Cannot use a pool after calling end on the pool');
    await advance();
    expect(ended).toBe(false); // a client is still out
    held.release();
    await ending;
    expect(pool.ended).toBe(true);
    // nothing of the shared service was closed
    expect(server.open('view:api')).toHaveLength(opened);
    await expect(other.query('select 1')).resolves.toBeDefined();
    await expect(registry.query('api', 'select 1')).resolves.toBeDefined();
    await expect(pool.end()).rejects.toThrow('Called end on pool more than once');
  });

  it('end(callback) calls back once done; an idle handle ends at once', async () => {
    const { pool } = setup();
    await new Promise<void>((resolve) => pool.end(() => resolve()));
    expect(pool.ended).toBe(true);
  });

  it('after end, the handle no longer re-emits the service\'s connect/remove events', async () => {
    const { pool, registry } = setup();
    const seen: string[] = [];
    pool.on('connect', () => seen.push('connect'));
    await pool.end();
    (await registry.acquire('api')).release(true);
    await advance();
    expect(seen).toEqual([]);
  });
});

describe('options and identity', () => {
  it('options are pg-like (host, port, user, database, ssl) with the password present but not enumerable, so no log shows it', () => {
    const { pool } = setup();
    const options = pool.options as pg.PoolOptions & Record<string, unknown>;
    expect(options).toMatchObject({ host: 'db.example', port: 6543, user: 'app', database: 'shop', ssl: false, application_name: 'view:api', max: 2 });
    expect(options.password).toBe('s3cret-pw');
    expect(Object.keys(options)).not.toContain('password');
    expect(JSON.stringify(options)).not.toContain('s3cret');
    expect(JSON.stringify({ ...options })).not.toContain('s3cret');
    expect(String(options.connectionString)).not.toContain('s3cret');
    expect(inspect(pool, { depth: 6 })).not.toContain('s3cret');
    expect(inspect(options)).not.toContain('s3cret');
    // Kysely's cancel path: new pool.Client({ ...pool.options, password: pool.options.password })
    const control = { ...options, password: options.password };
    expect(control).toMatchObject({ host: 'db.example', port: 6543, user: 'app', database: 'shop', password: 's3cret-pw' });
  });

  it('its class name contains "Pool" (how Drizzle recognizes a pool) and it exposes the Client constructor', () => {
    const { pool, server } = setup();
    expect(Object.getPrototypeOf(pool).constructor.name).toContain('Pool');
    expect(pool.Client).toBe(server.Client);
  });

  it('each pgPool() call is a new handle; a closed registry refuses to make one', async () => {
    const { registry } = setup();
    const a: PgPoolView = registry.pgPool('api');
    expect(registry.pgPool('api')).not.toBe(a);
    expect(() => registry.pgPool('nope' as 'api')).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_SERVICE' }));
    await registry.close({ timeoutMs: 10 });
    expect(() => registry.pgPool('api')).toThrow(expect.objectContaining({ code: 'ERR_POOL_CLOSED' }));
    await expect(a.query('select 1')).rejects.toMatchObject({ code: 'ERR_POOL_CLOSED' });
  });
});
