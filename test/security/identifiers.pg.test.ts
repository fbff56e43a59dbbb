// Security: identifiers the library puts into SQL are validated (injection attempts are ERR_CONFIG), and values
// always travel as parameters: hostile application names, usage keys and service-side strings reach PostgreSQL as
// data, never as SQL. Checked on the real server with a canary table that an injection would drop.
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createInterferenceDetector, createPoolRegistry, createUsageTracker, isBulkheadError, type ConfigError } from '../../src/index';
import { FakeServer } from '../helpers/fake-client';
import { adminClient, describePg, pgUrl } from '../helpers/pg';

const CANARY = `pgb_canary_${process.pid}`;
const TABLE = `pgb_inj_usage_${process.pid}`;
const INJECTIONS = [`x'; drop table ${CANARY}; --`, `x"; drop table ${CANARY}; --`, `$1); drop table ${CANARY}; --`, `\\'; drop table ${CANARY}; --`];

describePg('identifiers are validated and values are parameters (real PostgreSQL)', () => {
  let admin: pg.Client;
  beforeAll(async () => {
    admin = await adminClient();
    await admin.query(`create table ${CANARY} (id int)`);
  });
  afterAll(async () => {
    await admin.query(`drop table if exists ${CANARY}, ${TABLE}, ${TABLE}_ledger`);
    await admin.end();
  });
  const canaryAlive = async (): Promise<boolean> => (await admin.query('select to_regclass($1) as t', [CANARY])).rows[0]?.t !== null;

  it('usage table and schema names that would inject are ERR_CONFIG at `table`, before any SQL runs', async () => {
    const server = new FakeServer();
    const registry = createPoolRegistry({ Client: server.Client, services: { usage: { size: 0, overflow: 1 } } });
    for (const table of [`usage; drop table ${CANARY}`, `usage"; drop table ${CANARY}; --`, `public.usage"--`, `a.b.c`, `"usage"`, `usage counters`, `usage\u0000`, `usage--`, `pg_catalog.pg_class; --`, '']) {
      let thrown: unknown = null;
      try {
        createUsageTracker({ registry, service: 'usage', table });
      } catch (error) {
        thrown = error;
      }
      expect(isBulkheadError(thrown, 'ERR_CONFIG'), table).toBe(true);
      expect((thrown as ConfigError).problems.map((p) => p.path)).toEqual(['table']);
    }
    expect(server.clients.flatMap((c) => c.queries)).toEqual([]);
    await registry.close();
  });

  it('service names that are not plain are ERR_CONFIG; control characters in applicationName are ERR_CONFIG', () => {
    const hostile: Record<string, object>[] = [{ "a'; drop table x; --": {} }, { 'a b': {} }, { 'a"b': {} }, { 'ü': {} }];
    for (const services of hostile) {
      expect(() => createPoolRegistry({ connection: pgUrl, services })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
    }
    for (const applicationName of ['a\nb', 'a\u0000b', 'ünicode', '']) {
      expect(() => createPoolRegistry({ connection: pgUrl, applicationName, services: { auth: {} } })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
    }
  });

  it('hostile application names (quotes, semicolons, LIKE wildcards) travel as data: sessions, checkServer and the detector probe work, nothing is dropped', async () => {
    for (const applicationName of INJECTIONS) {
      const registry = createPoolRegistry({ connection: pgUrl, applicationName, services: { auth: { size: 1, overflow: 1 } } });
      try {
        expect((await registry.query<{ n: string }>('auth', 'select current_setting($1) as n', ['application_name'])).rows[0]?.n).toBe(`${applicationName}:auth`);
        const report = await registry.checkServer();
        expect(report.ownConnections).toBeGreaterThanOrEqual(1);
        const detector = createInterferenceDetector({ registry, serverProbe: true });
        await detector.check();
        await detector.stop();
      } finally {
        await registry.close();
      }
      expect(await canaryAlive()).toBe(true);
    }
  });

  it('usage keys with SQL in them are counted as data, exactly', async () => {
    const registry = createPoolRegistry({ connection: pgUrl, applicationName: `pgb-inj-${process.pid}`, services: { usage: { size: 1, overflow: 0 } } });
    const usage = createUsageTracker({ registry, service: 'usage', table: TABLE });
    try {
      await usage.ensureSchema();
      for (const key of INJECTIONS) for (let i = 0; i < 3; i++) usage.increment(key, 2);
      expect((await usage.close()).clean).toBe(true);
      const { rows } = await admin.query<{ key: string; n: string }>(`select key, count::text as n from ${TABLE} order by key`);
      expect(rows).toEqual([...INJECTIONS].sort().map((key) => ({ key, n: '6' })));
      expect(await canaryAlive()).toBe(true);
    } finally {
      await usage.close();
      await registry.close();
    }
  });
});
