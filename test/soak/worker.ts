// One of the soak's four child processes: its own registry and usage tracker against the shared soak database,
// counting into one table while the parent terminates its backends. Prints one JSON line: what it counted.
import { createPoolRegistry, createUsageTracker } from '../../src/index';
import { createScanner, mulberry32, serialize, sleep } from './scan';

const url = process.env.SOAK_URL as string;
const durationMs = Number(process.env.SOAK_MS);
const random = mulberry32(Number(process.env.SOAK_SEED));
const password = decodeURIComponent(new URL(url).password);
const scanner = createScanner([password]);
let unhandled = 0;
process.on('unhandledRejection', (reason) => {
  unhandled++;
  scanner.scan('unhandled rejection', serialize(reason));
});

const registry = createPoolRegistry({
  connection: url,
  applicationName: process.env.SOAK_APP as string,
  connectTimeoutMs: 2_000,
  breaker: { failureThreshold: 3, initialBackoffMs: 100, maxBackoffMs: 500 },
  services: { usage: { size: 1, overflow: 1, acquireTimeoutMs: 3_000 } },
});
for (const event of ['connect-error', 'error', 'acquire-timeout', 'remove', 'circuit'] as const) {
  (registry as unknown as { on(e: string, l: (p: unknown) => void): void }).on(event, (p) => scanner.scan(`event ${event}`, serialize(p)));
}
const usage = createUsageTracker({ registry, service: 'usage', table: 'soak_multi_usage', batchSize: 100, flushIntervalMs: 100, retryBaseMs: 50, retryMaxMs: 500 });
let deadlocks = 0;
let failedWrites = 0;
usage.on('flush-error', (e) => {
  failedWrites++;
  if ((e.error as { code?: string }).code === '40P01') deadlocks++;
  scanner.scan('flush-error', serialize(e));
});
for (let attempt = 0; ; attempt++) {
  try {
    await usage.ensureSchema();
    break;
  } catch (error) {
    scanner.scan('ensureSchema', serialize(error));
    if (attempt > 20) throw error;
    await sleep(100);
  }
}
const expected: Record<string, number> = {};
const until = performance.now() + durationMs;
while (performance.now() < until) {
  for (let i = 0; i < 50; i++) {
    // Every process counts the same 200 keys, so their upserts touch the same rows concurrently.
    const key = `k${Math.floor(random() * 200)}`;
    const by = 1 + Math.floor(random() * 3);
    usage.increment(key, by);
    expected[key] = (expected[key] ?? 0) + by;
  }
  await sleep(2);
}
const report = await usage.close({ timeoutMs: 15_000 });
scanner.scan('usage close', serialize(report));
await registry.close({ timeoutMs: 5_000 });
process.stdout.write(
  `${JSON.stringify({ expected, dropped: usage.stats().droppedCalls, clean: report.clean, deadlocks, failedWrites, unhandled, leaks: scanner.leaks.length })}\n`,
);
