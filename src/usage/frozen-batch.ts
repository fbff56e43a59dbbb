/**
 * A frozen batch: pending counters taken at a flush, under an id, written until they succeed. Here is what
 * decides a failed write's fate: transient (retry the same batch), permanent (split it in halves until the
 * failing row is alone, then quarantine that row), or in doubt (it may have committed); and what is left at close.
 */
import { compareRows, type UsageRow } from './batch';

/** A batch taken from the pending counters and not yet written. */
export interface FrozenBatch {
  readonly id: string;
  readonly rows: readonly UsageRow[];
  readonly increments: number;
  attempts: number;
  /** An attempt failed after it may have committed (`ERR_WRITE_IN_DOUBT`): only a successful retry settles it. */
  inDoubt: boolean;
}

/** A new frozen batch of `rows` (which it freezes) with no attempt made yet. */
export function freezeBatch(id: string, rows: readonly UsageRow[], increments = rows.reduce((n, r) => n + r.count, 0)): FrozenBatch {
  return { id, rows: Object.freeze(rows), increments, attempts: 0, inDoubt: false };
}

/**
 * The two halves of a batch that failed permanently, under derived ids (`<id>.0`, `<id>.1`). A permanent failure
 * proves the attempt rolled back (the server answered with a data error), so the halves may be written under
 * ids of their own without counting anything twice. Bisecting this way finds each poison row in log2(n) steps
 * while every other row is written.
 */
export function halves(batch: FrozenBatch): [FrozenBatch, FrozenBatch] {
  const middle = Math.ceil(batch.rows.length / 2);
  return [freezeBatch(`${batch.id}.0`, batch.rows.slice(0, middle)), freezeBatch(`${batch.id}.1`, batch.rows.slice(middle))];
}

/**
 * A write error that retrying the same rows can never fix: marked `permanent: true` by a custom sink, or a
 * PostgreSQL data exception (SQLSTATE class 22: out of range, invalid byte sequence, …) or program limit (class
 * 54: index row too large, …), on the error or its `cause` chain. `ERR_WRITE_IN_DOUBT` never is.
 */
export function isPermanent(error: unknown): boolean {
  if (hasCode(error, 'ERR_WRITE_IN_DOUBT')) return false;
  for (let e = error, depth = 0; typeof e === 'object' && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { permanent?: unknown }).permanent === true) return true;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^(22|54)[0-9A-Z]{3}$/.test(code)) return true;
  }
  return false;
}

/** True when `error`, or one of the first few errors of its `cause` chain (a custom sink may wrap), has `code`. */
export function hasCode(error: unknown, code: string): boolean {
  for (let e = error, depth = 0; typeof e === 'object' && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { code?: unknown }).code === code) return true;
  }
  return false;
}

/** What close() could not settle: rows certainly not written, and the one batch that may yet have committed. */
export interface Leftovers {
  readonly unwritten: UsageRow[];
  readonly unwrittenIncrements: number;
  readonly inDoubt: { readonly batchId: string; readonly rows: readonly UsageRow[]; readonly increments: number } | null;
}

/**
 * Sorts what is left at close. A write still in flight may yet commit, and so may one that failed while
 * committing (ERR_WRITE_IN_DOUBT): their rows are not "unwritten", or a host replaying those would count them
 * twice. A frozen batch whose attempts all failed before committing was not written (the sink rejected it). Only
 * the head batch is ever written, so it is the only one that can be in doubt.
 */
export function leftovers(frozen: readonly FrozenBatch[], writing: FrozenBatch | null, pendingRows: readonly UsageRow[], pendingIncrements: number): Leftovers {
  const head = frozen[0];
  const doubtful = writing ?? (head?.inDoubt === true ? head : null);
  const inDoubt = doubtful === null ? null : { batchId: doubtful.id, rows: doubtful.rows, increments: doubtful.increments };
  const notWritten = frozen.filter((b) => b !== doubtful);
  const unwritten = [...notWritten.flatMap((b) => b.rows), ...pendingRows].sort(compareRows);
  const unwrittenIncrements = notWritten.reduce((n, b) => n + b.increments, 0) + pendingIncrements;
  return { unwritten, unwrittenIncrements, inDoubt };
}
