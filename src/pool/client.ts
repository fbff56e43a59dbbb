import type { ClientConfig, QueryConfig, QueryResult, QueryResultRow } from 'pg';
import { settleWithin, type Clock } from '../clock';

/**
 * The part of a `pg.Client` that pg-bulkhead relies on. `pg.Client` fits, and so does pg-mem's adapter
 * (`newDb().adapters.createPg().Client`) or any client that follows pg's interface.
 */
export interface ClientLike {
  /** Opens the connection (pg: `client.connect()`); bounded by the registry's `connectTimeoutMs`. */
  connect(): Promise<unknown> | void;
  /**
   * Runs one statement with positional parameters (`$1`, `$2`, …): SQL text, or (as pg) a query config. The pool
   * wraps this method on each connection it opens to time every query run on it.
   */
  query(text: string | QueryConfig, values?: readonly unknown[]): Promise<QueryResult<QueryResultRow>>;
  /** Closes the connection; called when it is recycled, broken or the registry closes. */
  end(): Promise<unknown> | void;
  /** Connection-level failure (for example 57P01 when the backend is terminated); the pool always listens. */
  on(event: 'error', listener: (error: Error) => void): unknown;
  /** The connection ended; the pool marks it broken. */
  on(event: 'end', listener: () => void): unknown;
  /**
   * The server's transaction status from its last ReadyForQuery message, as pg's `Client#getTransactionStatus()`
   * (pg >= 8.21) gives it: `'I'` idle, `'T'` in a transaction, `'E'` in a failed transaction, null before the
   * first. Optional: without it the pool reads the status off a pg client's protocol connection itself (older pg),
   * and failing that relies on its own tracking of `transaction()`.
   */
  getTransactionStatus?(): string | null;
}

/** The status of each ReadyForQuery seen on a client that has no `getTransactionStatus()` (pg before 8.21). */
const statusFromProtocol = new WeakMap<ClientLike, string>();

/**
 * Lets {@link inTransactionBlock} know the session's transaction status on a client without
 * `getTransactionStatus()`: pg before 8.21, whose protocol connection (`client.connection`, an event emitter
 * in pg 8) reports every ReadyForQuery message with its status byte. Called once, before `connect()`, so no
 * message is missed; a client with neither (pg-mem; pg.native before 8.21) is left alone.
 */
export function watchTransactionStatus(client: ClientLike): void {
  if (typeof client.getTransactionStatus === 'function') return;
  const connection = (client as { connection?: unknown }).connection as { on?: unknown } | null | undefined;
  if (typeof connection !== 'object' || connection === null || typeof connection.on !== 'function') return;
  (connection as { on(event: 'readyForQuery', listener: (message: { status?: unknown } | undefined) => void): unknown }).on('readyForQuery', (message) => {
    if (typeof message?.status === 'string') statusFromProtocol.set(client, message.status);
  });
}

/** True when the client says its session is inside a transaction block (open or failed). */
export function inTransactionBlock(client: ClientLike): boolean {
  const status = typeof client.getTransactionStatus === 'function' ? client.getTransactionStatus() : statusFromProtocol.get(client);
  return status === 'T' || status === 'E';
}

/** A `pg.Client`-compatible constructor, as in pg-pool's `Client` option. */
export type ClientConstructor<C extends ClientLike = ClientLike> = new (config: ClientConfig) => C;

export type { ClientConfig, QueryResult, QueryResultRow };

const ignore = (): void => {};

/**
 * Ends a client without ever throwing or rejecting (it may be half-open or already gone). The promise resolves
 * once the socket has closed or, given `timers`, after `waitMs` at most (a dead peer must not hold anyone up);
 * callers that need not wait ignore it.
 */
export function endQuietly(client: Pick<ClientLike, 'end'>, timers?: Pick<Clock, 'setTimeout' | 'clearTimeout'>, waitMs = 5_000): Promise<void> {
  const ending = Promise.resolve()
    .then(() => client.end())
    .then(ignore, ignore);
  if (timers === undefined) return ending;
  return settleWithin(timers, waitMs, () => ending, () => new Error('end timed out')).catch(ignore);
}

/**
 * Connects `client` and runs `setup` on it, rejecting with `onTimeout()` after `timeoutMs` (the client is then
 * ended, as after a failed `setup`). The timer is taken from `setTimer` so an injected clock drives it.
 */
export async function connectWithin(
  client: ClientLike,
  timeoutMs: number,
  setTimer: (callback: () => void, ms: number) => unknown,
  clearTimer: (handle: unknown) => void,
  onTimeout: () => Error,
  setup?: () => Promise<void>,
): Promise<void> {
  try {
    // `setup` (session settings and their read-back) counts as part of connecting: bounded by the same timeout.
    await settleWithin({ setTimeout: setTimer, clearTimeout: clearTimer }, timeoutMs, async () => {
      await client.connect();
      await setup?.();
    }, onTimeout);
  } catch (error) {
    void endQuietly(client);
    throw error;
  }
}

/**
 * True for errors after which a connection cannot be trusted: the server terminated it (57P01 admin shutdown,
 * 57P02 crash shutdown, 57P03 cannot connect now), connection exceptions (class 08), socket errors, or pg's own
 * "Connection terminated" messages. Ordinary SQL errors (syntax, constraint, statement timeout) leave the
 * connection usable.
 */
export function isConnectionError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (code === '57P01' || code === '57P02' || code === '57P03' || code.startsWith('08')) return true;
    if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNREFUSED' || code === 'ETIMEDOUT') return true;
  }
  const message = (error as { message?: unknown }).message;
  return (
    typeof message === 'string' &&
    (message.includes('Connection terminated') || message.includes('Client has encountered a connection error') || message.includes('Query read timeout'))
  );
}

/**
 * True when the server answered a connection attempt with "no room": SQLSTATE 53300 `too_many_connections`
 * ("sorry, too many clients already", "remaining connection slots are reserved …", a role's or database's
 * connection limit), or PgBouncer refusing a client over its client limits (`08P01` "no more connections allowed
 * (max_client_conn)", and "client connections exceeded (max_db_client_connections)" / "(max_user_client_connections)"
 * since PgBouncer 1.24). The server is up; it is full. PgBouncer sends every error of its own as `08P01`, its
 * "cannot connect to server" outages too, so its refusals are told apart by their message.
 */
export function isCapacityRefusal(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (code === '53300') return true;
  return code === '08P01' && typeof message === 'string' && PGBOUNCER_CLIENT_LIMITS.some((prefix) => message.startsWith(prefix));
}

/** How PgBouncer's refusals for its client limits begin (src/client.c); its other `08P01` errors are not capacity. */
const PGBOUNCER_CLIENT_LIMITS = ['no more connections allowed', 'client connections exceeded'] as const;
