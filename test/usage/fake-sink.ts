import { WriteInDoubtError } from '../../src/errors';
import type { UsageBatch, UsageRow } from '../../src/usage/batch';

/** A promise with its settle functions exposed. */
export function deferred<T = void>(): { promise: Promise<T>; resolve(value: T): void; reject(error: unknown): void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export type Outcome = 'ok' | 'fail' | 'lose-reply' | 'doubt-applied' | 'doubt-unapplied' | 'hang';

/**
 * A sink that behaves like the PostgreSQL one (a ledger of applied batch ids makes a retry a no-op) and can be
 * told to fail before or after applying, or to hang.
 */
export class FakeSink {
  /** Every call, in order, with a copy of the batch. */
  readonly calls: UsageBatch[] = [];
  /** Applied totals, `key@iso-bucket` → count. */
  readonly totals = new Map<string, number>();
  readonly applied = new Set<string>();
  /**
   * Decides each call: 'ok', 'fail' (nothing applied), 'lose-reply' (applied, then fails with a plain error),
   * 'doubt-applied' / 'doubt-unapplied' (lost while committing: `ERR_WRITE_IN_DOUBT`, after or without applying),
   * 'hang'.
   */
  plan: (batch: UsageBatch) => Outcome = () => 'ok';

  readonly sink = (batch: UsageBatch): Promise<void> => {
    this.calls.push(batch);
    const what = this.plan(batch);
    if (what === 'hang') return new Promise(() => {});
    if (what === 'fail') return Promise.reject(new Error(`sink down (batch ${batch.id}, attempt ${batch.attempt})`));
    if (what === 'doubt-unapplied') return Promise.reject(new WriteInDoubtError(undefined, batch.id, new Error('Connection terminated unexpectedly')));
    if (!this.applied.has(batch.id)) {
      this.applied.add(batch.id);
      for (const row of batch.rows) this.totals.set(rowKey(row), (this.totals.get(rowKey(row)) ?? 0) + row.count);
    }
    if (what === 'doubt-applied') return Promise.reject(new WriteInDoubtError(undefined, batch.id, new Error('Connection terminated unexpectedly')));
    return what === 'lose-reply' ? Promise.reject(new Error('reply lost')) : Promise.resolve();
  };

  /** Sum of every applied count. */
  sum(): number {
    let sum = 0;
    for (const value of this.totals.values()) sum += value;
    return sum;
  }
}

export function rowKey(row: UsageRow): string {
  return `${row.key}@${row.bucket.toISOString()}`;
}
