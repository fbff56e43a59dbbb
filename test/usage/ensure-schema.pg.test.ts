/**
 * Many instances starting together on a fresh database all call `ensureSchema()` at once. Every caller must
 * resolve: PostgreSQL's `CREATE … IF NOT EXISTS` is not safe against a concurrent create of the same name (it
 * can fail with 23505, 42P07 or 42710 "type already exists").
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type pg from 'pg';
import { createPoolRegistry, type PoolRegistry } from '../../src/registry/pool-registry';
import { createUsageTracker } from '../../src/usage/usage-tracker';
import { adminClient, describePg, pgUrl, uniqueAppName } from '../helpers/pg';

const INSTANCES = 8;
const ROUNDS = 24;
const PREFIX = `ens_${process.pid}_${Math.floor(Math.random() * 1e5)}`;

describePg('ensureSchema() from 8 instances at once (real PostgreSQL)', () => {
  let admin: pg.Client;
  const registries: PoolRegistry<'usage'>[] = [];

  beforeAll(async () => {
    admin = await adminClient();
    const appName = uniqueAppName('ens');
    for (let i = 0; i < INSTANCES; i++) {
      registries.push(createPoolRegistry({ connection: pgUrl, applicationName: `${appName}-${i}`, services: { usage: { size: 1, overflow: 0, acquireTimeoutMs: 10_000 } } }));
    }
    // Connections open first, so the creates themselves race rather than the connects.
    await Promise.all(registries.map((r) => r.query('usage', 'select 1')));
  });

  afterAll(async () => {
    await Promise.all(registries.map((r) => r.close()));
    for (let round = 0; round < ROUNDS; round++) await admin.query(`drop table if exists ${PREFIX}_${round}, ${PREFIX}_${round}_ledger`);
    await admin.end();
  });

  it(`every caller resolves in each of ${ROUNDS} rounds on fresh table names, and the tables work`, async () => {
    const failures: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const table = `${PREFIX}_${round}`;
      const trackers = registries.map((registry) => createUsageTracker({ registry, service: 'usage', table, flushIntervalMs: 60_000 }));
      const results = await Promise.allSettled(trackers.map((t) => t.ensureSchema()));
      for (const r of results) if (r.status === 'rejected') failures.push(`round ${round}: ${(r.reason as { code?: string }).code} ${(r.reason as Error).message}`);
      trackers.forEach((t, i) => t.increment(`k${i}`, i + 1));
      const reports = await Promise.all(trackers.map((t) => t.close({ timeoutMs: 5_000 })));
      expect(reports.every((r) => r.clean)).toBe(true);
      const total = await admin.query<{ n: string }>(`select sum(count)::text as n from ${table}`);
      expect(Number(total.rows[0]!.n)).toBe((INSTANCES * (INSTANCES + 1)) / 2);
    }
    expect(failures).toEqual([]);
  });
});
