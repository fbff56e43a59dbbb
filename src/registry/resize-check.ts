/**
 * Resize validation: the verdict type of {@link PoolRegistry.validateResize} and the checks behind it (the
 * limits' own rules, the budget with its reserve, and whether a larger size can be guaranteed now).
 */
import type { Budget } from '../budget/budget';
import { ConfigError, type ConfigProblem } from '../errors';
import { checkResize, type ResolvedServiceOptions } from '../pool/options';

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

/** What {@link checkResizeNow} needs of the service's pool. */
export interface ResizablePool {
  readonly options: ResolvedServiceOptions;
  /** Shared slots the pool would hold with this guaranteed size and its connections as they are now. */
  slotsNeededWithSize(size: number): number;
}

/**
 * The verdict of {@link PoolRegistry.validateResize}: the limits' own rules, then whether the budget can hold
 * the new size with its reserve, and, for a larger size, whether it can guarantee it now.
 */
export function checkResizeNow(service: string, limits: { readonly size?: number; readonly overflow?: number }, pool: ResizablePool, budget: Budget): ResizeCheck {
  try {
    checkResize(service, limits, pool.options);
  } catch (error) {
    if (error instanceof ConfigError) return { ok: false, reason: 'invalid', problems: error.problems };
    throw error;
  }
  if (limits.size === undefined) return { ok: true };
  const guaranteed = budget.guaranteedWith(service, limits.size);
  const stats = budget.stats();
  const reserve = stats.reserve;
  if (guaranteed + reserve > budget.total) {
    const why = guaranteed > budget.total ? `more than maxConnections ${budget.total}` : `leaving fewer shared slots than the reserve of ${reserve} (maxConnections ${budget.total})`;
    return {
      ok: false,
      reason: 'budget',
      problems: [{ path: `${service}.size`, message: `${limits.size} would reserve ${guaranteed} connections, ${why}` }],
      requiredMaxConnections: guaranteed + reserve,
    };
  }
  if (limits.size > pool.options.size) {
    // Safe only if the budget can guarantee the new size now: the shared slots other services are borrowing
    // must fit in what is left. Otherwise the new guaranteed connections would open on top of them, above
    // maxConnections.
    const sharedAfter = budget.total - guaranteed;
    const borrowedByOthers = stats.sharedInUse - (stats.sharedInUseByService[service] ?? 0);
    const neededAfter = borrowedByOthers + pool.slotsNeededWithSize(limits.size);
    if (neededAfter > sharedAfter) {
      const borrowedBy = Object.fromEntries(Object.entries(stats.sharedInUseByService).filter(([name, n]) => name !== service && n > 0));
      const borrowers = Object.entries(borrowedBy)
        .map(([name, n]) => `${name} ${n}`)
        .join(', ');
      return {
        ok: false,
        reason: 'busy',
        borrowedBy,
        problems: [
          {
            path: `${service}.size`,
            message: `${limits.size} cannot be guaranteed now: other services are borrowing ${borrowedByOthers} shared slots (${borrowers}) and only ${Math.max(0, sharedAfter - pool.slotsNeededWithSize(limits.size))} would be left for them; retry when their bursts end, or lower their overflow first`,
          },
        ],
      };
    }
  }
  return { ok: true };
}
