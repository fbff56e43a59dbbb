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
  /** Decides each call: 'ok', 'fail' (nothing applied), 'lose-reply' (applied, then fails), 'hang'. */
  plan: (batch: UsageBatch) => 'ok' | 'fail' | 'lose-reply' | 'hang' = () => 'ok';

  readonly sink = (batch: UsageBatch): Promise<void> => {
    this.calls.push(batch);
    const what = this.plan(batch);
    if (what === 'hang') return new Promise(() => {});
    if (what === 'fail') return Promise.reject(new Error(`sink down (batch ${batch.id}, attempt ${batch.attempt})`));
    if (!this.applied.has(batch.id)) {
      this.applied.add(batch.id);
      for (const row of batch.rows) this.totals.set(rowKey(row), (this.totals.get(rowKey(row)) ?? 0) + row.count);
    }
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
