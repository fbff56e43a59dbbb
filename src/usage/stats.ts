/** The tracker's public snapshot and lifecycle types (what `stats()` returns, what `close()` takes), and the totals behind them. */

/** Lifecycle of a tracker. */
export type UsageTrackerState = 'open' | 'closing' | 'closed';

/** Snapshot of a tracker (a fresh object on every call). Counts of increments are sums of `by`. */
export interface UsageStats {
  readonly state: UsageTrackerState;
  /** Distinct (key, bucket) pairs waiting for the next flush. */
  readonly pendingKeys: number;
  readonly pendingIncrements: number;
  /** Rows of the frozen batch being written or waiting for a retry (0 when none). */
  readonly frozenKeys: number;
  readonly frozenIncrements: number;
  /** Batches, rows and increments written since creation. */
  readonly flushedBatches: number;
  readonly flushedRows: number;
  readonly flushedIncrements: number;
  /** Failed write attempts since creation. */
  readonly failedWrites: number;
  /** Batches that were written on a retry (attempt > 1). */
  readonly retriedBatches: number;
  /** Increment calls dropped (new keys at `maxPendingKeys`, or after close) and the amounts they carried. */
  readonly droppedCalls: number;
  readonly droppedIncrements: number;
  /**
   * Increment calls rejected with `ERR_INVALID_ARGUMENT` (bad key, amount or time, or a sum that would pass
   * `Number.MAX_SAFE_INTEGER`): nothing of them was counted.
   */
  readonly rejectedCalls: number;
  /** Rows the sink refused for good, quarantined alone after splitting their batch, and the counts they carried. */
  readonly quarantinedRows: number;
  readonly quarantinedIncrements: number;
  /** Wall-clock time of the last successful write, ms since the epoch, or null. */
  readonly lastFlushAt: number | null;
  /** The last write error and when it happened (wall clock, ms since the epoch), or null. Cleared by a success. */
  readonly lastError: { readonly message: string; readonly at: number } | null;
  /** Write path of the built-in sink (`null` until probed), or `'custom'` with a custom sink. */
  readonly writeMode: 'unnest' | 'values' | 'custom' | null;
}

/** Options of {@link UsageTracker.close}. */
export interface UsageCloseOptions {
  /** How long to keep trying to write what is left, ms. @default 10000 */
  readonly timeoutMs?: number;
}

/** The running totals behind {@link UsageStats} (the counts only; pending and frozen sizes are the tracker's). */
export class UsageCounters {
  flushedBatches = 0;
  flushedRows = 0;
  flushedIncrements = 0;
  failedWrites = 0;
  retriedBatches = 0;
  droppedCalls = 0;
  droppedIncrements = 0;
  rejectedCalls = 0;
  quarantinedRows = 0;
  quarantinedIncrements = 0;
  lastFlushAt: number | null = null;
  lastError: { message: string; at: number } | null = null;

  /** A batch of `rows` carrying `increments` was written on attempt `attempt`, at wall-clock `at`. */
  written(rows: number, increments: number, attempt: number, at: number): void {
    this.flushedBatches++;
    this.flushedRows += rows;
    this.flushedIncrements += increments;
    if (attempt > 1) this.retriedBatches++;
    this.lastFlushAt = at;
    this.lastError = null;
  }

  /** A fresh copy of the totals. */
  snapshot(): Omit<UsageStats, 'state' | 'pendingKeys' | 'pendingIncrements' | 'frozenKeys' | 'frozenIncrements' | 'writeMode'> {
    return {
      flushedBatches: this.flushedBatches,
      flushedRows: this.flushedRows,
      flushedIncrements: this.flushedIncrements,
      failedWrites: this.failedWrites,
      retriedBatches: this.retriedBatches,
      droppedCalls: this.droppedCalls,
      droppedIncrements: this.droppedIncrements,
      rejectedCalls: this.rejectedCalls,
      quarantinedRows: this.quarantinedRows,
      quarantinedIncrements: this.quarantinedIncrements,
      lastFlushAt: this.lastFlushAt,
      lastError: this.lastError === null ? null : { ...this.lastError },
    };
  }
}
