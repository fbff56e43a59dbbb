/**
 * The background work of one service's pool, on one timer driven by the injected clock: report leaked leases,
 * close idle connections that are broken, past their lifetime, or surplus beyond the guaranteed size for longer
 * than `idleTimeoutMs`, keep the shared-slot account straight, and refill the guaranteed size.
 */
import type { Clock, TimerHandle } from '../clock';
import type { Connections } from './connections';
import type { PoolEventSink } from './events';
import type { ResolvedServiceOptions } from './options';
import type { SlotAccount } from './slot-account';

/** What maintenance reads and does on its pool. */
export interface MaintainedPool {
  readonly name: string;
  readonly connections: Connections;
  readonly slots: SlotAccount;
  isOpen(): boolean;
  options(): ResolvedServiceOptions;
  max(): number;
  /** Opens in progress, whatever step they are at. */
  opening(): number;
  /** Callers waiting for a connection. */
  waiting(): number;
  /** Opens one connection for the idle stack. */
  openSpare(): void;
}

export class Maintenance {
  readonly #pool: MaintainedPool;
  readonly #clock: Clock;
  readonly #events: PoolEventSink;
  readonly #intervalMs: number;
  #timer: TimerHandle | null = null;
  #stopped = false;

  constructor(pool: MaintainedPool, clock: Clock, events: PoolEventSink, intervalMs: number) {
    this.#pool = pool;
    this.#clock = clock;
    this.#events = events;
    this.#intervalMs = intervalMs;
  }

  /** Runs every `intervalMs` from now until {@link Maintenance.stop}. */
  start(): void {
    if (this.#stopped) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = null;
      this.run();
      this.start();
    }, this.#intervalMs);
  }

  /** Runs once as soon as the current work is done (after a resize, say). */
  runSoon(): void {
    this.#clock.setTimeout(() => this.run(), 0);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** One maintenance pass. Never throws (it runs in a timer). */
  run(): void {
    const pool = this.#pool;
    if (!pool.isOpen()) return;
    try {
      const now = this.#clock.now();
      this.#reportLeaks(now);
      // A create waiting for a shared slot that nobody waits for any more would only hold a slot for nothing.
      if (pool.slots.waitingForSlot > 0 && pool.waiting() === 0) pool.slots.giveUpWaits();
      if (pool.connections.size > pool.options().size && pool.connections.idle.length > 0) pool.slots.offerIdle();
      this.#reapIdle(now);
      pool.slots.reconcile();
      this.refill();
    } catch {
      // Maintenance must never throw into a timer.
    }
  }

  /** Opens connections until the guaranteed size is open or being opened. */
  refill(): void {
    const pool = this.#pool;
    if (!pool.isOpen()) return;
    for (let missing = pool.options().size - pool.connections.size - pool.opening(); missing > 0; missing--) pool.openSpare();
  }

  /** Closes idle connections that are broken or expired, and surplus ones idle too long, least recently used first. */
  #reapIdle(now: number): void {
    const pool = this.#pool;
    const options = pool.options();
    let surplus = pool.connections.size - options.size;
    // Beyond max (after a shrink), idle connections go at once rather than after idleTimeoutMs.
    let overMax = pool.connections.size - pool.max();
    const reaped = pool.connections.idle.takeWhere((connection) => {
      const expired = overMax > 0 || (surplus > 0 && now - connection.idleSince > options.idleTimeoutMs);
      if (connection.faultAt(now) === null && !expired) return false;
      surplus--;
      overMax--;
      return true;
    });
    for (const connection of reaped) pool.connections.remove(connection, connection.faultAt(now) ?? 'overflow');
  }

  #reportLeaks(now: number): void {
    const limit = this.#pool.options().leakDetectionMs;
    if (limit <= 0) return;
    for (const connection of this.#pool.connections.all()) {
      const lease = connection.lease;
      if (lease === null || lease.leakReported || now - lease.acquiredAt < limit) continue;
      lease.leakReported = true;
      this.#events.emit('leak', { service: this.#pool.name, connectionId: lease.connectionId, heldMs: now - lease.acquiredAt, acquiredAt: lease.acquiredStack ?? '' });
    }
  }
}
