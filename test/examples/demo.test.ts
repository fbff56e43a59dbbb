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

/**
 * What the detector said, as the demo prints it: the recommendation is the library's (its fields printed next to its
 * text), so the figures are checked against the configuration the demo ran with, never against a copy of the text.
 */
function checkDetector(stdout: string): void {
  const start = stdout.indexOf('What the interference detector said with the bulkheads');
  expect(start, `the detector's section in:\n${stdout}`).toBeGreaterThan(-1);
  const section = stdout.slice(start, stdout.indexOf('\nUsage counted by the tracker', start));
  const handlers = Number(/(\d+) llm handlers holding a connection/.exec(stdout)?.[1]);
  const llm = /llm (\d+) \+ (\d+) overflow \(medium\)/.exec(stdout); // the registry's own view of llm's limits
  expect(llm, `llm's limits in:\n${stdout}`).not.toBeNull();
  const [size, overflow] = [Number(llm![1]), Number(llm![2])];

  // The noisy service is the victim of its own incident, with nobody else to blame…
  expect(section).toMatch(/Incident llm-\d+ \[saturation, warning, open\]: llm suffered exhaustion.*; a saturation, not interference: it ran out of its own pool and took nothing from any other service\./);
  // the interference the bulkheads prevented, in the detector's terms: no interference incident, auth spared
  expect(section).toMatch(/interference prevented: llm(, usage)? saturated (its|their) own bulkheads? \(a 'saturation', not 'interference'\); auth healthy, with no incident/);
  expect(section).not.toContain('names no other service');
  expect(section).toMatch(/evidence: llm uses \d+ of \d+ connections/);
  // …and the detector's advice for it, made while the load ran: raise llm's overflow, from what it is now.
  const advice = /recommended \[raise-overflow: llm\.overflow (\d+) → (\d+)\]: (.+)/.exec(section);
  expect(advice, `a raise-overflow recommendation for llm in:\n${section}`).not.toBeNull();
  const [from, to, text] = [Number(advice![1]), Number(advice![2]), advice![3]!];
  expect(from).toBe(overflow);
  expect(to).toBeGreaterThan(from);
  // One more connection per caller waiting: at most every handler that did not hold one of llm's connections.
  expect(to - from).toBeLessThanOrEqual(handlers - (size + overflow));
  expect(text).toContain(`llm overflow from ${from} to ${to}`); // the text says what the fields say
  expect(section).toMatch(/open recommendations \(detector\.recommendations\(\)\): .*raise-overflow for llm/);

  // Nothing about auth: no incident, no advice, healthy.
  expect(section).not.toMatch(/Incident auth|recommended \[[\w-]+: auth|for auth\b/);
  expect(section).toMatch(/health then: \w+; auth healthy/);
  // Under an incident, every line is the detector's evidence or recommendation: the demo adds no advice of its own.
  expect(section).not.toContain('contained:');
  for (const line of section.split('\n').filter((l) => l.startsWith('    '))) {
    expect(line).toMatch(/^ {4}(evidence: |recommended \[[a-z-]+(: \w+\.\w+ \d+ → \d+)?\]: |no recommendation: .+$)/);
  }
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
  checkDetector(stdout);
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
