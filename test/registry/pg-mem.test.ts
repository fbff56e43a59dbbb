import { describe, expect, it } from 'vitest';
import { createPoolRegistry, servicePresets } from '../../src/index';
import { memoryDatabase } from '../helpers/pg-mem';

describe('registry on pg-mem (the embedded default)', () => {
  it('runs queries, transactions and leases through the Client option', async () => {
    const { Client } = memoryDatabase();
    const registry = createPoolRegistry({ Client, applicationName: 'mem', services: servicePresets });
    try {
      await registry.query('background', 'create table users (id int primary key, name text)');
      await registry.transaction('auth', async (client) => {
        await client.query("insert into users values (1, 'ada')");
        await client.query("insert into users values (2, 'grace')");
      });
      const { rows } = await registry.query<{ name: string }>('auth', 'select name from users where id = $1', [2]);
      expect(rows).toEqual([{ name: 'grace' }]);
      const lease = await registry.acquire('llm');
      const count = await lease.query<{ n: number }>('select count(*) as n from users');
      expect(Number(count.rows[0]?.n)).toBe(2);
      lease.release();
      await expect(registry.query('extension', 'select * from missing_table')).rejects.toThrow(/missing_table/);
      const stats = registry.stats();
      expect(stats.services.auth).toMatchObject({ acquired: 2, inUse: 0, guaranteedSize: 3, max: 8, priority: 'highest' });
      expect(stats.services.extension.errors).toBe(1);
      // BEGIN, the two inserts on the raw client, COMMIT, and the select: queries on the raw client are timed too
      expect(stats.services.auth.queryTime.count).toBe(5);
    } finally {
      const report = await registry.close();
      expect(report.clean).toBe(true);
    }
  });
});
