/**
 * How a service's connections are born and end. One attempt to open a connection waits for the circuit breaker
 * (which also spaces retries after failures), takes the service's room or a shared slot, connects, runs the
 * session setup and the `onConnect` hook, all bounded by `connectTimeoutMs`, and settles with the connection or an
 * {@link OpenFailure}, never a rejection. Failures are counted, redacted and reported here.
 */
import { settleWithin, type Clock, type TimerHandle } from '../clock';
import { ConnectTimeoutError, DatabaseUnavailableError } from '../errors';
import type { RandomSource } from '../random';
import type { Redactor } from '../redact';
import { CircuitBreaker, type Attempt, type BreakerOptions } from './circuit-breaker';
import { connectWithin, endQuietly, isCapacityRefusal, watchTransactionStatus, type ClientConfig, type ClientConstructor, type ClientLike } from './client';
import type { PoolEventSink } from './events';
import { instrumentQueries } from './instrument';
import { OpenFailure } from './ledger';
import type { ResolvedServiceOptions } from './options';
import type { PoolMeters } from './pool-meters';
import { PooledConnection, type ConnectionHome } from './pooled-connection';
import type { SlotAccount } from './slot-account';

/** The connections of the pool the factory opens for: where new ones go, and what their clients report. */
export interface FactoryConnections extends ConnectionHome {
  isOpen(): boolean;
  options(): ResolvedServiceOptions;
  /** `size + overflow` now. */
  max(): number;
  /** Open connections not known to be broken. */
  workingConnections(): number;
  /** A new connection is ready: it counts as open (before its slot step finishes). */
  connected(connection: PooledConnection, durationMs: number): void;
  /** A query on one of its connections settled. */
  queryDone(connection: PooledConnection, ms: number, error: unknown, end: number): void;
  /** A connection's client reported an error. */
  clientError(connection: PooledConnection, error: Error): void;
}

export interface ConnectionFactoryConfig {
  readonly service: string;
  readonly Client: ClientConstructor;
  readonly clientConfig: ClientConfig;
  readonly connectTimeoutMs: number;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly redactor: Redactor;
  readonly events: PoolEventSink;
  readonly breaker: Required<BreakerOptions>;
  readonly afterConnect?: ((client: ClientLike) => Promise<void>) | undefined;
  readonly explainConnectError?: ((error: unknown) => unknown) | undefined;
  readonly nextConnectionId: () => number;
  /** The circuit opened: callers waiting for a new connection should fail now. */
  readonly circuitOpened: () => void;
}


/** How long closing a connection may take before it is left to the operating system, ms. */
const END_WAIT_MS = 5_000;

export class ConnectionFactory {
  readonly breaker: CircuitBreaker;
  readonly #config: ConnectionFactoryConfig;
  readonly #host: FactoryConnections;
  readonly #slots: SlotAccount;
  readonly #meters: PoolMeters;
  readonly #clock: Clock;
  /** Breaker pauses in progress, each with how to end it early (close() must not wait for one). */
  readonly #pauses = new Set<() => void>();
  #lastError: Error | undefined;

  constructor(config: ConnectionFactoryConfig, host: FactoryConnections, slots: SlotAccount, meters: PoolMeters) {
    this.#config = config;
    this.#host = host;
    this.#slots = slots;
    this.#meters = meters;
    this.#clock = config.clock;
    this.breaker = new CircuitBreaker(
      config.clock,
      config.breaker,
      (t) => {
        if (config.events.listenerCount('circuit') > 0) {
          config.events.emit('circuit', { service: config.service, from: t.from, to: t.to, retryInMs: t.retryInMs, lastError: this.#lastError });
        }
        if (t.to === 'open') config.circuitOpened();
      },
      config.random,
    );
  }

  /** The last connect failure (redacted). */
  get lastError(): Error | undefined {
    return this.#lastError;
  }

  /** The error for a caller who would need a new connection while the circuit is open. */
  unavailableError(): DatabaseUnavailableError {
    return new DatabaseUnavailableError(this.#config.service, Math.max(0, this.breaker.delayEstimate()), this.#lastError);
  }

  /** One attempt to open a connection. Never rejects. */
  async open(): Promise<PooledConnection | OpenFailure> {
    let delay = this.breaker.delayBeforeAttempt();
    while (delay > 0 && this.#host.isOpen()) {
      await this.#pause(delay);
      // A pause between failures in the closed state is served once; an open circuit is waited out until its probe.
      if (this.breaker.state === 'closed') break;
      delay = this.breaker.delayBeforeAttempt();
    }
    if (!this.#host.isOpen()) return new OpenFailure('closed');
    const attempt = this.breaker.begin();
    const counted = this.#slots.take();
    if (counted !== true && !(await counted)) {
      this.breaker.abandon(attempt);
      return new OpenFailure('no-slot');
    }
    try {
      if (!this.#host.isOpen()) {
        this.breaker.abandon(attempt);
        return new OpenFailure('closed');
      }
      return await this.#connect(attempt);
    } finally {
      this.#slots.finished();
    }
  }

  /** Ends every breaker pause now (the pool is closing). */
  endPauses(): void {
    for (const wake of [...this.#pauses]) wake();
  }

  /** Ends a connection's client and waits until its socket is closed, 5 s at most. Never rejects. */
  end(connection: PooledConnection): Promise<void> {
    return endQuietly(connection.client, this.#clock, END_WAIT_MS);
  }

  /** A `SELECT 1` round trip within `timeoutMs`: true when the connection answered and is not broken. Never rejects. */
  async ping(connection: PooledConnection, timeoutMs: number): Promise<boolean> {
    try {
      await settleWithin(this.#clock, timeoutMs, () => connection.client.query('SELECT 1'), () => new Error(`no answer to the check within ${timeoutMs} ms`));
      return connection.broken === null;
    } catch (error) {
      connection.markBroken(error);
      return false;
    }
  }

  async #connect(attempt: Attempt): Promise<PooledConnection | OpenFailure> {
    const config = this.#config;
    const started = this.#clock.now();
    let client: ClientLike;
    try {
      client = new config.Client(config.clientConfig);
    } catch (error) {
      this.#failed(error, attempt);
      return new OpenFailure('failed');
    }
    const recycleMs = this.#host.options().recycleMs;
    // Up to 5 % jitter, subtracted so a connection never outlives recycleMs.
    const expiresAt = recycleMs > 0 ? started + recycleMs - config.random() * recycleMs * 0.05 : Number.POSITIVE_INFINITY;
    const connection = new PooledConnection(this.#host, config.nextConnectionId(), client, started, expiresAt);
    // Without an 'error' listener a terminated backend (57P01) would crash the host process.
    client.on('error', (error: Error) => this.#host.clientError(connection, error));
    client.on('end', () => connection.markBroken(new Error('Connection ended')));
    instrumentQueries(client, () => this.#clock.now(), (ms, error, end) => this.#host.queryDone(connection, ms, error, end));
    watchTransactionStatus(client); // so a release inside a transaction is seen on pg before 8.21 too
    try {
      const timeoutMs = config.connectTimeoutMs;
      const afterConnect = config.afterConnect;
      await connectWithin(client, timeoutMs, (cb, ms) => this.#clock.setTimeout(cb, ms), (h) => this.#clock.clearTimeout(h), () => new ConnectTimeoutError(config.service, timeoutMs), afterConnect && (() => afterConnect(client)));
    } catch (error) {
      const reason = config.explainConnectError?.(error) ?? error;
      connection.markBroken(reason); // connectWithin has ended the client
      this.#failed(reason, attempt);
      return new OpenFailure('failed');
    }
    const hook = this.#host.options().onConnect as ((client: unknown) => unknown) | undefined;
    if (hook !== undefined) {
      try {
        // Bounded like connecting: a hook that hangs must not hold a slot forever.
        await settleWithin(this.#clock, config.connectTimeoutMs, () => hook(client), () => new ConnectTimeoutError(config.service, config.connectTimeoutMs, 'onConnect'));
      } catch (error) {
        // A half-set-up connection is never handed out: it fails like a connect that failed.
        connection.markBroken(error);
        void endQuietly(client);
        this.#failed(error, attempt);
        return new OpenFailure('failed');
      }
    }
    this.breaker.success(attempt);
    if (!this.#host.isOpen()) {
      // Closed while connecting: wait for the socket to close, since close() waits for opens and then promises
      // that nothing is left open.
      await this.end(connection);
      return new OpenFailure('closed');
    }
    this.#host.connected(connection, this.#clock.now() - started);
    return connection;
  }

  #failed(error: unknown, attempt: Attempt): void {
    const service = this.#config.service;
    const safe = this.#config.redactor.error(error);
    this.#lastError = safe;
    const meters = this.#meters;
    meters.errors++;
    meters.connectionErrors++;
    meters.connectFailures++;
    if (isCapacityRefusal(error) && this.#host.workingConnections() > 0) {
      // The database is up and serving this service: a full server is not an outage, so the circuit stays
      // closed and waiters keep waiting for a connection to come back (or time out as usual).
      meters.capacityRefusals++;
      const firstOfStreak = this.breaker.consecutiveFailures === 0;
      this.breaker.refused(attempt);
      if (firstOfStreak) this.#warnCapacity(safe);
    } else {
      this.breaker.failure(attempt);
    }
    if (this.#config.events.listenerCount('connect-error') > 0) {
      this.#config.events.emit('connect-error', { service, error: safe, consecutiveFailures: this.breaker.consecutiveFailures });
    }
  }

  #warnCapacity(error: Error): void {
    const events = this.#config.events;
    if (events.listenerCount('server-warning') === 0) return;
    const service = this.#config.service;
    const open = this.#host.workingConnections();
    const max = this.#host.max();
    const code = String((error as { code?: unknown }).code ?? '53300');
    events.emit('server-warning', {
      kind: 'capacity',
      service,
      code,
      error,
      open,
      max,
      headroomShortfall: Math.max(0, max - open),
      warning:
        `${service}: the server refused a new connection (${code} ${error.message}) while ${service} holds ${open} working of its ${max}; ` +
        `its circuit stays closed and waiters wait for a connection to come back. The server has fewer free connections than the budgets on it ` +
        `may open: run registry.checkServer(), then lower maxConnections (or the overflow of the services that flood) or raise max_connections ` +
        `(PgBouncer's max_client_conn when PgBouncer refused)`,
    });
  }

  /** A breaker pause that {@link ConnectionFactory.endPauses} cuts short. */
  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: TimerHandle = null;
      const wake = (): void => {
        this.#clock.clearTimeout(timer);
        this.#pauses.delete(wake);
        resolve();
      };
      timer = this.#clock.setTimeout(wake, ms);
      this.#pauses.add(wake);
    });
  }
}
