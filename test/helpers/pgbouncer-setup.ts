import pg from 'pg';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** PgBouncer in transaction mode in front of the test PostgreSQL, or '' when the PgBouncer suites are skipped. */
    pgbouncerTxUrl: string;
    /** PgBouncer in session mode, or ''. */
    pgbouncerSessionUrl: string;
    /** PgBouncer in transaction mode that refuses the timeouts as startup parameters (its default), or ''. */
    pgbouncerStrictUrl: string;
  }
}

/**
 * Decides once whether the PgBouncer suites (`*.pgbouncer.test.ts`) run. They need the two instances that
 * `test/pgbouncer/start.sh` starts (PGBOUNCER_TX_URL, PGBOUNCER_SESSION_URL). Without them they are skipped with one
 * clear line, unless PGBOUNCER_REQUIRED=1 (CI), which turns that into a failure.
 */
export default async function setup(project: TestProject): Promise<(() => void) | undefined> {
  const tx = process.env.PGBOUNCER_TX_URL ?? '';
  const session = process.env.PGBOUNCER_SESSION_URL ?? '';
  const strict = process.env.PGBOUNCER_STRICT_URL ?? '';
  const required = process.env.PGBOUNCER_REQUIRED === '1';
  const skip = (why: string): (() => void) => {
    if (required) throw new Error(`PGBOUNCER_REQUIRED=1 but ${why}: the PgBouncer suites cannot run`);
    const line = `[pg-bulkhead] PgBouncer suites skipped: ${why} (run eval "$(test/pgbouncer/start.sh)" first)`;
    console.log(`\n${line}\n`);
    project.provide('pgbouncerTxUrl', '');
    project.provide('pgbouncerSessionUrl', '');
    project.provide('pgbouncerStrictUrl', '');
    return () => console.log(`\n${line}\n`);
  };
  if (tx === '' || session === '' || strict === '') return skip('PGBOUNCER_TX_URL / PGBOUNCER_SESSION_URL / PGBOUNCER_STRICT_URL are not set');
  for (const url of [tx, session, strict]) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('select 1');
    } catch (error) {
      return skip(`the PgBouncer at ${new URL(url).host} is unreachable (${error instanceof Error ? error.message : String(error)})`);
    } finally {
      await client.end().catch(() => {});
    }
  }
  project.provide('pgbouncerTxUrl', tx);
  project.provide('pgbouncerSessionUrl', session);
  project.provide('pgbouncerStrictUrl', strict);
  return undefined;
}
