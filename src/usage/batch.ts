/** One coalesced counter in a batch: the sum of every increment of `key` in the bucket starting at `bucket`. */
export interface UsageRow {
  /** The counter's key, as passed to `increment`. */
  readonly key: string;
  /** Start of the time bucket (UTC). With `bucket: 'none'` it is the epoch, `1970-01-01T00:00:00Z`. */
  readonly bucket: Date;
  /** Sum of the increments, a positive safe integer (JS number). */
  readonly count: number;
}

/**
 * A frozen batch: taken from the pending counters at once, never changed afterwards, and retried as is (same
 * `id`, same rows) until it is written. A sink makes writing it idempotent by remembering `id`.
 */
export interface UsageBatch {
  /** Unique id (a random UUID), the same on every attempt. */
  readonly id: string;
  /** Rows sorted by `key`, then `bucket`: writers that lock rows in this order cannot deadlock one another. */
  readonly rows: readonly UsageRow[];
  /** Sum of `count` over the rows. */
  readonly increments: number;
  /** Write attempts so far, including the one in progress (1 on the first). */
  readonly attempt: number;
}

/** Sorts rows by key, then bucket: one total order every writer shares. */
export function compareRows(a: UsageRow, b: UsageRow): number {
  if (a.key !== b.key) return a.key < b.key ? -1 : 1;
  return a.bucket.getTime() - b.bucket.getTime();
}
