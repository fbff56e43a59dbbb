/**
 * What `increment` rejects at once because no sink could ever store it: a key with a NUL character or longer
 * than `maxKeyBytes`, a time outside the years 0001–9999. Kept apart so the hot path reads as one short method.
 */

/** Earliest and (exclusive) latest `at`: the years 0001 to 9999 UTC, which every sink can store as a timestamp. */
export const MIN_AT_MS = Date.parse('0001-01-01T00:00:00Z');
export const MAX_AT_MS = Date.parse('+010000-01-01T00:00:00Z');

/** A key shortened for an error message (keys are the caller's own data: never echo 8 KB of it). */
export function preview(key: string): string {
  const printable = key.replace(/\u0000/g, '\\0');
  return printable.length > 40 ? `${printable.slice(0, 40)}…` : printable;
}

/** Why a new key can never be stored, or null. Checked once per new pending key, never for a pending one. */
export function keyProblem(key: string, maxKeyBytes: number): string | null {
  if (key.includes('\u0000')) return `key: expected no NUL character (PostgreSQL text cannot hold one), got "${preview(key)}"`;
  // Cheap bound first: a UTF-16 code unit is at most 3 UTF-8 bytes.
  if (key.length * 3 > maxKeyBytes) {
    const bytes = Buffer.byteLength(key, 'utf8');
    if (bytes > maxKeyBytes) return `key: expected at most ${maxKeyBytes} UTF-8 bytes (maxKeyBytes), got ${bytes} bytes: "${preview(key)}"`;
  }
  return null;
}
