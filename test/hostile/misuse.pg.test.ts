// Hostile input on the real driver: SQL that is not a string, values that are not an array. pg itself rejects
// these; the library should answer with a coded error before borrowing a connection, and never count them as
// database failures (which feed the detector's failure rule).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createPoolRegistry, type PoolRegistry } from '../../src/index';
import { describePg, pgUrl, uniqueAppName } from '../helpers/pg';

describePg('non-string SQL and non-array values (real PostgreSQL)', () => {
  let registry: PoolRegistry<'auth'>;
  let js: { query(s: string, text: unknown, values?: unknown): Promise<unknown> };
  const settle = (p: Promise<unknown>) =>
    Promise.race([
      p.then(
        () => 'resolved',
        (e: { code?: string; name?: string }) => ({ code: e?.code, name: e?.name }),
      ),
      new Promise((resolve) => setTimeout(() => resolve('HUNG'), 2_000)),
    ]);
  beforeAll(() => {
    registry = createPoolRegistry({ connection: pgUrl, applicationName: uniqueAppName('misuse'), services: { auth: { size: 1, overflow: 0, acquireTimeoutMs: 1_000 } } });
    js = registry as unknown as typeof js;
  });
  afterAll(async () => {
    await registry.close();
  });
  const BAD_SQL: unknown[] = [42, null, undefined, {}, ['select 1'], Symbol('sql')];

  it('settles (never hangs) and leaves the pool serving', async () => {
    for (const text of BAD_SQL) expect(await settle(js.query('auth', text))).not.toBe('HUNG');
    expect(await settle(js.query('auth', 'select $1::text', 'not an array'))).not.toBe('HUNG');
    expect((await registry.query<{ one: number }>('auth', 'select 1 as one')).rows[0]?.one).toBe(1);
    expect(registry.stats('auth')).toMatchObject({ inUse: 0, total: 1 });
  });

  it('rejects them with ERR_INVALID_ARGUMENT before borrowing, without counting a database error', async () => {
    const before = registry.stats('auth');
    for (const text of BAD_SQL) expect(await settle(js.query('auth', text))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect(await settle(js.query('auth', 'select $1::text', 'not an array'))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    const after = registry.stats('auth');
    expect(after.errors).toBe(before.errors);
    expect(after.acquired).toBe(before.acquired);
  });
});
