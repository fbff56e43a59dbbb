/**
 * One service's bulkhead: its own connections, waiters, timeout and limits.
 *
 * The pieces, one per file: {@link Admission} queues callers with their deadlines, {@link IdleStack} keeps idle
 * connections LIFO, {@link ConnectionFactory} opens them behind the circuit breaker and {@link SlotAccount} (the
 * shared budget), {@link ConnectionLedger} (generic-pool) counts every open connection and waits for them at close,
 * {@link Maintenance} reaps and refills. This class is the facade, the fast path, and the one scheduling point:
 * every change that can let a caller in (a lease back, a connection opened or checked, a resize) goes through
 * {@link ServicePool.#dispatch}, which hands idle connections to waiters, starts checks, and opens exactly as many
 * connections as the waiters nothing else will serve (tarn's `_tryAcquireOrCreate` shape).
 *
 * generic-pool is used as a ledger rather than as the pool because its own pooling cannot express what a
 * bulkhead needs: limits that change at run time, a wait that ends on the caller's deadline or signal (its requests
 * cannot be withdrawn), validation that never rejects, and a retry policy after failed connects.
 */
import type { Clock } from '../clock';
import { AcquireTimeoutError, PoolClosedError, QueueFullError } from '../errors';
import type { ServiceStats } from '../types';
import { abortedError, type AcquireOptions } from './acquire-options';
import { Admission, type Waiter } from './admission';
import { ConnectionFactory } from './connection-factory';
import { Connections } from './connections';
import { ConnectionReports } from './connection-reports';
import type { PoolEventSink } from './events';
import type { IdleStack } from './idle-stack';
import { ConnectionLedger } from './ledger';
import type { Lease } from './lease';
import { Maintenance } from './maintenance';
import { checkResize, type ResolvedServiceOptions } from './options';
import { PoolMeters } from './pool-meters';
import { PooledConnection } from './pooled-connection';
import type { ConnectionObserver, PoolCloseReport, ServiceCounts, ServicePoolConfig } from './service-pool-types';
import { SlotAccount } from './slot-account';
import { waitBoundsMs } from '../stats/latency-buckets';
import { doneBefore } from './done-before';

export type { ServiceStats } from '../types';
export type { ConnectionObserver, PoolCloseReport, ServiceCounts, ServicePoolConfig } from './service-pool-types';

const NO_HOLDERS: Readonly<Record<string, number>> = Object.freeze({});
/** The longest a validation round trip may take, ms (less when the acquire timeout is shorter). */
const CHECK_TIMEOUT_MS = 5_000;

type PoolState = 'open' | 'closing' | 'closed';

export class ServicePool {
  readonly name: string;
  #options: ResolvedServiceOptions;
  readonly #clock: Clock;
  readonly #events: PoolEventSink;
  readonly #meters: PoolMeters;
  readonly #admission: Admission;
  readonly #connections: Connections;
  /** The idle stack of #connections. */
  readonly #idle: IdleStack;
  readonly #slots: SlotAccount;
  readonly #factory: ConnectionFactory;
  readonly #ledger: ConnectionLedger;
  readonly #maintenance: Maintenance;
  readonly #reports: ConnectionReports;
  #state: PoolState = 'open';
  /** Opens in progress, from the decision to open until the connection (or the failure) arrives. */
  #opening = 0;
  /** Re-entrancy guard of #dispatch: a nested call only asks the running one to go round again. */
  #dispatching = false;
  #dispatchAgain = false;
  #closePromise: Promise<PoolCloseReport> | null = null;
  /** While close() waits for leases: called once none is out. */
  #onLeasesBack: (() => void) | null = null;

  constructor(config: ServicePoolConfig) {
    this.name = config.service;
    this.#options = config.options;
    this.#clock = config.clock;
    this.#events = config.events;
    this.#reports = new ConnectionReports(config.service, config.events, config.redactor, config.clock);
    this.#meters = new PoolMeters(config.clock, config.windowMs, config.waitBoundsMs ?? waitBoundsMs([config.options.acquireTimeoutMs]));
    this.#admission = new Admission(config.clock, config.options.acquireTimeoutMs, {
      timedOut: (waiter) => this.#rejectTimeout(waiter),
      aborted: (waiter, signal) => waiter.reject(abortedError(this.name, 'acquire', signal)),
    });
    this.#slots = new SlotAccount(config.slots, config.clock, {
      openCount: () => this.#connections.size,
      size: () => this.#options.size,
      waitLimitMs: () => this.#options.acquireTimeoutMs,
      wantsConnection: () => this.#state === 'open' && this.#admission.length > 0,
    });
    this.#connections = new Connections(
      {
        name: this.name,
        isOpen: () => this.#state === 'open',
        options: () => this.#options,
        max: () => this.#max,
        close: (connection) => this.#ledger.close(connection),
        removed: () => this.#maintenance.refill(), // back to the guaranteed size at once
        available: (now) => this.#dispatch(now),
      },
      this.#meters,
      this.#reports,
      this.#slots,
      config.events,
      config.clock,
      config.allowExitOnIdle,
    );
    this.#idle = this.#connections.idle;
    this.#factory = new ConnectionFactory({ ...config, circuitOpened: () => this.#circuitOpened() }, this.#connections, this.#slots, this.#meters);
    this.#ledger = new ConnectionLedger(
      () => this.#factory.open(),
      (connection) => this.#factory.end(connection),
    );
    this.#maintenance = new Maintenance(
      {
        name: this.name,
        connections: this.#connections,
        slots: this.#slots,
        isOpen: () => this.#state === 'open',
        options: () => this.#options,
        max: () => this.#max,
        opening: () => this.#opening,
        waiting: () => this.#admission.length,
        openSpare: () => this.#open(),
      },
      config.clock,
      config.events,
      config.maintenanceIntervalMs,
    );
    this.#maintenance.start();
    this.#maintenance.refill(); // the guaranteed size, warm from the start
  }

  /** Configured limits. */
  get options(): ResolvedServiceOptions {
    return this.#options;
  }

  /** Monotonic now, from the injected clock. */
  now(): number {
    return this.#clock.now();
  }

  get #max(): number {
    return this.#options.size + this.#options.overflow;
  }

  /**
   * Borrows a connection. Resolves with a {@link Lease}, or rejects with `ERR_ACQUIRE_TIMEOUT`, `ERR_QUEUE_FULL`,
   * `ERR_POOL_CLOSED`, `ERR_DATABASE_UNAVAILABLE`, or `ERR_ABORTED` when `options.signal` aborts first (options
   * are checked by the caller).
   */
  acquire(options?: AcquireOptions): Promise<Lease> {
    if (this.#state !== 'open') return Promise.reject(new PoolClosedError(this.name));
    const signal = options?.signal;
    if (signal?.aborted === true) return Promise.reject(abortedError(this.name, 'acquire', signal));
    const limits = this.#options;
    // The common case, done synchronously: nobody waiting, room for a lease, and the most recently used idle
    // connection needs no check. No waiter, no timer.
    const top = this.#idle.peek();
    if (top !== undefined && this.#admission.length === 0 && this.#connections.inUse + this.#connections.checking < limits.size + limits.overflow && limits.leakDetectionMs === 0) {
      const now = this.#clock.now();
      if (top.broken === null && now < top.expiresAt && (limits.validateAfterIdleMs === 0 || now - top.idleSince <= limits.validateAfterIdleMs)) {
        this.#idle.pop();
        return Promise.resolve(this.#lease(top, now, now, undefined));
      }
    }
    return new Promise<Lease>((resolve, reject) => {
      if (this.#factory.breaker.rejecting && this.#idle.length === 0) {
        // The database is away and no connection is idle: waiting could only end in a timeout.
        reject(this.#factory.unavailableError());
        return;
      }
      // Waiters beyond the room left for leases (the old "queue"): at most maxWaiting of them.
      if (this.#connections.inUse + this.#admission.length - this.#max >= limits.maxWaiting) {
        this.#meters.queueRejections++;
        const waiting = this.#admission.length;
        if (this.#events.listenerCount('queue-full') > 0) this.#events.emit('queue-full', { service: this.name, waiting, maxWaiting: limits.maxWaiting });
        reject(new QueueFullError(this.name, waiting, limits.maxWaiting));
        return;
      }
      const now = this.#clock.now();
      const timeoutMs = Math.min(options?.timeoutMs ?? limits.acquireTimeoutMs, limits.acquireTimeoutMs);
      const stack = limits.leakDetectionMs > 0 ? captureStack() : undefined;
      const waiter: Waiter = { start: now, timeoutMs, stack, resolve, reject, stopListening: null, ownTimer: null, queued: false };
      this.#admission.enqueue(waiter, signal);
      this.#dispatch(now);
      // Only a caller left waiting gets a deadline: one served at once allocates no timer.
      if (waiter.queued) this.#admission.startDeadline(waiter, now);
    });
  }

  /**
   * The one scheduling point. Waiters take idle connections (most recently used first) while there is room for
   * a lease; idle connections due for a check are checked first; then connections are opened for the waiters that
   * nothing on its way (a check, an open) will serve, up to `size + overflow`. If the circuit is open, those
   * waiters fail now with the cause instead of at their deadline.
   */
  #dispatch(now?: number): void {
    if (this.#dispatching) {
      this.#dispatchAgain = true;
      return;
    }
    this.#dispatching = true;
    try {
      // The caller's clock reading, when it has one (the hot path reads the clock once per acquire and release).
      let at = now;
      do {
        this.#dispatchAgain = false;
        if (this.#state === 'open' && this.#admission.length > 0) this.#serveWaiters((at ??= this.#clock.now()));
        at = undefined; // a second round (something changed meanwhile) reads the clock afresh
      } while (this.#dispatchAgain);
    } finally {
      this.#dispatching = false;
    }
    if (this.#onLeasesBack !== null && this.#connections.inUse === 0) this.#onLeasesBack();
  }

  #serveWaiters(now: number): void {
    const admission = this.#admission;
    const max = this.#max;
    while (admission.length > this.#connections.checking && this.#connections.inUse + this.#connections.checking < max) {
      const connection = this.#idle.pop();
      if (connection === undefined) break;
      const fault = connection.faultAt(now);
      if (fault !== null) this.#connections.remove(connection, fault);
      else if (this.#connections.needsCheck(connection, now)) this.#connections.check(connection, this.#ping);
      else this.#grantNext(connection, now);
    }
    const unserved = admission.length - this.#connections.checking - this.#opening;
    if (unserved <= 0 || this.#idle.length > 0) return;
    const room = max - this.#connections.size - this.#opening;
    if (room <= 0) return; // every connection is out: waiters wait for one to come back
    if (this.#factory.breaker.rejecting) {
      // The database is away: fail now with the cause rather than at the deadline.
      for (const waiter of admission.takeAfter(this.#connections.checking + this.#opening)) waiter.reject(this.#factory.unavailableError());
      return;
    }
    for (let n = Math.min(unserved, room); n > 0; n--) this.#open();
  }

  /** Hands `connection` to the oldest waiter; back on top of the stack if nobody waits. */
  #grantNext(connection: PooledConnection, now: number): void {
    const waiter = this.#admission.shift();
    if (waiter === undefined) {
      this.#idle.push(connection);
      return;
    }
    // Its deadline is its timer's to enforce: a caller whose timer has not fired yet is served.
    this.#admission.finish(waiter);
    waiter.resolve(this.#lease(connection, waiter.start, now, waiter.stack));
  }

  /** The check of an idle connection: a round trip, bounded by the acquire timeout (5 s at most). */
  readonly #ping = (connection: PooledConnection): Promise<boolean> => this.#factory.ping(connection, Math.min(CHECK_TIMEOUT_MS, this.#options.acquireTimeoutMs));

  /** Opens one connection; it joins the idle stack (on top if someone waits) and the scheduling point runs. */
  #open(): void {
    this.#opening++;
    const arrived = (result: unknown): void => {
      this.#opening--;
      if (result instanceof PooledConnection) this.#connections.arrived(result, this.#admission.length > 0);
      this.#dispatch();
    };
    this.#ledger.open().then(arrived, arrived);
  }

  /** Makes the lease of a connection handed to a caller who asked at `start`. */
  #lease(connection: PooledConnection, start: number, now: number, stack: string | undefined): Lease {
    const lease = this.#connections.lend(connection, now, stack);
    const meters = this.#meters;
    meters.acquired++;
    const waitMs = now - start;
    meters.waitTime.record(waitMs, now);
    meters.waitTotal.record(waitMs);
    if (this.#events.listenerCount('acquire') > 0) this.#events.emit('acquire', { service: this.name, connectionId: connection.id, waitMs });
    return lease;
  }

  #rejectTimeout(waiter: Waiter): void {
    const waitedMs = this.#clock.now() - waiter.start;
    this.#meters.timeouts++;
    this.#meters.waitTotal.record(waitedMs);
    const inUse = this.#connections.inUse;
    // The caller timing out still counts as waiting when it had room for a lease (it was getting a connection,
    // not queued behind the leases out).
    const waiting = this.#admission.length + (inUse < this.#max ? 1 : 0);
    const lastError = this.#factory.breaker.consecutiveFailures > 0 ? this.#factory.lastError : undefined;
    // Waiting for a shared budget slot rather than for its own connections: the cause is whoever holds the slots.
    const sharedSlots = this.#slots.brokerWaiting() > 0 ? this.#slots.holders() : undefined;
    if (this.#events.listenerCount('acquire-timeout') > 0) {
      this.#events.emit('acquire-timeout', { service: this.name, waitedMs, inUse, max: this.#max, waiting, lastError, sharedSlotHolders: sharedSlots?.byService });
    }
    waiter.reject(new AcquireTimeoutError(this.name, { waitedMs, inUse, max: this.#max, waiting, sharedSlots }, lastError));
  }

  /**
   * Callers waiting for a new connection fail now instead of at their deadline; those a check in flight will
   * serve keep waiting, and so does everyone if an idle connection is there.
   */
  #circuitOpened(): void {
    if (this.#idle.length > 0) return;
    for (const waiter of this.#admission.takeAfter(this.#connections.checking)) waiter.reject(this.#factory.unavailableError());
  }

  /** @internal Subscribes to connection life events; returns the unsubscribe function. */
  observe(observer: ConnectionObserver): () => void {
    return this.#reports.observe(observer);
  }

  /**
   * Closes one idle connection beyond the guaranteed size so another service can have its shared slot: the
   * least recently used, and only if it has been idle for at least `minIdleMs`.
   * @returns true if one is being closed.
   */
  preemptIdle(minIdleMs = 0): boolean {
    return this.#state === 'open' && this.#connections.preemptIdle(this.#clock.now(), minIdleMs);
  }

  /** When the connection {@link ServicePool.preemptIdle} would close went idle (monotonic ms), or null if none. */
  preemptibleIdleSince(): number | null {
    return this.#state === 'open' ? this.#connections.preemptibleIdleSince() : null;
  }

  /** Shared slots this pool would hold with `size`: for checking a resize before it is made. */
  slotsNeededWithSize(size: number): number {
    return this.#slots.neededWithSize(size);
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
    // Connections beyond the new size hold shared slots from now on (or stop holding them, if it grew), and
    // creates queued for a shared slot go ahead if they now fit within the size.
    this.#slots.reconcile();
    this.#slots.admitWithinSize();
    if (this.#events.listenerCount('resize') > 0) this.#events.emit('resize', { service: this.name, previous, current: { size, overflow }, reason });
    this.#dispatch();
    if (size + overflow < previous.size + previous.overflow || size > previous.size) this.#maintenance.runSoon();
  }

  /** Counts for gauges, cheaper than {@link ServicePool.stats}. */
  counts(): ServiceCounts {
    const connections = this.#connections;
    return { total: connections.size + this.#slots.opening, idle: this.#idle.length, inUse: connections.inUse, waiting: this.#admission.length, expired: connections.expiredLeases(this.#clock.now()) };
  }

  /** A fresh snapshot. */
  stats(): ServiceStats {
    const options = this.#options;
    const waitingForShared = this.#slots.brokerWaiting();
    return this.#meters.snapshot({
      service: this.name,
      priority: options.priority,
      size: options.size,
      overflow: options.overflow,
      max: this.#max,
      total: this.#connections.size + this.#slots.opening,
      idle: this.#idle.length,
      inUse: this.#connections.inUse,
      waiting: this.#admission.length,
      consecutiveConnectFailures: this.#factory.breaker.consecutiveFailures,
      circuit: this.#factory.breaker.state,
      sharedInUse: this.#slots.held,
      waitingForShared,
      sharedSlotHolders: waitingForShared > 0 ? this.#slots.holders().byService : NO_HOLDERS,
    });
  }

  /**
   * Stops accepting acquires (rejecting waiting ones with `ERR_POOL_CLOSED`), waits up to `timeoutMs` for
   * leases to come back, then ends every connection, including leases still out. Idempotent.
   */
  close(timeoutMs: number): Promise<PoolCloseReport> {
    this.#closePromise ??= this.#close(timeoutMs);
    return this.#closePromise;
  }

  async #close(timeoutMs: number): Promise<PoolCloseReport> {
    this.#state = 'closing';
    this.#maintenance.stop();
    for (const waiter of this.#admission.takeAll()) waiter.reject(new PoolClosedError(this.name, 'the registry closed while waiting'));
    this.#slots.giveUpWaits();
    this.#factory.endPauses();
    const deadline = this.#clock.now() + timeoutMs;
    let clean = await doneBefore(this.#clock, deadline, (done) => {
      if (this.#connections.inUse === 0) return done();
      this.#onLeasesBack = done;
    });
    this.#onLeasesBack = null;
    this.#state = 'closed';
    const forcedLeases = this.#connections.closeAll();
    // Opens in flight settle (as failures, once closing) and every close finishes: then nothing is left open.
    const drained = await doneBefore(this.#clock, Math.max(deadline, this.#clock.now() + 1_000), (done) => {
      this.#ledger.drain().then(done, done);
    });
    clean = clean && drained && forcedLeases === 0;
    return { service: this.name, forcedLeases, clean };
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
