/** Width of the time bucket stored with each counter. `'none'` keeps one all-time row per key. */
export type UsageBucket = 'none' | 'minute' | 'hour' | 'day';

/** Every bucket width, shortest first. */
export const USAGE_BUCKETS: readonly UsageBucket[] = Object.freeze(['none', 'minute', 'hour', 'day']);

/** Width of each bucket in ms; `'none'` is 0 (every increment lands in the bucket starting at the epoch). */
export const BUCKET_MS: Readonly<Record<UsageBucket, number>> = Object.freeze({ none: 0, minute: 60_000, hour: 3_600_000, day: 86_400_000 });

/**
 * The bucket index of wall-clock time `at` (ms since the epoch, UTC): a small integer, so it stays a V8 small
 * integer and a map keyed by it costs no allocation. `'none'` always gives 0.
 */
export function bucketIndex(widthMs: number, at: number): number {
  return widthMs === 0 ? 0 : Math.floor(at / widthMs);
}

/** Start of bucket `index` as ms since the epoch (UTC). */
export function bucketStartMs(widthMs: number, index: number): number {
  return index * widthMs;
}
