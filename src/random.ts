/** A source of random numbers in [0, 1), as `Math.random`. Inject a seeded one to replay jitter in tests. */
export type RandomSource = () => number;

/**
 * Wraps a user-supplied source so jitter can never be out of range: a value outside [0, 1), or not a number,
 * is clamped (NaN counts as 0.5). Delays computed from it stay within their documented bounds.
 */
export function unitRandom(source: RandomSource = Math.random): RandomSource {
  if (source === Math.random) return source;
  return () => {
    const value = source();
    if (typeof value !== 'number' || Number.isNaN(value)) return 0.5;
    return value < 0 ? 0 : value >= 1 ? 1 - Number.EPSILON : value;
  };
}
