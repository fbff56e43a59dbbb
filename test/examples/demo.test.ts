import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { describePg, pgUrl } from '../helpers/pg';

const root = fileURLToPath(new URL('../..', import.meta.url));

function runDemo(databaseUrl: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'examples/demo.ts', '--quick'],
      { cwd: root, env: { ...process.env, DATABASE_URL: databaseUrl }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

interface PhaseLine {
  authOk: number;
  authFailed: number;
  authTimeouts: number;
  extensionFailed: number;
  llmOk: number;
}

function phaseLine(stdout: string, name: string): PhaseLine {
  const match = new RegExp(`${name}: auth ok (\\d+) failed (\\d+) \\(timeouts (\\d+)\\), extension ok \\d+ failed (\\d+), llm ok (\\d+) failed \\d+`).exec(stdout);
  expect(match, `a summary line for "${name}" in:\n${stdout}`).not.toBeNull();
  const [, authOk, authFailed, authTimeouts, extensionFailed, llmOk] = match!.map(Number);
  return { authOk: authOk!, authFailed: authFailed!, authTimeouts: authTimeouts!, extensionFailed: extensionFailed!, llmOk: llmOk! };
}

/** The conclusions a reader takes away, checked on the demo's own output. */
function checkConclusions(stdout: string): void {
  const shared = phaseLine(stdout, 'one shared pool');
  const bulkheads = phaseLine(stdout, 'bulkheads \\+ detector');
  expect(shared.authFailed).toBeGreaterThan(0); // the problem is real…
  expect(shared.authTimeouts).toBe(shared.authFailed); // …and it is connection starvation, not SQL errors
  expect(bulkheads.authOk).toBeGreaterThan(0);
  expect(bulkheads.authFailed).toBe(0); // the cure works
  expect(bulkheads.extensionFailed).toBe(0);
  expect(bulkheads.llmOk).toBeGreaterThan(0); // llm still served, within its own pool

  // The side-by-side table, the detector's reading and the usage counts are there for a person to read.
  expect(stdout).toMatch(/auth p50\s+[\d.]+ ms\s+[\d.]+ ms/);
  expect(stdout).toMatch(/auth p99\s+[\d.]+ ms\s+[\d.]+ ms/);
  expect(stdout).toMatch(/auth acquire timeouts\s+[1-9]\d*\s+0\n/);
  expect(stdout).toContain('What the interference detector saw with the bulkheads:');
  expect(stdout).toMatch(/\[warning\] llm: .*exhaustion|\[warning\] llm: .*failures/); // the noisy service is named…
  expect(stdout).toMatch(/health now: \w+; auth healthy/); // …and auth is healthy
  expect(stdout).not.toMatch(/\[\w+\] auth/); // no incident on auth
  const usage = /Usage counted by the tracker[^:]*: auth:requests (\d+), extension:requests (\d+), llm:requests (\d+)/.exec(stdout);
  expect(usage).not.toBeNull();
  expect(Number(usage![1])).toBe(bulkheads.authOk); // every served auth request counted exactly once
  expect(Number(usage![3])).toBe(bulkheads.llmOk);
  expect(stdout).toContain('Verdict: auth protected.');
}

describe('npm run demo (quick mode, embedded pg-mem)', () => {
  it('shows auth failing on one shared pool and protected by the bulkheads, reads the detector, and exits 0', async () => {
    const { code, stdout, stderr } = await runDemo('');
    expect(stdout).toContain('pg-bulkhead demo on embedded pg-mem');
    checkConclusions(stdout);
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});

describePg('npm run demo (quick mode, real PostgreSQL)', () => {
  it('tells the same story on the real server and says so', async () => {
    const { code, stdout } = await runDemo(pgUrl);
    expect(stdout).toContain('pg-bulkhead demo on real PostgreSQL (DATABASE_URL)');
    checkConclusions(stdout);
    expect(code).toBe(0);
  });
});
