/**
 * The registry's options: the interface users read, each option's spec declared once, their validation (with the
 * cross-option checks: names, budget, reserve), and the client config each service connects with.
 */
import type { Clock } from '../clock';
import { ConfigChecker } from '../options/check';
import { checkBySpec, defaultsOf, optionNames, type OptionSpec } from '../options/spec';
import type { ClientConfig, ClientConstructor, ClientLike } from '../pool/client';
import { BREAKER_DEFAULTS, type BreakerOptions } from '../pool/circuit-breaker';
import { checkServiceOptions, SERVICE_DEFAULTS, type ServiceOptions } from '../pool/options';
import { POOLERS, type Pooler } from '../pool/session-settings';
import { instanceTag, MIN_INSTANCE_TAG } from './instance-name';

/** Options of {@link createPoolRegistry}. */
export interface RegistryOptions<S extends string = string, C extends ClientLike = ClientLike> {
  /**
   * Where to connect: a connection string (`postgres://user:pass@host:5432/db`) or a `pg.ClientConfig`.
   * Omit it to use pg's defaults (the `PG*` environment variables), or when `Client` needs none (pg-mem).
   */
  readonly connection?: string | ClientConfig;
  /** A `pg.Client`-compatible constructor. @default pg.Client */
  readonly Client?: ClientConstructor<C>;
  /** Each service connects as `<applicationName>:<service>` (visible in `pg_stat_activity`). Printable ASCII. @default 'pg-bulkhead' */
  readonly applicationName?: string;
  /** One entry per service type; the keys become the service names (a TypeScript literal union). */
  readonly services: { readonly [K in S]: ServiceOptions };
  /** Longest time to open one connection, ms. @default 10000 */
  readonly connectTimeoutMs?: number;
  /** Length of the rolling window of the latency percentiles in stats, ms. @default 60000 */
  readonly windowMs?: number;
  /** How often each pool reaps broken, expired and surplus idle connections and checks for leaks, ms. @default 1000 */
  readonly maintenanceIntervalMs?: number;
  /** Time source; inject a fake one in tests. @default systemClock */
  readonly clock?: Clock;
  /**
   * Random numbers in [0, 1) for jitter (connection recycle times, circuit breaker backoffs); inject a seeded one
   * to replay a run exactly. Values out of range are clamped. @default Math.random
   */
  readonly random?: () => number;
  /**
   * Most connections the registry opens in total, across services. Each service's `size` is reserved out of it;
   * the rest are shared slots that services borrow, one per overflow connection, up to their own `overflow`.
   * Must be at least the sum of the sizes. @default the sum of every service's `size + overflow`
   */
  readonly maxConnections?: number;
  /**
   * Shared slots that only `high` and `highest` services may take (headroom), so a burst of lower-priority work
   * can never take the last overflow slots. Integer from 0 to `maxConnections - sum of sizes`.
   * @default 10 % of the shared slots, rounded up, when any service is `high` or `highest`; otherwise 0
   */
  readonly reserve?: number;
  /**
   * A request waiting for a shared slot is promoted one priority level per `priorityAgingMs` waited, so that
   * low-priority work is not starved forever while capacity keeps freeing. `0` disables aging. @default 1000
   */
  readonly priorityAgingMs?: number;
  /**
   * When the budget is full, a request entitled to a shared slot makes room by closing another service's idle
   * overflow connection. One of a same- or lower-priority service goes at once; one of a higher-priority service
   * only once it has been idle this long, so a critical service keeps its spare connections for its next burst,
   * or for when a flood of lower-priority work slows its queries down. `0` closes any idle overflow connection at
   * once. @default that service's own `idleTimeoutMs` (a lower-priority waiter never takes a higher-priority
   * service's spare before it would have closed anyway)
   */
  readonly preemptGraceMs?: number;
  /** Circuit breaker on connection creation, per service. */
  readonly breaker?: BreakerOptions;
  /**
   * Let the process exit while connections sit idle, without calling `close()` (as pg-pool's option of the same
   * name): idle sockets are unref'd, leased ones are not. Timers never hold the process either way.
   * @default false
   */
  readonly allowExitOnIdle?: boolean;
  /**
   * What sits between the registry and PostgreSQL, which decides how `statementTimeoutMs` and
   * `idleInTransactionTimeoutMs` are applied: startup parameters (`'none'`), `SET` after connecting
   * (`'pgbouncer-session'`), or `SET LOCAL` in each `transaction()` and `query()` (`'pgbouncer-transaction'`,
   * where a session `SET` would leak to other clients). Either way they are read back on each service's first
   * connection: a missing one fails the connect with `ERR_SETTING_NOT_APPLIED`, never silently. See
   * {@link Pooler}. @default 'none'
   */
  readonly pooler?: Pooler;
  /**
   * This instance's identity, when several instances of the application share a database: sessions connect as
   * `<applicationName>:<service>@<instanceId>`, so `pg_stat_activity`, the detector's server probe and
   * {@link PoolRegistry.checkServer} can tell the instances apart. Printable ASCII; cut from the front to fit
   * PostgreSQL's 63 bytes (at least 4 characters must remain). For example `${os.hostname()}-${process.pid}`.
   * @default none (one instance)
   */
  readonly instanceId?: string;
  /**
   * PgBouncer's admin console (its `pgbouncer` database, as a user in `admin_users` or `stats_users`), when the
   * registry connects through PgBouncer. Optional: with it, {@link PoolRegistry.checkServer} also checks the
   * PgBouncer pools (session mode: the guaranteed sizes of every instance must fit), and the interference
   * detector's server probe reads `SHOW POOLS` to see clients waiting inside PgBouncer, which no acquire timeout
   * can see. Its password is kept out of errors and events. @default none
   */
  readonly pgbouncerAdmin?: string | ClientConfig;
}

/**
 * Every registry option, declared once (rule, unit, default, one line of doc), in the order the reference lists
 * them. Validation and {@link REGISTRY_DEFAULTS} come from it; docs/reference.md's table is checked against it.
 * `services` and `breaker` hold options of their own (`SERVICE_OPTION_SPECS` in pool/options.ts, {@link BREAKER_OPTION_SPECS}).
 */
export const REGISTRY_OPTION_SPECS = Object.freeze({
  connection: { rule: { type: 'connection' }, unit: 'connection', doc: "where to connect; pg's PG* variables when omitted" },
  Client: { rule: { type: 'function', expected: 'a pg.Client-compatible constructor' }, unit: 'constructor', doc: 'a pg.Client-compatible class; pg.Client when omitted' },
  applicationName: { rule: { type: 'printable' }, unit: 'printable ASCII', default: 'pg-bulkhead', doc: 'sessions connect as <applicationName>:<service>' },
  services: { rule: { type: 'custom' }, unit: 'object', doc: 'one entry per service' },
  connectTimeoutMs: { rule: { type: 'duration' }, unit: 'ms', default: 10_000, doc: 'longest time to open one connection' },
  windowMs: { rule: { type: 'duration' }, unit: 'ms', default: 60_000, doc: 'rolling window of the latency percentiles in stats' },
  maintenanceIntervalMs: { rule: { type: 'duration' }, unit: 'ms', default: 1_000, doc: 'how often pools reap idle connections and check leaks' },
  clock: { rule: { type: 'clock' }, unit: 'Clock', doc: 'time source; systemClock when omitted' },
  random: { rule: { type: 'function', expected: 'a function returning a number in [0, 1)' }, unit: '() => number', doc: 'jitter source; Math.random when omitted' },
  maxConnections: { rule: { type: 'integer', min: 1 }, unit: 'connections', doc: 'shared budget across services; the sum of every size + overflow when omitted' },
  reserve: { rule: { type: 'integer', min: 0 }, unit: 'connections', doc: 'shared slots only high and highest services may take' },
  priorityAgingMs: { rule: { type: 'duration', allowZero: true }, unit: 'ms', default: 1_000, doc: 'a waiter is promoted one priority level per this much waiting; 0 disables' },
  preemptGraceMs: { rule: { type: 'duration', allowZero: true }, unit: 'ms', doc: "idle time before a higher-priority service's overflow connection may be taken; its idleTimeoutMs when omitted" },
  breaker: { rule: { type: 'custom' }, unit: 'object', doc: 'circuit breaker on connection creation, per service' },
  allowExitOnIdle: { rule: { type: 'boolean' }, unit: 'boolean', default: false, doc: 'let the process exit while connections sit idle' },
  pooler: { rule: { type: 'oneOf', values: POOLERS }, unit: 'pooler', default: 'none', doc: 'how per-service timeouts are applied' },
  instanceId: { rule: { type: 'printable' }, unit: 'printable ASCII', doc: 'this instance in session names: <applicationName>:<service>@<instanceId>' },
  pgbouncerAdmin: { rule: { type: 'connection' }, unit: 'connection', doc: "PgBouncer's admin console, for checkServer and the detector" },
} satisfies Record<keyof RegistryOptions, OptionSpec>);

/** The circuit breaker's options (`breaker.*`), declared once; their defaults are the breaker's own. */
export const BREAKER_OPTION_SPECS = Object.freeze({
  failureThreshold: { rule: { type: 'integer', min: 1 }, unit: 'attempts', default: BREAKER_DEFAULTS.failureThreshold, doc: "consecutive failed connection attempts that open a service's circuit" },
  // A floor, so a misconfiguration cannot turn retries into a connect storm.
  initialBackoffMs: { rule: { type: 'duration', min: 10 }, unit: 'ms', default: BREAKER_DEFAULTS.initialBackoffMs, doc: 'wait before the first probe once open; doubles after each failed probe' },
  maxBackoffMs: { rule: { type: 'duration' }, unit: 'ms', default: BREAKER_DEFAULTS.maxBackoffMs, doc: 'longest wait between probes' },
} satisfies Record<keyof BreakerOptions, OptionSpec>);

const SPEC_DEFAULTS = defaultsOf(REGISTRY_OPTION_SPECS) as { readonly applicationName: string; readonly connectTimeoutMs: number; readonly windowMs: number; readonly maintenanceIntervalMs: number; readonly priorityAgingMs: number };

/** Registry-level defaults. */
export const REGISTRY_DEFAULTS = Object.freeze({
  applicationName: SPEC_DEFAULTS.applicationName,
  connectTimeoutMs: SPEC_DEFAULTS.connectTimeoutMs,
  windowMs: SPEC_DEFAULTS.windowMs,
  maintenanceIntervalMs: SPEC_DEFAULTS.maintenanceIntervalMs,
  priorityAgingMs: SPEC_DEFAULTS.priorityAgingMs,
  /** Share of the shared slots kept as headroom for high/highest services, when any exists. */
  reserveShare: 0.1,
  breaker: BREAKER_DEFAULTS,
});

const REGISTRY_KEYS = optionNames(REGISTRY_OPTION_SPECS);

/** The budget a registry runs with, defaults applied. */
export interface ResolvedBudget {
  readonly maxConnections: number;
  readonly reserve: number;
}

/** Applies the budget defaults (options must be valid). */
export function resolveBudget(services: Record<string, ServiceOptions>, maxConnections: number | undefined, reserve: number | undefined): ResolvedBudget {
  let sizes = 0;
  let all = 0;
  let anyHigh = false;
  for (const options of Object.values(services)) {
    const size = options.size ?? SERVICE_DEFAULTS.size;
    sizes += size;
    all += size + (options.overflow ?? SERVICE_DEFAULTS.overflow);
    const priority = options.priority ?? SERVICE_DEFAULTS.priority;
    if (priority === 'highest' || priority === 'high') anyHigh = true;
  }
  const total = maxConnections ?? all;
  const shared = total - sizes;
  return { maxConnections: total, reserve: reserve ?? (anyHigh ? Math.ceil(shared * REGISTRY_DEFAULTS.reserveShare) : 0) };
}
const SERVICE_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;
/** PostgreSQL truncates application_name to NAMEDATALEN - 1 bytes. */
const MAX_APPLICATION_NAME = 63;

/** Validates registry options, throwing one `ERR_CONFIG` that lists every problem. */
export function checkRegistryOptions(options: unknown): void {
  const check = new ConfigChecker();
  if (!check.object('', options, REGISTRY_KEYS)) {
    check.throwIfAny();
    return;
  }
  const o = options as Record<string, unknown>;
  const appName = o.applicationName ?? REGISTRY_DEFAULTS.applicationName;
  checkBySpec(check, '', o, REGISTRY_OPTION_SPECS);
  if (o.breaker !== undefined && check.object('breaker', o.breaker, optionNames(BREAKER_OPTION_SPECS))) {
    const b = o.breaker;
    checkBySpec(check, 'breaker', b, BREAKER_OPTION_SPECS);
    if (typeof b.initialBackoffMs === 'number' && typeof b.maxBackoffMs === 'number' && b.maxBackoffMs < b.initialBackoffMs) {
      check.problem('breaker.maxBackoffMs', `must be >= breaker.initialBackoffMs (${b.initialBackoffMs}), got ${b.maxBackoffMs}`);
    }
  }
  if (check.object('services', o.services, null)) {
    const names = Object.keys(o.services);
    if (names.length === 0) check.problem('services', 'expected at least one service, got none');
    for (const name of names) {
      const path = `services.${name}`;
      if (!SERVICE_NAME.test(name)) {
        check.problem(path, 'service names must start with a letter and contain only letters, digits, "_" and "-"');
      } else if (typeof appName === 'string' && Buffer.byteLength(`${appName}:${name}`) > MAX_APPLICATION_NAME) {
        check.problem(path, `"${appName}:${name}" is longer than PostgreSQL's ${MAX_APPLICATION_NAME}-byte application_name`);
      }
      checkServiceOptions(check, path, o.services[name]);
      const service = o.services[name] as { connection?: unknown } | null;
      if (typeof service === 'object' && service !== null) check.connection(`${path}.connection`, service.connection);
    }
    if (typeof o.instanceId === 'string' && typeof appName === 'string' && names.length > 0 && check.problems.length === 0) {
      const tag = instanceTag(appName, names, o.instanceId);
      if (tag.length < Math.min(MIN_INSTANCE_TAG, o.instanceId.length)) {
        check.problem('instanceId', `only ${tag.length} characters of it fit in PostgreSQL's ${MAX_APPLICATION_NAME}-byte application_name after "${appName}:<service>@": shorten applicationName or the service names`);
      }
    }
    if (check.problems.length === 0) {
      // Cross-option constraints, once every service is valid.
      const services = o.services as Record<string, ServiceOptions>;
      const sizes = names.map((n) => `${n} ${services[n]?.size ?? SERVICE_DEFAULTS.size}`);
      const sum = names.reduce((acc, n) => acc + (services[n]?.size ?? SERVICE_DEFAULTS.size), 0);
      const budget = resolveBudget(services, o.maxConnections as number | undefined, o.reserve as number | undefined);
      if (budget.maxConnections < sum) {
        check.problem('maxConnections', `${budget.maxConnections} cannot hold the guaranteed sizes (${sizes.join(' + ')} = ${sum})`);
      } else if (o.reserve !== undefined && budget.reserve > budget.maxConnections - sum) {
        check.problem('reserve', `${budget.reserve} is more than the ${budget.maxConnections - sum} shared slots (maxConnections ${budget.maxConnections} - sizes ${sum})`);
      }
    }
  }
  check.throwIfAny();
}

/** The password a connection setting carries, to keep it out of everything the library emits. */
export function secretsOf(connection: string | ClientConfig | undefined): string[] {
  if (connection === undefined) return [];
  if (typeof connection === 'string') {
    try {
      const url = new URL(connection);
      const secrets = [decodeURIComponent(url.password), url.password];
      const queryPassword = url.searchParams.get('password');
      if (queryPassword) secrets.push(queryPassword);
      return secrets.filter((s) => s.length > 0);
    } catch {
      return [];
    }
  }
  const secrets = typeof connection.connectionString === 'string' ? secretsOf(connection.connectionString) : [];
  if (typeof connection.password === 'string' && connection.password.length > 0) secrets.push(connection.password);
  return secrets;
}

/**
 * The client config of one service: the shared connection plus its application_name and session settings.
 * An `application_name` in the connection string would override ours (pg lets the string win), so it is removed.
 */
export function serviceClientConfig(
  connection: string | ClientConfig | undefined,
  applicationName: string,
  statementTimeoutMs: number,
  idleInTransactionTimeoutMs: number,
  queryTimeoutMs = 0,
): ClientConfig {
  let base: ClientConfig;
  if (typeof connection === 'string') {
    let connectionString = connection;
    try {
      const url = new URL(connection);
      if (url.searchParams.has('application_name')) {
        url.searchParams.delete('application_name');
        connectionString = url.toString();
      }
    } catch {
      // validated earlier; keep as given
    }
    base = { connectionString };
  } else {
    base = { ...connection };
  }
  const config: ClientConfig = { ...base, application_name: applicationName };
  if (statementTimeoutMs > 0) config.statement_timeout = Math.round(statementTimeoutMs);
  if (idleInTransactionTimeoutMs > 0) config.idle_in_transaction_session_timeout = Math.round(idleInTransactionTimeoutMs);
  if (queryTimeoutMs > 0) config.query_timeout = Math.round(queryTimeoutMs);
  return config;
}
