import { describe, expect, it } from 'vitest';
import { checkServerCapacity, type CheckSubject } from '../../src/registry/server-check';

// The server and PgBouncer's console as checkServer reads them: room for 100 of this application's sessions.
const server = {
  query: async (text: string) =>
    text.includes('max_connections') ? { rows: [{ max: 103, reserved: 3, current: 0 }] } : { rows: [] as Record<string, unknown>[] },
};
function pgbouncerConsole(databases: Record<string, unknown>[], maxClientConn = 1_000) {
  return {
    query: async (text: string) =>
      text === 'SHOW CONFIG' ? { rows: [{ key: 'pool_mode', value: 'transaction' }, { key: 'max_client_conn', value: String(maxClientConn) }] } : { rows: databases },
  };
}
const alias = (name: string, poolSize: number, extra: Record<string, unknown> = {}) => ({ name, pool_size: poolSize, reserve_pool: 0, max_connections: 0, force_user: '', pool_mode: '', ...extra });
const subject = (services: CheckSubject['services'], budget = 400): CheckSubject => ({ applicationName: 'shop', instanceTag: undefined, budget, pooler: 'pgbouncer-transaction', services });

describe('checkServer behind PgBouncer in transaction mode (issue 15)', () => {
  it("counts PgBouncer's server connections per alias and user, capped by max_db_connections, against the server's room", async () => {
    const cases: { name: string; databases: Record<string, unknown>[]; services: CheckSubject['services']; expected: number | undefined }[] = [
      { name: 'one pool per alias', databases: [alias('a', 30), alias('b', 40)], services: [{ service: 'auth', size: 1, database: 'a' }, { service: 'llm', size: 0, database: 'b' }], expected: 70 },
      { name: 'two users on one alias: two pools', databases: [alias('a', 30)], services: [{ service: 'auth', size: 1, database: 'a', user: 'auth' }, { service: 'llm', size: 0, database: 'a', user: 'llm' }], expected: 60 },
      { name: 'a forced user: one pool', databases: [alias('a', 30, { force_user: 'app' })], services: [{ service: 'auth', size: 1, database: 'a', user: 'auth' }, { service: 'llm', size: 0, database: 'a', user: 'llm' }], expected: 30 },
      { name: 'max_db_connections caps the pools', databases: [alias('a', 30, { max_connections: 45 })], services: [{ service: 'auth', size: 1, database: 'a', user: 'auth' }, { service: 'llm', size: 0, database: 'a', user: 'llm' }], expected: 45 },
      { name: 'reserve_pool counts', databases: [alias('a', 30, { reserve_pool: 5 })], services: [{ service: 'auth', size: 1, database: 'a' }], expected: 35 },
      { name: 'a service past this PgBouncer: unknown', databases: [alias('a', 30)], services: [{ service: 'auth', size: 1, database: 'a' }, { service: 'llm', size: 0, database: 'direct' }], expected: undefined },
    ];
    for (const c of cases) {
      const report = await checkServerCapacity(server, subject(c.services), pgbouncerConsole(c.databases));
      expect([c.name, report.pgbouncerServerConnections]).toEqual([c.name, c.expected]);
      // The registry's 400 connections never reach the server: only what PgBouncer opens is compared (room: 100).
      expect([c.name, report.fits]).toEqual([c.name, c.expected !== undefined]);
    }
  });

  it("warns when PgBouncer's pools could take more than the server has room for", async () => {
    const report = await checkServerCapacity(server, subject([{ service: 'auth', size: 1, database: 'a' }], 50), pgbouncerConsole([alias('a', 120)]));
    expect(report).toMatchObject({ fits: false, pgbouncerServerConnections: 120 });
    expect(report.warning).toBe(
      'PgBouncer may open 120 server connections for the aliases of this application but the server has room for 100 (max_connections 103 - 3 superuser reserved - 0 used by other applications): lower their pool_size or max_db_connections, or raise max_connections',
    );
  });

  it('other poolers compare the registry itself, and every mode counts it against max_client_conn', async () => {
    const session = { ...subject([{ service: 'auth', size: 1, database: 'a' }], 90), pooler: 'pgbouncer-session' as const };
    const report = await checkServerCapacity(server, session, pgbouncerConsole([alias('a', 120, { pool_mode: 'session' })], 80));
    expect(report).toMatchObject({ fits: false, pgbouncerServerConnections: undefined, combinedBudget: 90, available: 100 });
    expect(report.warning).toBe('the registry may open 90 connections to PgBouncer, above its max_client_conn 80 (shared with every other client of this PgBouncer): lower maxConnections or raise max_client_conn');
  });
});
