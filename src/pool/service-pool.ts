import { createPool, type Pool as GenericPool } from 'generic-pool';
import { settleWithin, type Clock, type TimerHandle } from '../clock';
import type { RandomSource } from '../random';
import { AcquireTimeoutError, ConnectTimeoutError, DatabaseUnavailableError, PoolClosedError, QueueFullError } from '../errors';
import { abortedError, type AcquireOptions } from './acquire-options';
import { instrumentQueries } from './instrument';
import type { Redactor } from '../redact';
import { LatencyBuckets, waitBoundsMs } from '../stats/latency-buckets';
import { RollingHistogram } from '../stats/rolling-histogram';
import { CircuitBreaker, type Attempt, type BreakerOptions } from './circuit-breaker';
import { connectWithin, endQuietly, inTransactionBlock, isCapacityRefusal, isConnectionError, type ClientConfig, type ClientConstructor, type ClientLike } from './client';
import type { PoolEventSink } from './events';
import type { RemoveReason, ServiceStats } from '../types';
import { Lease, type LeaseOwner } from './lease';
import { checkResize, type ResolvedServiceOptions } from './options';
import { ensureMinimum, setLimits } from './generic-pool-internals';
import { Queue } from './queue';
import type { SlotBroker } from './slots';

export type { ServiceStats } from '../types';

const NO_HOLDERS: Readonly<Record<string, number>> = Object.freeze({});


/** Result of closing one pool. */
export interface PoolCloseReport {
  readonly service: string;
  /** Leases still out when the timeout ran out; their connections were ended anyway. */
  readonly forcedLeases: number;
  /** True when everything closed within the timeout. */
  readonly clean: boolean;
}

/** @internal Everything a service pool needs, given by the registry. */
export interface ServicePoolConfig {
  readonly service: string;
  readonly options: ResolvedServiceOptions;
  readonly clientConfig: ClientConfig;
  readonly Client: ClientConstructor;
  readonly connectTimeoutMs: number;
  readonly maintenanceIntervalMs: number;
  readonly allowExitOnIdle: boolean;
  readonly windowMs: number;
  readonly clock: Clock;
  readonly events: PoolEventSink;
  readonly redactor: Redactor;
  readonly slots: SlotBroker;
  readonly breaker: Required<BreakerOptions>;
  /** Jitter source for recycle times and breaker backoffs (already range-checked). */
  readonly random: RandomSource;
  /** Work on each new connection before it is used (session settings and their read-back); a rejection fails the connect. */
  readonly afterConnect?: ((client: ClientLike) => Promise<void>) | undefined;
  /** Bounds of the since-start acquire-wait buckets, ms; the registry gives every pool the same set. */
  readonly waitBoundsMs?: readonly number[];
  /** Ids for new connections, unique within the registry (a counter per registry, so ids never depend on another registry in the process). */
  readonly nextConnectionId: () => number;
}

/** @internal Told about the life of a service's connections: the pg.Pool view turns these into pg-pool's events. */
export interface ConnectionObserver {
  /** A new connection is ready (after `onConnect`), before it is first handed out. */
  connected?(client: ClientLike): void;
  /** A connection was closed. */
  removed?(client: ClientLike): void;
  /** An idle connection failed (error already redacted); it is being removed. */
  idleError?(error: Error, client: ClientLike): void;
}

/** Counts of one service's pool, without the latency summaries of {@link ServiceStats}: cheap enough for gauges read per request. */
export interface ServiceCounts {
  /** Open connections, including ones being opened. */
  readonly total: number;
  readonly idle: number;
  readonly inUse: number;
  readonly waiting: number;
  /** Leased connections past their lifetime or `maxUses`: they are closed when they come back. */
  readonly expired: number;
}

interface Connection {
  readonly id: number;
  readonly client: ClientLike;
  readonly createdAt: number;
  readonly expiresAt: number;
  idleSince: number;
  /** Leases handed out on it so far (for `maxUses`). */
  uses: number;
  lease: Lease | null;
  broken: Error | null;
  /** Set just before destroying, so the factory knows why. */
  removeReason: RemoveReason | null;
}

type WaiterState = 'queued' | 'obtaining' | 'done';

interface Waiter {
  readonly start: number;
  /** This caller's wait limit: the service's acquireTimeoutMs, or a shorter per-call timeoutMs. */
  readonly timeoutMs: number;
  /** Removes the abort listener of the caller's signal (once settled). */
  unlisten: (() => void) | null;
  readonly resolve: (lease: Lease) => void;
  readonly reject: (error: Error) => void;
  readonly stack: string | undefined;
  state: WaiterState;
  timer: TimerHandle | null;
}

type PoolState = 'open' | 'closing' | 'closed';

const noop = (): void => {};

/** Thrown by a create that gave up waiting for a shared slot; not a connection failure. */
class NoSlotError extends Error {}

/**
 * One service's bulkhead: its own connections (kept by generic-pool), its own wait queue, timeout and limits.
 *
 * generic-pool holds the connections and opens them; this class decides who may have one. An acquire first
 * takes a permit (at most `size + overflow` are out at once, waiters queue FIFO up to `maxWaiting`), then asks
 * generic-pool for a connection. Everything generic-pool gets wrong on its own is handled here: the deadline
 * covers both steps and names the last connection error, validation never rejects, connection creation is
 * throttled after failures (no tight retry loop), and broken, expired and idle overflow connections are reaped
 * by this pool's own maintenance, driven by the injected clock.
 */
export class ServicePool implements LeaseOwner {
  readonly name: string;
  readonly #config: ServicePoolConfig;
  #options: ResolvedServiceOptions;
  readonly #clock: Clock;
  readonly #events: PoolEventSink;
  readonly #gp: GenericPool<Connection>;
  readonly #queue = new Queue<Waiter>();
  readonly #all = new Set<Connection>();
  /**
   * Idle connections, least recently used first. They stay borrowed from generic-pool while idle here: the hot
   * path takes and returns them without going through generic-pool's queue, and maintenance can pick exactly
   * the ones to close. generic-pool only holds connections it has just opened and not yet handed out.
   */
  readonly #idle: Connection[] = [];
  readonly #leases = new Map<Lease, Connection>();
  readonly #waitTime: RollingHistogram;
  readonly #queryTime: RollingHistogram;
  readonly #holdTime: RollingHistogram;
  readonly #waitTotal: LatencyBuckets;
  readonly #queryTotal = new LatencyBuckets();
  readonly #holdTotal = new LatencyBuckets();
  readonly #createTotal = new LatencyBuckets();
  #state: PoolState = 'open';
  /** Permits out: leases plus acquires that hold a permit and are getting a connection. */
  #permits = 0;
  /** Callers still waiting in the obtaining step (not yet served, rejected or timed out). */
  readonly #obtainingLive = new Set<Waiter>();
  /** Acquires waiting on generic-pool for a connection that has to be opened (failed fast if the circuit opens). */
  readonly #obtainingWaiters = new Set<Waiter>();
  /** Re-entrancy guard of {@link ServicePool.#pulse}: a nested call only asks the running loop to go round again. */
  #pulsing = false;
  #pulseAgain = false;
  /** The queue's single deadline timer (see #onQueueTimer). */
  #queueTimer: TimerHandle | null = null;
  #maintenanceTimer: TimerHandle | null = null;
  #maintaining = false;
  #lastConnectError: Error | undefined;
  readonly #breaker: CircuitBreaker;
  readonly #slots: SlotBroker;
  /** Connection creates past the slot step: each one is within `size` or holds a shared slot. */
  #creatingCounted = 0;
  /** Shared budget slots held: always max(0, open + opening - size) once reconciled. */
  #sharedHeld = 0;
  /** Pauses in progress (see #sleep); calling one ends it now. */
  readonly #sleepers = new Set<() => void>();
  /** Creates queued for a shared slot: each one's give-up (ends the wait), and how to let it go ahead within a larger size. */
  readonly #slotWaits = new Map<() => void, () => void>();
  #closePromise: Promise<PoolCloseReport> | null = null;
  #drainWaiter: (() => void) | null = null;
  // counters
  #acquired = 0;
  #timeouts = 0;
  #queueRejections = 0;
  #errors = 0;
  #created = 0;
  #removed = 0;
  #connectionErrors = 0;
  #closedInTransaction = 0;
  #capacityRefusals = 0;
  #connectFailures = 0;
  readonly #removedByReason: Record<RemoveReason, number> = { recycled: 0, idle: 0, overflow: 0, broken: 0, closed: 0, 'in-transaction': 0 };
  readonly #observers = new Set<ConnectionObserver>();

  constructor(config: ServicePoolConfig) {
    this.#config = config;
    this.name = config.service;
    this.#options = config.options;
    this.#clock = config.clock;
    this.#events = config.events;
    this.#waitTime = new RollingHistogram(config.clock, config.windowMs);
    this.#queryTime = new RollingHistogram(config.clock, config.windowMs);
    this.#holdTime = new RollingHistogram(config.clock, config.windowMs);
    this.#waitTotal = new LatencyBuckets(config.waitBoundsMs ?? waitBoundsMs([config.options.acquireTimeoutMs]));
    this.#slots = config.slots;
    this.#breaker = new CircuitBreaker(config.clock, config.breaker, (t) => {
      if (this.#events.listenerCount('circuit') > 0) {
        this.#events.emit('circuit', { service: this.name, from: t.from, to: t.to, retryInMs: t.retryInMs, lastError: this.#lastConnectError });
      }
      if (t.to === 'open') this.#failFastObtaining();
    }, config.random);
    const max = this.#options.size + this.#options.overflow;
    this.#gp = createPool<Connection>(
      { create: () => this.#create(), destroy: (connection) => this.#destroyConnection(connection) },
      {
        max,
        min: Math.min(this.#options.size, max),
        // LIFO: the most recently used connection is reused first, so surplus ones really go idle and are reaped.
        fifo: false,
        // Validation, idle eviction and lifetime are done here (generic-pool's versions can brick the pool or
        // ignore `min`). No acquire timeout either: this pool's own deadline covers every wait, and a timeout
        // here would arm a timer on every acquire. A request whose caller gave up is served by the next
        // connection that comes back and handed straight back, so it cannot linger.
        testOnBorrow: false,
        evictionRunIntervalMillis: 0,
        idleTimeoutMillis: Number.MAX_SAFE_INTEGER,
        autostart: true,
      },
    );
    // generic-pool reports create failures as events; they are handled in #create.
    this.#gp.on('factoryCreateError', noop);
    this.#gp.on('factoryDestroyError', noop);
    this.#scheduleMaintenance();
  }

  /** Configured limits. */
  get options(): ResolvedServiceOptions {
    return this.#options;
  }

  /** Monotonic now, from the injected clock. */
  now(): number {
    return this.#clock.now();
  }

  /**
   * Borrows a connection. Resolves with a {@link Lease}, or rejects with `ERR_ACQUIRE_TIMEOUT`,
   * `ERR_QUEUE_FULL`, `ERR_POOL_CLOSED`, or `ERR_ABORTED` when `options.signal` aborts first (options are
   * checked by the caller).
   */
  acquire(options?: AcquireOptions): Promise<Lease> {
    if (this.#state !== 'open') return Promise.reject(new PoolClosedError(this.name));
    const signal = options?.signal;
    if (signal?.aborted === true) return Promise.reject(abortedError(this.name, 'acquire', signal));
    // The common case, done synchronously: nobody queued, a permit free, and the most recently used idle
    // connection needs no check. No waiter, no timer, no generic-pool round.
    const top = this.#idle[this.#idle.length - 1];
    if (top !== undefined && this.#queue.length === 0 && this.#permits < this.#max && this.#options.leakDetectionMs === 0) {
      const now = this.#clock.now();
      if (top.broken === null && now < top.expiresAt && (this.#options.validateAfterIdleMs === 0 || now - top.idleSince <= this.#options.validateAfterIdleMs)) {
        this.#idle.pop();
        this.#permits++;
        return Promise.resolve(this.#lease(top, now, now, undefined));
      }
    }
    return new Promise<Lease>((resolve, reject) => {
      const stack = this.#options.leakDetectionMs > 0 ? captureStack() : undefined;
      const timeoutMs = Math.min(options?.timeoutMs ?? this.#options.acquireTimeoutMs, this.#options.acquireTimeoutMs);
      const waiter: Waiter = { start: this.#clock.now(), timeoutMs, unlisten: null, resolve, reject, stack, state: 'queued', timer: null };
      if (this.#queue.length === 0 && this.#permits < this.#max) {
        this.#permits++;
        waiter.state = 'obtaining';
        this.#obtainingLive.add(waiter);
        this.#listenForAbort(waiter, signal);
        void this.#obtain(waiter);
        return;
      }
      if (this.#breaker.rejecting && !this.#hasIdle()) {
        // The database is away and no connection is idle: waiting could only end in a timeout.
        reject(this.#unavailableError());
        return;
      }
      if (this.#queue.length >= this.#options.maxWaiting) {
        this.#queueRejections++;
        const waiting = this.#waitingCount();
        if (this.#events.listenerCount('queue-full') > 0) {
          this.#events.emit('queue-full', { service: this.name, waiting, maxWaiting: this.#options.maxWaiting });
        }
        reject(new QueueFullError(this.name, waiting, this.#options.maxWaiting));
        return;
      }
      this.#queue.push(waiter);
      this.#listenForAbort(waiter, signal);
      // A shorter per-call deadline breaks the queue's deadline order: that waiter keeps its own timer.
      if (timeoutMs < this.#options.acquireTimeoutMs) waiter.timer = this.#clock.setTimeout(() => this.#timeout(waiter), timeoutMs, true);
      if (this.#queueTimer === null) this.#queueTimer = this.#clock.setTimeout(this.#onQueueTimer, this.#options.acquireTimeoutMs, true);
    });
  }

  /**
   * An abort takes the waiter out at once: out of the queue, or (while a connection is on its way) marked done,
   * so the connection goes to the next caller when it arrives (see #obtain) and nothing is held for this one.
   */
  #listenForAbort(waiter: Waiter, signal: AbortSignal | undefined): void {
    if (signal === undefined) return;
    const onAbort = (): void => {
      if (waiter.state === 'done') return;
      if (waiter.state === 'queued') {
        this.#queue.remove(waiter);
        this.#queueEmptied();
      }
      this.#settleReject(waiter, abortedError(this.name, 'acquire', signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    waiter.unlisten = () => signal.removeEventListener('abort', onAbort);
  }

  get #max(): number {
    return this.#options.size + this.#options.overflow;
  }

  /**
   * One timer for the whole queue: waiters are FIFO with the same timeout, so their deadlines are in order. It
   * fires at the head's deadline, rejects every waiter that is due, and re-arms for the next; no timer per queued
   * acquire. (A waiter moving on to obtain a connection gets its own deadline only if it must wait for one.)
   */
  readonly #onQueueTimer = (): void => {
    this.#queueTimer = null;
    const now = this.#clock.now();
    for (let head = this.#queue.peek(); head !== undefined; head = this.#queue.peek()) {
      const due = head.start + head.timeoutMs;
      if (due > now) {
        this.#queueTimer = this.#clock.setTimeout(this.#onQueueTimer, due - now, true);
        return;
      }
      this.#queue.shift();
      this.#rejectTimeout(head);
    }
  };

  /** Stops the queue timer once nobody is queued, so it never holds the process open for nothing. */
  #queueEmptied(): void {
    if (this.#queue.length === 0 && this.#queueTimer !== null) {
      this.#clock.clearTimeout(this.#queueTimer);
      this.#queueTimer = null;
    }
  }

  #waitingCount(): number {
    return this.#queue.length + this.#obtainingLive.size;
  }

  /**
   * Holds a permit; gets a healthy connection from generic-pool and settles the waiter. Never throws.
   *
   * The permit is given back only when generic-pool's request has settled, even if the caller gave up earlier
   * (timeout, circuit open, close): generic-pool cannot cancel a request, so this keeps its queue no longer than
   * `size + overflow`, and a connection arriving for a caller that left is handed straight back.
   */
  async #obtain(waiter: Waiter): Promise<void> {
    let transferred = false;
    try {
      for (;;) {
        if (waiter.state !== 'obtaining') return;
        let connection = this.#idle.pop();
        if (connection === undefined) {
          const got = await this.#fromGenericPool(waiter);
          if (got === null) return;
          connection = got;
        }
        const fault = this.#faultOf(connection);
        if (fault !== null) {
          this.#destroy(connection, fault);
          continue;
        }
        if (waiter.state !== 'obtaining') {
          // The caller gave up while the connection was on its way: keep it for the next one.
          this.#toIdle(connection, false);
          return;
        }
        if (this.#options.validateAfterIdleMs > 0 && this.#clock.now() - connection.idleSince > this.#options.validateAfterIdleMs) {
          // A check can take a while on a bad network: the caller's deadline runs during it.
          this.#armDeadline(waiter);
          const healthy = await this.#ping(connection);
          if (!healthy) {
            this.#destroy(connection, 'broken');
            continue;
          }
          if (waiter.state !== 'obtaining') {
            this.#toIdle(connection, false);
            return;
          }
        }
        if (this.#state !== 'open') {
          this.#toIdle(connection, false);
          this.#settleReject(waiter, new PoolClosedError(this.name, 'the registry closed while waiting'));
          return;
        }
        this.#grant(waiter, connection);
        transferred = true; // the permit now belongs to the lease
        return;
      }
    } finally {
      if (!transferred) {
        this.#permits--;
        this.#pulse();
      }
    }
  }

  /** True when a connection can be handed out without opening one. */
  #hasIdle(): boolean {
    return this.#idle.length > 0 || this.#gp.available > this.#gp.pending;
  }

  /**
   * A healthy connection is free (`used`: it was just used, so its idle time restarts). A caller already waiting
   * for a new connection to be opened gets it at once, first come first served; otherwise it goes on top of the
   * idle stack. That caller's request in generic-pool cannot be withdrawn: it keeps its own permit until it
   * settles (see #obtain), and the lease made here takes a permit of its own.
   */
  #toIdle(connection: Connection, used: boolean): void {
    if (this.#state !== 'open') {
      // Closing: a connection coming back or arriving late is closed, never parked where nobody looks.
      this.#destroy(connection, 'closed');
      return;
    }
    const now = this.#clock.now();
    if (used) connection.idleSince = now;
    this.#setHoldsProcess(connection, false);
    for (const waiter of this.#obtainingWaiters) {
      this.#obtainingWaiters.delete(waiter);
      if (waiter.state !== 'obtaining') continue;
      if (now - waiter.start >= waiter.timeoutMs) {
        this.#rejectTimeout(waiter); // due already: a timeout, not a lease
        continue;
      }
      this.#permits++;
      this.#grant(waiter, connection);
      return;
    }
    if (this.#gp.pending > 0) {
      // Requests left in generic-pool by callers who were served or gave up: settle one with this connection
      // (it comes straight back here), rather than let it open a connection, and take a shared slot, for nobody.
      this.#gp.release(connection).catch(noop);
      return;
    }
    this.#idle.push(connection);
  }

  /**
   * Nothing idle here: gets a connection from generic-pool, which opens one (or hands over one it just opened).
   * Returns null when the caller has been settled instead (circuit open, closing).
   */
  async #fromGenericPool(waiter: Waiter): Promise<Connection | null> {
    {
      {
        const mustOpen = this.#gp.available <= this.#gp.pending;
        if (mustOpen && this.#breaker.rejecting) {
          // The database is away: fail now with the cause rather than at the deadline.
          this.#settleReject(waiter, this.#unavailableError());
          return null;
        }
        // Only arm a deadline when a connection has to be opened: the common path allocates no timer.
        if (mustOpen) this.#armDeadline(waiter);
        try {
          if (!mustOpen) return await this.#gp.acquire();
          this.#obtainingWaiters.add(waiter);
          try {
            return await this.#gp.acquire();
          } finally {
            this.#obtainingWaiters.delete(waiter);
          }
        } catch {
          // generic-pool only rejects once it drains, that is when we close.
          if (waiter.state === 'obtaining') this.#settleReject(waiter, new PoolClosedError(this.name, 'the registry closed while waiting'));
          return null;
        }
      }
    }
  }

  #armDeadline(waiter: Waiter): void {
    if (waiter.timer !== null) return;
    const remaining = Math.max(0, waiter.start + waiter.timeoutMs - this.#clock.now());
    waiter.timer = this.#clock.setTimeout(() => this.#timeout(waiter), remaining, true);
  }

  #faultOf(connection: Connection): RemoveReason | null {
    if (connection.broken !== null) return 'broken';
    if (this.#clock.now() >= connection.expiresAt) return 'recycled';
    return null;
  }

  async #ping(connection: Connection): Promise<boolean> {
    // A validation round trip must never reject (a rejecting validate bricks generic-pool); it answers false.
    let timer: TimerHandle | null = null;
    try {
      const timeout = new Promise<false>((resolve) => {
        timer = this.#clock.setTimeout(() => resolve(false), Math.min(5_000, this.#options.acquireTimeoutMs));
      });
      const result = await Promise.race([Promise.resolve(connection.client.query('SELECT 1')).then(() => true), timeout]);
      return result && connection.broken === null;
    } catch (error) {
      connection.broken ??= error instanceof Error ? error : new Error(String(error));
      return false;
    } finally {
      if (timer !== null) this.#clock.clearTimeout(timer);
    }
  }

  #grant(waiter: Waiter, connection: Connection): void {
    if (waiter.timer !== null) this.#clock.clearTimeout(waiter.timer);
    waiter.timer = null;
    waiter.unlisten?.();
    waiter.state = 'done';
    this.#obtainingLive.delete(waiter);
    waiter.resolve(this.#lease(connection, waiter.start, this.#clock.now(), waiter.stack));
  }

  /**
   * With `allowExitOnIdle`, an idle connection's socket does not keep the process alive (pg's `client.unref()`),
   * as pg-pool's option of the same name; a leased one does. Clients without ref/unref (pg-mem) hold nothing.
   */
  #setHoldsProcess(connection: Connection, holds: boolean): void {
    if (!this.#config.allowExitOnIdle) return;
    const client = connection.client as { ref?: () => void; unref?: () => void };
    if (holds) client.ref?.();
    else client.unref?.();
  }

  /** Makes the lease of a connection handed to a caller who asked at `start`. */
  #lease(connection: Connection, start: number, now: number, stack: string | undefined): Lease {
    this.#setHoldsProcess(connection, true);
    const lease = new Lease(this, connection.client, connection.id, now, stack);
    connection.lease = lease;
    connection.uses++;
    this.#leases.set(lease, connection);
    this.#acquired++;
    const waitMs = now - start;
    this.#waitTime.record(waitMs, now);
    this.#waitTotal.record(waitMs);
    if (this.#events.listenerCount('acquire') > 0) {
      this.#events.emit('acquire', { service: this.name, connectionId: connection.id, waitMs });
    }
    return lease;
  }

  /** The deadline of a caller waiting for a connection to be opened or checked (queued ones: #onQueueTimer). */
  #timeout(waiter: Waiter): void {
    waiter.timer = null;
    if (waiter.state === 'queued') {
      // Only a waiter with a shorter per-call timeoutMs has a timer while queued.
      this.#queue.remove(waiter);
      this.#queueEmptied();
      this.#rejectTimeout(waiter);
      return;
    }
    if (waiter.state !== 'obtaining') return;
    // It keeps its permit until generic-pool's request settles (see #obtain).
    this.#rejectTimeout(waiter);
  }

  #rejectTimeout(waiter: Waiter): void {
    const waitedMs = this.#clock.now() - waiter.start;
    this.#timeouts++;
    this.#waitTotal.record(waitedMs);
    const inUse = this.#leases.size;
    const waiting = this.#waitingCount();
    const lastError = this.#breaker.consecutiveFailures > 0 ? this.#lastConnectError : undefined;
    // Waiting for a shared budget slot rather than for its own connections: the cause is whoever holds the slots.
    const sharedSlots = this.#slots.waiting() > 0 ? this.#slots.holders() : undefined;
    if (this.#events.listenerCount('acquire-timeout') > 0) {
      this.#events.emit('acquire-timeout', { service: this.name, waitedMs, inUse, max: this.#max, waiting, lastError, sharedSlotHolders: sharedSlots?.byService });
    }
    this.#settleReject(waiter, new AcquireTimeoutError(this.name, { waitedMs, inUse, max: this.#max, waiting, sharedSlots }, lastError));
  }

  #settleReject(waiter: Waiter, error: Error): void {
    if (waiter.timer !== null) this.#clock.clearTimeout(waiter.timer);
    waiter.timer = null;
    waiter.unlisten?.();
    if (waiter.state === 'obtaining') this.#obtainingLive.delete(waiter);
    waiter.state = 'done';
    waiter.reject(error);
  }

  /**
   * The one place queued waiters are admitted: called whenever a permit frees. Iterative: an obtain that fails
   * synchronously (circuit open) frees its permit and calls back in here, which only makes this loop go round
   * again, so a long queue never deepens the stack.
   */
  #pulse(): void {
    if (this.#pulsing) {
      this.#pulseAgain = true;
      return;
    }
    this.#pulsing = true;
    try {
      do {
        this.#pulseAgain = false;
        while (this.#state === 'open' && this.#queue.length > 0 && this.#permits < this.#max) {
          const waiter = this.#queue.shift() as Waiter;
          if (this.#clock.now() - waiter.start >= waiter.timeoutMs) {
            // Due already (the queue timer is late): a timeout, not a lease.
            this.#rejectTimeout(waiter);
            continue;
          }
          this.#permits++;
          waiter.state = 'obtaining';
          this.#obtainingLive.add(waiter);
          void this.#obtain(waiter);
        }
      } while (this.#pulseAgain);
    } finally {
      this.#pulsing = false;
    }
    this.#queueEmptied();
    if (this.#drainWaiter !== null && this.#leases.size === 0) this.#drainWaiter();
  }

  /** @internal Called by {@link Lease.release}. */
  returnLease(lease: Lease, destroyReason: Error | undefined): void {
    const connection = this.#leases.get(lease);
    this.#leases.delete(lease);
    const now = this.#clock.now();
    const heldMs = now - lease.acquiredAt;
    this.#holdTime.record(heldMs, now);
    this.#holdTotal.record(heldMs);
    let destroyed = false;
    if (connection !== undefined) {
      connection.lease = null;
      if (destroyReason !== undefined && connection.broken === null) connection.broken = destroyReason;
      const fault = this.#faultOf(connection);
      if (fault !== null) {
        destroyed = true;
        this.#destroy(connection, fault);
      } else if (inTransactionBlock(connection.client)) {
        // Never reuse a session inside a transaction: the next caller's statements would run in it (and never
        // commit). Closing it is the rollback: the server aborts the transaction when the session ends.
        destroyed = true;
        this.#closedInTransaction++;
        this.#destroy(connection, 'in-transaction');
      } else if (connection.uses >= this.#options.maxUses) {
        // maxUses: recycled after N leases (a fresh connection is opened when one is needed).
        destroyed = true;
        this.#destroy(connection, 'recycled');
      } else if (this.#all.size > this.#max) {
        // The service was shrunk while this lease was out: close the surplus instead of keeping it idle.
        destroyed = true;
        this.#destroy(connection, 'overflow');
      } else {
        this.#toIdle(connection, true);
        // An idle connection beyond our size holds a shared slot another service may be waiting for.
        if (this.#all.size > this.#options.size) this.#slots.poke();
      }
    } else {
      destroyed = true; // forcibly closed by close() after its timeout
    }
    this.#permits--;
    if (this.#events.listenerCount('release') > 0) {
      this.#events.emit('release', { service: this.name, connectionId: lease.connectionId, heldMs, destroyed });
    }
    this.#pulse();
  }

  /**
   * Every query on a leased connection's client lands here (see instrumentQueries): its time counts in
   * `queryTime`, a failure in `errors`, and a connection-level failure marks the connection to be destroyed on
   * release. Queries outside a lease (validation, `onConnect`) are not counted.
   */
  #recordOn(connection: Connection, ms: number, error: unknown, now?: number): void {
    if (connection.lease === null) return;
    this.#queryTime.record(ms, now);
    this.#queryTotal.record(ms);
    if (error === undefined) return;
    this.#errors++;
    if (isConnectionError(error) && connection.broken === null) {
      connection.broken = error instanceof Error ? error : new Error(String(error));
      this.#connectionErrors++;
    }
  }

  /** @internal Subscribes to connection life events; returns the unsubscribe function. */
  observe(observer: ConnectionObserver): () => void {
    this.#observers.add(observer);
    return () => this.#observers.delete(observer);
  }

  #notify(call: (observer: ConnectionObserver) => void): void {
    for (const observer of this.#observers) {
      try {
        call(observer);
      } catch {
        // An observer (a user's event listener behind it) never breaks the pool.
      }
    }
  }

  /** Counts for gauges, cheaper than {@link ServicePool.stats}. */
  counts(): ServiceCounts {
    const now = this.#clock.now();
    let expired = 0;
    for (const connection of this.#leases.values()) if (now >= connection.expiresAt || connection.uses >= this.#options.maxUses) expired++;
    return {
      total: this.#all.size + this.#creatingCounted,
      idle: this.#idle.length + (this.#state === 'open' ? this.#gp.available : 0),
      inUse: this.#leases.size,
      waiting: this.#waitingCount(),
      expired,
    };
  }

  // ---- connections -------------------------------------------------------------------------------------

  /**
   * generic-pool's factory.create: the single place connections are born. Waits for the circuit breaker
   * (which also throttles retries: generic-pool would otherwise retry a failed create at once, forever), takes a
   * shared budget slot when the connection goes beyond the guaranteed size, then connects.
   *
   * Once the pool is closing it hands out a dead stand-in instead of connecting: that settles the requests still
   * queued in generic-pool (which it cannot cancel) so its drain can finish, and the stand-in is destroyed at once.
   */
  async #create(): Promise<Connection> {
    let delay = this.#breaker.delayBeforeAttempt();
    while (delay > 0 && this.#state === 'open') {
      await this.#sleep(delay);
      // A pause between failures in the closed state is served once; an open circuit is waited out until its probe.
      if (this.#breaker.state === 'closed') break;
      delay = this.#breaker.delayBeforeAttempt();
    }
    if (this.#state !== 'open') return this.#standIn();
    const attempt = this.#breaker.begin();
    let counted = false;
    try {
      await this.#takeSlotIfNeeded();
      counted = true;
      if (this.#state !== 'open') return this.#standIn();
      return await this.#connect(attempt);
    } catch (error) {
      if (error instanceof NoSlotError) this.#breaker.abandon(attempt);
      throw error;
    } finally {
      if (counted) this.#creatingCounted--;
      this.#reconcileSlots();
    }
  }

  /** A connection that is already dead, for settling generic-pool's queue while closing. Never connected. */
  #standIn(): Connection {
    const client: ClientLike = {
      connect: () => {},
      query: () => Promise.reject(new PoolClosedError(this.name)),
      end: () => {},
      on: () => undefined,
    };
    const now = this.#clock.now();
    return { id: 0, client, createdAt: now, expiresAt: now, idleSince: now, uses: 0, lease: null, broken: new PoolClosedError(this.name), removeReason: 'closed' };
  }

  /** Shared slots this pool would hold with `size`: for checking a resize before it is made. */
  slotsNeededWithSize(size: number): number {
    return Math.max(0, this.#all.size + this.#creatingCounted - size);
  }

  /** Shared slots this pool should hold: one per connection (open or being opened) beyond `size`. */
  #slotsNeeded(extra = 0): number {
    return Math.max(0, this.#all.size + this.#creatingCounted + extra - this.#options.size);
  }

  /**
   * Counts this create against `size`, or takes a shared slot for it when it goes beyond. May wait for a slot
   * (by priority, see the budget); gives up at the acquire timeout, or when nobody needs the connection any more.
   */
  async #takeSlotIfNeeded(): Promise<void> {
    // Every increment of #creatingCounted happens in the same synchronous step as the check or grant backing it
    // (room within `size`, or a held slot), so no reconcile can see the slot as spare in between.
    if (this.#slotsNeeded(1) <= this.#sharedHeld) {
      this.#creatingCounted++;
      return;
    }
    if (this.#slots.tryTake()) {
      this.#sharedHeld++;
      this.#creatingCounted++;
      return;
    }
    if (!(await this.#waitForSlot())) throw new NoSlotError('no shared slot');
  }

  /** Queues for a shared slot; true when granted while still needed. */
  #waitForSlot(): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      let cancelTicket: () => void = () => {};
      const giveUp = (): void => {
        this.#clock.clearTimeout(timer);
        this.#slotWaits.delete(giveUp);
        cancelTicket();
        resolve(false);
      };
      // After a larger size, it may fit within the size: no shared slot needed any more.
      const admit = (): void => {
        this.#clock.clearTimeout(timer);
        this.#slotWaits.delete(giveUp);
        cancelTicket();
        this.#creatingCounted++;
        resolve(true);
      };
      const timer = this.#clock.setTimeout(giveUp, this.#options.acquireTimeoutMs);
      this.#slotWaits.set(giveUp, admit);
      cancelTicket = this.#slots.request(() => {
        this.#clock.clearTimeout(timer);
        this.#slotWaits.delete(giveUp);
        // Held from the moment it is granted, and counted for this create in the same step; given back at once
        // if the demand has gone.
        this.#sharedHeld++;
        const stillNeeded = this.#gp.pending > 0 && this.#state === 'open';
        if (stillNeeded) this.#creatingCounted++;
        else this.#reconcileSlots();
        resolve(stillNeeded);
      });
    });
  }

  /**
   * Keeps `#sharedHeld` equal to the slots needed: gives back what no connection needs (after a close, a failed
   * create, a larger size) and takes what open connections need after a smaller size (they became overflow).
   */
  #reconcileSlots(): void {
    const needed = this.#slotsNeeded();
    if (this.#sharedHeld > needed) {
      const excess = this.#sharedHeld - needed;
      this.#sharedHeld = needed;
      this.#slots.release(excess);
    } else if (this.#sharedHeld < needed) {
      this.#slots.forceTake(needed - this.#sharedHeld);
      this.#sharedHeld = needed;
    }
  }

  async #connect(attempt: Attempt): Promise<Connection> {
    const started = this.#clock.now();
    let client: ClientLike;
    try {
      client = new this.#config.Client(this.#config.clientConfig);
    } catch (error) {
      throw this.#connectFailed(error, attempt);
    }
    const recycleMs = this.#options.recycleMs;
    const connection: Connection = {
      id: this.#config.nextConnectionId(),
      client,
      createdAt: started,
      // Up to 5 % jitter, subtracted so a connection never outlives recycleMs.
      expiresAt: recycleMs > 0 ? started + recycleMs - this.#config.random() * recycleMs * 0.05 : Number.POSITIVE_INFINITY,
      idleSince: started,
      uses: 0,
      lease: null,
      broken: null,
      removeReason: null,
    };
    // Without an 'error' listener a terminated backend (57P01) would crash the host process.
    client.on('error', (error: Error) => this.#onClientError(connection, error));
    client.on('end', () => {
      connection.broken ??= new Error('Connection ended');
    });
    instrumentQueries(client, () => this.#clock.now(), (ms, error, end) => this.#recordOn(connection, ms, error, end));
    try {
      const timeoutMs = this.#config.connectTimeoutMs;
      const afterConnect = this.#config.afterConnect;
      await connectWithin(client, timeoutMs, (cb, ms) => this.#clock.setTimeout(cb, ms), (h) => this.#clock.clearTimeout(h), () => new ConnectTimeoutError(this.name, timeoutMs), afterConnect && (() => afterConnect(client)));
    } catch (error) {
      connection.broken ??= error instanceof Error ? error : new Error(String(error));
      throw this.#connectFailed(error, attempt);
    }
    if (this.#options.onConnect !== undefined) {
      try {
        await this.#runOnConnect(client);
      } catch (error) {
        // A half-set-up connection is never handed out: it fails like a connect that failed.
        connection.broken ??= error instanceof Error ? error : new Error(String(error));
        endQuietly(client);
        throw this.#connectFailed(error, attempt);
      }
    }
    this.#breaker.success(attempt);
    this.#setHoldsProcess(connection, false); // born idle
    if ((this.#state as PoolState) !== 'open') {
      // Closed while connecting: wait for the socket to close, since close() waits for creates and then
      // promises that nothing is left open.
      await this.#end(client);
      return this.#standIn();
    }
    this.#created++;
    this.#all.add(connection);
    connection.idleSince = this.#clock.now();
    this.#createTotal.record(connection.idleSince - started);
    if (this.#events.listenerCount('connect') > 0) {
      this.#events.emit('connect', { service: this.name, connectionId: connection.id, durationMs: connection.idleSince - started });
    }
    if (this.#observers.size > 0) this.#notify((o) => o.connected?.(client));
    return connection;
  }

  /** Runs the service's `onConnect` hook, bounded by `connectTimeoutMs` (a hook that hangs must not hold a slot forever). */
  async #runOnConnect(client: ClientLike): Promise<void> {
    const hook = this.#options.onConnect as (client: unknown) => unknown;
    const timeoutMs = this.#config.connectTimeoutMs;
    await settleWithin(this.#clock, timeoutMs, () => hook(client), () => new ConnectTimeoutError(this.name, timeoutMs, 'onConnect'));
  }

  #unavailableError(): DatabaseUnavailableError {
    const retryInMs = Math.max(0, this.#breaker.delayEstimate());
    return new DatabaseUnavailableError(this.name, retryInMs, this.#lastConnectError);
  }

  /**
   * When the circuit opens, acquires waiting on a new connection fail now instead of at their deadline. Their
   * permits come back when generic-pool's requests settle (see #obtain).
   */
  #failFastObtaining(): void {
    for (const waiter of [...this.#obtainingWaiters]) {
      if (waiter.state === 'obtaining') this.#settleReject(waiter, this.#unavailableError());
    }
    // Queued callers could only be served by a connection coming back from a lease, on a database that just
    // refused us several times: fail them now too, unless an idle connection is there to serve them.
    if (!this.#hasIdle()) {
      for (const waiter of this.#queue.drain()) this.#settleReject(waiter, this.#unavailableError());
      this.#queueEmptied();
    }
  }

  /**
   * Closes one idle connection beyond the guaranteed size so another service can have its shared slot: the
   * least recently used, and only if it has been idle for at least `minIdleMs`.
   * @returns true if one is being closed.
   */
  preemptIdle(minIdleMs = 0): boolean {
    const i = this.#leastRecentlyIdle();
    if (i < 0) return false;
    const oldest = this.#idle[i] as Connection;
    if (minIdleMs > 0 && this.#clock.now() - oldest.idleSince < minIdleMs) return false;
    // Closing it gives its shared slot back at once.
    this.#idle.splice(i, 1);
    this.#destroy(oldest, 'idle');
    return true;
  }

  /** When the connection {@link ServicePool.preemptIdle} would close went idle (monotonic ms), or null if none. */
  preemptibleIdleSince(): number | null {
    const i = this.#leastRecentlyIdle();
    return i < 0 ? null : (this.#idle[i] as Connection).idleSince;
  }

  /** Index of the idle connection idle the longest, when this pool has any beyond its size; else -1. */
  #leastRecentlyIdle(): number {
    if (this.#state !== 'open' || this.#all.size <= this.#options.size || this.#idle.length === 0) return -1;
    // Mostly the bottom of the LIFO stack, but a connection checked and put back keeps its idleSince.
    let best = 0;
    for (let i = 1; i < this.#idle.length; i++) if ((this.#idle[i] as Connection).idleSince < (this.#idle[best] as Connection).idleSince) best = i;
    return best;
  }

  #connectFailed(error: unknown, attempt: Attempt): Error {
    const safe = this.#config.redactor.error(error);
    this.#lastConnectError = safe;
    this.#errors++;
    this.#connectionErrors++;
    this.#connectFailures++;
    if (isCapacityRefusal(error) && this.#workingConnections() > 0) {
      // The database is up and serving this service: a full server is not an outage, so the circuit stays
      // closed and waiters keep waiting for a connection to come back (or time out as usual).
      this.#capacityRefusals++;
      const firstOfStreak = this.#breaker.consecutiveFailures === 0;
      this.#breaker.refused(attempt);
      if (firstOfStreak) this.#warnCapacity(safe);
    } else {
      this.#breaker.failure(attempt);
    }
    if (this.#events.listenerCount('connect-error') > 0) {
      this.#events.emit('connect-error', { service: this.name, error: safe, consecutiveFailures: this.#breaker.consecutiveFailures });
    }
    return safe;
  }

  /** Open connections not known to be broken. */
  #workingConnections(): number {
    let working = 0;
    for (const connection of this.#all) if (connection.broken === null) working++;
    return working;
  }

  #warnCapacity(error: Error): void {
    if (this.#events.listenerCount('server-warning') === 0) return;
    const open = this.#workingConnections();
    const max = this.#max;
    const code = String((error as { code?: unknown }).code ?? '53300');
    this.#events.emit('server-warning', {
      kind: 'capacity',
      service: this.name,
      code,
      error,
      open,
      max,
      headroomShortfall: Math.max(0, max - open),
      warning:
        `${this.name}: the server refused a new connection (${code} ${error.message}) while ${this.name} holds ${open} working of its ${max}; ` +
        `its circuit stays closed and waiters wait for a connection to come back. The server has fewer free connections than the budgets on it ` +
        `may open: run registry.checkServer(), then lower maxConnections (or the overflow of the services that flood) or raise max_connections`,
    });
  }

  /** A pause that close() cuts short (a create sleeping in the breaker's backoff must not hold up closing). */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        this.#clock.clearTimeout(timer);
        this.#sleepers.delete(wake);
        resolve();
      };
      const timer = this.#clock.setTimeout(wake, ms);
      this.#sleepers.add(wake);
    });
  }

  #onClientError(connection: Connection, error: Error): void {
    const first = connection.broken === null;
    connection.broken ??= error;
    if (!first || !this.#all.has(connection)) return;
    this.#connectionErrors++;
    if (connection.lease === null) {
      this.#errors++; // a leased connection's failure is counted once, by the query that meets it
      // Failed while idle: report it and close it now; the next acquire never sees it.
      if (this.#events.listenerCount('error') > 0 || this.#observers.size > 0) {
        const safe = this.#config.redactor.error(error);
        if (this.#events.listenerCount('error') > 0) this.#events.emit('error', { service: this.name, connectionId: connection.id, error: safe });
        this.#notify((o) => o.idleError?.(safe, connection.client));
      }
      const index = this.#idle.indexOf(connection);
      if (index >= 0) {
        this.#idle.splice(index, 1);
        this.#destroy(connection, 'broken');
      }
      // One still held by generic-pool (opened, never handed out) is reaped by a maintenance run, now.
      else this.#clock.setTimeout(() => void this.#maintain(), 0);
    }
    // A leased connection's failure reaches its caller through the query; it is destroyed on release.
  }

  /** Destroys a borrowed connection. */
  #destroy(connection: Connection, reason: RemoveReason): void {
    connection.removeReason = reason;
    this.#gp.destroy(connection).catch(noop);
  }

  async #destroyConnection(connection: Connection): Promise<void> {
    const reason: RemoveReason = connection.removeReason ?? (this.#state === 'open' ? 'overflow' : 'closed');
    if (this.#all.delete(connection)) {
      this.#removed++;
      this.#removedByReason[reason]++;
      this.#reconcileSlots();
      if (this.#events.listenerCount('remove') > 0) {
        this.#events.emit('remove', { service: this.name, connectionId: connection.id, reason, ageMs: this.#clock.now() - connection.createdAt });
      }
      if (this.#observers.size > 0) this.#notify((o) => o.removed?.(connection.client));
    }
    await this.#end(connection.client);
  }

  /** Ends a client and waits until its socket is closed, at most 5 s (a dead peer must not hold anyone up). */
  async #end(client: ClientLike): Promise<void> {
    let timer: TimerHandle | null = null;
    try {
      await Promise.race([
        Promise.resolve()
          .then(() => client.end())
          .catch(noop),
        new Promise<void>((resolve) => {
          timer = this.#clock.setTimeout(resolve, 5_000);
        }),
      ]);
    } finally {
      if (timer !== null) this.#clock.clearTimeout(timer);
    }
  }

  // ---- maintenance ----------------------------------------------------------------------------------------

  #scheduleMaintenance(): void {
    if (this.#state !== 'open') return;
    this.#maintenanceTimer = this.#clock.setTimeout(() => {
      this.#maintenanceTimer = null;
      void this.#maintain().finally(() => this.#scheduleMaintenance());
    }, this.#config.maintenanceIntervalMs);
  }

  /**
   * Reaps idle connections that are broken, past their lifetime, or surplus overflow idle for longer than
   * `idleTimeoutMs`; refills the guaranteed size; reports leaks. Runs on a timer and after an idle connection
   * fails.
   */
  async #maintain(): Promise<void> {
    if (this.#state !== 'open' || this.#maintaining) return;
    this.#maintaining = true;
    try {
      this.#reportLeaks();
      // A create waiting for a shared slot that nobody waits for any more would only hold a slot for nothing.
      if (this.#slotWaits.size > 0 && this.#gp.pending === 0) for (const giveUp of [...this.#slotWaits.keys()]) giveUp();
      if (this.#all.size > this.#options.size && this.#idle.length > 0) this.#slots.poke();
      await this.#adoptFromGenericPool();
      const now = this.#clock.now();
      let surplus = this.#all.size - this.#options.size;
      // Beyond max (after a shrink), idle connections go at once rather than after idleTimeoutMs.
      let overMax = this.#all.size - this.#max;
      // Least recently used first, so it is the long-idle surplus that goes.
      for (let i = 0; i < this.#idle.length; ) {
        const connection = this.#idle[i] as Connection;
        const fault = this.#faultOf(connection);
        const surplusExpired = overMax > 0 || (surplus > 0 && now - connection.idleSince > this.#options.idleTimeoutMs);
        if (fault === null && !surplusExpired) {
          i++;
          continue;
        }
        this.#idle.splice(i, 1);
        this.#destroy(connection, fault ?? 'overflow');
        surplus--;
        overMax--;
      }
      this.#reconcileSlots();
      // generic-pool restores `min` only after a destroy, not after failed creates or a larger size.
      if (this.#state === 'open' && this.#gp.size < this.#options.size) ensureMinimum(this.#gp as GenericPool<unknown>);
    } catch {
      // Maintenance must never throw into a timer.
    } finally {
      this.#maintaining = false;
    }
  }

  /**
   * Takes the connections generic-pool opened on its own (the warm `size` at start, refills) onto the idle
   * stack, so they are checked and reaped like any other. Only when nobody waits inside generic-pool: its
   * requests are then all served from what it holds, in one synchronous step, and can make it open nothing.
   */
  async #adoptFromGenericPool(): Promise<void> {
    if (this.#gp.available === 0 || this.#gp.pending > 0) return;
    const requests: Promise<Connection>[] = [];
    for (let i = this.#gp.available; i > 0; i--) requests.push(this.#gp.acquire());
    const adopted = await Promise.all(requests);
    if (this.#state !== 'open') {
      for (const connection of adopted) this.#destroy(connection, 'closed');
      return;
    }
    // Never used yet: they go under the ones in use, in the order they were opened.
    adopted.sort((a, b) => a.idleSince - b.idleSince);
    this.#idle.unshift(...adopted);
  }

  #reportLeaks(): void {
    const limit = this.#options.leakDetectionMs;
    if (limit <= 0 || this.#leases.size === 0) return;
    const now = this.#clock.now();
    for (const lease of this.#leases.keys()) {
      const heldMs = now - lease.acquiredAt;
      if (lease.leakReported || heldMs < limit) continue;
      lease.leakReported = true;
      this.#events.emit('leak', { service: this.name, connectionId: lease.connectionId, heldMs, acquiredAt: lease.acquiredStack ?? '' });
    }
  }

  /**
   * Changes the service's limits at run time. Leases out are never interrupted: when the pool shrinks,
   * surplus connections are closed as they come back (or, if idle, at the next maintenance run).
   * @throws ConfigError `ERR_CONFIG` for a value that is not an integer >= 0, or a total of 0.
   */
  resize(limits: { readonly size?: number; readonly overflow?: number }, reason?: string): void {
    if (this.#state !== 'open') throw new PoolClosedError(this.name);
    checkResize(this.name, limits, this.#options);
    const size = limits.size ?? this.#options.size;
    const overflow = limits.overflow ?? this.#options.overflow;
    const previous = { size: this.#options.size, overflow: this.#options.overflow };
    this.#options = Object.freeze({ ...this.#options, size, overflow });
    // The admission gate enforces the new limit for new leases at once; generic-pool's max is the hard ceiling.
    setLimits(this.#gp as GenericPool<unknown>, size + overflow, size);
    // Connections beyond the new size hold shared slots from now on (or stop holding them, if it grew).
    this.#reconcileSlots();
    // Creates queued for a shared slot go ahead if they now fit within the size, oldest first.
    for (const admit of [...this.#slotWaits.values()]) {
      if (this.#slotsNeeded(1) > this.#sharedHeld) break;
      admit();
    }
    if (this.#events.listenerCount('resize') > 0) {
      this.#events.emit('resize', { service: this.name, previous, current: { size, overflow }, reason });
    }
    this.#pulse();
    if (size + overflow < previous.size + previous.overflow || size > previous.size) this.#clock.setTimeout(() => void this.#maintain(), 0);
  }

  // ---- stats & lifecycle ---------------------------------------------------------------------------------

  /** A fresh snapshot. */
  stats(): ServiceStats {
    const inUse = this.#leases.size;
    const max = this.#max;
    const waitingForShared = this.#slots.waiting();
    return {
      service: this.name,
      priority: this.#options.priority,
      guaranteedSize: this.#options.size,
      overflow: this.#options.overflow,
      max,
      // Real connections and connects in progress; not creates still waiting for the breaker or a shared slot.
      total: this.#all.size + this.#creatingCounted,
      idle: this.#idle.length + (this.#state === 'open' ? this.#gp.available : 0),
      inUse,
      overflowInUse: Math.max(0, inUse - this.#options.size),
      waiting: this.#waitingCount(),
      acquired: this.#acquired,
      timeouts: this.#timeouts,
      queueRejections: this.#queueRejections,
      errors: this.#errors,
      connectionErrors: this.#connectionErrors,
      created: this.#created,
      removed: this.#removed,
      closedInTransaction: this.#closedInTransaction,
      capacityRefusals: this.#capacityRefusals,
      removedByReason: { ...this.#removedByReason },
      connectFailures: this.#connectFailures,
      consecutiveConnectFailures: this.#breaker.consecutiveFailures,
      circuit: this.#breaker.state,
      sharedInUse: this.#sharedHeld,
      waitingForShared,
      sharedSlotHolders: waitingForShared > 0 ? this.#slots.holders().byService : NO_HOLDERS,
      utilization: max === 0 ? 0 : inUse / max,
      windowMs: this.#waitTime.windowMs,
      acquireWait: this.#waitTime.summary(),
      queryTime: this.#queryTime.summary(),
      holdTime: this.#holdTime.summary(),
      acquireWaitTotal: this.#waitTotal.snapshot(),
      queryTimeTotal: this.#queryTotal.snapshot(),
      holdTimeTotal: this.#holdTotal.snapshot(),
      createTimeTotal: this.#createTotal.snapshot(),
    };
  }

  /**
   * Stops accepting acquires (rejecting queued ones with `ERR_POOL_CLOSED`), waits up to `timeoutMs` for
   * leases to come back, then ends every connection, including leases still out. Idempotent.
   */
  close(timeoutMs: number): Promise<PoolCloseReport> {
    this.#closePromise ??= this.#close(timeoutMs);
    return this.#closePromise;
  }

  async #close(timeoutMs: number): Promise<PoolCloseReport> {
    this.#state = 'closing';
    if (this.#maintenanceTimer !== null) this.#clock.clearTimeout(this.#maintenanceTimer);
    this.#maintenanceTimer = null;
    const closedWhileWaiting = (): PoolClosedError => new PoolClosedError(this.name, 'the registry closed while waiting');
    for (const waiter of this.#queue.drain()) this.#settleReject(waiter, closedWhileWaiting());
    this.#queueEmptied();
    // Every caller still obtaining fails now, whatever it waits on (a new connection, a check, generic-pool);
    // a connection reaching any of them later is closed (#toIdle).
    for (const waiter of [...this.#obtainingLive]) this.#settleReject(waiter, closedWhileWaiting());
    for (const giveUp of [...this.#slotWaits.keys()]) giveUp();
    for (const wake of [...this.#sleepers]) wake();
    const deadline = this.#clock.now() + timeoutMs;
    // Only leases are waited for: requests still queued in generic-pool are settled below by stand-ins.
    let clean = await this.#until(deadline, (done) => {
      if (this.#leases.size === 0) return done();
      this.#drainWaiter = done;
    });
    this.#drainWaiter = null;
    this.#state = 'closed';
    // Idle connections are still borrowed from generic-pool: close them first, or its drain would wait for them.
    for (const connection of this.#idle.splice(0)) this.#destroy(connection, 'closed');
    // drain() first: from here generic-pool stops refilling `min`, so destroying the forced leases below opens
    // nothing new. Then clear(), because drain alone leaves idle connections open.
    const draining = this.#gp.drain().then(() => this.#gp.clear());
    const forcedLeases = this.#leases.size;
    for (const connection of this.#leases.values()) {
      connection.lease = null;
      this.#destroy(connection, 'closed');
    }
    this.#leases.clear();
    const drained = await this.#until(Math.max(deadline, this.#clock.now() + 1_000), (done) => {
      draining.then(done, done);
    });
    clean = clean && drained && forcedLeases === 0;
    return { service: this.name, forcedLeases, clean };
  }

  /** Resolves true when `start(done)` calls done before `deadline`, false otherwise. */
  #until(deadline: number, start: (done: () => void) => void): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      let settled = false;
      const timer = this.#clock.setTimeout(() => {
        if (!settled) {
          settled = true;
          resolve(false);
        }
      }, Math.max(0, deadline - this.#clock.now()), true);
      start(() => {
        if (settled) return;
        settled = true;
        this.#clock.clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** True once close() has begun. */
  get closed(): boolean {
    return this.#state !== 'open';
  }
}

function captureStack(): string {
  const stack = new Error('acquired here').stack ?? '';
  // Drop the message line and frames inside this module so the first frame is the caller's.
  return stack
    .split('\n')
    .slice(1)
    .filter((line) => !line.includes('service-pool') && !line.includes('pool-registry') && !line.includes('node_modules/pg-bulkhead/'))
    .join('\n');
}
