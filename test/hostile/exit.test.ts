// A host that never calls close() can still exit: registry, tracker and a running detector together.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('the host process can exit without close()', () => {
  it('with a registry, a tracker holding pending counts and a started detector (pg-mem)', async () => {
    const started = Date.now();
    const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', 'test/hostile/fixtures/exit-all-without-close.ts'], { cwd: root, timeout: 20_000 }, (error, out) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout: out });
      });
    });
    expect(stdout.trim()).toBe('done true');
    expect(code).toBe(0); // killed by the 20 s timeout otherwise
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});
