import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { adminClient, countBackends, describePg, pgUrl } from '../helpers/pg';
import { waitFor } from '../helpers/wait-for';
import { uniquePrefix } from './server-checks';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Starts examples/express-server.ts as a script, sends a slow llm request, SIGTERMs the process while it is in
 * flight, and returns what happened: the in-flight response, whether new connections were refused, the exit code
 * and the log.
 */
async function sigtermWhileBusy(
  databaseUrl: string,
  prefix = 'app',
  // pg-mem gives no outside view of the handler: with a 2 s model call, 700 ms leaves a loaded machine time to have
  // started it, with 1.3 s of it still in flight when SIGTERM arrives, and the request ends well before the
  // example's 5 s usage flush interval, so its count is written by the final flush.
  handlerStarted: () => Promise<unknown> = () => new Promise((resolve) => setTimeout(resolve, 700)),
  modelMs = 2_000,
): Promise<{ status: number; refused: boolean; code: number | null; signal: string | null; stdout: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/express-server.ts'], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: databaseUrl, PORT: '0', APP_PREFIX: prefix, MODEL_MS: String(modelMs) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const poll = setInterval(() => {
        const match = /listening on (http:\/\/\S+)/.exec(stdout);
        if (match) {
          clearInterval(poll);
          resolve(match[1]!);
        }
      }, 20);
      void exited.then(() => {
        clearInterval(poll);
        reject(new Error(`exited before listening:\n${stdout}`));
      });
    });
    const inFlight = fetch(`${url}/llm/complete`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt":"bye"}' });
    await handlerStarted(); // the handler now holds an llm connection, awaiting its model
    child.kill('SIGTERM');
    const response = await inFlight;
    const status = response.status;
    await response.text();
    const refused = await fetch(`${url}/health`).then(
      () => false,
      () => true,
    );
    const { code, signal } = await exited;
    return { status, refused, code, signal, stdout };
  } finally {
    clearTimeout(timer);
    // A failed step above must not leave the server running (with its sessions) after the test.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

describe('examples/express-server.ts as a process: graceful SIGTERM (pg-mem)', () => {
  it('finishes the request in flight, refuses new ones, flushes usage, closes the registry and exits 0 by itself', async () => {
    const result = await sigtermWhileBusy('');
    expect(result.status).toBe(200);
    expect(result.refused).toBe(true);
    expect(result.signal).toBeNull();
    expect(result.code).toBe(0); // exits because nothing is left running, not because it was killed
    const lines = result.stdout.trim().split('\n');
    expect(lines.slice(-4)).toEqual(['SIGTERM: shutting down', 'usage: final flush complete (1 increments written while closing)', 'registry closed cleanly', 'shutdown complete']);
  });
});

describePg('examples/express-server.ts as a process: graceful SIGTERM (real PostgreSQL)', () => {
  it('writes the final usage counts to the server and leaves no session behind', async () => {
    const prefix = uniquePrefix('term');
    const admin = await adminClient();
    try {
      // On the real server the handler is visible: its llm session has run the handler's query.
      const handlerStarted = () =>
        waitFor(
          async () => (await admin.query("select 1 from pg_stat_activity where application_name = $1 and query like 'select count(*)::int as n from %'", [`${prefix}:llm`])).rowCount === 1,
          10_000,
          'the llm handler to hold its connection',
        );
      const result = await sigtermWhileBusy(pgUrl, prefix, handlerStarted, 1_500);
      expect(result.status).toBe(200);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('registry closed cleanly');
      // APP_PREFIX names its sessions (<prefix>:<service>) and its tables.
      for (const service of ['auth', 'extension', 'llm', 'usage', 'background']) expect(await countBackends(admin, `${prefix}:${service}`)).toBe(0);
      const { rows } = await admin.query<{ count: string }>(`select count::text from ${prefix}_usage where key = 'anonymous:POST /llm/complete 200'`);
      expect(rows.map((r) => Number(r.count))).toEqual([1]);
    } finally {
      await admin.query(`drop table if exists ${prefix}_users, ${prefix}_extensions, ${prefix}_usage, ${prefix}_usage_ledger`);
      await admin.end();
    }
  });
});

