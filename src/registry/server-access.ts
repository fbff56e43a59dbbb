/**
 * The registry's own clients to the server, outside every pool and the budget: `openClient` (admin work, the
 * detector's server probe), PgBouncer's admin console, and `checkServer`, which opens both for a moment. Each is
 * connected within `connectTimeoutMs`, with an `'error'` listener so a dropped one never crashes the host, and
 * with every password kept out of what it throws.
 */
import type { Clock } from '../clock';
import { ConnectTimeoutError } from '../errors';
import { connectWithin, type ClientConfig, type ClientConstructor, type ClientLike } from '../pool/client';
import { Redactor } from '../redact';
import type { ServerCheckReport } from '../types';
import { sessionName } from './instance-name';
import { secretsOf, serviceClientConfig } from './options';
import { checkServerCapacity, databaseOf, type CheckSubject } from './server-check';

/** What {@link ServerAccess} needs of the registry. */
export interface ServerAccessConfig {
  readonly Client: ClientConstructor;
  /** The registry's own connection (not a service's). */
  readonly connection: string | ClientConfig | undefined;
  readonly applicationName: string;
  readonly instanceTag: string | undefined;
  readonly connectTimeoutMs: number;
  readonly clock: Clock;
  readonly redactor: Redactor;
  readonly pgbouncerAdmin: string | ClientConfig | undefined;
}

/** Opens the registry's standalone clients. */
export class ServerAccess<C extends ClientLike> {
  readonly #config: ServerAccessConfig;

  constructor(config: ServerAccessConfig) {
    this.#config = config;
  }

  /** Whether the `pgbouncerAdmin` option was given. */
  get hasPgbouncerAdmin(): boolean {
    return this.#config.pgbouncerAdmin !== undefined;
  }

  /** A client connected as `<applicationName>:<label>`; the caller ends it. */
  openClient(label: string): Promise<C> {
    const { connection, applicationName, instanceTag, redactor } = this.#config;
    return this.#open(serviceClientConfig(connection, sessionName(applicationName, label, instanceTag), 0, 0), label, (error) => redactor.error(error));
  }

  /** A client of PgBouncer's admin console (simple queries only, which pg uses for statements without values). */
  openAdmin(connection: string | ClientConfig | undefined = this.#config.pgbouncerAdmin): Promise<C> {
    if (connection === undefined) return Promise.reject(new Error('pg-bulkhead: no pgbouncerAdmin connection'));
    const config: ClientConfig = typeof connection === 'string' ? { connectionString: connection } : { ...connection };
    return this.#open(config, 'pgbouncer-admin', (error) => new Redactor(secretsOf(connection)).error(this.#config.redactor.error(error)));
  }

  /** Database alias → the services that connect through it, from each service's connection. */
  aliases<S extends string>(connections: ReadonlyMap<S, string | ClientConfig | undefined>): Map<string, S[]> {
    const aliases = new Map<string, S[]>();
    for (const [service, connection] of connections) {
      const database = databaseOf(connection);
      if (database !== undefined) aliases.set(database, [...(aliases.get(database) ?? []), service]);
    }
    return aliases;
  }

  /**
   * Runs the capacity check on a short-lived client (and PgBouncer's console with `pgbouncerAdmin`, the given one
   * or the registry's), ending both whatever happens. Errors come back with every password removed.
   */
  async checkServer(subject: CheckSubject, pgbouncerAdmin: string | ClientConfig | undefined): Promise<ServerCheckReport> {
    let client: C | null = null;
    let admin: C | null = null;
    try {
      client = await this.openClient('check');
      const adminConnection = pgbouncerAdmin ?? this.#config.pgbouncerAdmin;
      if (adminConnection !== undefined) admin = await this.openAdmin(adminConnection);
      return await checkServerCapacity(client, subject, admin);
    } catch (error) {
      throw new Redactor([...secretsOf(pgbouncerAdmin)]).error(this.#config.redactor.error(error));
    } finally {
      if (client !== null) await Promise.resolve(client.end()).catch(() => {});
      if (admin !== null) await Promise.resolve(admin.end()).catch(() => {});
    }
  }

  async #open(config: ClientConfig, label: string, redact: (error: unknown) => unknown): Promise<C> {
    const { Client, clock, connectTimeoutMs } = this.#config;
    const client = new Client(config) as unknown as C;
    client.on('error', () => {}); // a dedicated client must never crash the host either
    try {
      // keepAlive: somebody awaits this connect
      await connectWithin(client, connectTimeoutMs, (cb, ms) => clock.setTimeout(cb, ms, true), (h) => clock.clearTimeout(h), () => new ConnectTimeoutError(label, connectTimeoutMs));
    } catch (error) {
      throw redact(error);
    }
    return client;
  }
}
