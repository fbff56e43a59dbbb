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
import type { RemoveReason, ServiceStats } from '../types';
import { abortedError, type AcquireOptions } from './acquire-options';
import { Admission, type Waiter } from './admission';
import { inTransactionBlock, isConnectionError } from './client';
import { ConnectionFactory, type FactoryHost } from './connection-factory';
import type { PoolEventSink } from './events';
import { IdleStack } from './idle-stack';
import { ConnectionLedger } from './ledger';
import { Lease } from './lease';
import { Maintenance } from './maintenance';
import { checkResize, type ResolvedServiceOptions } from './options';
import { PoolMeters } from './pool-meters';
import { PooledConnection } from './pooled-connection';
import type { ConnectionObserver, PoolCloseReport, ServiceCounts, ServicePoolConfig } from './service-pool-types';
import { SlotAccount } from './slot-account';
import { waitBoundsMs } from '../stats/latency-buckets';

export type { ServiceStats } from '../types';
export type { ConnectionObserver, PoolCloseReport, ServiceCounts, ServicePoolConfig } from './service-pool-types';

const NO_HOLDERS: Readonly<Record<string, number>> = Object.freeze({});
/** The longest a validation round trip may take, ms (less when the acquire timeout is shorter). */
const CHECK_TIMEOUT_MS = 5_000;

type PoolState = 'open' | 'closing' | 'closed';

export class ServicePool {
  readonly name: string;
  readonly #config: ServicePoolConfig;
  #options: ResolvedServiceOptions;
  readonly #clock: Clock;
  readonly #events: PoolEventSink;
  readonly #meters: PoolMeters;
  readonly #admission: Admission;
  readonly #idle = new IdleStack();
  /** Every open connection: idle, leased, or being checked. */
  readonly #connections = new Set<PooledConnection>();
  readonly #slots: SlotAccount;
  readonly #factory: ConnectionFactory;
  readonly #ledger: ConnectionLedger;
  readonly #maintenance: Maintenance;
  readonly #observers = new Set<ConnectionObserver>();
  #state: PoolState = 'open';
  /** Connections out on a lease. */
  #inUse = 0;
  /** Opens in progress, from the decision to open until the connection (or the failure) arrives. */
  #opening = 0;
  /** Idle connections being checked before they are handed out (`validateAfterIdleMs`). */
  #checking = 0;
  /** Re-entrancy guard of #dispatch: a nested call only asks the running one to go round again. */
  #dispatching = false;
  #dispatchAgain = false;
  #closePromise: Promise<PoolCloseReport> | null = null;
  /** While close() waits for leases: called once none is out. */
  #onLeasesBack: (() => void) | null = null;

  constructor(config: ServicePoolConfig) {
    this.#config = config;
    this.name = config.service;
    this.#options = config.options;
    this.#clock = config.clock;
    this.#events = config.events;
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
    this.#factory = new ConnectionFactory(config, this.#factoryHost(), this.#slots, this.#meters);
    this.#ledger = new ConnectionLedger(
      () => this.#factory.open(),
      (connection) => this.#factory.end(connection),
    );
    this.#maintenance = new Maintenance(
      {
        name: this.name,
        idle: this.#idle,
        slots: this.#slots,
        isOpen: () => this.#state === 'open',
        options: () => this.#options,
        max: () => this.#max,
        connections: () => this.#connections,
        opening: () => this.#opening,
        waiting: () => this.#admission.length,
        remove: (connection, reason) => this.#remove(connection, reason),
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
    if (top !== undefined && this.#admission.length === 0 && this.#inUse + this.#checking < limits.size + limits.overflow && limits.leakDetectionMs === 0) {
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
      if (this.#inUse + this.#admission.length - this.#max >= limits.maxWaiting) {
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
      this.#dispatch();
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
  #dispatch(): void {
    if (this.#dispatching) {
      this.#dispatchAgain = true;
      return;
    }
    this.#dispatching = true;
    try {
      do {
        this.#dispatchAgain = false;
        if (this.#state === 'open') this.#serveWaiters(this.#clock.now());
      } while (this.#dispatchAgain);
    } finally {
      this.#dispatching = false;
    }
    if (this.#onLeasesBack !== null && this.#inUse === 0) this.#onLeasesBack();
  }

  #serveWaiters(now: number): void {
    const admission = this.#admission;
    const max = this.#max;
    while (admission.length > this.#checking && this.#inUse + this.#checking < max) {
      const connection = this.#idle.pop();
      if (connection === undefined) break;
      const fault = connection.faultAt(now);
      if (fault !== null) this.#remove(connection, fault);
      else if (this.#needsCheck(connection, now)) this.#check(connection);
      else this.#grantNext(connection, now);
    }
    const unserved = admission.length - this.#checking - this.#opening;
    if (unserved <= 0 || this.#idle.length > 0) return;
    const room = max - this.#connections.size - this.#opening;
    if (room <= 0) return; // every connection is out: waiters wait for one to come back
    if (this.#factory.breaker.rejecting) {
      // The database is away: fail now with the cause rather than at the deadline.
      for (const waiter of admission.takeAfter(this.#checking + this.#opening)) waiter.reject(this.#factory.unavailableError());
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

  #needsCheck(connection: PooledConnection, now: number): boolean {
    const after = this.#options.validateAfterIdleMs;
    return after > 0 && now - connection.idleSince > after && now - connection.checkedAt > after;
  }

  /** Checks an idle connection with a round trip; healthy, it goes back on top of the stack for the next waiter. */
  #check(connection: PooledConnection): void {
    this.#checking++;
    void this.#factory.ping(connection, Math.min(CHECK_TIMEOUT_MS, this.#options.acquireTimeoutMs)).then((healthy) => {
      this.#checking--;
      if (!healthy) this.#remove(connection, 'broken');
      else if (this.#state !== 'open') this.#remove(connection, 'closed');
      else {
        connection.checkedAt = this.#clock.now();
        this.#idle.push(connection);
      }
      this.#dispatch();
    });
  }

  /** Opens one connection; it joins the idle stack (on top if someone waits) and the scheduling point runs. */
  #open(): void {
    this.#opening++;
    const arrived = (result: unknown): void => {
      this.#opening--;
      if (result instanceof PooledConnection) {
        if (this.#state !== 'open') this.#remove(result, 'closed');
        else if (this.#admission.length > 0) this.#idle.push(result);
        else this.#idle.pushUnder(result); // never used yet: under the ones in use, so surplus goes first
      }
      this.#dispatch();
    };
    this.#ledger.open().then(arrived, arrived);
  }

  /** Makes the lease of a connection handed to a caller who asked at `start`. */
  #lease(connection: PooledConnection, start: number, now: number, stack: string | undefined): Lease {
    this.#setHoldsProcess(connection, true);
    const lease = new Lease(connection, connection.client, connection.id, now, stack);
    connection.lease = lease;
    connection.uses++;
    this.#inUse++;
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
    const inUse = this.#inUse;
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

  /** A lease came back (see {@link PooledConnection.returnLease}). */
  #returnConnection(connection: PooledConnection, lease: Lease, destroyReason: Error | undefined): void {
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
      if (reason !== null) this.#remove(connection, reason);
      else {
        destroyed = false;
        this.#toIdle(connection, now);
      }
    }
    if (this.#events.listenerCount('release') > 0) this.#events.emit('release', { service: this.name, connectionId: lease.connectionId, heldMs, destroyed });
    this.#dispatch();
    // An idle connection beyond our size holds a shared slot another service may be waiting for.
    if (!destroyed && this.#connections.size > this.#options.size && this.#idle.length > 0) this.#slots.offerIdle();
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
    if (connection.uses >= this.#options.maxUses) return 'recycled'; // a fresh one is opened when needed
    if (this.#connections.size > this.#max) return 'overflow'; // shrunk while it was out: the surplus goes
    return null;
  }

  /** Puts a healthy connection back on top of the idle stack; while closing, it is closed instead. */
  #toIdle(connection: PooledConnection, now: number): void {
    if (this.#state !== 'open') {
      this.#remove(connection, 'closed');
      return;
    }
    connection.idleSince = now;
    this.#setHoldsProcess(connection, false);
    this.#idle.push(connection);
  }

  /** Closes a connection that is in no idle stack and on no lease; counts and reports it. */
  #remove(connection: PooledConnection, reason: RemoveReason): void {
    if (!this.#connections.delete(connection)) return;
    this.#meters.removed++;
    this.#meters.removedByReason[reason]++;
    this.#slots.reconcile();
    if (this.#events.listenerCount('remove') > 0) {
      this.#events.emit('remove', { service: this.name, connectionId: connection.id, reason, ageMs: this.#clock.now() - connection.createdAt });
    }
    if (this.#observers.size > 0) this.#notify((o) => o.removed?.(connection.client));
    this.#ledger.close(connection);
    this.#maintenance.refill(); // back to the guaranteed size at once
  }

  /**
   * With `allowExitOnIdle`, an idle connection's socket does not keep the process alive (pg's `client.unref()`),
   * as pg-pool's option of the same name; a leased one does. Clients without ref/unref (pg-mem) hold nothing.
   */
  #setHoldsProcess(connection: PooledConnection, holds: boolean): void {
    if (!this.#config.allowExitOnIdle) return;
    const client = connection.client as { ref?: () => void; unref?: () => void };
    if (holds) client.ref?.();
    else client.unref?.();
  }

  /** What the connection factory and the connections see of this pool. */
  #factoryHost(): FactoryHost {
    return {
      name: this.name,
      returnConnection: (connection, lease, destroyReason) => this.#returnConnection(connection, lease, destroyReason),
      isOpen: () => this.#state === 'open',
      options: () => this.#options,
      max: () => this.#max,
      workingConnections: () => {
        let working = 0;
        for (const connection of this.#connections) if (connection.broken === null) working++;
        return working;
      },
      connected: (connection, durationMs) => {
        this.#meters.created++;
        this.#connections.add(connection);
        connection.idleSince = connection.createdAt + durationMs;
        this.#meters.createTotal.record(durationMs);
        this.#setHoldsProcess(connection, false); // born idle
        if (this.#events.listenerCount('connect') > 0) this.#events.emit('connect', { service: this.name, connectionId: connection.id, durationMs });
        if (this.#observers.size > 0) this.#notify((o) => o.connected?.(connection.client));
      },
      queryDone: (connection, ms, error, end) => this.#queryDone(connection, ms, error, end),
      clientError: (connection, error) => this.#clientError(connection, error),
      circuitOpened: () => {
        // Callers waiting for a new connection fail now instead of at their deadline; those a check in flight
        // will serve keep waiting, and so does everyone if an idle connection is there.
        if (this.#idle.length > 0) return;
        for (const waiter of this.#admission.takeAfter(this.#checking)) waiter.reject(this.#factory.unavailableError());
      },
    };
  }

  /**
   * Every query on a leased connection's client lands here (see instrumentQueries): its time counts in
   * `queryTime`, a failure in `errors`, and a connection-level failure marks the connection to be destroyed on
   * release. Queries outside a lease (validation, `onConnect`) are not counted.
   */
  #queryDone(connection: PooledConnection, ms: number, error: unknown, end: number): void {
    if (connection.lease === null) return;
    this.#meters.queryTime.record(ms, end);
    this.#meters.queryTotal.record(ms);
    if (error === undefined) return;
    this.#meters.errors++;
    if (isConnectionError(error) && connection.markBroken(error)) this.#meters.connectionErrors++;
  }

  #clientError(connection: PooledConnection, error: Error): void {
    if (!connection.markBroken(error) || !this.#connections.has(connection)) return;
    this.#meters.connectionErrors++;
    // A leased connection's failure reaches its caller through the query; it is destroyed on release.
    if (connection.lease !== null) return;
    this.#meters.errors++; // a leased connection's failure is counted once, by the query that meets it
    // Failed while idle: report it and close it now; the next acquire never sees it.
    if (this.#events.listenerCount('error') > 0 || this.#observers.size > 0) {
      const safe = this.#config.redactor.error(error);
      if (this.#events.listenerCount('error') > 0) this.#events.emit('error', { service: this.name, connectionId: connection.id, error: safe });
      this.#notify((o) => o.idleError?.(safe, connection.client));
    }
    // One being checked fails its check; one just opened is reaped when it reaches the stack.
    if (this.#idle.remove(connection)) this.#remove(connection, 'broken');
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

  /**
   * Closes one idle connection beyond the guaranteed size so another service can have its shared slot: the
   * least recently used, and only if it has been idle for at least `minIdleMs`.
   * @returns true if one is being closed.
   */
  preemptIdle(minIdleMs = 0): boolean {
    const oldest = this.#preemptible();
    if (oldest === undefined) return false;
    if (minIdleMs > 0 && this.#clock.now() - oldest.idleSince < minIdleMs) return false;
    // Closing it gives its shared slot back at once.
    this.#idle.remove(oldest);
    this.#remove(oldest, 'idle');
    return true;
  }

  /** When the connection {@link ServicePool.preemptIdle} would close went idle (monotonic ms), or null if none. */
  preemptibleIdleSince(): number | null {
    return this.#preemptible()?.idleSince ?? null;
  }

  /** The idle connection idle the longest, when this pool has any beyond its size. */
  #preemptible(): PooledConnection | undefined {
    if (this.#state !== 'open' || this.#connections.size <= this.#options.size) return undefined;
    return this.#idle.leastRecentlyIdle();
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
    const now = this.#clock.now();
    let expired = 0;
    if (this.#inUse > 0) {
      for (const connection of this.#connections) if (connection.lease !== null && (now >= connection.expiresAt || connection.uses >= this.#options.maxUses)) expired++;
    }
    return { total: this.#connections.size + this.#slots.opening, idle: this.#idle.length, inUse: this.#inUse, waiting: this.#admission.length, expired };
  }

  /** A fresh snapshot. */
  stats(): ServiceStats {
    const m = this.#meters;
    const inUse = this.#inUse;
    const max = this.#max;
    const waitingForShared = this.#slots.brokerWaiting();
    return {
      service: this.name,
      priority: this.#options.priority,
      guaranteedSize: this.#options.size,
      overflow: this.#options.overflow,
      max,
      // Real connections and connects in progress; not creates still waiting for the breaker or a shared slot.
      total: this.#connections.size + this.#slots.opening,
      idle: this.#idle.length,
      inUse,
      overflowInUse: Math.max(0, inUse - this.#options.size),
      waiting: this.#admission.length,
      acquired: m.acquired,
      timeouts: m.timeouts,
      queueRejections: m.queueRejections,
      errors: m.errors,
      connectionErrors: m.connectionErrors,
      created: m.created,
      removed: m.removed,
      closedInTransaction: m.closedInTransaction,
      capacityRefusals: m.capacityRefusals,
      removedByReason: { ...m.removedByReason },
      connectFailures: m.connectFailures,
      consecutiveConnectFailures: this.#factory.breaker.consecutiveFailures,
      circuit: this.#factory.breaker.state,
      sharedInUse: this.#slots.held,
      waitingForShared,
      sharedSlotHolders: waitingForShared > 0 ? this.#slots.holders().byService : NO_HOLDERS,
      utilization: max === 0 ? 0 : inUse / max,
      windowMs: m.waitTime.windowMs,
      acquireWait: m.waitTime.summary(),
      queryTime: m.queryTime.summary(),
      holdTime: m.holdTime.summary(),
      acquireWaitTotal: m.waitTotal.snapshot(),
      queryTimeTotal: m.queryTotal.snapshot(),
      holdTimeTotal: m.holdTotal.snapshot(),
      createTimeTotal: m.createTotal.snapshot(),
    };
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
    let clean = await this.#until(deadline, (done) => {
      if (this.#inUse === 0) return done();
      this.#onLeasesBack = done;
    });
    this.#onLeasesBack = null;
    this.#state = 'closed';
    for (const connection of this.#idle.takeAll()) this.#remove(connection, 'closed');
    const forcedLeases = this.#inUse;
    for (const connection of [...this.#connections]) {
      if (connection.lease === null) continue;
      connection.lease = null;
      this.#remove(connection, 'closed');
    }
    this.#inUse = 0;
    // Opens in flight settle (as failures, once closing) and every close finishes: then nothing is left open.
    const drained = await this.#until(Math.max(deadline, this.#clock.now() + 1_000), (done) => {
      this.#ledger.drain().then(done, done);
    });
    clean = clean && drained && forcedLeases === 0;
    return { service: this.name, forcedLeases, clean };
  }

  /** Resolves true when `start(done)` calls done before `deadline`, false otherwise. */
  #until(deadline: number, start: (done: () => void) => void): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      let settled = false;
      const timer = this.#clock.setTimeout(
        () => {
          if (settled) return;
          settled = true;
          resolve(false);
        },
        Math.max(0, deadline - this.#clock.now()),
        true,
      );
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
