import type pg from 'pg';
import { sleep } from './harness';

/** Closed-loop load: `loops` concurrent async loops calling `op` until the time is up. */
export interface LoadFigures extends Record<string, number> {
  /** Completed operations per second. */
  readonly qps: number;
  /** Client CPU time (user + system of this process) per operation, µs. */
  readonly cpuUsPerQuery: number;
  readonly count: number;
}

export async function closedLoop(loops: number, durationMs: number, op: () => Promise<unknown>): Promise<LoadFigures> {
  let count = 0;
  let stop = false;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const timer = setTimeout(() => {
    stop = true;
  }, durationMs);
  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (!stop) {
        await op();
        count++;
      }
    }),
  );
  clearTimeout(timer);
  const elapsedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  return { qps: (count * 1000) / elapsedMs, cpuUsPerQuery: (cpu.user + cpu.system) / count, count };
}

/**
 * {@link closedLoop} for an `op` that never waits for I/O (an in-process client): its loops never yield to the
 * timer queue, so the end is found by reading the clock after every call instead of by a timer.
 */
export async function closedLoopInProcess(loops: number, durationMs: number, op: () => Promise<unknown>): Promise<LoadFigures> {
  let count = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = started + durationMs;
  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (performance.now() < deadline) {
        await op();
        count++;
      }
    }),
  );
  const elapsedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  return { qps: (count * 1000) / elapsedMs, cpuUsPerQuery: (cpu.user + cpu.system) / count, count };
}

/** Fires `rate` calls per second of `fire` between `from` and `to` (ms, performance.now()), open loop. */
export async function arrivals(rate: number, from: number, to: number, fire: () => void): Promise<void> {
  let fired = 0;
  while (performance.now() < from) await sleep(Math.max(1, from - performance.now()));
  for (;;) {
    const now = performance.now();
    if (now >= to) break;
    const due = Math.floor(((now - from) * rate) / 1000);
    while (fired < due) {
      fired++;
      fire();
    }
    await sleep(5);
  }
}

/**
 * One flood handler on a plain `pg.Pool`: borrow a connection, run `text` inside a transaction and hold it `holdMs`
 * as if awaiting a model, then commit and give it back.
 */
export async function holdInTransaction(pool: pg.Pool, text: string, values: unknown[], holdMs: number): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(text, values);
    await sleep(holdMs); // awaiting the model, connection held
    await client.query('COMMIT');
  } finally {
    client.release();
  }
}
