import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { adminClient, countBackends, describePg, pgUrl } from '../helpers/pg';
import { waitFor } from '../helpers/wait-for';
import { uniquePrefix } from './server-checks';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Starts examples/express-server.ts as a script, sends a slow llm request, SIGTERMs the process once
 * `handlerStarted` has seen the handler hold its connection, and returns what happened: the in-flight response,
 * whether new connections were refused, the exit code, the log, and how many requests `handlerStarted` made.
 */
async function sigtermWhileBusy(
  databaseUrl: string,
  prefix: string,
  /** Resolves once the llm handler holds its connection, with the number of HTTP requests it made to find out. */
  handlerStarted: (url: string) => Promise<number>,
  modelMs: number,
): Promise<{ status: number; refused: boolean; code: number | null; signal: string | null; stdout: string; probes: number }> {
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
    const probes = await handlerStarted(url); // the handler now holds an llm connection, awaiting its model
    child.kill('SIGTERM');
    const response = await inFlight;
    const status = response.status;
    await response.text();
    const refused = await fetch(`${url}/health`).then(
      () => false,
      () => true,
    );
    const { code, signal } = await exited;
    return { status, refused, code, signal, stdout, probes };
  } finally {
    clearTimeout(timer);
    // A failed step above must not leave the server running (with its sessions) after the test.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/**
 * pg-mem gives no outside view of the handler, but the app's own /metrics does: polls it until llm has a connection
 * in use. Each poll is a finished request, which the app counts as usage.
 */
async function llmInUse(url: string): Promise<number> {
  let probes = 0;
  await waitFor(
    async () => {
      const body = await (await fetch(`${url}/metrics`)).text();
      probes++;
      return /^db_client_connection_count\{[^}]*pool_name="app:llm"[^}]*state="used"\} 1$/m.test(body);
    },
    10_000,
    'the llm handler to hold its connection',
  );
  return probes;
}

describe('examples/express-server.ts as a process: graceful SIGTERM (pg-mem)', () => {
  it('finishes the request in flight, refuses new ones, flushes usage, closes the registry and exits 0 by itself', async () => {
    // The request ends well before the example's 5 s usage flush interval, so every count is written by the final flush.
    const result = await sigtermWhileBusy('', 'app', llmInUse, 1_000);
    expect(result.status).toBe(200);
    expect(result.refused).toBe(true);
    expect(result.signal).toBeNull();
    expect(result.code).toBe(0); // exits because nothing is left running, not because it was killed
    const lines = result.stdout.trim().split('\n');
    // The request in flight and the /metrics polls, all counted, all written while closing.
    expect(lines.slice(-4)).toEqual([
      'SIGTERM: shutting down',
      `usage: final flush complete (${result.probes + 1} increments written while closing)`,
      'registry closed cleanly',
      'shutdown complete',
    ]);
  });
});

describePg('examples/express-server.ts as a process: graceful SIGTERM (real PostgreSQL)', () => {
  it('writes the final usage counts to the server and leaves no session behind', async () => {
    const prefix = uniquePrefix('term');
    const admin = await adminClient();
    try {
      // On the real server the handler is visible: its llm session has run the handler's query.
      const handlerStarted = async (): Promise<number> => {
        await waitFor(
          async () => (await admin.query("select 1 from pg_stat_activity where application_name = $1 and query like 'select count(*)::int as n from %'", [`${prefix}:llm`])).rowCount === 1,
          10_000,
          'the llm handler to hold its connection',
        );
        return 0;
      };
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

