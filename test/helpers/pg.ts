import pg from 'pg';
import { describe, inject } from 'vitest';

/** Connection string of the real PostgreSQL, or '' when its suites are skipped (see global-setup). */
export const pgUrl: string = inject('pgUrl');

/** `describe` for real-PostgreSQL suites: skipped (never silently passed) without a server. */
export const describePg = describe.skipIf(pgUrl === '');

/** A plain admin client for assertions (pg_stat_activity, terminating backends). Caller ends it. */
export async function adminClient(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: pgUrl, application_name: 'pg-bulkhead-test-admin' });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** Connections on the server whose application_name is exactly `name`. */
export async function countBackends(admin: pg.Client, name: string): Promise<number> {
  const result = await admin.query<{ n: string }>('select count(*)::int as n from pg_stat_activity where application_name = $1', [name]);
  return Number(result.rows[0]?.n ?? 0);
}

/** A unique application name prefix per test, so parallel files never see each other's sessions. */
export function uniqueAppName(label: string): string {
  return `t-${label}-${process.pid}-${Math.floor(Math.random() * 1e6)}`.slice(0, 40);
}
