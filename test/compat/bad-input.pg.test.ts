import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createPoolRegistry, isBulkheadError } from '../../src/index';
import { adminClient, countBackends, describePg, pgUrl, uniqueAppName } from '../helpers/pg';
import { waitFor } from '../helpers/wait-for';

// Each bad input gets a coded error naming what was wrong, and leaves no session behind on the server.
describePg('bad input, onConnect and abort on real PostgreSQL: coded errors, nothing leaked', () => {
  let admin: pg.Client;
  beforeAll(async () => {
    admin = await adminClient();
  });
  afterAll(async () => {
    await admin?.end();
  });

  it('query config with neither text nor submit, a non-function callback, an aborted signal: each rejected before any session is opened (server sessions counted after each)', async () => {
    const app = uniqueAppName('13bad');
    const registry = createPoolRegistry({ connection: pgUrl, applicationName: app, services: { api: { size: 0, overflow: 2 } } });
    const pool = registry.pgPool('api');
    const signal = AbortSignal.abort(new Error('gone'));
    const rejected = async (call: () => Promise<unknown>) => call().then(() => 'resolved', (e: unknown) => e);
    const thrown = (call: () => unknown) => {
      try {
        call();
        return 'returned';
      } catch (e) {
        return e;
      }
    };
    const aborted = { name: 'AbortError', code: 'ERR_ABORTED', cause: signal.reason, message: expect.stringContaining('aborted by its signal') };
    const cases: [string, () => Promise<unknown>, object][] = [
      ['registry.query config without text', () => rejected(() => registry.query('api', { values: [1] } as never)), { code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('query config') }],
      ['view query config without text', () => rejected(() => pool.query({ name: 'x' } as never)), { code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('query config') }],
      ['view query callback not a function', async () => thrown(() => pool.query('select 1', [], 'cb' as never)), { code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('callback') }],
      ['view connect callback not a function', async () => thrown(() => pool.connect({} as never)), { code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('connect callback') }],
      ['acquire with an aborted signal', () => rejected(() => registry.acquire('api', { signal })), aborted],
      ['query with an aborted signal', () => rejected(() => registry.query('api', 'select 1', [], { signal })), aborted],
      ['withClient with an aborted signal', () => rejected(() => registry.withClient('api', async () => {}, { signal })), aborted],
      ['transaction with an aborted signal', () => rejected(() => registry.transaction('api', async () => {}, { signal })), aborted],
    ];
    try {
      for (const [what, call, expected] of cases) {
        expect(await call(), what).toMatchObject(expected);
        expect(registry.stats('api'), what).toMatchObject({ acquired: 0, created: 0, total: 0, errors: 0 });
        expect(await countBackends(admin, `${app}:api`), what).toBe(0);
      }
      // a positive control: the same registry does open a session on the server when asked properly
      await registry.query('api', 'select 1');
      expect(await countBackends(admin, `${app}:api`)).toBe(1);
    } finally {
      await registry.close();
    }
    expect(await countBackends(admin, `${app}:api`)).toBe(0);
  });

  it('maxUses <= 0 and onConnect not a function: ERR_CONFIG naming the option, no session opened', async () => {
    const app = uniqueAppName('13cfg');
    for (const api of [{ maxUses: 0 }, { maxUses: -3 }, { onConnect: 'set role app' }]) {
      const error = (() => {
        try {
          createPoolRegistry({ connection: pgUrl, applicationName: app, services: { api: { size: 1, ...(api as object) } } });
          return undefined;
        } catch (e) {
          return e;
        }
      })();
      expect(isBulkheadError(error, 'ERR_CONFIG')).toBe(true);
      expect((error as Error).message).toContain(`services.api.${Object.keys(api)[0]}`);
    }
    // a registry would have opened its size-1 connection at once: once a valid one made at the same time has its
    // session on the server, none of the refused ones has one
    const control = createPoolRegistry({ connection: pgUrl, applicationName: `${app}c`, services: { api: { size: 1 } } });
    try {
      await waitFor(async () => (await countBackends(admin, `${app}c:api`)) === 1, 10_000, "the valid registry's connection");
      expect(await countBackends(admin, `${app}:api`)).toBe(0);
    } finally {
      await control.close();
    }
  });

  it('an aborted waiter leaks nothing: the connection that frees later serves the next caller, and the server never sees a second session', async () => {
    const app = uniqueAppName('13abort');
    const registry = createPoolRegistry({ connection: pgUrl, applicationName: app, services: { api: { size: 1, overflow: 0, acquireTimeoutMs: 5_000 } } });
    try {
      const held = await registry.acquire('api');
      const controller = new AbortController();
      const aborted = registry.query('api', 'select 1', [], { signal: controller.signal }).catch((e: unknown) => e);
      const next = registry.query<{ one: number }>('api', 'select 1 as one');
      controller.abort('handler gone');
      expect(await aborted).toMatchObject({ name: 'AbortError', cause: 'handler gone' });
      held.release();
      expect((await next).rows).toEqual([{ one: 1 }]);
      expect(registry.stats('api')).toMatchObject({ inUse: 0, idle: 1, total: 1 });
      expect(await countBackends(admin, `${app}:api`)).toBe(1);
    } finally {
      await registry.close();
    }
    expect(await countBackends(admin, `${app}:api`)).toBe(0);
  });

  it('onConnect sets up each session before use (search_path, a custom type parser); a failing one leaves no session open', async () => {
    const app = uniqueAppName('13hook');
    const registry = createPoolRegistry({
      connection: pgUrl,
      applicationName: app,
      services: {
        api: {
          size: 0,
          overflow: 2,
          onConnect: async (client) => {
            await client.query('set search_path to pg_catalog, public');
            client.setTypeParser(20, (value: string) => BigInt(value)); // int8 as bigint on this service
          },
        },
        broken: { size: 0, overflow: 1, acquireTimeoutMs: 1_500, onConnect: (client) => client.query('set role t13_no_such_role') },
      },
    });
    try {
      const { rows } = await registry.query<{ path: string; big: bigint }>('api', 'select current_setting($1) as path, 9007199254740993::int8 as big', ['search_path']);
      expect(rows).toEqual([{ path: 'pg_catalog, public', big: 9007199254740993n }]);
      const view = await registry.pgPool('api').query('show search_path');
      expect(view.rows).toEqual([{ search_path: 'pg_catalog, public' }]);
      const error = await registry.query('broken', 'select 1').catch((e: unknown) => e);
      expect(isBulkheadError(error, 'ERR_ACQUIRE_TIMEOUT') || isBulkheadError(error, 'ERR_DATABASE_UNAVAILABLE')).toBe(true);
      expect(((error as Error).cause as Error).message).toMatch(/t13_no_such_role/);
      expect(registry.stats('broken')).toMatchObject({ created: 0, inUse: 0 });
      expect(registry.stats('broken').connectionErrors).toBeGreaterThanOrEqual(1);
      await waitFor(async () => (await countBackends(admin, `${app}:broken`)) === 0, 5_000, 'the failed sessions to close');
    } finally {
      await registry.close();
    }
    expect(await countBackends(admin, `${app}:api`)).toBe(0);
    expect(await countBackends(admin, `${app}:broken`)).toBe(0);
  });

  it('maxUses on the server: a session is replaced after N leases (a new backend pid)', async () => {
    const app = uniqueAppName('13uses');
    const registry = createPoolRegistry({ connection: pgUrl, applicationName: app, services: { api: { size: 0, overflow: 1, maxUses: 2 } } });
    try {
      const pids: number[] = [];
      for (let i = 0; i < 4; i++) pids.push(Number((await registry.query<{ pid: number }>('api', 'select pg_backend_pid() as pid')).rows[0]?.pid));
      expect(pids[0]).toBe(pids[1]);
      expect(pids[2]).toBe(pids[3]);
      expect(pids[2]).not.toBe(pids[1]);
      await waitFor(async () => (await countBackends(admin, `${app}:api`)) === 0, 5_000, 'the used-up session to close');
    } finally {
      await registry.close();
    }
  });
});
