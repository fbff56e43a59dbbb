/** The tracker's options: the interface users read, each option's spec declared once, and their validation. */
import type { Clock } from '../clock';
import { ConfigChecker } from '../options/check';
import { checkBySpec, defaultsOf, optionNames, type OptionSpec } from '../options/spec';
import type { UsageBatch } from './batch';
import { USAGE_BUCKETS, type UsageBucket } from './bucket';
import type { UsageRegistry } from './registry-port';
import { tableNameProblem } from './table-name';

/**
 * Writes one batch somewhere. It may be called again with the same batch (same `id`) after a failure, including a
 * failure that happened after the write took effect (a lost reply): to count exactly once, remember `batch.id`
 * with the write, atomically, and skip a batch already applied. Reject to have the batch retried later. When the
 * write may have taken effect (the connection was lost after the commit was sent), reject with a
 * `WriteInDoubtError` (or an error whose `cause` chain holds one): if `close()` then has to give up on the batch it
 * reports it as `inDoubt`, not as `unwritten`, which a plain rejection means.
 *
 * A rejection is transient by default: the same batch is retried with backoff. Reject with an error that has
 * `permanent: true` (or a PostgreSQL data exception or program limit: a `code` of SQLSTATE class 22 or 54) when
 * retrying these rows can never succeed: the tracker then splits the batch in halves under derived ids
 * (`<id>.0`, `<id>.1`, …) until each failing row is alone, writes every other row, and quarantines the rows that
 * still fail on their own (`drop` event, reason `'rejected-by-sink'`).
 */
export type UsageSink = (batch: UsageBatch) => Promise<void>;

/** How the built-in PostgreSQL sink writes a chunk of rows. */
export type UsageWriteMode = 'auto' | 'unnest' | 'values';

const USAGE_WRITE_MODES: readonly UsageWriteMode[] = ['auto', 'unnest', 'values'];

/** Options of {@link createUsageTracker}. */
export interface UsageTrackerOptions<S extends string = string> {
  /** The registry whose pool the built-in sink writes through. Required unless `sink` is given. */
  readonly registry?: UsageRegistry<S>;
  /** The service (pool) of `registry` used for every write, e.g. `'usage'`. Required with `registry`. */
  readonly service?: S;
  /**
   * Counters table of the built-in sink, optionally schema-qualified (`metrics.usage_counters`). Only letters,
   * digits and `_` (not starting with a digit), at most 53 characters; quoted exactly as given. The ledger of
   * applied batches is `<table>_ledger` in the same schema.
   * @default 'usage_counters'
   */
  readonly table?: string;
  /** Distinct pending keys that trigger a flush at once. Integer >= 1. @default 50 */
  readonly batchSize?: number;
  /** Time trigger: a flush runs this often while anything is pending, ms. The timer never keeps the process alive. @default 30000 */
  readonly flushIntervalMs?: number;
  /**
   * Memory bound: at this many distinct pending keys, increments to pending keys still coalesce but new keys are
   * dropped and counted (`drop` event, `stats().dropped`). At most one frozen batch waits for a retry besides, so
   * at most twice this many keys are held. Integer >= 1. @default 100000
   */
  readonly maxPendingKeys?: number;
  /**
   * Longest key `increment` accepts, in UTF-8 bytes; a longer one is rejected at once (`ERR_INVALID_ARGUMENT`),
   * as PostgreSQL could never index it (a btree entry holds at most about 2700 bytes). Integer from 1 to 2048.
   * @default 1024
   */
  readonly maxKeyBytes?: number;
  /** Width of the time bucket stored with each key, fixed at `increment` time (UTC). @default 'none' */
  readonly bucket?: UsageBucket;
  /** Writes batches elsewhere instead of the built-in PostgreSQL sink. */
  readonly sink?: UsageSink;
  /** First retry delay after a failed write, ms; doubles on each failure, with jitter. @default 1000 */
  readonly retryBaseMs?: number;
  /** Longest retry delay, ms. @default 60000 */
  readonly retryMaxMs?: number;
  /**
   * Keys per statement of the built-in sink. Each statement binds 3 array parameters however many keys it
   * carries (`'unnest'`), or 3 per key (`'values'`, capped so a statement never nears 65 535 parameters).
   * Integer from 1 to 20000. @default 5000
   */
  readonly chunkSize?: number;
  /**
   * How the built-in sink writes: `'unnest'` (real PostgreSQL: one statement per chunk with array parameters),
   * `'values'` (engines without multi-array `unnest`, such as pg-mem), or `'auto'`: probe the server once.
   * @default 'auto'
   */
  readonly writeMode?: UsageWriteMode;
  /** How long applied batch ids stay in the ledger, ms; a batch retried later than this could count twice. @default 86400000 (24 h) */
  readonly ledgerRetentionMs?: number;
  /** Time source (wall clock for buckets, monotonic for durations, timers); inject a fake one in tests. @default systemClock */
  readonly clock?: Clock;
  /** Random numbers in [0, 1) for retry jitter. @default Math.random */
  readonly random?: () => number;
}

/**
 * Every tracker option, declared once (rule, unit, default, one line of doc), in the order the reference lists
 * them. Validation and {@link USAGE_DEFAULTS} come from it; docs/reference.md's table is checked against it.
 * `registry`, `service`, `table` and `sink` are checked by {@link checkUsageOptions} itself.
 */
export const USAGE_OPTION_SPECS = Object.freeze({
  registry: { rule: { type: 'custom' }, unit: 'PoolRegistry', doc: 'the registry the built-in PostgreSQL sink writes through; required without sink' },
  service: { rule: { type: 'custom' }, unit: 'service name', doc: 'the pool used for every write; required with registry' },
  table: { rule: { type: 'custom' }, unit: 'SQL identifier', default: 'usage_counters', doc: 'counters table (optionally schema.table); the ledger is <table>_ledger' },
  batchSize: { rule: { type: 'integer', min: 1 }, unit: 'distinct keys', default: 50, doc: 'pending keys that trigger a flush at once' },
  flushIntervalMs: { rule: { type: 'duration' }, unit: 'ms', default: 30_000, doc: 'time trigger while anything is pending' },
  maxPendingKeys: { rule: { type: 'integer', min: 1 }, unit: 'distinct keys', default: 100_000, doc: 'memory bound; new keys beyond it are dropped and counted' },
  maxKeyBytes: { rule: { type: 'integer', min: 1, max: 2_048 }, unit: 'UTF-8 bytes', default: 1_024, doc: 'longest key increment accepts' },
  bucket: { rule: { type: 'oneOf', values: USAGE_BUCKETS }, unit: 'bucket', default: 'none', doc: 'UTC time bucket stored with each key' },
  sink: { rule: { type: 'custom' }, unit: '(batch) => Promise<void>', doc: 'write batches elsewhere instead of the built-in PostgreSQL sink' },
  retryBaseMs: { rule: { type: 'duration' }, unit: 'ms', default: 1_000, doc: 'first retry delay after a failed write; doubles, with jitter' },
  retryMaxMs: { rule: { type: 'duration' }, unit: 'ms', default: 60_000, doc: 'longest retry delay' },
  chunkSize: { rule: { type: 'integer', min: 1, max: 20_000 }, unit: 'keys per statement', default: 5_000, doc: 'keys per statement of the built-in sink' },
  writeMode: { rule: { type: 'oneOf', values: USAGE_WRITE_MODES }, unit: 'write mode', default: 'auto', doc: 'how the built-in sink writes' },
  ledgerRetentionMs: { rule: { type: 'duration' }, unit: 'ms', default: 24 * 3_600_000, doc: 'how long applied batch ids are kept' },
  clock: { rule: { type: 'clock' }, unit: 'Clock', doc: 'time source; systemClock when omitted' },
  random: { rule: { type: 'function', expected: 'a function returning a number in [0, 1)' }, unit: '() => number', doc: 'jitter source; Math.random when omitted' },
} satisfies Record<keyof UsageTrackerOptions, OptionSpec>);

/** Defaults of {@link UsageTrackerOptions}. */
export const USAGE_DEFAULTS = Object.freeze(defaultsOf(USAGE_OPTION_SPECS)) as {
  readonly table: string;
  readonly batchSize: number;
  readonly flushIntervalMs: number;
  readonly maxPendingKeys: number;
  readonly maxKeyBytes: number;
  readonly bucket: UsageBucket;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly chunkSize: number;
  readonly writeMode: UsageWriteMode;
  readonly ledgerRetentionMs: number;
};

const KEYS = optionNames(USAGE_OPTION_SPECS);

/** Validates tracker options, throwing one `ERR_CONFIG` listing every problem. */
export function checkUsageOptions(options: unknown): void {
  const check = new ConfigChecker();
  if (!check.object('options', options, KEYS)) {
    check.throwIfAny();
    return;
  }
  const o = options as Record<string, unknown>;
  if (o.sink !== undefined && typeof o.sink !== 'function') check.fail('sink', 'an async function (batch) => Promise<void>', o.sink);
  if (o.registry !== undefined || o.sink === undefined) {
    const registry = o.registry as Record<string, unknown> | null | undefined;
    if (typeof registry !== 'object' || registry === null || typeof registry.transaction !== 'function' || typeof registry.query !== 'function' || !Array.isArray(registry.services)) {
      check.fail('registry', o.sink === undefined ? 'a pool registry (required without a custom sink)' : 'a pool registry', o.registry);
    } else if (typeof o.service !== 'string' || !(registry.services as unknown[]).includes(o.service)) {
      check.fail('service', `one of the registry's services (${(registry.services as unknown[]).map(String).join(', ')})`, o.service);
    }
  }
  if (o.table !== undefined) {
    const problem = tableNameProblem(o.table);
    if (problem !== null) check.fail('table', problem, o.table);
  }
  checkBySpec(check, '', o, USAGE_OPTION_SPECS);
  const base = o.retryBaseMs ?? USAGE_DEFAULTS.retryBaseMs;
  const max = o.retryMaxMs ?? USAGE_DEFAULTS.retryMaxMs;
  if (typeof base === 'number' && typeof max === 'number' && base > max) check.problem('retryMaxMs', `must be >= retryBaseMs (${base}), got ${max}`);
  check.throwIfAny();
}
