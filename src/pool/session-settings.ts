import { SettingNotAppliedError } from '../errors';
import type { ClientLike } from './client';
import type { PoolEventSink } from './events';

/**
 * What sits between the registry and PostgreSQL, which decides how per-service settings are applied:
 * - `'none'`: PostgreSQL itself (or a pooler that passes startup parameters): settings are startup parameters.
 * - `'pgbouncer-session'`: PgBouncer in session mode. It refuses (or, in `ignore_startup_parameters`, silently
 *   drops) the settings as startup parameters, so they are applied with `SET` right after connecting: the client
 *   owns its server connection for the whole session, and PgBouncer's `server_reset_query` (`DISCARD ALL`)
 *   clears them before the server connection serves anyone else.
 * - `'pgbouncer-transaction'`: PgBouncer in transaction mode. A session `SET` would stay on a shared server
 *   connection and reach other clients, so nothing is set per session: `transaction()` opens with
 *   `BEGIN; SET LOCAL …`, and `query()` runs its statement inside such a transaction (so a statement that cannot
 *   run in a transaction block, such as `VACUUM` or `CREATE INDEX CONCURRENTLY`, goes through `withClient()`). `withClient()` and
 *   `acquire()` hand out the raw client and cannot be covered: give the service its own role with
 *   `ALTER ROLE … SET statement_timeout = …` (then the read-back finds the values and no `SET LOCAL` is needed).
 */
export type Pooler = 'none' | 'pgbouncer-session' | 'pgbouncer-transaction';

/** Every {@link Pooler}. */
export const POOLERS: readonly Pooler[] = Object.freeze(['none', 'pgbouncer-session', 'pgbouncer-transaction']);

/** The per-service settings the library applies, by option. */
const SETTINGS = [
  { option: 'statementTimeoutMs', setting: 'statement_timeout' },
  { option: 'idleInTransactionTimeoutMs', setting: 'idle_in_transaction_session_timeout' },
] as const;

/** One setting a service asks for. */
interface Wanted {
  readonly option: string;
  readonly setting: string;
  readonly ms: number;
}

/**
 * How one service's settings are applied and checked, for its {@link Pooler}. The read-back happens on the
 * service's first connection (until one succeeds): a value the session does not have is either an error
 * (`ERR_SETTING_NOT_APPLIED`, when the settings should be session settings) or, in transaction pooling, the
 * reason to apply them with `SET LOCAL`.
 */
export class SessionSettings {
  readonly #service: string;
  readonly #pooler: Pooler;
  readonly #wanted: readonly Wanted[];
  readonly #events: PoolEventSink;
  #verified = false;
  /** Transaction pooling: the session does not carry the settings, so each transaction sets them. */
  #perTransaction: boolean;

  constructor(service: string, pooler: Pooler, options: { readonly statementTimeoutMs: number; readonly idleInTransactionTimeoutMs: number }, events: PoolEventSink) {
    this.#service = service;
    this.#pooler = pooler;
    this.#events = events;
    this.#wanted = SETTINGS.filter((s) => options[s.option] > 0).map((s) => ({ ...s, ms: Math.round(options[s.option]) }));
    this.#perTransaction = pooler === 'pgbouncer-transaction' && this.#wanted.length > 0;
  }

  /** Settings to send as startup parameters (only without a pooler: PgBouncer refuses or drops them). */
  startupParameters(): { statement_timeout?: number; idle_in_transaction_session_timeout?: number } {
    if (this.#pooler !== 'none') return {};
    const out: Record<string, number> = {};
    for (const w of this.#wanted) out[w.setting] = w.ms;
    return out;
  }

  /**
   * A connect error that is PgBouncer refusing one of the startup parameters this service sends (`08P01`
   * "unsupported startup parameter: statement_timeout", without `ignore_startup_parameters`), as the
   * `ERR_SETTING_NOT_APPLIED` that names the service, its option and the fix, with PgBouncer's error as its cause;
   * any other error as it is.
   */
  explainConnectError(error: unknown): unknown {
    if (this.#pooler !== 'none' || typeof error !== 'object' || error === null) return error;
    const { code, message } = error as { code?: unknown; message?: unknown };
    if (code !== '08P01' || typeof message !== 'string') return error;
    const refused = /^unsupported startup parameter: (\w+)/.exec(message)?.[1];
    const wanted = this.#wanted.find((w) => w.setting === refused);
    if (wanted === undefined) return error;
    return new SettingNotAppliedError(this.#service, { setting: wanted.setting, option: wanted.option, expectedMs: wanted.ms, actualMs: null, refusal: message, cause: error });
  }

  /** The statement that opens a transaction: `BEGIN`, plus `SET LOCAL` of each setting when they are per transaction. */
  get begin(): string {
    if (!this.#perTransaction) return 'BEGIN';
    return ['BEGIN', ...this.#wanted.map((w) => `SET LOCAL ${w.setting} = ${w.ms}`)].join('; ');
  }

  /** True when `query()` must run its statement in a transaction that sets the settings first. */
  get perTransaction(): boolean {
    return this.#perTransaction;
  }

  /** True when a connection needs work after connecting (a `SET`, or the first read-back). */
  get needsSetup(): boolean {
    return this.#wanted.length > 0 && (this.#pooler === 'pgbouncer-session' || !this.#verified);
  }

  /**
   * Runs on every new connection before it is used: applies session settings (session pooling) and, on the first
   * connection, reads the effective values back.
   * @throws SettingNotAppliedError when a session setting is missing (no pooler, or session pooling).
   */
  async afterConnect(client: ClientLike): Promise<void> {
    if (this.#wanted.length === 0) return;
    if (this.#pooler === 'pgbouncer-session') await client.query(this.#wanted.map((w) => `SET ${w.setting} = ${w.ms}`).join('; '));
    if (this.#verified) return;
    let actual: Map<string, number>;
    try {
      actual = await readSettings(client);
    } catch (error) {
      // A client that cannot read settings (pg-mem, a fake) enforces none of them either: say so, once.
      this.#verified = true;
      for (const w of this.#wanted) this.#warn(w, null, `${this.#service}: could not read ${w.setting} back (${error instanceof Error ? error.message : String(error)}); ${w.option} may not be in effect`);
      return;
    }
    const missing = this.#wanted.filter((w) => actual.get(w.setting) !== w.ms);
    if (this.#pooler !== 'pgbouncer-transaction') {
      const first = missing[0];
      if (first !== undefined) throw new SettingNotAppliedError(this.#service, { setting: first.setting, option: first.option, expectedMs: first.ms, actualMs: actual.get(first.setting) ?? 0 });
      this.#verified = true;
      return;
    }
    this.#verified = true;
    // The role carries every setting (ALTER ROLE … SET): every path has them, no SET LOCAL needed.
    this.#perTransaction = missing.length > 0;
    for (const w of missing) {
      this.#warn(
        w,
        actual.get(w.setting) ?? null,
        `${this.#service}: ${w.setting} is applied with SET LOCAL in query() and transaction() only (transaction pooling); withClient() and acquire() run with the role's ${actual.get(w.setting) ?? 0} ms. For every path: ALTER ROLE <${this.#service}'s role> SET ${w.setting} = ${w.ms}`,
      );
    }
  }

  #warn(w: Wanted, actualMs: number | null, message: string): void {
    if (this.#events.listenerCount('setting-warning') === 0) return;
    this.#events.emit('setting-warning', { service: this.#service, setting: w.setting, option: w.option, expectedMs: w.ms, actualMs, message });
  }
}

/** The session's values of the settings, ms (`pg_settings.setting` is in the setting's unit, ms for both). */
async function readSettings(client: ClientLike): Promise<Map<string, number>> {
  const { rows } = await client.query(
    `select name, setting from pg_settings where name in ('statement_timeout', 'idle_in_transaction_session_timeout')`,
  );
  const out = new Map<string, number>();
  for (const row of rows) out.set(String(row.name), Number(row.setting));
  if (out.size !== SETTINGS.length) throw new Error('pg_settings did not list them');
  return out;
}
