// Helpers of the chaos soak: a seeded PRNG, a serializer that reaches into errors (message, stack, code, every own
// field and the whole `cause` chain), and a scanner that looks for secrets in everything it is shown.

export { mulberry32 } from '../helpers/seeded-random';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * JSON of anything, errors included with `name`, `message`, `stack`, every own property (enumerable or not) and
 * `cause`, recursively; cycles, functions and bigints are handled. What a log shipper could end up writing.
 */
export function serialize(value: unknown): string {
  const seen = new WeakSet<object>();
  const expand = (v: unknown, depth: number): unknown => {
    if (typeof v === 'bigint') return v.toString();
    if (typeof v === 'function') return `[function ${v.name}]`;
    if (typeof v !== 'object' || v === null) return v;
    if (seen.has(v) || depth > 12) return '[seen]';
    seen.add(v);
    if (v instanceof Error) {
      const out: Record<string, unknown> = { name: v.name, message: v.message, stack: v.stack };
      for (const key of Object.getOwnPropertyNames(v)) out[key] = expand((v as unknown as Record<string, unknown>)[key], depth + 1);
      if ('cause' in v) out.cause = expand(v.cause, depth + 1);
      if (v instanceof AggregateError) out.errors = v.errors.map((e) => expand(e, depth + 1));
      return out;
    }
    if (Array.isArray(v)) return v.map((x) => expand(x, depth + 1));
    if (v instanceof Map) return [...v.entries()].map(([k, x]) => [expand(k, depth + 1), expand(x, depth + 1)]);
    if (v instanceof Set) return [...v].map((x) => expand(x, depth + 1));
    if (v instanceof Date) return v.toISOString();
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(v)) out[key] = expand((v as Record<string, unknown>)[key], depth + 1);
    return out;
  };
  try {
    return JSON.stringify(expand(value, 0)) ?? String(value);
  } catch (error) {
    return `[unserializable: ${String(error)}]`;
  }
}

/** Scans text for secrets (as given and URL-encoded); remembers where each leak was, never the secret itself. */
export function createScanner(secrets: readonly string[]): {
  scan(where: string, text: string): void;
  redact(text: string): string;
  readonly leaks: readonly string[];
  readonly items: number;
  readonly bytes: number;
} {
  const needles = [...new Set(secrets.flatMap((s) => [s, encodeURIComponent(s)]))].sort((a, b) => b.length - a.length);
  const leaks: string[] = [];
  let items = 0;
  let bytes = 0;
  const redact = (text: string): string => needles.reduce((t, n) => t.split(n).join('<PASSWORD>'), text);
  return {
    scan(where, text) {
      items++;
      bytes += text.length;
      for (const needle of needles) {
        const at = text.indexOf(needle);
        if (at >= 0) {
          if (leaks.length < 20) leaks.push(`${where}: …${redact(text.slice(Math.max(0, at - 80), at + needle.length + 40))}…`);
          return;
        }
      }
    },
    redact,
    get leaks() {
      return leaks;
    },
    get items() {
      return items;
    },
    get bytes() {
      return bytes;
    },
  };
}
