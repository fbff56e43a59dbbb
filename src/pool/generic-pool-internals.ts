import type { Pool } from 'generic-pool';

/**
 * The two places pg-bulkhead reaches past generic-pool's public API. generic-pool is pinned to exactly 3.9.0,
 * and test/pool/generic-pool-internals.test.ts fails if these fields move.
 *
 * - It cannot change `max`/`min` after creation, but the registry resizes services at run time.
 * - It restores `min` only after a destroy, never after failed creates or a raised `min` (NOTES.md, trap 5).
 */
interface Internals {
  _config: { max: number; min: number };
  _ensureMinimum(): void;
}

/** Sets generic-pool's hard ceiling (`max`) and warm floor (`min`). */
export function setLimits(pool: Pool<unknown>, max: number, min: number): void {
  const internals = pool as unknown as Internals;
  internals._config.max = max;
  internals._config.min = Math.min(min, max);
}

/** Opens connections until `min` are open or being opened. */
export function ensureMinimum(pool: Pool<unknown>): void {
  (pool as unknown as Internals)._ensureMinimum();
}

/** True when the installed generic-pool still has the internals above. */
export function internalsAvailable(pool: Pool<unknown>): boolean {
  const internals = pool as unknown as Partial<Internals>;
  return typeof internals._config?.max === 'number' && typeof internals._config.min === 'number' && typeof internals._ensureMinimum === 'function';
}
