/**
 * The ledger of a service's open connections, kept by generic-pool (the only place it is imported), used for what
 * it does well and nothing else: it counts every connection from the request that opens it to its destroy, with
 * a fixed ceiling, and its drain-then-clear waits for connects in flight and for every close to finish.
 *
 * Every connection is borrowed from generic-pool for its whole life (idle ones sit on this library's idle stack),
 * so a request to generic-pool is always "open one connection". The factory's `create` makes exactly one attempt
 * and never rejects: a failed or abandoned attempt resolves to an {@link OpenFailure}, which is destroyed at once.
 * generic-pool therefore never retries a create on its own (its tight retry loop on a rejecting create is the
 * trap this avoids), and each request settles after one attempt. Its own validation, eviction, idle and acquire
 * timeouts and `min` stay off: the service pool does those, driven by the injected clock.
 */
import { createPool, type Pool as GenericPool } from 'generic-pool';
import { PooledConnection } from './pooled-connection';

/** The largest `size + overflow` a service can be given (each is at most 10,000): the ledger's fixed ceiling. */
export const LEDGER_CEILING = 20_000;

/**
 * Why an attempt to open a connection gave no connection. One object per attempt, never shared: generic-pool keys
 * its loans by the resource, so two attempts settling with the same object would leave one in the ledger forever.
 */
export class OpenFailure {
  /** `failed`: the connect (or its setup) failed; `no-slot`: no shared slot came; `closed`: the pool closed first. */
  readonly reason: 'failed' | 'no-slot' | 'closed';
  constructor(reason: 'failed' | 'no-slot' | 'closed') {
    this.reason = reason;
  }
}

type Entry = PooledConnection | OpenFailure;

export class ConnectionLedger {
  readonly #pool: GenericPool<Entry>;

  /**
   * @param open one attempt to open a connection; must never reject.
   * @param close ends a connection's client; must never reject.
   */
  constructor(open: () => Promise<PooledConnection | OpenFailure>, close: (connection: PooledConnection) => Promise<void>) {
    this.#pool = createPool<Entry>(
      {
        create: open,
        destroy: (entry) => (entry instanceof PooledConnection ? close(entry) : Promise.resolve()),
      },
      { max: LEDGER_CEILING, min: 0, autostart: true },
    );
  }

  /** Opens one connection (one attempt); an {@link OpenFailure} when it gave none. */
  async open(): Promise<PooledConnection | OpenFailure> {
    const entry = await this.#pool.acquire();
    if (entry instanceof OpenFailure) void this.#pool.destroy(entry).catch(() => {});
    return entry;
  }

  /** Closes a connection opened by {@link ConnectionLedger.open} and strikes it from the ledger. */
  close(connection: PooledConnection): void {
    this.#pool.destroy(connection).catch(() => {});
  }

  /** Connections in the ledger, including ones being opened. */
  get size(): number {
    return this.#pool.size;
  }

  /** Resolves once every open in flight has settled and every connection has been closed. Call once, at close. */
  async drain(): Promise<void> {
    await this.#pool.drain();
    await this.#pool.clear();
  }
}
