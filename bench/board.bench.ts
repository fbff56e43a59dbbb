/**
 * Bench 6, the board.
 *  a) Page size: the board's HTML with its inline CSS and script, raw, gzipped and brotli-compressed (what a
 *     browser downloads once per visit). Target: under 30 kB gzipped.
 *  b) Cost of one board poll (`?format=json`: a registry snapshot, the detector's last report, the usage
 *     tracker's figures, serialized), timed call by call next to a health request on the same registry, detector
 *     and tracker, alternating in ABBA blocks (board, health, health, board) so drift hits both alike; medians.
 *     The registry has the five preset services on the real PostgreSQL, each having run a few queries, with the
 *     detector running (both answer from its last evaluation, as in production). A bare `registry.stats()` is
 *     timed in the same blocks (ABCCBA: board, health, stats, stats, health, board): the board takes one fresh
 *     snapshot per poll (health reads the detector's), so the difference is what the board itself adds. The share
 *     of one core an open board takes at its default refresh follows from the board's median.
 *
 *   npm run bench -- --only board [--quick]
 */
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { createBoardHandler, createHealthHandler, createInterferenceDetector, createPoolRegistry, createUsageTracker, servicePresets, BOARD_DEFAULTS, type HealthResponse } from '../src/index';
import { databaseUrl, fmt, fmtSummary, heading, quick, run, runId, summarize, target, writeResults, type Summary } from './lib/harness';

/** ABCCBA blocks of the timed comparison (each block: 2 board polls, 2 health requests, 2 bare snapshots). */
const BLOCKS = quick ? 50 : 1_000;
const WARMUP_CALLS = quick ? 50 : 500;
const PAGE_TARGET_BYTES = 30_000;

/** A response that keeps only what the bench reports: the body's length. */
function sink(): HealthResponse & { bytes: number; status: number } {
  return {
    statusCode: 0,
    bytes: 0,
    status: 0,
    setHeader: () => undefined,
    end(body?: string) {
      this.bytes = body === undefined ? 0 : Buffer.byteLength(body);
      this.status = this.statusCode;
    },
  };
}

async function main(): Promise<void> {
  heading('Bench 6: the board (page size, cost of one poll next to a health request)');
  const registry = createPoolRegistry({ connection: databaseUrl, applicationName: `bench-board-${runId}`.slice(0, 40), services: servicePresets });
  const table = `bench_board_${runId}`;
  const usage = createUsageTracker({ registry, service: 'usage', table, flushIntervalMs: 60_000 });
  const detector = createInterferenceDetector({ registry, intervalMs: 1_000, serverProbe: false });
  try {
    await usage.ensureSchema();
    for (const service of registry.services) for (let i = 0; i < 20; i++) await registry.query(service, 'select 1');
    for (let i = 0; i < 200; i++) usage.increment(`tenant-${i % 50}:request`);
    detector.start();
    await detector.check();

    const board = createBoardHandler({ registry, detector, usage });
    const health = createHealthHandler({ registry, detector });

    // a) the page
    const page = sink();
    let html = '';
    await board({ method: 'GET', url: '/board' }, { ...page, end: (body?: string) => void (html = body ?? '') });
    const raw = Buffer.byteLength(html);
    const gzip = gzipSync(html, { level: 9 }).length;
    const brotli = brotliCompressSync(html).length;
    console.log(`  page: ${raw} bytes raw, ${gzip} bytes gzipped (level 9), ${brotli} bytes brotli; no other request but its polls`);

    // b) one poll vs one health request, ABBA
    const boardRes = sink();
    const healthRes = sink();
    const pollBoard = () => board({ method: 'GET', url: '/board?format=json' }, boardRes);
    const pollHealth = () => health({ method: 'GET', url: '/health' }, healthRes);
    for (let i = 0; i < WARMUP_CALLS; i++) {
      await pollBoard();
      await pollHealth();
    }
    const boardUs: number[] = [];
    const healthUs: number[] = [];
    const statsUs: number[] = [];
    const snapshot = async () => void registry.stats();
    const timed = async (fn: () => Promise<void>, into: number[]) => {
      const t0 = performance.now();
      await fn();
      into.push((performance.now() - t0) * 1000);
    };
    for (let b = 0; b < BLOCKS; b++) {
      await timed(pollBoard, boardUs);
      await timed(pollHealth, healthUs);
      await timed(snapshot, statsUs);
      await timed(snapshot, statsUs);
      await timed(pollHealth, healthUs);
      await timed(pollBoard, boardUs);
    }
    if (boardRes.status !== 200) throw new Error(`the board answered ${boardRes.status}`);
    const boardSummary: Summary = summarize(boardUs);
    const healthSummary: Summary = summarize(healthUs);
    const statsSummary: Summary = summarize(statsUs);
    const ownUs = summarize(boardUs.map((us, i) => us - (statsUs[i] as number)));
    const perBlock = boardUs.map((us, i) => us / (healthUs[i] as number));
    const ratio = summarize(perBlock);
    const coreShare = boardSummary.median / 1e6 / (BOARD_DEFAULTS.refreshMs / 1000);
    console.log(`  board poll ${fmtSummary(boardSummary)} µs (${boardRes.bytes} bytes JSON); health request ${fmtSummary(healthSummary)} µs (${healthRes.bytes} bytes); board/health per pair ${fmtSummary(ratio)} (medians of ${2 * BLOCKS} calls each, ABCCBA)`);
    console.log(`  of which registry.stats() ${fmtSummary(statsSummary)} µs; the board's own part (poll − stats, per pair) ${fmtSummary(ownUs)} µs`);
    console.log(`  one open board at the default ${BOARD_DEFAULTS.refreshMs} ms refresh: ${fmt(coreShare * 100, 4)} % of one core`);
    const targets = [target('page < 30 kB gzipped', gzip < PAGE_TARGET_BYTES, `${gzip} bytes gzipped (${raw} raw)`)];
    await writeResults(
      'board',
      { blocks: BLOCKS, warmupCalls: WARMUP_CALLS, order: 'ABCCBA (board, health, stats, stats, health, board)', services: registry.services, detectorIntervalMs: 1_000, refreshMs: BOARD_DEFAULTS.refreshMs },
      {
        page: { rawBytes: raw, gzipBytes: gzip, brotliBytes: brotli },
        poll: { boardUs: boardSummary, healthUs: healthSummary, registryStatsUs: statsSummary, boardOwnUs: ownUs, boardOverHealth: ratio, boardJsonBytes: boardRes.bytes, healthJsonBytes: healthRes.bytes, coreShareAtDefaultRefresh: coreShare },
        targets,
      },
    );
  } finally {
    await detector.stop();
    await usage.close({ timeoutMs: 2_000 });
    await registry.query('usage', `drop table if exists ${table}, ${table}_ledger`).catch(() => {});
    await registry.close();
  }
}

run(main);
