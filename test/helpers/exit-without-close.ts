// Child process for test/registry/exit.test.ts: a host that uses every component and never calls close().
// A registry (maintenance, leak detection, validation after idle), a tracker on it with counts written and counts
// still pending (its flush timer armed), a tracker on a custom sink with pending counts, and a started detector.
// Without DATABASE_URL it runs on pg-mem; with it, on real PostgreSQL, where ALLOW_EXIT_ON_IDLE=1 sets
// allowExitOnIdle (the tracker then only holds pending counts, so no table is left behind).
// Its one line of stdout, once the work is done: { detectorRunning, refs }, where refs are the resources that still
// keep the event loop alive (process.getActiveResourcesInfo lists only ref'd ones), this process's stdio aside.
import { createInterferenceDetector, createPoolRegistry, createUsageTracker } from '../../src/index';

const url = process.env.DATABASE_URL || undefined;
const { Client } = url === undefined ? await import('./pg-mem').then((m) => m.memoryDatabase()) : { Client: undefined };
const registry = createPoolRegistry({
  connection: url,
  Client,
  applicationName: process.env.APP_NAME ?? 'exit-without-close',
  allowExitOnIdle: process.env.ALLOW_EXIT_ON_IDLE === '1',
  maintenanceIntervalMs: 50,
  services: {
    auth: { size: 2, overflow: 2, leakDetectionMs: 10_000, validateAfterIdleMs: 100 },
    llm: { size: 1, overflow: 1 },
    usage: { size: 1, overflow: 1 },
  },
});
const usage = createUsageTracker({ registry, service: 'usage', writeMode: 'values', bucket: 'minute', flushIntervalMs: 60_000, retryBaseMs: 50 });
if (url === undefined) {
  await usage.ensureSchema();
  usage.increment('written');
  await usage.flush();
}
usage.increment('still-pending', 3); // a flush timer is armed for it
const sinkUsage = createUsageTracker({ sink: async () => {}, bucket: 'minute', flushIntervalMs: 60_000 });
sinkUsage.increment('pending');
const detector = createInterferenceDetector({ registry, intervalMs: 100, serverProbe: false }).start();
await Promise.all([registry.query('auth', 'select 1'), registry.query('auth', 'select 1'), registry.query('auth', 'select 1'), registry.query('llm', 'select 1')]);
await registry.transaction('auth', async (client) => client.query('select 2'));
const lease = await registry.acquire('llm');
lease.release();
await detector.check();

// The stdio pipes count as ref'd resources of their own; leave them out.
const refs = process.getActiveResourcesInfo().filter((name) => name !== 'PipeWrap' && name !== 'TTYWrap');
process.stdout.write(`${JSON.stringify({ detectorRunning: detector.running, refs })}\n`);
