import type { UsageRow } from './batch';

/** Payload of `flush`: one batch was written (confirmed committed by the sink). */
export interface UsageFlushEvent {
  readonly batchId: string;
  /** Distinct (key, bucket) rows in the batch. */
  readonly rows: number;
  /** Sum of the counts written. */
  readonly increments: number;
  /** Attempts it took, 1 when the first one succeeded. */
  readonly attempt: number;
  /** Duration of the successful attempt, ms (monotonic clock). */
  readonly durationMs: number;
}

/** Payload of `flush-error`: a write failed; the batch stays frozen and is retried as is. */
export interface UsageFlushErrorEvent {
  readonly batchId: string;
  readonly rows: number;
  readonly increments: number;
  /** The attempt that failed (1 on the first). */
  readonly attempt: number;
  /** What the sink (or PostgreSQL) rejected with. */
  readonly error: Error;
  /**
   * Delay before the automatic retry, ms, or null when none is scheduled: while closing (close retries within its
   * own timeout), once the registry is closed (no write can succeed any more), or for a permanent error.
   */
  readonly retryInMs: number | null;
  /**
   * True when the error is permanent (SQLSTATE class 22 or 54, or an error marked `permanent: true`): retrying the
   * same rows cannot succeed, so the batch is split at once and only the rows that fail alone are quarantined.
   */
  readonly permanent: boolean;
}

/**
 * Why an increment was not kept: a new key at `maxPendingKeys`, an increment after close, or a row the sink
 * refused for good (`'rejected-by-sink'`: a permanent error such as a value out of range, see {@link UsageSink}).
 */
export type UsageDropReason = 'max-pending-keys' | 'closed' | 'rejected-by-sink';

/** Payload of `drop` for an increment call dropped on the hot path. Emitted synchronously from `increment`. */
export interface UsageDroppedCallEvent {
  readonly key: string;
  /** The amount that was dropped. */
  readonly by: number;
  readonly reason: 'max-pending-keys' | 'closed';
  /** Dropped increment calls since the tracker was created. */
  readonly droppedCalls: number;
}

/**
 * Payload of `drop` for a row quarantined after the sink refused it for good: the batch that held it failed with a
 * permanent error, was split until the row was alone, and the row alone still failed. Every other row of the
 * batch was written. The row is not retried; persist or log it from here if it matters.
 */
export interface UsageQuarantineEvent {
  readonly key: string;
  /** The row's count (sum of its increments), now dropped. */
  readonly by: number;
  readonly reason: 'rejected-by-sink';
  /** Start of the row's time bucket. */
  readonly bucket: Date;
  /** Id of the one-row batch that failed (derived from the original batch's id). */
  readonly batchId: string;
  /** What the sink (or PostgreSQL) rejected it with. */
  readonly error: Error;
  /** Rows quarantined since the tracker was created. */
  readonly quarantinedRows: number;
}

/** Payload of `drop`: something was counted and will never be written. Tell the cases apart by `reason`. */
export type UsageDropEvent = UsageDroppedCallEvent | UsageQuarantineEvent;

/** Result of {@link UsageTracker.flush}. A flush never rejects: a failure is reported in `error` and retried. */
export interface UsageFlushReport {
  /** True when everything taken by this flush was written. */
  readonly ok: boolean;
  /** Batches written by this flush: a retried frozen batch and/or the newly taken pending counters. */
  readonly batches: number;
  /** Rows written. */
  readonly rows: number;
  /** Sum of the counts written. */
  readonly increments: number;
  /** The first write error, or null. */
  readonly error: Error | null;
  /** Duration of the flush, ms (monotonic clock). */
  readonly durationMs: number;
}

/** A batch whose write was still in flight when `close()` gave up: it may or may not have been committed. */
export interface UsageInDoubtBatch {
  /** The batch id, as the sink saw it (`UsageBatch.id`). */
  readonly batchId: string;
  /** Its rows, sorted by key then bucket. */
  readonly rows: readonly UsageRow[];
  /** Sum of `count` over `rows`. */
  readonly increments: number;
}

/**
 * Result of {@link UsageTracker.close}.
 *
 * To stay exactly-once, a host that persists what is left replays `unwritten` as is (none of it was written),
 * but never the rows of `inDoubt` without its `batchId`: that write was still in flight at the deadline and may
 * commit afterwards (a later `flush` event with the same `batchId` confirms it did), or it was lost while committing
 * and may have committed already. Replay it only through a
 * sink that remembers applied ids, such as the built-in one's ledger, with the same `batchId`, so it is applied
 * at most once.
 */
export interface UsageCloseReport {
  /** True when every counter was written before the timeout (nothing unwritten, nothing in doubt). */
  readonly clean: boolean;
  /** Batches, rows and counts written while closing. */
  readonly batches: number;
  readonly rows: number;
  readonly increments: number;
  /**
   * What was certainly not written, sorted by key then bucket: a frozen batch whose last attempt failed and the
   * pending counters (a key may appear in both). Persist or log it; the tracker has let go of it.
   */
  readonly unwritten: readonly UsageRow[];
  /** Sum of `count` over `unwritten`. */
  readonly unwrittenIncrements: number;
  /**
   * The batch that may or may not have been written, or null: its write was still in flight at the deadline, or an
   * attempt failed while committing (`ERR_WRITE_IN_DOUBT`) and no later attempt succeeded. Not part of `unwritten`.
   */
  readonly inDoubt: UsageInDoubtBatch | null;
  /** The last write error seen while closing, or null. */
  readonly error: Error | null;
}

/** Events of a {@link UsageTracker}. Listeners run in their own try/catch: a throwing one never breaks the tracker. */
export interface UsageTrackerEvents {
  flush: [UsageFlushEvent];
  'flush-error': [UsageFlushErrorEvent];
  drop: [UsageDropEvent];
  close: [UsageCloseReport];
}
