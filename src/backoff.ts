/**
 * The retry delay of the library: exponential in the number of consecutive failures, capped, with "equal
 * jitter" (half of the delay fixed, the other half random), so retries back off and do not fall into step.
 */

/**
 * The delay before the next attempt after `failures` consecutive failures (1 for the first):
 * `min(maxMs, baseMs × 2^(failures - 1))`, of which a random half is jittered away. Rounded to whole ms.
 * @param random a number in [0, 1) (see `unitRandom`)
 */
export function equalJitterBackoffMs(failures: number, baseMs: number, maxMs: number, random: () => number): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 30);
  const ceiling = Math.min(maxMs, baseMs * 2 ** exponent);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
