import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('npm run demo (quick mode, embedded pg-mem)', () => {
  it('shows auth failing on one shared pool and protected by the bulkheads, and exits 0', async () => {
    const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', 'examples/demo.ts', '--quick'], { cwd: root, env: { ...process.env, DATABASE_URL: '' }, timeout: 60_000 }, (error, out) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout: out }),
      );
    });
    expect(stdout).toContain('embedded pg-mem');
    const shared = /one shared pool \(12\): auth ok (\d+) failed (\d+)/.exec(stdout);
    const bulkheads = /bulkheads \(auth 3\+1, llm 6\+2\): auth ok (\d+) failed (\d+)/.exec(stdout);
    expect(shared).not.toBeNull();
    expect(bulkheads).not.toBeNull();
    expect(Number(shared![2])).toBeGreaterThan(0); // the problem is real
    expect(Number(bulkheads![1])).toBeGreaterThan(0);
    expect(Number(bulkheads![2])).toBe(0); // and the cure works
    expect(code).toBe(0);
  });
});
