import { Kysely, PostgresDialect } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createPoolRegistry } from '../../src/index';
import { memoryDatabase } from '../helpers/pg-mem';

// pg-mem (the embedded default) runs only part of what the ORMs need, so the real proof is orms.pg.test.ts.
// What it cannot do, as probed: Drizzle sends `types: { getTypeParser }` with every query ("getTypeParser is not
// supported"); connect-pg-simple calls to_regclass() and to_timestamp(), which pg-mem does not implement; and a
// transaction's ROLLBACK is a no-op there, so Kysely's rollback is only tested on real PostgreSQL.
describe('pg.Pool view with Kysely on pg-mem', () => {
  it('inserts and selects through PostgresDialect, each connection from the service, released after use', async () => {
    const { Client } = memoryDatabase();
    const registry = createPoolRegistry({ Client, applicationName: 'mem13', services: { api: { size: 1, overflow: 1 } } });
    try {
      await registry.query('api', 'create table items (id serial primary key, name text not null, qty int not null default 0)');
      const db = new Kysely<{ items: { id: number; name: string; qty: number } }>({ dialect: new PostgresDialect({ pool: registry.pgPool('api') }) });
      await db.insertInto('items').values([{ name: 'a', qty: 1 } as never, { name: 'b', qty: 2 } as never]).execute();
      const rows = await db.selectFrom('items').select(['name', 'qty']).where('qty', '>', 1).execute();
      expect(rows).toEqual([{ name: 'b', qty: 2 }]);
      const stats = registry.stats('api');
      expect(stats.inUse).toBe(0);
      expect(stats.acquired).toBe(3);
      expect(stats.queryTime.count).toBe(3);
      await db.destroy();
      expect((await registry.query('api', 'select count(*)::int as n from items')).rows[0]).toEqual({ n: 2 });
    } finally {
      expect((await registry.close()).clean).toBe(true);
    }
  });
});
