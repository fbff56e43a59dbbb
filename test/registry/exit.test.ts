import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { adminClient, countBackends, pgUrl } from '../helpers/pg';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Runs `script` in a child process, killed after `timeout` ms, or `killAfterDoneMs` after it prints "done" (its
 * start-up alone can take several seconds on a loaded machine, so a deadline counted from the spawn is no measure
 * of whether it stays alive once its work is done).
 */
function run(
  script: string,
  env: Record<string, string> = {},
  timeout = 20_000,
  killAfterDoneMs?: number,
): Promise<{ code: number | null; stdout: string; ms: number; killed: boolean }> {
  const started = Date.now();
  return new Promise((resolve) => {
    let killTimer: NodeJS.Timeout | undefined;
    const child = execFile(process.execPath, ['--import', 'tsx', script], { cwd: root, env: { ...process.env, ...env }, timeout }, (error, stdout) => {
      clearTimeout(killTimer);
      const killed = (error as { killed?: boolean } | null)?.killed === true;
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, ms: Date.now() - started, killed });
    });
    if (killAfterDoneMs !== undefined) {
      let output = '';
      child.stdout?.on('data', (chunk: Buffer | string) => {
        output += String(chunk);
        if (killTimer === undefined && output.includes('done')) killTimer = setTimeout(() => child.kill(), killAfterDoneMs);
      });
    }
  });
}

describe('the host process can exit', () => {
  it('without close(): no background timer keeps it alive', async () => {
    const { code, stdout } = await run('test/fixtures/exit-without-close.ts');
    expect(stdout.trim()).toBe('done');
    expect(code).toBe(0); // killed by the 20 s timeout otherwise
  });

  it('after close(): nothing is left running (pg-mem)', async () => {
    const { code, stdout } = await run('test/fixtures/exit-after-close.ts', { DATABASE_URL: '' });
    expect(code).toBe(0);
    expect(JSON.parse(stdout.trim())).toEqual({ clean: true, handles: [] });
  });

  it.skipIf(pgUrl === '')('without close() on real PostgreSQL: open idle sockets hold the process unless allowExitOnIdle', async () => {
    const [held, free] = await Promise.all([
      // Still running 3 s after its work is done: held (the free one exits within a few hundred ms of it).
      run('test/fixtures/exit-idle-real.ts', { DATABASE_URL: pgUrl, ALLOW_EXIT_ON_IDLE: '0', APP_NAME: `exit-held-${process.pid}` }, 20_000, 3_000),
      run('test/fixtures/exit-idle-real.ts', { DATABASE_URL: pgUrl, ALLOW_EXIT_ON_IDLE: '1', APP_NAME: `exit-free-${process.pid}` }, 20_000),
    ]);
    expect(held.stdout.trim()).toBe('done');
    expect(held.killed).toBe(true); // as pg.Pool: connected idle clients keep the event loop alive
    expect(free.stdout.trim()).toBe('done');
    expect(free.killed).toBe(false);
    expect(free.code).toBe(0);
  });

  it.skipIf(pgUrl === '')('after close(): no socket, no timer, no backend left (real PostgreSQL)', async () => {
    const app = `exit-${process.pid}`;
    const { code, stdout } = await run('test/fixtures/exit-after-close.ts', { DATABASE_URL: pgUrl, APP_NAME: app });
    expect(code).toBe(0);
    expect(JSON.parse(stdout.trim())).toEqual({ clean: true, handles: [] });
    const admin = await adminClient();
    try {
      expect(await countBackends(admin, `${app}:auth`)).toBe(0);
      expect(await countBackends(admin, `${app}:llm`)).toBe(0);
    } finally {
      await admin.end();
    }
  });
});
