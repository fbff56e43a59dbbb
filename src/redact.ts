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
      if (typeof secret !== 'string' || secret.length < 3) continue;
      all.add(secret);
      all.add(encodeURIComponent(secret));
    }
    this.#secrets = [...all].sort((a, b) => b.length - a.length);
  }

  /** The text with every secret replaced by `***`. */
  text(text: string): string {
    let out = text;
    for (const secret of this.#secrets) if (out.includes(secret)) out = out.split(secret).join('***');
    return out;
  }

  /**
   * The error itself when it carries no secret; otherwise a plain copy with the secret removed from its
   * message and stack, keeping `name` and `code` and dropping every other field (Node's URL errors carry the
   * whole connection string in `input`).
   */
  error(error: unknown): Error {
    if (!(error instanceof Error)) return new Error(this.text(String(error)));
    if (this.#secrets.length === 0) return error;
    const own = Object.getOwnPropertyNames(error);
    const leaks = own.some((key) => {
      const value = (error as unknown as Record<string, unknown>)[key];
      return typeof value === 'string' && this.#secrets.some((s) => value.includes(s));
    });
    if (!leaks) return error;
    const copy = new Error(this.text(error.message));
    copy.name = error.name;
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string') (copy as Error & { code?: string }).code = code;
    copy.stack = this.text(error.stack ?? '');
    return copy;
  }
}
