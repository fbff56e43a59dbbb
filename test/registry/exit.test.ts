// The host process can exit: without close() (one shared fixture, test/helpers/exit-without-close.ts, with every
// component in use) and after close() (nothing left running). Each runs in a child process.
import { describe, expect, it } from 'vitest';
import { adminClient, countBackends, pgUrl } from '../helpers/pg';
import { runScript } from '../helpers/run-script';

const withoutClose = 'test/helpers/exit-without-close.ts';

/** The fixture's report, printed once its work is done. */
function reportOf(stdout: string): { detectorRunning: boolean; refs: string[] } {
  return JSON.parse(stdout.trim()) as { detectorRunning: boolean; refs: string[] };
}

// Each test waits on its own child processes: they run side by side.
describe.concurrent('the host process can exit', () => {
  it('without close(): no timer of the registry, the trackers or the running detector keeps it alive (pg-mem)', async () => {
    const run = await runScript(withoutClose, { env: { DATABASE_URL: '' } });
    expect(run.timedOut).toBe(false); // killed after 20 s otherwise
    // One line only: the trackers' pending counts print nothing on the way out.
    expect(run.stdout.split('\n')).toHaveLength(2);
    const report = reportOf(run.stdout);
    expect(report.detectorRunning).toBe(true); // it exits although the detector was never stopped
    expect(report.refs).not.toContain('Timeout'); // every background timer is unref'd
    expect(report.refs).not.toContain('Immediate');
    expect(run.code).toBe(0);
  });

  it('after close(): nothing is left running (pg-mem)', async () => {
    const run = await runScript('test/fixtures/exit-after-close.ts', { env: { DATABASE_URL: '' } });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout.trim())).toEqual({ clean: true, handles: [] });
  });

  it.skipIf(pgUrl === '')('without close() on real PostgreSQL: open idle sockets hold the process unless allowExitOnIdle', async () => {
    const [held, free] = await Promise.all([
      // Its report names what holds it; then it has shown what it had to and is killed.
      runScript(withoutClose, { env: { DATABASE_URL: pgUrl, ALLOW_EXIT_ON_IDLE: '0', APP_NAME: `exit-held-${process.pid}` }, killWhen: (out) => out.includes('\n') }),
      runScript(withoutClose, { env: { DATABASE_URL: pgUrl, ALLOW_EXIT_ON_IDLE: '1', APP_NAME: `exit-free-${process.pid}` } }),
    ]);
    // As pg.Pool: connected idle clients keep the event loop alive, and nothing else does.
    expect(held.killedOnCue).toBe(true);
    const holding = reportOf(held.stdout).refs;
    expect(holding.length).toBeGreaterThan(0);
    expect(new Set(holding)).toEqual(new Set(['TCPSocketWrap']));
    // With allowExitOnIdle the same host exits by itself, detector and pending counts included.
    expect(free.timedOut).toBe(false);
    const freed = reportOf(free.stdout);
    expect(freed.detectorRunning).toBe(true);
    for (const holder of ['TCPSocketWrap', 'Timeout', 'Immediate']) expect(freed.refs).not.toContain(holder);
    expect(free.code).toBe(0);
  });

  it.skipIf(pgUrl === '')('after close(): no socket, no timer, no backend left (real PostgreSQL)', async () => {
    const app = `exit-${process.pid}`;
    const run = await runScript('test/fixtures/exit-after-close.ts', { env: { DATABASE_URL: pgUrl, APP_NAME: app } });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout.trim())).toEqual({ clean: true, handles: [] });
    const admin = await adminClient();
    try {
      expect(await countBackends(admin, `${app}:auth`)).toBe(0);
      expect(await countBackends(admin, `${app}:llm`)).toBe(0);
    } finally {
      await admin.end();
    }
  });
});
