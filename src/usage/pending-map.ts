import { compareRows, type UsageRow } from './batch';
import { bucketStartMs } from './bucket';

/** Outcome of {@link PendingMap.add}: small integers, so the hot path allocates nothing. */
export type AddResult = 0 | 1 | 2;
/** The key is not pending in that bucket. */
export const NOT_PENDING = 0;
/** Added to the pending key. */
export const ADDED = 1;
/** Not added: the key's pending sum would pass `Number.MAX_SAFE_INTEGER`. */
export const WOULD_OVERFLOW = 2;

/** A pending counter; mutated in place so that incrementing an existing key allocates nothing. */
interface PendingEntry {
  readonly key: string;
  count: number;
}

/**
 * The counters not yet taken by a flush, coalesced per (bucket, key). Buckets are an outer map keyed by a small
 * integer bucket index, keys an inner map keyed by the caller's own string, so a hit never builds a composite key.
 * The tracker replaces the whole map on every flush (an atomic swap), so a map is never read and written at once.
 */
export class PendingMap {
  readonly #buckets = new Map<number, Map<string, PendingEntry>>();
  #lastIndex = Number.NaN;
  #lastKeys: Map<string, PendingEntry> | undefined;
  #size = 0;
  #increments = 0;

  /** Distinct (bucket, key) pairs pending. */
  get size(): number {
    return this.#size;
  }

  /** Sum of every pending count. */
  get increments(): number {
    return this.#increments;
  }

  /**
   * Adds `by` to a pending key. Returns {@link ADDED}, {@link NOT_PENDING} (nothing changed: call
   * {@link PendingMap.insert}) or {@link WOULD_OVERFLOW} (nothing changed: the sum would pass
   * `Number.MAX_SAFE_INTEGER`, where a JS number stops counting exactly). Allocates nothing.
   */
  add(key: string, index: number, by: number): AddResult {
    let keys = this.#lastKeys;
    if (index !== this.#lastIndex) {
      keys = this.#buckets.get(index);
      if (keys === undefined) return NOT_PENDING;
      this.#lastIndex = index;
      this.#lastKeys = keys;
    }
    const entry = keys?.get(key);
    if (entry === undefined) return NOT_PENDING;
    if (by > Number.MAX_SAFE_INTEGER - entry.count) return WOULD_OVERFLOW;
    entry.count += by;
    this.#increments += by;
    return ADDED;
  }

  /** Starts a new pending key (call after {@link PendingMap.add} returned false). */
  insert(key: string, index: number, by: number): void {
    let keys = this.#buckets.get(index);
    if (keys === undefined) {
      keys = new Map();
      this.#buckets.set(index, keys);
    }
    keys.set(key, { key, count: by });
    this.#lastIndex = index;
    this.#lastKeys = keys;
    this.#size++;
    this.#increments += by;
  }

  /** The pending counters as rows sorted by key then bucket, `widthMs` being the bucket width. */
  rows(widthMs: number): UsageRow[] {
    const rows: UsageRow[] = [];
    for (const [index, keys] of this.#buckets) {
      const startMs = bucketStartMs(widthMs, index);
      for (const entry of keys.values()) rows.push({ key: entry.key, bucket: new Date(startMs), count: entry.count });
    }
    return rows.sort(compareRows);
  }
}
