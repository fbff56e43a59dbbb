import pg from 'pg';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Connection string of a reachable real PostgreSQL, or '' when the real-PostgreSQL suites are skipped. */
    pgUrl: string;
  }
}

/**
 * Decides once whether the real-PostgreSQL suites (`*.pg.test.ts`) run: they need DATABASE_URL and a reachable
 * server. Without them they are skipped with one clear line, unless PG_REQUIRED=1, which turns that into a failure.
 */
export default async function setup(project: TestProject): Promise<(() => void) | undefined> {
  const url = process.env.DATABASE_URL ?? '';
  const required = process.env.PG_REQUIRED === '1';
  if (url === '') {
    if (required) throw new Error('PG_REQUIRED=1 but DATABASE_URL is not set: the real-PostgreSQL suites cannot run');
    const line = '[pg-bulkhead] real-PostgreSQL suites skipped: DATABASE_URL is not set (set it, e.g. postgres://postgres@127.0.0.1:5432/test, to run them)';
    console.log(`\n${line}\n`);
    project.provide('pgUrl', '');
    return () => console.log(`\n${line}\n`); // again at the end, where the summary is read
  }
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
    project.provide('pgUrl', url);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    if (required) throw new Error(`PG_REQUIRED=1 but the PostgreSQL at DATABASE_URL is unreachable: ${why}`);
    const line = `[pg-bulkhead] real-PostgreSQL suites skipped: DATABASE_URL is set but the server is unreachable (${why})`;
    console.log(`\n${line}\n`);
    project.provide('pgUrl', '');
    return () => console.log(`\n${line}\n`);
  } finally {
    await client.end().catch(() => {});
  }
  return undefined;
}
