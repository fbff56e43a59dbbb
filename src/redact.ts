/** Secrets this short would match ordinary text: a message that contains one is withheld whole instead. */
const SHORT_SECRET = 4;

/**
 * Removes secrets from errors before they leave the library through an event, a stats snapshot or as a
 * `cause`. A password must never appear in anything pg-bulkhead creates.
 */
export class Redactor {
  readonly #secrets: readonly string[];

  constructor(secrets: readonly (string | undefined)[]) {
    // Also catch the URL-encoded form a connection string carries.
    const all = new Set<string>();
    for (const secret of secrets) {
      if (typeof secret !== 'string' || secret.length === 0) continue;
      all.add(secret);
      all.add(encodeURIComponent(secret));
    }
    this.#secrets = [...all].sort((a, b) => b.length - a.length);
  }

  /** The text with every secret replaced by `***` (or withheld whole when a very short secret appears in it). */
  text(text: string): string {
    let out = text;
    for (const secret of this.#secrets) {
      if (!out.includes(secret)) continue;
      if (secret.length < SHORT_SECRET) return '[message withheld: it may contain the database password]';
      out = out.split(secret).join('***');
    }
    return out;
  }

  #leaks(value: unknown): boolean {
    return typeof value === 'string' && this.#secrets.some((s) => value.includes(s));
  }

  /**
   * The error itself when neither it nor anything in its `cause` chain (or `AggregateError.errors`) carries a
   * secret; otherwise a plain copy with the secret removed from every message and stack, keeping `name` and `code`
   * and dropping other fields (Node's URL errors carry the whole connection string in `input`).
   */
  error(error: unknown, depth = 0): Error {
    if (!(error instanceof Error)) return new Error(this.text(String(error)));
    if (this.#secrets.length === 0 || depth > 8) return error;
    const fields = error as unknown as Record<string, unknown>;
    const cause = fields.cause;
    const nested = Array.isArray(fields.errors) ? (fields.errors as unknown[]) : [];
    const safeCause = cause === undefined ? undefined : this.error(cause, depth + 1);
    const safeNested = nested.map((e) => this.error(e, depth + 1));
    const ownLeak = Object.getOwnPropertyNames(error).some((key) => key !== 'cause' && key !== 'errors' && this.#leaks(fields[key]));
    if (!ownLeak && safeCause === cause && safeNested.every((e, i) => e === nested[i])) return error;
    const copy = new Error(this.text(error.message), safeCause === undefined ? undefined : { cause: safeCause });
    copy.name = error.name;
    const code = fields.code;
    if (typeof code === 'string') (copy as Error & { code?: string }).code = code;
    if (nested.length > 0) (copy as Error & { errors?: Error[] }).errors = safeNested;
    copy.stack = this.text(error.stack ?? '');
    return copy;
  }
}
