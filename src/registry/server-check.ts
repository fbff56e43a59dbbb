import { parseConnectionString } from '../connection-string';
import type { ClientConfig } from '../pool/client';
import type { Pooler } from '../pool/session-settings';
import type { PgBouncerPoolCheck, ServerCheckReport } from '../types';
import { parseSessionName } from './instance-name';

/** Options of {@link PoolRegistry.checkServer}. */
export interface CheckServerOptions {
  /**
   * PgBouncer's admin console (its `pgbouncer` database, as a user in `admin_users` or `stats_users`). When
   * given, the check also reads `SHOW DATABASES` and `SHOW CONFIG` and reports, per PgBouncer pool the services
   * use, whether the guaranteed connections of every instance fit in it (session mode pins one server connection
   * per client connection). Its password is kept out of errors and the report. @default none
   */
  readonly pgbouncerAdmin?: string | ClientConfig;
}

/** The part of a client the check uses. */
interface QueryClient {
  query(text: string, values?: readonly unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
}

/** What the check needs to know about this registry. */
export interface CheckSubject {
  readonly applicationName: string;
  /** This instance's tag, or undefined without an instanceId. */
  readonly instanceTag: string | undefined;
  /** This registry's `maxConnections`. */
  readonly budget: number;
  /** The registry's `pooler`: behind PgBouncer in transaction mode the server does not see the registry's connections. */
  readonly pooler: Pooler;
  /** Each service's guaranteed size, and the database (PgBouncer alias) and user its connection names. */
  readonly services: readonly { readonly service: string; readonly size: number; readonly database: string | undefined; readonly user?: string | undefined }[];
}

const SETTINGS_SQL = `select current_setting('max_connections')::int as max,
  current_setting('superuser_reserved_connections')::int as reserved,
  (select count(*) from pg_stat_activity where backend_type = 'client backend')::int as current`;

// Only names and counts: never query text, user or client address.
const OURS_SQL = `select application_name, count(*)::int as n from pg_stat_activity
where backend_type = 'client backend' and left(application_name, $2) = $1 group by application_name`;

/**
 * Reads the server's capacity and the sessions of every instance of this application, and (optionally) the
 * PgBouncer pools the services use. The caller's own session is labelled `check` and is neither budget nor load.
 */
export async function checkServerCapacity(client: QueryClient, subject: CheckSubject, admin: QueryClient | null): Promise<ServerCheckReport> {
  const settings = (await client.query(SETTINGS_SQL)).rows[0] as { max: number; reserved: number; current: number };
  const prefix = `${subject.applicationName}:`;
  const { rows } = await client.query(OURS_SQL, [prefix, prefix.length]);
  let own = 0;
  let ofApplication = 0;
  let otherInstanceConnections = 0;
  const otherTags = new Set<string>();
  let checkSessions = 0;
  for (const row of rows) {
    const n = Number(row.n);
    const { label, tag } = parseSessionName(String(row.application_name).slice(prefix.length));
    ofApplication += n;
    if (tag === subject.instanceTag) {
      if (label === 'check') checkSessions += n;
      else own += n;
    } else {
      otherInstanceConnections += n;
      if (tag !== undefined) otherTags.add(tag);
    }
  }
  // This check's own session is not load; another instance's concurrent check is counted as theirs.
  const ownCheck = Math.min(1, checkSessions);
  own += checkSessions - ownCheck;
  const instances = 1 + otherTags.size;
  const combinedBudget = instances * subject.budget;
  const others = Math.max(0, settings.current - ofApplication);
  const available = settings.max - settings.reserved - others;
  const warnings: string[] = [];
  const who = instances === 1 ? `the registry may open ${subject.budget} connections` : `${instances} instances × maxConnections ${subject.budget} = ${combinedBudget} connections may be opened`;
  const room = `the server has room for ${available} (max_connections ${settings.max} - ${settings.reserved} superuser reserved - ${others} used by other applications)`;
  const pgbouncer = admin === null ? undefined : await checkPgBouncer(admin, subject, instances, warnings);
  // Behind PgBouncer in transaction mode the registry's connections are PgBouncer's clients: the server sees only
  // the server connections PgBouncer opens for the aliases, at most their pool limits. Those are compared when
  // known (every service goes through an alias of this PgBouncer); the registry's own connections otherwise.
  const transactionPooled = subject.pooler === 'pgbouncer-transaction';
  const serverConnections = transactionPooled ? pgbouncer?.serverConnections : undefined;
  let fits: boolean;
  if (serverConnections !== undefined) {
    fits = serverConnections <= available;
    if (!fits) warnings.unshift(`PgBouncer may open ${serverConnections} server connections for the aliases of this application but ${room}: lower their pool_size or max_db_connections, or raise max_connections`);
  } else {
    fits = combinedBudget <= available;
    const why = transactionPooled ? "; behind PgBouncer in transaction mode the server sees PgBouncer's server connections instead: pass pgbouncerAdmin to compare those" : '';
    if (!fits) warnings.unshift(`${who} but ${room}: lower maxConnections or raise max_connections${why}`);
  }
  // Every client connection counts against max_client_conn, whatever the pool mode.
  const maxClientConn = pgbouncer?.maxClientConn ?? 0;
  const fitsClients = maxClientConn === 0 || combinedBudget <= maxClientConn;
  if (!fitsClients) {
    warnings.push(`${who} to PgBouncer, above its max_client_conn ${maxClientConn} (shared with every other client of this PgBouncer): lower maxConnections or raise max_client_conn`);
  }
  return {
    kind: 'check',
    maxConnections: settings.max,
    superuserReservedConnections: settings.reserved,
    currentConnections: settings.current,
    ownConnections: own,
    budget: subject.budget,
    available,
    fits: fits && fitsClients && (pgbouncer?.pools.every((pool) => pool.fits) ?? true),
    warning: warnings.length === 0 ? undefined : warnings.join('; '),
    instances,
    otherInstanceConnections,
    combinedBudget,
    pgbouncerPools: pgbouncer?.pools,
    pgbouncerServerConnections: serverConnections,
  };
}

/**
 * The PgBouncer pools the services use; `serverConnections`, the most server connections PgBouncer opens for them
 * (the sum of their limits), when every service connects through an alias of this PgBouncer (else undefined);
 * `maxClientConn`, its client limit (0 when it does not say).
 */
async function checkPgBouncer(
  admin: QueryClient,
  subject: CheckSubject,
  instances: number,
  warnings: string[],
): Promise<{ pools: PgBouncerPoolCheck[]; serverConnections: number | undefined; maxClientConn: number }> {
  const config = new Map<string, string>();
  for (const row of (await admin.query('SHOW CONFIG')).rows) config.set(String(row.key), String(row.value));
  const defaultMode = config.get('pool_mode') ?? 'session';
  const databases = new Map<string, Record<string, unknown>>();
  for (const row of (await admin.query('SHOW DATABASES')).rows) databases.set(String(row.name), row);
  const byDatabase = new Map<string, { service: string; size: number; user: string | undefined }[]>();
  for (const s of subject.services) {
    if (s.database === undefined) continue;
    const list = byDatabase.get(s.database) ?? [];
    list.push({ service: s.service, size: s.size, user: s.user });
    byDatabase.set(s.database, list);
  }
  const pools: PgBouncerPoolCheck[] = [];
  let serverConnections: number | undefined = subject.services.every((s) => s.database !== undefined && databases.has(s.database)) ? 0 : undefined;
  for (const [database, services] of byDatabase) {
    const row = databases.get(database);
    if (row === undefined) continue; // not an alias of this PgBouncer (a direct connection, or another one)
    const poolSize = Number(row.pool_size) + Number(row.reserve_pool ?? 0);
    const maxDbConnections = Number(row.max_connections ?? 0);
    // max_db_connections caps the server connections of the database whatever its pools: the tighter limit holds.
    const capacity = maxDbConnections > 0 ? Math.min(poolSize, maxDbConnections) : poolSize;
    const mode = typeof row.pool_mode === 'string' && row.pool_mode !== '' ? row.pool_mode : defaultMode;
    const guaranteed = instances * services.reduce((sum, s) => sum + s.size, 0);
    // In session mode every client connection pins a server connection of the pool for its whole life.
    const fits = mode !== 'session' || guaranteed <= capacity;
    if (!fits) {
      const sizes = services.map((s) => `${s.service} ${s.size}`).join(' + ');
      const limit = capacity < poolSize ? `max_db_connections ${maxDbConnections}` : `pool_size + reserve_pool ${poolSize}`;
      const fix = capacity < poolSize ? 'Raise its max_db_connections' : 'Raise its pool_size';
      warnings.push(
        `PgBouncer pool ${database} (session mode, ${limit}) cannot hold the guaranteed connections of ${instances} instance(s) × (${sizes}) = ${guaranteed}: the rest wait inside PgBouncer, where acquireTimeoutMs cannot see them. ${fix} or lower the sizes`,
      );
    }
    pools.push({ database, mode, poolSize, maxDbConnections, services: services.map((s) => s.service), guaranteed, fits });
    // PgBouncer keeps one pool per (alias, user), unless the alias forces a user; max_db_connections caps them all.
    const users = typeof row.force_user === 'string' && row.force_user !== '' ? 1 : new Set(services.map((s) => s.user ?? '')).size;
    const opened = users * poolSize;
    if (serverConnections !== undefined) serverConnections += maxDbConnections > 0 ? Math.min(opened, maxDbConnections) : opened;
  }
  return { pools, serverConnections, maxClientConn: Number(config.get('max_client_conn') ?? 0) || 0 };
}

/** The user a connection names, or undefined when it does not say (pg's PGUSER or the OS user then). */
export function userOf(connection: string | ClientConfig | undefined): string | undefined {
  return namedIn(connection, 'user');
}

/** The database a connection names (the PgBouncer alias), or undefined when it does not say. */
export function databaseOf(connection: string | ClientConfig | undefined): string | undefined {
  return namedIn(connection, 'database');
}

/** A field a connection setting names, from the config or from its connection string. */
function namedIn(connection: string | ClientConfig | undefined, field: 'user' | 'database'): string | undefined {
  if (connection === undefined) return undefined;
  if (typeof connection === 'string') {
    const value = parseConnectionString(connection).fields[field];
    return typeof value === 'string' && value !== '' ? value : undefined;
  }
  const value = connection[field];
  if (typeof value === 'string') return value;
  return typeof connection.connectionString === 'string' ? namedIn(connection.connectionString, field) : undefined;
}
