import pg from 'pg';
import { describe, inject } from 'vitest';

/** PgBouncer (transaction mode) in front of the test database, or '' (see pgbouncer-setup). */
export const pgbouncerTxUrl: string = inject('pgbouncerTxUrl');
/** PgBouncer (session mode) in front of the test database, or ''. */
export const pgbouncerSessionUrl: string = inject('pgbouncerSessionUrl');
/** PgBouncer (transaction mode) that refuses `statement_timeout` as a startup parameter, PgBouncer's default, or ''. */
export const pgbouncerStrictUrl: string = inject('pgbouncerStrictUrl');

/** `describe` for PgBouncer suites: skipped (never silently passed) without the two instances. */
export const describePgBouncer = describe.skipIf(pgbouncerTxUrl === '' || pgbouncerSessionUrl === '' || pgbouncerStrictUrl === '');

/** The same PgBouncer, another database alias (`test` → `test_auth`), as configured by test/pgbouncer/start.sh. */
export function alias(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** A client of PgBouncer's admin console (`SHOW POOLS`), for assertions. Caller ends it. */
export async function bouncerAdmin(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: alias(url, 'pgbouncer') });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** `SHOW POOLS` rows of one database alias. */
export async function showPools(admin: pg.Client, database: string): Promise<{ clWaiting: number; clActive: number; svActive: number }> {
  const { rows } = await admin.query('SHOW POOLS');
  let clWaiting = 0;
  let clActive = 0;
  let svActive = 0;
  for (const row of rows as Record<string, unknown>[]) {
    if (row.database !== database) continue;
    clWaiting += Number(row.cl_waiting);
    clActive += Number(row.cl_active);
    svActive += Number(row.sv_active);
  }
  return { clWaiting, clActive, svActive };
}
