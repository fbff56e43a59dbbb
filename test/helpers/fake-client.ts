import { EventEmitter } from 'node:events';
import type { ClientConfig, QueryResult } from 'pg';

type QueryHandler = (text: string, values: readonly unknown[] | undefined, client: FakeClient) => Promise<QueryResult> | QueryResult;

/**
 * An in-process stand-in for a PostgreSQL server, for unit tests with fake time. Tracks every client it hands
 * out, can refuse or hang connections, and can terminate backends the way PostgreSQL does (57P01).
 */
export class FakeServer {
  readonly clients: FakeClient[] = [];
  /** When set, connect() rejects with this error. */
  refuse: Error | null = null;
  /** When true, connect() never settles. */
  hangConnect = false;
  /** Number of connect() calls so far. */
  connectAttempts = 0;
  /** When > 0, connect() succeeds after this many ms (timers may be fake). */
  connectDelayMs = 0;
  /** When > 0, end() closes the socket only after this many ms (the client counts as open until then). */
  endDelayMs = 0;
  onQuery: QueryHandler = () => result();

  /** The constructor to pass as the registry's `Client` option. */
  readonly Client = this.#makeConstructor();

  #makeConstructor(): new (config: ClientConfig) => FakeClient {
    const server = this;
    return class extends FakeClient {
      constructor(config: ClientConfig) {
        super(server, config);
        server.clients.push(this);
      }
    };
  }

  /** Clients connected and not ended, optionally for one application_name. */
  open(applicationName?: string): FakeClient[] {
    return this.clients.filter((c) => c.connected && !c.ended && (applicationName === undefined || c.config.application_name === applicationName));
  }

  /** Terminates every open backend (like pg_terminate_backend). */
  terminateAll(applicationName?: string): number {
    const victims = this.open(applicationName);
    for (const client of victims) client.terminate();
    return victims.length;
  }
}

export function result(command = 'SELECT', rows: Record<string, unknown>[] = []): QueryResult {
  return { command, rowCount: rows.length, oid: 0, rows, fields: [] } as QueryResult;
}

export class FakeClient extends EventEmitter {
  readonly config: ClientConfig;
  readonly queries: string[] = [];
  connected = false;
  ended = false;
  readonly #server: FakeServer;

  constructor(server: FakeServer, config: ClientConfig) {
    super();
    this.#server = server;
    this.config = config;
  }

  connect(): Promise<void> {
    this.#server.connectAttempts++;
    if (this.#server.hangConnect) return new Promise(() => {});
    if (this.#server.refuse !== null) {
      const error = this.#server.refuse;
      return new Promise((_, reject) => setTimeout(() => reject(error), 0));
    }
    if (this.#server.connectDelayMs > 0) {
      return new Promise((resolve) =>
        setTimeout(() => {
          this.connected = true;
          resolve();
        }, this.#server.connectDelayMs),
      );
    }
    this.connected = true;
    return Promise.resolve();
  }

  async query(text: string, values?: readonly unknown[]): Promise<QueryResult> {
    if (this.ended || !this.connected) throw new Error('Client was closed and is not queryable');
    this.queries.push(text);
    return this.#server.onQuery(text, values, this);
  }

  end(): Promise<void> {
    if (this.#server.endDelayMs > 0) {
      return new Promise((resolve) =>
        setTimeout(() => {
          this.ended = true;
          resolve();
        }, this.#server.endDelayMs),
      );
    }
    this.ended = true;
    return Promise.resolve();
  }

  /** What PostgreSQL does on pg_terminate_backend: an error event (57P01), then the connection ends. */
  terminate(): void {
    if (this.ended) return;
    this.ended = true;
    const error = Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
    this.emit('error', error);
    this.emit('end');
  }
}
