import type { ClientConfig, PoolOptions } from 'pg';
import { parseConnectionString } from '../connection-string';
import type { ResolvedServiceOptions } from '../pool/options';

/**
 * The `options` of a pg.Pool view: what `pg.Pool#options` holds (the client config plus pool settings), so that
 * code building a side `Client` from it works. Kysely does, to cancel a query:
 * `new pool.Client({ ...pool.options, password: pool.options.password })`.
 *
 * The password is never enumerable (pg-pool keeps it so too), so logging, `JSON.stringify` or a spread of the
 * options never shows it. A connection string is taken apart into `host`, `port`, `user`, `database` and its
 * other parameters instead of being kept (its password would be in plain sight); `sslmode` becomes `ssl`. The
 * parsed string is kept as a non-enumerable `connectionString` with its password removed.
 */
export function pgPoolOptions(clientConfig: ClientConfig, service: ResolvedServiceOptions): PoolOptions {
  const { password, connectionString, ...rest } = clientConfig;
  const options: Record<string, unknown> = {};
  let secret: unknown = password;
  let strippedString: string | undefined;
  if (typeof connectionString === 'string') {
    const parsed = parseConnectionString(connectionString);
    Object.assign(options, parsed.fields);
    if (secret === undefined && parsed.password !== undefined) secret = parsed.password;
    strippedString = parsed.withoutPassword;
  }
  Object.assign(options, rest, {
    max: service.size + service.overflow,
    min: service.size,
    maxUses: service.maxUses,
    allowExitOnIdle: false,
    maxLifetimeSeconds: service.recycleMs / 1000,
    idleTimeoutMillis: service.idleTimeoutMs,
    connectionTimeoutMillis: service.acquireTimeoutMs,
  });
  if (secret !== undefined) Object.defineProperty(options, 'password', { value: secret, enumerable: false, writable: true, configurable: true });
  if (strippedString !== undefined) Object.defineProperty(options, 'connectionString', { value: strippedString, enumerable: false, writable: true, configurable: true });
  return options as unknown as PoolOptions;
}
