import type { Clock } from '../clock';
import { isBulkheadError, WriteInDoubtError } from '../errors';
import { isConnectionError } from '../pool/client';
import type { UsageBatch, UsageRow } from './batch';
import type { UsageWriteMode } from './options';
import type { UsageLease, UsageRegistry } from './registry-port';
import type { TableNames } from './table-name';

/** Most keys per statement in `'values'` mode: 3 parameters each, far below the protocol's 65 535. */
const MAX_VALUES_ROWS = 1_000;
/** First key of the advisory lock that serializes `ensureSchema()` (the second is the table name's hash). */
const SCHEMA_LOCK_CLASS = 0x7062_6b68; // "pbkh"
/** `undefined_function`: the engine has no advisory locks (pg-mem). */
const UNDEFINED_FUNCTION = '42883';
/**
 * What a concurrent `CREATE … IF NOT EXISTS` of the same name fails with: a unique violation on a catalog index,
 * `duplicate_table`, or `duplicate_object` (the table's row type).
 */
const ALREADY_EXISTS = new Set(['23505', '42P07', '42710']);
/** Pruning the ledger is housekeeping: at most this often, ms. */
const PRUNE_EVERY_MS = 10 * 60_000;

/** @internal Configuration of {@link PostgresSink}. */
export interface PostgresSinkConfig<S extends string> {
  readonly registry: UsageRegistry<S>;
  readonly service: S;
  readonly names: TableNames;
  readonly chunkSize: number;
  readonly writeMode: UsageWriteMode;
  readonly ledgerRetentionMs: number;
  readonly clock: Clock;
}

/**
 * The built-in sink: writes a batch in ONE transaction on the usage service's pool, claiming the batch id in the
 * ledger first (`INSERT … ON CONFLICT DO NOTHING RETURNING`). If the claim returns no row the batch was applied
 * before (its reply was lost) and nothing else is written, so a retry never counts twice. A concurrent retry of the
 * same id waits on the ledger row's lock until the first attempt commits or rolls back. When the connection is lost
 * after COMMIT was sent, the write fails with {@link WriteInDoubtError} (`ERR_WRITE_IN_DOUBT`): it may have
 * committed, and only a retry under the same id can tell.
 *
 * Each chunk of rows is one upsert, `count = target.count + excluded.count`, rows in the batch's sorted order.
 * `'unnest'` binds three arrays per statement (real PostgreSQL); `'values'` a VALUES list of at most 1000 rows
 * (pg-mem, which lacks multi-array `unnest`). pg-mem ignores ROLLBACK, so there a batch is atomic only
 * as far as the embedded engine's statements are; pg-mem lives in-process and cannot lose a reply.
 * @internal
 */
export class PostgresSink<S extends string> {
  readonly #config: PostgresSinkConfig<S>;
  #mode: 'unnest' | 'values' | null;
  #lastPruneAt = Number.NEGATIVE_INFINITY;

  constructor(config: PostgresSinkConfig<S>) {
    this.#config = config;
    this.#mode = config.writeMode === 'auto' ? null : config.writeMode;
  }

  /** The write path in use, or null before the first probe. */
  get mode(): 'unnest' | 'values' | null {
    return this.#mode;
  }

  /**
   * Creates the counters table, the ledger and its index if missing. Safe when many instances call it at once:
   * `CREATE … IF NOT EXISTS` is not (two sessions creating one name fail with 23505, 42P07 or 42710), so the
   * statements run in one transaction under a transaction-level advisory lock keyed by the table name, and a
   * creator outside this library racing us is answered by running them again. Engines without advisory locks
   * (pg-mem) run them unlocked, tolerating "already exists".
   */
  async ensureSchema(): Promise<void> {
    const { registry, service, names } = this.#config;
    const statements = [
      `CREATE TABLE IF NOT EXISTS ${names.counters} (key text NOT NULL, bucket timestamptz NOT NULL, count bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (key, bucket))`,
      `CREATE TABLE IF NOT EXISTS ${names.ledger} (batch_id text PRIMARY KEY, applied_at timestamptz NOT NULL)`,
      `CREATE INDEX IF NOT EXISTS ${names.ledgerIndex} ON ${names.ledger} (applied_at)`,
    ];
    for (let attempt = 1; ; attempt++) {
      try {
        await registry.transaction(service, async (_client, lease) => {
          await lease.query(`SELECT pg_advisory_xact_lock(${SCHEMA_LOCK_CLASS}, hashtext($1))`, [names.counters]);
          for (const text of statements) await lease.query(text);
        });
        break;
      } catch (error) {
        const code = (error as { code?: unknown } | null)?.code;
        if (lacksAdvisoryLocks(error)) {
          await this.#createUnlocked(statements);
          break;
        }
        if (!(typeof code === 'string' && ALREADY_EXISTS.has(code)) || attempt >= 3) throw error;
      }
    }
    await this.#detect();
  }

  async #createUnlocked(statements: readonly string[]): Promise<void> {
    const { registry, service } = this.#config;
    for (const text of statements) {
      try {
        await registry.query(service, text);
      } catch (error) {
        const code = (error as { code?: unknown } | null)?.code;
        if (!(typeof code === 'string' && ALREADY_EXISTS.has(code))) throw error;
      }
    }
  }

  /** Writes `batch` exactly once (see the class comment). Rejects when it could not confirm the write. */
  async write(batch: UsageBatch): Promise<void> {
    const mode = this.#mode ?? (await this.#detect());
    const { registry, service, names, clock } = this.#config;
    const appliedAt = new Date(clock.wallNow()).toISOString();
    const progress: { stage: 'writing' | 'committing' | 'applied-before' } = { stage: 'writing' };
    try {
      await registry.transaction(service, async (_client, lease) => {
        const claim = await lease.query(`INSERT INTO ${names.ledger} (batch_id, applied_at) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING batch_id`, [batch.id, appliedAt]);
        if (claim.rows.length === 0) {
          progress.stage = 'applied-before'; // by an earlier attempt whose reply was lost: its ledger row is committed
          return;
        }
        if (mode === 'unnest') await this.#writeUnnest(lease, batch.rows);
        else await this.#writeValues(lease, batch.rows);
        progress.stage = 'committing'; // the transaction sends COMMIT as soon as this returns
      });
    } catch (error) {
      // This attempt wrote nothing; the batch is in the table whatever became of its (empty) transaction.
      if (progress.stage === 'applied-before') return;
      if (progress.stage === 'committing' && mayHaveCommitted(error)) throw new WriteInDoubtError(String(service), batch.id, error);
      throw error;
    }
    await this.#pruneLedger();
  }

  async #writeUnnest(lease: UsageLease, rows: readonly UsageRow[]): Promise<void> {
    const text =
      `INSERT INTO ${this.#config.names.counters} AS target (key, bucket, count, updated_at) ` +
      `SELECT u.k, u.b, u.c, now() FROM unnest($1::text[], $2::timestamptz[], $3::bigint[]) AS u(k, b, c) ` +
      `ON CONFLICT (key, bucket) DO UPDATE SET count = target.count + excluded.count, updated_at = excluded.updated_at`;
    for (let start = 0; start < rows.length; start += this.#config.chunkSize) {
      const chunk = rows.slice(start, start + this.#config.chunkSize);
      await lease.query(text, [chunk.map((r) => r.key), chunk.map((r) => r.bucket.toISOString()), chunk.map((r) => String(r.count))]);
    }
  }

  async #writeValues(lease: UsageLease, rows: readonly UsageRow[]): Promise<void> {
    const size = Math.min(this.#config.chunkSize, MAX_VALUES_ROWS);
    for (let start = 0; start < rows.length; start += size) {
      const chunk = rows.slice(start, start + size);
      const values: unknown[] = [];
      const tuples: string[] = [];
      for (const row of chunk) {
        const n = values.push(row.key, row.bucket, String(row.count));
        tuples.push(`($${n - 2}, $${n - 1}, $${n}, now())`);
      }
      await lease.query(
        `INSERT INTO ${this.#config.names.counters} AS target (key, bucket, count, updated_at) VALUES ${tuples.join(', ')} ` +
          `ON CONFLICT (key, bucket) DO UPDATE SET count = target.count + excluded.count, updated_at = excluded.updated_at`,
        values,
      );
    }
  }

  /** Probes once whether the server takes multi-array `unnest`; connection trouble is rethrown, not cached. */
  async #detect(): Promise<'unnest' | 'values'> {
    if (this.#mode !== null) return this.#mode;
    const { registry, service } = this.#config;
    try {
      const result = await registry.query<{ n: number | string }>(service, 'SELECT count(*)::int AS n FROM unnest($1::text[], $2::bigint[]) AS u(k, c)', [['a', 'b'], ['1', '2']]);
      this.#mode = Number(result.rows[0]?.n) === 2 ? 'unnest' : 'values';
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code;
      if (isConnectionError(error) || isBulkheadError(error) || (typeof code === 'string' && !code.startsWith('42'))) throw error;
      this.#mode = 'values';
    }
    return this.#mode;
  }

  /** Deletes ledger entries older than the retention; failures are ignored (the next write tries again). */
  async #pruneLedger(): Promise<void> {
    const { registry, service, names, clock, ledgerRetentionMs } = this.#config;
    const now = clock.wallNow();
    if (now - this.#lastPruneAt < Math.min(PRUNE_EVERY_MS, ledgerRetentionMs)) return;
    this.#lastPruneAt = now;
    try {
      await registry.query(service, `DELETE FROM ${names.ledger} WHERE applied_at < $1`, [new Date(now - ledgerRetentionMs).toISOString()]);
    } catch {
      // housekeeping only: an old ledger row costs a little space, never a wrong count
    }
  }
}

/** The engine has no advisory locks: `undefined_function`, or pg-mem's uncoded "function … does not exist". */
function lacksAdvisoryLocks(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (code === UNDEFINED_FUNCTION) return true;
  return code === undefined && typeof message === 'string' && /function (pg_advisory_xact_lock|hashtext)\(.*\) does not exist/.test(message);
}

/**
 * After the body ran, only an error the server itself answered with (a SQLSTATE such as a serialization failure
 * or a deferred constraint) proves the transaction rolled back. A lost connection, a terminated backend or a
 * client-side timeout leaves it unknown.
 */
function mayHaveCommitted(error: unknown): boolean {
  if (isConnectionError(error)) return true;
  // The registry refused to send COMMIT at all (the lease was taken back, the registry closed).
  if (isBulkheadError(error, 'ERR_LEASE_RELEASED') || isBulkheadError(error, 'ERR_POOL_CLOSED')) return false;
  const code = (error as { code?: unknown } | null)?.code;
  return !(typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code));
}
