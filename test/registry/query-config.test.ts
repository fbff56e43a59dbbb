import { afterEach, describe, expect, it } from 'vitest';
import { createPoolRegistry, type PoolRegistry } from '../../src/index';
import { FakeServer, result } from '../helpers/fake-client';
import { memoryDatabase } from '../helpers/pg-mem';

let registries: PoolRegistry<string, never>[] = [];
afterEach(async () => {
  await Promise.all(registries.map((r) => r.close({ timeoutMs: 10 })));
  registries = [];
});

function fake() {
  const server = new FakeServer();
  const seen: [unknown, unknown][] = [];
  server.onQuery = (query, values) => {
    seen.push([query, values]);
    return result('SELECT', [{ ok: 1 }]);
  };
  const registry = createPoolRegistry({ Client: server.Client, applicationName: 'qc', services: { api: { size: 0, overflow: 1 } } });
  registries.push(registry as unknown as PoolRegistry<string, never>);
  return { server, registry, seen };
}

describe('registry.query and lease.query take what pg takes', () => {
  it('a query config (name, rowMode, types) reaches the client as given; text with values as before', async () => {
    const { registry, seen } = fake();
    const config = { name: 'q1', text: 'select $1', values: [1], rowMode: 'array' as const };
    await registry.query('api', config);
    await registry.query('api', 'select $1', [2]);
    const lease = await registry.acquire('api');
    await lease.query({ text: 'select 3' });
    await lease.query({ text: 'select $1' }, [4]);
    lease.release();
    expect(seen).toEqual([
      [config, undefined],
      ['select $1', [2]],
      [{ text: 'select 3' }, undefined],
      [{ text: 'select $1' }, [4]],
    ]);
  });

  it('on pg-mem: a query config with values, and a named statement run twice', async () => {
    const { Client } = memoryDatabase();
    const registry = createPoolRegistry({ Client, services: { api: { size: 1, overflow: 0 } } });
    registries.push(registry as unknown as PoolRegistry<string, never>);
    await registry.query('api', { text: 'create table t13 (id int, name text)' });
    await registry.query('api', { text: 'insert into t13 values ($1, $2)', values: [1, 'ada'] });
    const named = { name: 't13-by-id', text: 'select name from t13 where id = $1' };
    expect((await registry.query<{ name: string }>('api', { ...named, values: [1] })).rows).toEqual([{ name: 'ada' }]);
    expect((await registry.query<{ name: string }>('api', named, [1])).rows).toEqual([{ name: 'ada' }]);
  });

  it('bad input is ERR_INVALID_ARGUMENT naming the argument, before anything is borrowed', async () => {
    const { registry, server } = fake();
    const cases: [unknown, unknown, RegExp][] = [
      [{ values: [1] }, undefined, /api: query config: expected text \(a string\) or a submittable.*keys: values/],
      [{ name: 'x', text: 42 }, undefined, /query config: .*text is 42 \(number\)/],
      [{ text: 'select 1', values: 'x' }, undefined, /query config values: expected an array/],
      ['select 1', { 0: 1 }, /query values: expected an array/],
      [null, undefined, /query: expected SQL text/],
      [42, undefined, /query: expected SQL text/],
      [{ submit: () => {} }, undefined, /a submittable \(cursor, stream\) needs a connection held/],
    ];
    for (const [query, values, message] of cases) {
      await expect(registry.query('api', query as string, values as unknown[])).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(message) });
    }
    const lease = await registry.acquire('api');
    await expect(lease.query({ values: [] } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('query config') });
    lease.release();
    await expect(lease.query('select 1')).rejects.toMatchObject({ code: 'ERR_LEASE_RELEASED' });
    expect(registry.stats('api')).toMatchObject({ acquired: 1, errors: 0 });
    expect(server.clients[0]?.queries).toEqual([]);
  });

  it('lease.query(submittable) hands it to the client and returns it, as pg does', async () => {
    const { registry } = fake();
    const lease = await registry.acquire('api');
    const submitted: unknown[] = [];
    const client = lease.client as unknown as { query: (q: unknown) => unknown };
    const original = client.query;
    client.query = (q: unknown) => {
      submitted.push(q);
      return q;
    };
    const cursor = { submit: () => {} };
    expect(lease.query(cursor)).toBe(cursor);
    expect(submitted).toEqual([cursor]);
    client.query = original;
    lease.release();
  });
});
