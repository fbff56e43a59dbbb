import type { ConfigProblem } from '../errors';

/**
 * The registry's verdict on a resize it was asked about ({@link PoolRegistry.validateResize}): what
 * {@link PoolRegistry.resize} would do with the same limits now, without doing it.
 *
 * - `invalid`: the limits themselves are wrong (not integers, out of range, size + overflow of 0).
 * - `budget`: the sizes would not fit in `maxConnections` with the reserve kept; `requiredMaxConnections` is the
 *   smallest `maxConnections` (with the same `reserve`) that would hold them.
 * - `busy`: the budget could hold the larger size, but not now: other services borrow the shared slots it would
 *   take. It succeeds once their bursts end, or after their overflow is lowered.
 */
export type ResizeCheck =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly reason: 'invalid' | 'budget' | 'busy';
      /** The problems, each with its path (`auth.size`), as `ERR_CONFIG` would list them. */
      readonly problems: readonly ConfigProblem[];
      /** For `budget`: the smallest `maxConnections` that holds the new sizes and the current reserve. */
      readonly requiredMaxConnections?: number;
      /** For `busy`: shared slots other services borrow now, per service (only those holding any). */
      readonly borrowedBy?: Readonly<Record<string, number>>;
    };
