/**
 * Bench 5, memory bound: 1,000,000 increments over 200,000 keys while the database is unreachable (the built-in
 * PostgreSQL sink pointed at a closed port, so every flush fails and is retried with backoff). The heap must stay
 * within what `maxPendingKeys` implies: at most `maxPendingKeys` pending keys plus one frozen batch of at most as
 * many. Bytes per pending key and per frozen key are calibrated first on 50,000 keys with a custom sink.
 * Key strings are built before the baseline: they belong to the caller, not to the tracker.
 *
 *   npm run bench -- --only memory [--quick]
 */
import { createPoolRegistry, createUsageTracker, USAGE_DEFAULTS } from '../src/index';
import { fmt, heading, quick, run, sleep, table, target, writeResults } from './lib/harness';

const INCREMENTS = quick ? 100_000 : 1_000_000;
const KEYS = quick ? 20_000 : 200_000;
const MAX_PENDING = quick ? 10_000 : USAGE_DEFAULTS.maxPendingKeys;
const CALIBRATION_KEYS = quick ? 5_000 : 50_000;
/** Slack over the implied bound for V8's own variation between two measurements. */
const SLACK_BYTES = 1024 * 1024;

function heapUsed(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with node --expose-gc (npm run bench does)');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

async function main(): Promise<void> {
  heading(`memory bound: ${INCREMENTS.toLocaleString('en-US')} increments over ${KEYS.toLocaleString('en-US')} keys, database unreachable, maxPendingKeys ${MAX_PENDING.toLocaleString('en-US')}`);
  const keys = Array.from({ length: KEYS }, (_, i) => `ext:${i}:calls`);

  // Calibration: bytes per pending key on a tracker that never flushes.
  const before = heapUsed();
  const calibration = createUsageTracker({ sink: async () => {}, batchSize: CALIBRATION_KEYS + 1, maxPendingKeys: CALIBRATION_KEYS + 1, flushIntervalMs: 3_600_000 });
  for (let i = 0; i < CALIBRATION_KEYS; i++) calibration.increment(keys[i] as string);
  const bytesPerKey = (heapUsed() - before) / CALIBRATION_KEYS;
  await calibration.close({ timeoutMs: 0 });
  // …and per frozen key: a batch taken by a flush that failed, held for the retry (rows, sorted, with a Date each).
  const beforeFrozen = heapUsed();
  const frozen = createUsageTracker({ sink: async () => Promise.reject(new Error('down')), batchSize: CALIBRATION_KEYS + 1, maxPendingKeys: CALIBRATION_KEYS + 1, flushIntervalMs: 3_600_000, retryBaseMs: 3_600_000, retryMaxMs: 3_600_000 });
  for (let i = 0; i < CALIBRATION_KEYS; i++) frozen.increment(keys[i] as string);
  await frozen.flush();
  const bytesPerFrozenKey = (heapUsed() - beforeFrozen) / CALIBRATION_KEYS;
  await frozen.close({ timeoutMs: 0 });

  // The database is away: a registry pointed at a closed port, the default triggers of the tracker.
  const registry = createPoolRegistry({
    connection: 'postgres://postgres@127.0.0.1:9/unreachable',
    applicationName: 'bench-memory',
    services: { usage: { size: 0, overflow: 2, acquireTimeoutMs: 1_000 } },
    connectTimeoutMs: 1_000,
  });
  const usage = createUsageTracker({ registry, service: 'usage', maxPendingKeys: MAX_PENDING, retryBaseMs: 50, retryMaxMs: 200 });
  const failures = { count: 0 };
  usage.on('flush-error', () => void failures.count++);
  const baseline = heapUsed();
  let peak = 0;
  const perKey = INCREMENTS / KEYS;
  for (let round = 0; round < perKey; round++) {
    for (let i = 0; i < KEYS; i++) usage.increment(keys[i] as string);
    // Let flush attempts (and their failures) happen between passes, as they would in a live process.
    await sleep(quick ? 50 : 200);
    peak = Math.max(peak, heapUsed() - baseline);
  }
  const stats = usage.stats();
  const held = stats.pendingKeys + stats.frozenKeys;
  const bound = MAX_PENDING * (bytesPerKey + bytesPerFrozenKey) + SLACK_BYTES;
  table([
    ['figure', 'value'],
    ['bytes per pending key (calibration)', fmt(bytesPerKey)],
    ['bytes per frozen key (calibration)', fmt(bytesPerFrozenKey)],
    ['keys held (pending + frozen)', `${stats.pendingKeys.toLocaleString('en-US')} + ${stats.frozenKeys.toLocaleString('en-US')}`],
    ['increments dropped (calls)', stats.droppedCalls.toLocaleString('en-US')],
    ['failed flush attempts', String(failures.count)],
    ['peak heap Δ over baseline', `${fmt(peak / 1024 / 1024)} MiB`],
    ['bound: maxPendingKeys × (pending + frozen bytes/key) + 1 MiB', `${fmt(bound / 1024 / 1024)} MiB`],
    ['heap Δ per key held', fmt(peak / Math.max(1, held))],
  ]);
  const targets = [
    target('heap within the maxPendingKeys bound', peak <= bound, `peak ${fmt(peak / 1024 / 1024)} MiB ≤ ${fmt(bound / 1024 / 1024)} MiB`),
    target('no more than maxPendingKeys pending', stats.pendingKeys <= MAX_PENDING, `${stats.pendingKeys} pending`),
  ];
  await usage.close({ timeoutMs: 0 });
  await registry.close({ timeoutMs: 0 });
  await writeResults(
    'memory',
    { increments: INCREMENTS, keys: KEYS, maxPendingKeys: MAX_PENDING, calibrationKeys: CALIBRATION_KEYS, slackBytes: SLACK_BYTES },
    { bytesPerPendingKey: bytesPerKey, bytesPerFrozenKey, peakHeapDeltaBytes: peak, boundBytes: bound, pendingKeys: stats.pendingKeys, frozenKeys: stats.frozenKeys, droppedCalls: stats.droppedCalls, droppedIncrements: stats.droppedIncrements, failedFlushes: failures.count, heapPerKeyHeld: peak / Math.max(1, held), targets },
  );
}

run(main);
