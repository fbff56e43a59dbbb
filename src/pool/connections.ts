/**
 * The open connections of one service and where each one is: idle on the stack, out on a lease, or being checked.
 * Lends them, takes them back (deciding whether one can be reused), closes them with a reason, and keeps their
 * counters; the service pool decides who gets which.
 */
import type { Clock } from '../clock';
import type { RemoveReason } from '../types';
import { inTransactionBlock, isConnectionError } from './client';
import type { FactoryConnections } from './connection-factory';
import type { ConnectionReports } from './connection-reports';
import type { PoolEventSink } from './events';
import { IdleStack } from './idle-stack';
import { Lease } from './lease';
import type { ResolvedServiceOptions } from './options';
import type { PoolMeters } from './pool-meters';
import type { PooledConnection } from './pooled-connection';
import type { SlotAccount } from './slot-account';

/** What the connections need from their pool. */
export interface ConnectionsOwner {
  readonly name: string;
  isOpen(): boolean;
  options(): ResolvedServiceOptions;
  max(): number;
  /** Ends a connection in the ledger (closing its client). */
  close(connection: PooledConnection): void;
  /** A connection was closed: the pool may open another to keep its guaranteed size. */
  removed(): void;
  /**
   * A connection may be free for a waiter (a lease came back, a check ended): the scheduling point runs. `now`, when
   * the caller has just read the clock, saves reading it again.
   */
  available(now?: number): void;
}

export class Connections implements FactoryConnections {
  /** Idle connections, most recently used on top. */
  readonly idle = new IdleStack();
  readonly #open = new Set<PooledConnection>();
  #inUse = 0;
  #checking = 0;
  readonly #owner: ConnectionsOwner;
  readonly #meters: PoolMeters;
  readonly #reports: ConnectionReports;
  readonly #slots: SlotAccount;
  readonly #events: PoolEventSink;
  readonly #clock: Clock;
  readonly #allowExitOnIdle: boolean;

  constructor(owner: ConnectionsOwner, meters: PoolMeters, reports: ConnectionReports, slots: SlotAccount, events: PoolEventSink, clock: Clock, allowExitOnIdle: boolean) {
    this.#owner = owner;
    this.#meters = meters;
    this.#reports = reports;
    this.#slots = slots;
    this.#events = events;
    this.#clock = clock;
    this.#allowExitOnIdle = allowExitOnIdle;
  }

  /** The service's name (connections report it to their leases). */
  get name(): string {
    return this.#owner.name;
  }

  isOpen(): boolean {
    return this.#owner.isOpen();
  }

  options(): ResolvedServiceOptions {
    return this.#owner.options();
  }

  /** `size + overflow` now. */
  max(): number {
    return this.#owner.max();
  }

  /** Open connections: idle, leased, or being checked. */
  get size(): number {
    return this.#open.size;
  }

  /** Connections out on a lease. */
  get inUse(): number {
    return this.#inUse;
  }

  /** Idle connections being checked before they are handed out (`validateAfterIdleMs`). */
  get checking(): number {
    return this.#checking;
  }

  /** True when an idle connection has been idle (and unchecked) for longer than `validateAfterIdleMs`. */
  needsCheck(connection: PooledConnection, now: number): boolean {
    const after = this.#owner.options().validateAfterIdleMs;
    return after > 0 && now - connection.idleSince > after && now - connection.checkedAt > after;
  }

  /**
   * Checks a connection taken off the idle stack with `ping` (which never rejects): healthy, it goes back on top
   * for the next waiter, keeping its idleSince; otherwise it is closed.
   */
  check(connection: PooledConnection, ping: (connection: PooledConnection) => Promise<boolean>): void {
    this.#checking++;
    void ping(connection).then((healthy) => {
      this.#checking--;
      if (!healthy) this.remove(connection, 'broken');
      else if (!this.#owner.isOpen()) this.remove(connection, 'closed');
      else {
        connection.checkedAt = this.#clock.now();
        this.idle.push(connection);
      }
      this.#owner.available();
    });
  }

  all(): ReadonlySet<PooledConnection> {
    return this.#open;
  }

  /** A new connection is ready (opened in `durationMs`); it is not on the stack yet. */
  connected(connection: PooledConnection, durationMs: number): void {
    this.#meters.created++;
    this.#open.add(connection);
    connection.idleSince = connection.createdAt + durationMs;
    this.#meters.createTotal.record(durationMs);
    this.#holdProcess(connection, false); // born idle
    this.#reports.connected(connection, durationMs);
  }

  /** A new connection reaches the stack: on top when someone waits for it, else under the ones in use. */
  arrived(connection: PooledConnection, someoneWaits: boolean): void {
    if (!this.#owner.isOpen()) this.remove(connection, 'closed');
    else if (someoneWaits) this.idle.push(connection);
    else this.idle.pushUnder(connection); // never used yet: surplus ones go first
  }

  /** Lends a connection taken off the stack: the lease points at it. */
  lend(connection: PooledConnection, now: number, stack: string | undefined): Lease {
    this.#holdProcess(connection, true);
    const lease = new Lease(connection, connection.client, connection.id, now, stack);
    connection.lease = lease;
    connection.uses++;
    this.#inUse++;
    return lease;
  }

  /** A lease came back (see {@link PooledConnection.returnLease}): the connection is reused or closed. */
  returnConnection(connection: PooledConnection, lease: Lease, destroyReason: Error | undefined): void {
    const now = this.#clock.now();
    const heldMs = now - lease.acquiredAt;
    this.#meters.holdTime.record(heldMs, now);
    this.#meters.holdTotal.record(heldMs);
    let destroyed = true; // a lease close() took back by force: its connection is already closed
    if (connection.lease === lease) {
      connection.lease = null;
      this.#inUse--;
      if (destroyReason !== undefined) connection.markBroken(destroyReason);
      const reason = this.#whyNotReuse(connection, now);
      if (reason !== null) this.remove(connection, reason);
      else {
        destroyed = false;
        this.#toIdle(connection, now);
      }
    }
    if (this.#events.listenerCount('release') > 0) this.#events.emit('release', { service: this.#owner.name, connectionId: lease.connectionId, heldMs, destroyed });
    this.#owner.available(now);
    // An idle connection beyond our size holds a shared slot another service may be waiting for.
    if (!destroyed && this.#open.size > this.#owner.options().size && this.idle.length > 0) this.#slots.offerIdle();
  }

  /** Why a connection back from a lease must be closed rather than reused, or null when it can be reused. */
  #whyNotReuse(connection: PooledConnection, now: number): RemoveReason | null {
    const fault = connection.faultAt(now);
    if (fault !== null) return fault;
    if (inTransactionBlock(connection.client)) {
      // Never reuse a session inside a transaction: the next caller's statements would run in it (and never
      // commit). Closing it is the rollback: the server aborts the transaction when the session ends.
      this.#meters.closedInTransaction++;
      return 'in-transaction';
    }
    if (connection.uses >= this.#owner.options().maxUses) return 'recycled'; // a fresh one is opened when needed
    if (this.#open.size > this.#owner.max()) return 'overflow'; // shrunk while it was out: the surplus goes
    return null;
  }

  /** Puts a healthy connection back on top of the stack; while closing, it is closed instead. */
  #toIdle(connection: PooledConnection, now: number): void {
    if (!this.#owner.isOpen()) {
      this.remove(connection, 'closed');
      return;
    }
    connection.idleSince = now;
    this.#holdProcess(connection, false);
    this.idle.push(connection);
  }

  /** Closes a connection that is on no stack and no lease; counts and reports it. */
  remove(connection: PooledConnection, reason: RemoveReason): void {
    if (!this.#open.delete(connection)) return;
    this.#meters.removed++;
    this.#meters.removedByReason[reason]++;
    this.#slots.reconcile();
    this.#reports.removed(connection, reason);
    this.#owner.close(connection);
    this.#owner.removed();
  }

  /** Closes every connection, leased ones too (close() after its timeout); returns how many leases were out. */
  closeAll(): number {
    for (const connection of this.idle.takeAll()) this.remove(connection, 'closed');
    const forced = this.#inUse;
    for (const connection of [...this.#open]) {
      if (connection.lease === null) continue;
      connection.lease = null;
      this.remove(connection, 'closed');
    }
    this.#inUse = 0;
    return forced;
  }

  /**
   * Every query on a leased connection's client lands here (see instrumentQueries): its time counts in
   * `queryTime`, a failure in `errors`, and a connection-level failure marks the connection to be destroyed on
   * release. Queries outside a lease (validation, `onConnect`) are not counted.
   */
  queryDone(connection: PooledConnection, ms: number, error: unknown, end: number): void {
    if (connection.lease === null) return;
    this.#meters.queryTime.record(ms, end);
    this.#meters.queryTotal.record(ms);
    if (error === undefined) return;
    this.#meters.errors++;
    if (isConnectionError(error) && connection.markBroken(error)) this.#meters.connectionErrors++;
  }

  /** A connection's client reported an error (a terminated backend, a dropped socket). */
  clientError(connection: PooledConnection, error: Error): void {
    if (!connection.markBroken(error) || !this.#open.has(connection)) return;
    this.#meters.connectionErrors++;
    // A leased connection's failure reaches its caller through the query; it is destroyed on release.
    if (connection.lease !== null) return;
    this.#meters.errors++; // a leased connection's failure is counted once, by the query that meets it
    // Failed while idle: report it and close it now; the next acquire never sees it.
    this.#reports.idleFailed(connection, error);
    // One being checked fails its check; one just opened is reaped when it reaches the stack.
    if (this.idle.remove(connection)) this.remove(connection, 'broken');
  }

  /**
   * Closes the connection idle the longest, when there are more than the guaranteed size and it has been idle for
   * at least `minIdleMs`, so another service can have the shared slot it holds. True if one is being closed.
   */
  preemptIdle(now: number, minIdleMs: number): boolean {
    const oldest = this.#preemptible();
    if (oldest === undefined || (minIdleMs > 0 && now - oldest.idleSince < minIdleMs)) return false;
    this.idle.remove(oldest);
    this.remove(oldest, 'idle'); // gives its shared slot back at once
    return true;
  }

  /** When the connection {@link Connections.preemptIdle} would close went idle, or null if none would be. */
  preemptibleIdleSince(): number | null {
    return this.#preemptible()?.idleSince ?? null;
  }

  #preemptible(): PooledConnection | undefined {
    return this.#open.size > this.#owner.options().size ? this.idle.leastRecentlyIdle() : undefined;
  }

  /** Open connections not known to be broken. */
  workingConnections(): number {
    let working = 0;
    for (const connection of this.#open) if (connection.broken === null) working++;
    return working;
  }

  /** Leased connections past their lifetime or `maxUses` at `now`: they close when they come back. */
  expiredLeases(now: number): number {
    if (this.#inUse === 0) return 0;
    const maxUses = this.#owner.options().maxUses;
    let expired = 0;
    for (const connection of this.#open) if (connection.lease !== null && (now >= connection.expiresAt || connection.uses >= maxUses)) expired++;
    return expired;
  }

  /**
   * With `allowExitOnIdle`, an idle connection's socket does not keep the process alive (pg's `client.unref()`),
   * as pg-pool's option of the same name; a leased one does. Clients without ref/unref (pg-mem) hold nothing.
   */
  #holdProcess(connection: PooledConnection, holds: boolean): void {
    if (!this.#allowExitOnIdle) return;
    const client = connection.client as { ref?: () => void; unref?: () => void };
    if (holds) client.ref?.();
    else client.unref?.();
  }
}
