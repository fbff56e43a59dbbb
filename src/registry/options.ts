import type { Clock } from '../clock';
import { ConfigChecker } from '../options/check';
import type { ClientConfig, ClientConstructor, ClientLike } from '../pool/client';
import { checkServiceOptions, type ServiceOptions } from '../pool/options';

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
}

/** Registry-level defaults. */
export const REGISTRY_DEFAULTS = Object.freeze({
  applicationName: 'pg-bulkhead',
  connectTimeoutMs: 10_000,
  windowMs: 60_000,
  maintenanceIntervalMs: 1_000,
});

const REGISTRY_KEYS = ['connection', 'Client', 'applicationName', 'services', 'connectTimeoutMs', 'windowMs', 'maintenanceIntervalMs', 'clock'];
const SERVICE_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;
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
  if (typeof appName !== 'string' || appName.length === 0 || !PRINTABLE_ASCII.test(appName)) {
    check.fail('applicationName', 'a non-empty string of printable ASCII characters', appName);
  }
  if (o.connection !== undefined) {
    if (typeof o.connection === 'string') {
      if (!isConnectionString(o.connection)) {
        // Never echo the value: it may carry a password.
        check.problem('connection', 'expected a postgres:// or postgresql:// connection string, got a string that does not parse as one (value not shown)');
      }
    } else if (typeof o.connection !== 'object' || o.connection === null || Array.isArray(o.connection)) {
      check.fail('connection', 'a connection string or a pg.ClientConfig object', o.connection);
    }
  }
  if (o.Client !== undefined && typeof o.Client !== 'function') check.fail('Client', 'a pg.Client-compatible constructor', o.Client);
  check.duration('connectTimeoutMs', o.connectTimeoutMs);
  check.duration('windowMs', o.windowMs);
  check.duration('maintenanceIntervalMs', o.maintenanceIntervalMs);
  if (o.clock !== undefined) {
    const clock = o.clock as Record<string, unknown> | null;
    if (typeof clock !== 'object' || clock === null || ['now', 'wallNow', 'setTimeout', 'clearTimeout'].some((k) => typeof clock[k] !== 'function')) {
      check.fail('clock', 'an object with now, wallNow, setTimeout and clearTimeout functions', o.clock);
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
    }
  }
  check.throwIfAny();
}

function isConnectionString(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'postgres:' || url.protocol === 'postgresql:' || url.protocol === 'socket:';
  } catch {
    return false;
  }
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
  return typeof connection.password === 'string' ? [connection.password] : [];
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
  return config;
}
