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
  /** Delay before the automatic retry, ms, or null while closing (close retries within its own timeout). */
  readonly retryInMs: number | null;
}

/** Why an increment was not kept. */
export type UsageDropReason = 'max-pending-keys' | 'closed';

/** Payload of `drop`: an increment of a new key was dropped and counted. Emitted synchronously from `increment`. */
export interface UsageDropEvent {
  readonly key: string;
  /** The amount that was dropped. */
  readonly by: number;
  readonly reason: UsageDropReason;
  /** Dropped increment calls since the tracker was created. */
  readonly droppedCalls: number;
}

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

/** Result of {@link UsageTracker.close}. */
export interface UsageCloseReport {
  /** True when every counter was written before the timeout. */
  readonly clean: boolean;
  /** Batches, rows and counts written while closing. */
  readonly batches: number;
  readonly rows: number;
  readonly increments: number;
  /**
   * What could not be confirmed written within `timeoutMs`, sorted by key then bucket: the frozen batch (whose
   * write may still be in flight) and the pending counters. Persist or log it; the tracker has let go of it.
   */
  readonly unwritten: readonly UsageRow[];
  /** Sum of `count` over `unwritten`. */
  readonly unwrittenIncrements: number;
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
