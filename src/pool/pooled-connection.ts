/**
 * One open connection of a service's pool and what the pool knows about it: age, idle time, uses, its lease,
 * whether it broke. A lease points at its connection through this record (it is the lease's owner), so giving a
 * lease back needs no lookup.
 */
import type { ClientLike } from './client';
import type { Lease, LeaseOwner } from './lease';
import type { RemoveReason } from '../types';

/** Where a connection goes back when its lease is released: the service pool. */
export interface ConnectionHome {
  readonly name: string;
  returnConnection(connection: PooledConnection, lease: Lease, destroyReason: Error | undefined): void;
}

export class PooledConnection implements LeaseOwner {
  readonly id: number;
  readonly client: ClientLike;
  readonly createdAt: number;
  /** When it is due to be recycled (monotonic ms; Infinity without `recycleMs`). */
  readonly expiresAt: number;
  /** When it last went idle; a check that finds it healthy keeps this, so it is checked again next time. */
  idleSince: number;
  /** When a check (`validateAfterIdleMs`) last found it healthy; -Infinity before any. */
  checkedAt = Number.NEGATIVE_INFINITY;
  /** Leases handed out on it so far (for `maxUses`). */
  uses = 0;
  /** The lease it is out on, or null while idle (or after close() took it back by force). */
  lease: Lease | null = null;
  /** The failure that makes it unusable, once one was seen. */
  broken: Error | null = null;
  readonly #home: ConnectionHome;

  constructor(home: ConnectionHome, id: number, client: ClientLike, createdAt: number, expiresAt: number) {
    this.#home = home;
    this.id = id;
    this.client = client;
    this.createdAt = createdAt;
    this.expiresAt = expiresAt;
    this.idleSince = createdAt;
  }

  /** The service name, as a lease reads it from its owner. */
  get name(): string {
    return this.#home.name;
  }

  /** @internal Called by {@link Lease.release}. */
  returnLease(lease: Lease, destroyReason: Error | undefined): void {
    this.#home.returnConnection(this, lease, destroyReason);
  }

  /** Why it must not be handed out or kept (broken, or past its lifetime), or null when it is fine at `now`. */
  faultAt(now: number): RemoveReason | null {
    if (this.broken !== null) return 'broken';
    if (now >= this.expiresAt) return 'recycled';
    return null;
  }

  /** Marks it broken by `error` unless it already is; true if this was the first failure. */
  markBroken(error: unknown): boolean {
    if (this.broken !== null) return false;
    this.broken = error instanceof Error ? error : new Error(String(error));
    return true;
  }
}
