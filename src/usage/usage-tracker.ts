/**
 * The usage tracker: `increment` on the hot path, the flush cycle (swap the pending counters, freeze them as a
 * batch, write it), and close. Which failures are retried, split or quarantined is in `frozen-batch.ts`; when
 * flushes happen is in `flush-schedule.ts`; the built-in sink is `postgres-sink.ts`.
 */
import { randomUUID } from 'node:crypto';
import { equalJitterBackoffMs } from '../backoff';
import { SafeEventEmitter } from '../events/safe-emitter';
import { settleWithin, systemClock, type Clock } from '../clock';
import { InvalidArgumentError } from '../errors';
import { describe } from '../options/check';
import { unitRandom } from '../random';
import { BUCKET_MS, bucketIndex } from './bucket';
import type { UsageCloseReport, UsageFlushReport, UsageTrackerEvents } from './events';
import { FlushSchedule } from './flush-schedule';
import { freezeBatch, halves, hasCode, isPermanent, leftovers, type FrozenBatch } from './frozen-batch';
import { keyProblem, MAX_AT_MS, MIN_AT_MS, preview } from './increment-check';
import { checkUsageOptions, USAGE_DEFAULTS, type UsageSink, type UsageTrackerOptions } from './options';
import { ADDED, NOT_PENDING, PendingMap } from './pending-map';
import { PostgresSink } from './postgres-sink';
import type { UsageRegistry } from './registry-port';
import { tableNames } from './table-name';

import { UsageCounters, type UsageCloseOptions, type UsageStats, type UsageTrackerState } from './stats';

export type { UsageCloseOptions, UsageStats, UsageTrackerState } from './stats';

type SafeEmitter = { emit(event: string, ...args: unknown[]): boolean };

/**
 * Counts usage on the hot path and writes it in coalesced batches. Create it with {@link createUsageTracker}.
 *
 * `increment` is synchronous and costs a map update; it never touches the database, never awaits and never fails
 * because of the database. Flushes take the pending counters at once (a swap), freeze them as a batch with an id
 * and write that batch, retrying the same batch with bounded exponential backoff and jitter until it is written.
 * At most one frozen batch exists; meanwhile new increments keep coalescing, bounded by `maxPendingKeys`.
 *
 * Counts are JS numbers (safe integers) in memory and `bigint` in PostgreSQL; pg returns `bigint` columns as
 * strings (pg-mem as numbers), so read them with `count::text` or `Number(...)` up to 2^53.
 */
export class UsageTracker<S extends string = string> extends SafeEventEmitter<UsageTrackerEvents> {
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #widthMs: number;
  readonly #batchSize: number;
  readonly #maxPendingKeys: number;
  readonly #retryBaseMs: number;
  readonly #retryMaxMs: number;
  readonly #sink: UsageSink;
  readonly #postgres: PostgresSink<S> | null;
  /** The registry the built-in sink writes through (null with a custom sink, which may use any). */
  readonly #registry: UsageRegistry<S> | null;

  readonly #maxKeyBytes: number;

  #pending = new PendingMap();
  /**
   * Batches taken from the pending counters and not yet written, oldest first: normally none or one. A batch that
   * fails permanently is replaced at the head by its two halves, so a poison row is found by bisection while
   * every other row is written. Only the head is ever written.
   */
  #frozen: FrozenBatch[] = [];
  /** The batch whose write is in flight: until it settles, it may or may not be committed. */
  #writing: FrozenBatch | null = null;
  /**
   * The error that showed writes can never succeed again: the registry closed (closing a registry is final).
   * From then on nothing is retried; close() reports what is left at once.
   */
  #writesEnded: Error | null = null;
  #flushing: Promise<UsageFlushReport> | null = null;
  #state: UsageTrackerState = 'open';
  #closePromise: Promise<UsageCloseReport> | null = null;
  readonly #schedule: FlushSchedule;
  #consecutiveFailures = 0;

  readonly #counts = new UsageCounters();

  /** @internal use {@link createUsageTracker} */
  constructor(options: UsageTrackerOptions<S>) {
    super();
    checkUsageOptions(options);
    const d = USAGE_DEFAULTS;
    this.#clock = options.clock ?? systemClock;
    this.#random = unitRandom(options.random);
    this.#widthMs = BUCKET_MS[options.bucket ?? d.bucket];
    this.#batchSize = options.batchSize ?? d.batchSize;
    this.#maxPendingKeys = options.maxPendingKeys ?? d.maxPendingKeys;
    this.#maxKeyBytes = options.maxKeyBytes ?? d.maxKeyBytes;
    this.#retryBaseMs = options.retryBaseMs ?? d.retryBaseMs;
    this.#retryMaxMs = options.retryMaxMs ?? d.retryMaxMs;
    if (options.sink !== undefined) {
      this.#sink = options.sink;
      this.#postgres = null;
      this.#registry = null;
    } else {
      const postgres = new PostgresSink<S>({
        registry: options.registry!,
        service: options.service!,
        names: tableNames(options.table ?? d.table),
        chunkSize: options.chunkSize ?? d.chunkSize,
        writeMode: options.writeMode ?? d.writeMode,
        ledgerRetentionMs: options.ledgerRetentionMs ?? d.ledgerRetentionMs,
        clock: this.#clock,
      });
      this.#postgres = postgres;
      this.#registry = options.registry!;
      this.#sink = (batch) => postgres.write(batch);
    }
    this.#schedule = new FlushSchedule(this.#clock, options.flushIntervalMs ?? d.flushIntervalMs, this.#widthMs, {
      // While a retry is scheduled, the backoff decides when to write next, not the interval.
      onInterval: () => {
        if (!this.#schedule.retryScheduled && (this.#pending.size > 0 || this.#frozen.length > 0)) void this.flush();
      },
      onSizeTrigger: () => {
        if (this.#state === 'open') void this.flush();
      },
      onRetry: () => {
        if (this.#state === 'open') void this.flush();
      },
    });
  }

  /**
   * Adds `by` to `key` in the bucket of `at`. Synchronous and O(1); allocates nothing when the key is already
   * pending. Never throws because of the database; a new key beyond `maxPendingKeys`, or any increment after
   * `close()`, is dropped and counted (`drop` event, `stats().droppedCalls`).
   *
   * What could never be stored is rejected here, synchronously, and counted (`stats().rejectedCalls`), so it can
   * never hold up the batches behind it: a key with a NUL character or longer than `maxKeyBytes` UTF-8 bytes, an
   * `at` outside the years 0001–9999 (UTC), and an increment that would take one pending counter past
   * `Number.MAX_SAFE_INTEGER` (2^53 - 1: beyond it a JS number no longer counts exactly; it is not split, since a
   * single counter reaching it between two flushes is a bug in the caller).
   * @param key non-empty string, no NUL, at most `maxKeyBytes` UTF-8 bytes
   * @param by positive safe integer. @default 1
   * @param at when the usage happened: ms since the epoch or a Date, within the years 0001–9999 (UTC); fixes the
   *   bucket exactly. Without it the current bucket is used, which a timer advances at each boundary: reading the
   *   clock on every call would allocate (`Date.now()` returns a boxed number), so at a boundary an increment may
   *   land in the previous bucket for as long as the event loop is late to run that timer (normally under a
   *   millisecond).
   * @throws InvalidArgumentError (`TypeError`, code `ERR_INVALID_ARGUMENT`) on a bad argument: a programming error.
   */
  increment(key: string, by = 1, at?: number | Date): void {
    if (typeof key !== 'string' || key.length === 0) this.#reject(`key: expected a non-empty string, got ${describe(key)}`);
    if (typeof by !== 'number' || !Number.isSafeInteger(by) || by < 1) this.#reject(`by: expected a positive safe integer, got ${describe(by)}`);
    let index = this.#schedule.currentBucket;
    if (at !== undefined) {
      const ms = typeof at === 'number' ? at : at instanceof Date ? at.getTime() : Number.NaN;
      if (!(ms >= MIN_AT_MS && ms < MAX_AT_MS)) this.#reject(`at: expected ms since the epoch or a valid Date within the years 0001-9999 (UTC), got ${describe(at)}`);
      index = bucketIndex(this.#widthMs, ms);
    }
    const added = this.#pending.add(key, index, by);
    if (added === ADDED) return;
    if (added !== NOT_PENDING) this.#reject(`by: ${by} would take the pending count of "${preview(key)}" past Number.MAX_SAFE_INTEGER; flush more often or split the key`);
    // A new key: checked once here, so increments of a pending key pay nothing for it.
    const problem = keyProblem(key, this.#maxKeyBytes);
    if (problem !== null) this.#reject(problem);
    if (this.#state === 'closed') return this.#drop(key, by, 'closed');
    if (this.#pending.size >= this.#maxPendingKeys) return this.#drop(key, by, 'max-pending-keys');
    this.#pending.insert(key, index, by);
    if (this.#pending.size >= this.#batchSize) this.#requestFlush();
  }

  #reject(problem: string): never {
    this.#counts.rejectedCalls++;
    throw new InvalidArgumentError(`usage.increment: ${problem}`);
  }

  /**
   * Writes what is pending now (and first any frozen batch waiting for a retry). Calls made while a flush runs
   * share it. Never rejects: a failure is reported in the result (and `flush-error`), and the batch is retried.
   */
  flush(): Promise<UsageFlushReport> {
    if (this.#flushing !== null) return this.#flushing;
    const run = async (): Promise<UsageFlushReport> => {
      try {
        return await this.#flushCycle();
      } finally {
        this.#flushing = null;
        if (this.#state === 'open' && !this.#schedule.retryScheduled && this.#pending.size >= this.#batchSize) this.#requestFlush();
      }
    };
    this.#flushing = run();
    return this.#flushing;
  }

  /**
   * Creates the counters table and the ledger of applied batches if missing, and probes the write path.
   * Resolves at once with a custom sink. Unlike `increment` and `flush`, it rejects on database errors: it is setup.
   */
  async ensureSchema(): Promise<void> {
    await this.#postgres?.ensureSchema();
  }

  /** A fresh snapshot of counters and state. */
  stats(): UsageStats {
    return {
      state: this.#state,
      pendingKeys: this.#pending.size,
      pendingIncrements: this.#pending.increments,
      frozenKeys: this.#frozen.reduce((n, b) => n + b.rows.length, 0),
      frozenIncrements: this.#frozen.reduce((n, b) => n + b.increments, 0),
      ...this.#counts.snapshot(),
      writeMode: this.#postgres === null ? 'custom' : this.#postgres.mode,
    };
  }

  /**
   * Stops the timers, then keeps flushing (the frozen batch first, then everything pending, including increments
   * made while closing) until all is written or `timeoutMs` has passed, retrying failures with backoff within
   * that time. Reports exactly what could not be written: `unwritten` was certainly not written, while a batch
   * whose write was still in flight at the deadline is reported apart as `inDoubt` (it may yet commit; see
   * {@link UsageCloseReport}). Once the registry is closed (`registry.closed`, or a write failed with
   * `ERR_POOL_CLOSED`) no write can succeed, so close() stops retrying and reports at once instead of waiting
   * out `timeoutMs`: close the tracker before the registry. Idempotent: later calls return the same promise.
   * Increments after the close completed are dropped and counted. Never rejects.
   * @throws InvalidArgumentError when `timeoutMs` is not a finite number >= 0.
   */
  close(options: UsageCloseOptions = {}): Promise<UsageCloseReport> {
    if (this.#closePromise === null) {
      const timeoutMs = options.timeoutMs ?? 10_000;
      if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0) {
        throw new InvalidArgumentError(`usage.close: timeoutMs: expected a finite number of ms >= 0, got ${describe(timeoutMs)}`);
      }
      this.#closePromise = this.#close(timeoutMs);
    }
    return this.#closePromise;
  }

  #drop(key: string, by: number, reason: 'max-pending-keys' | 'closed'): void {
    this.#counts.droppedCalls++;
    this.#counts.droppedIncrements += by;
    // Drops happen on the hot path when memory is at its bound: build no payload unless someone listens.
    if (this.listenerCount('drop') > 0) this.emit('drop', { key, by, reason, droppedCalls: this.#counts.droppedCalls });
  }

  /** The batch-size trigger: one flush, started after the current synchronous code, never inside `increment`. */
  #requestFlush(): void {
    if (this.#flushing !== null || this.#schedule.retryScheduled || this.#state !== 'open') return;
    this.#schedule.queueSizeTrigger();
  }

  async #flushCycle(): Promise<UsageFlushReport> {
    const started = this.#clock.now();
    this.#schedule.cancelRetry();
    const totals = { batches: 0, rows: 0, increments: 0 };
    if (this.#writesEnded !== null) {
      return { ok: this.#frozen.length === 0 && this.#pending.size === 0, ...totals, error: this.#writesEnded, durationMs: 0 };
    }
    // No await unless something is frozen: the swap below must happen in the same tick as the flush() call.
    let error = this.#frozen.length > 0 ? await this.#writeFrozen(totals) : null;
    if (error === null && this.#pending.size > 0 && this.#state !== 'closed') {
      // The swap: increments from here on go to a fresh map and wait for the next flush.
      const taken = this.#pending;
      this.#pending = new PendingMap();
      this.#frozen.push(freezeBatch(randomUUID(), taken.rows(this.#widthMs), taken.increments));
      error = await this.#writeFrozen(totals);
    }
    return { ok: error === null, ...totals, error, durationMs: this.#clock.now() - started };
  }

  /**
   * Writes the frozen batches, head first, until none is left or one fails transiently (it stays at the head and
   * waits for its retry). A permanent failure splits the head at once; a row failing alone is quarantined.
   */
  async #writeFrozen(totals: { batches: number; rows: number; increments: number }): Promise<Error | null> {
    while (this.#frozen.length > 0) {
      const batch = this.#frozen[0] as FrozenBatch;
      const error = await this.#write(batch);
      if (error === null) {
        totals.batches++;
        totals.rows += batch.rows.length;
        totals.increments += batch.increments;
        continue;
      }
      if (!isPermanent(error)) return error;
      if (this.#frozen[0] !== batch) continue; // settled meanwhile (close gave up on it)
      this.#splitOrQuarantine(batch, error);
    }
    return null;
  }

  /** A permanent failure: the head is split in halves, or, alone, its row is quarantined (see `frozen-batch.ts`). */
  #splitOrQuarantine(batch: FrozenBatch, error: Error): void {
    if (batch.rows.length > 1) {
      this.#frozen.splice(0, 1, ...halves(batch));
      return;
    }
    this.#frozen.shift();
    const row = batch.rows[0];
    if (row === undefined) return;
    this.#counts.quarantinedRows++;
    this.#counts.quarantinedIncrements += row.count;
    this.emit('drop', { key: row.key, by: row.count, reason: 'rejected-by-sink', bucket: row.bucket, batchId: batch.id, error, quarantinedRows: this.#counts.quarantinedRows });
  }

  /** One attempt at a frozen batch. Returns the error, or null once the batch is written and released. */
  async #write(batch: FrozenBatch): Promise<Error | null> {
    batch.attempts++;
    const attempt = batch.attempts;
    const started = this.#clock.now();
    this.#writing = batch;
    try {
      await this.#sink({ id: batch.id, rows: batch.rows, increments: batch.increments, attempt });
    } catch (thrown) {
      if (this.#writing === batch) this.#writing = null;
      const error = thrown instanceof Error ? thrown : new Error(`usage sink failed: ${String(thrown)}`);
      const permanent = isPermanent(error);
      this.#counts.failedWrites++;
      this.#counts.lastError = { message: error.message, at: this.#clock.wallNow() };
      if (hasCode(error, 'ERR_WRITE_IN_DOUBT')) batch.inDoubt = true;
      if (this.#writesEnded === null && (this.#registry?.closed === true || hasCode(error, 'ERR_POOL_CLOSED'))) this.#writesEnded = error;
      let retryInMs: number | null = null;
      if (!permanent) {
        this.#consecutiveFailures++;
        if (this.#state === 'open' && this.#writesEnded === null) {
          retryInMs = this.#backoffMs();
          this.#schedule.scheduleRetry(retryInMs);
        }
      }
      this.emit('flush-error', { batchId: batch.id, rows: batch.rows.length, increments: batch.increments, attempt, error, retryInMs, permanent });
      return error;
    }
    if (this.#writing === batch) this.#writing = null;
    const at = this.#frozen.indexOf(batch);
    if (at >= 0) this.#frozen.splice(at, 1);
    this.#consecutiveFailures = 0;
    this.#counts.written(batch.rows.length, batch.increments, attempt, this.#clock.wallNow());
    this.emit('flush', { batchId: batch.id, rows: batch.rows.length, increments: batch.increments, attempt, durationMs: this.#clock.now() - started });
    return null;
  }

  #backoffMs(): number {
    return equalJitterBackoffMs(this.#consecutiveFailures, this.#retryBaseMs, this.#retryMaxMs, this.#random);
  }

  async #close(timeoutMs: number): Promise<UsageCloseReport> {
    this.#state = 'closing';
    this.#schedule.stopFlushTimers();
    const deadline = this.#clock.now() + timeoutMs;
    let batches = 0;
    let rows = 0;
    let increments = 0;
    let error: Error | null = null;
    while (this.#frozen.length > 0 || this.#pending.size > 0) {
      const report = await this.#within(this.flush(), deadline);
      if (report === null) break;
      batches += report.batches;
      rows += report.rows;
      increments += report.increments;
      if (report.error !== null) {
        error = report.error;
        if (this.#writesEnded !== null) break; // nothing can be written any more: report now, not at the deadline
        await this.#pauseUntil(Math.min(deadline, this.#clock.now() + this.#backoffMs()));
        if (this.#clock.now() >= deadline) break;
      }
    }
    this.#state = 'closed';
    this.#schedule.stopBucketClock();
    const { unwritten, unwrittenIncrements, inDoubt } = leftovers(this.#frozen, this.#writing, this.#pending.rows(this.#widthMs), this.#pending.increments);
    this.#frozen = [];
    this.#pending = new PendingMap();
    const report: UsageCloseReport = { clean: unwritten.length === 0 && inDoubt === null, batches, rows, increments, unwritten, unwrittenIncrements, inDoubt, error };
    (this as unknown as SafeEmitter).emit('close', report);
    return report;
  }

  /** Resolves with `promise`'s value, or null at `deadline` (monotonic ms). Its timer keeps the process alive: somebody awaits close(). */
  #within<T>(promise: Promise<T>, deadline: number): Promise<T | null> {
    const timers = { setTimeout: (callback: () => void, ms: number) => this.#clock.setTimeout(callback, ms, true), clearTimeout: (handle: unknown) => this.#clock.clearTimeout(handle) };
    return settleWithin<T | null>(timers, Math.max(0, deadline - this.#clock.now()), () => promise, () => DEADLINE).catch((error: unknown) => {
      if (error === DEADLINE) return null;
      throw error;
    });
  }

  /** Waits until `until` (monotonic ms): close()'s backoff between attempts. Keeps the process alive, as #within. */
  #pauseUntil(until: number): Promise<void> {
    return new Promise((resolve) => this.#clock.setTimeout(resolve, Math.max(0, until - this.#clock.now()), true));
  }
}

/** What {@link UsageTracker.#within} rejects with at its deadline (never seen outside). */
const DEADLINE = new Error('usage.close: deadline');

/**
 * Creates a {@link UsageTracker}: counters on the hot path, written in coalesced, exactly-once batches through
 * one service's pool (or a custom `sink`).
 * @throws ConfigError `ERR_CONFIG`, listing every invalid option (an unsafe `table` name included).
 * @example
 * const usage = createUsageTracker({ registry, service: 'usage', table: 'usage_counters', bucket: 'hour' });
 * await usage.ensureSchema();
 * usage.increment('ext:42:calls');
 * await usage.close({ timeoutMs: 10_000 });
 */
export function createUsageTracker<S extends string>(options: UsageTrackerOptions<S>): UsageTracker<S> {
  return new UsageTracker<S>(options);
}
