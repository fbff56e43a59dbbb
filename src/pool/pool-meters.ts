/**
 * The counters and latency histograms of one service's pool, shared by the pieces that feed them (the pool
 * facade, the connection factory). Plain fields: incrementing one is the whole cost on the hot path.
 */
import type { Clock } from '../clock';
import type { CircuitState, Priority, RemoveReason, ServiceStats } from '../types';
import { LatencyBuckets } from '../stats/latency-buckets';
import { RollingHistogram } from '../stats/rolling-histogram';

export class PoolMeters {
  acquired = 0;
  timeouts = 0;
  queueRejections = 0;
  /** Failed queries on leases, idle connections that failed, and failed connects. */
  errors = 0;
  /** Failures that made a connection unusable (including failed connects). */
  connectionErrors = 0;
  created = 0;
  removed = 0;
  closedInTransaction = 0;
  capacityRefusals = 0;
  connectFailures = 0;
  readonly removedByReason: Record<RemoveReason, number> = { recycled: 0, idle: 0, overflow: 0, broken: 0, closed: 0, 'in-transaction': 0 };
  /** Over the rolling window. */
  readonly waitTime: RollingHistogram;
  readonly queryTime: RollingHistogram;
  readonly holdTime: RollingHistogram;
  /** Since start. */
  readonly waitTotal: LatencyBuckets;
  readonly queryTotal = new LatencyBuckets();
  readonly holdTotal = new LatencyBuckets();
  readonly createTotal = new LatencyBuckets();

  constructor(clock: Clock, windowMs: number, waitBoundsMs: readonly number[]) {
    this.waitTime = new RollingHistogram(clock, windowMs);
    this.queryTime = new RollingHistogram(clock, windowMs);
    this.holdTime = new RollingHistogram(clock, windowMs);
    this.waitTotal = new LatencyBuckets(waitBoundsMs);
  }

  /** A fresh stats snapshot: these meters plus the pool's live figures. */
  snapshot(live: LiveFigures): ServiceStats {
    const { inUse, max, size, waitingForShared } = live;
    return {
      service: live.service,
      priority: live.priority,
      guaranteedSize: size,
      overflow: live.overflow,
      max,
      total: live.total,
      idle: live.idle,
      inUse,
      overflowInUse: Math.max(0, inUse - size),
      waiting: live.waiting,
      acquired: this.acquired,
      timeouts: this.timeouts,
      queueRejections: this.queueRejections,
      errors: this.errors,
      connectionErrors: this.connectionErrors,
      created: this.created,
      removed: this.removed,
      closedInTransaction: this.closedInTransaction,
      capacityRefusals: this.capacityRefusals,
      removedByReason: { ...this.removedByReason },
      connectFailures: this.connectFailures,
      consecutiveConnectFailures: live.consecutiveConnectFailures,
      circuit: live.circuit,
      sharedInUse: live.sharedInUse,
      waitingForShared,
      sharedSlotHolders: live.sharedSlotHolders,
      utilization: max === 0 ? 0 : inUse / max,
      windowMs: this.waitTime.windowMs,
      acquireWait: this.waitTime.summary(),
      queryTime: this.queryTime.summary(),
      holdTime: this.holdTime.summary(),
      acquireWaitTotal: this.waitTotal.snapshot(),
      queryTimeTotal: this.queryTotal.snapshot(),
      holdTimeTotal: this.holdTotal.snapshot(),
      createTimeTotal: this.createTotal.snapshot(),
    };
  }
}

/** The figures of a stats snapshot that the pool reads live rather than counts. */
export interface LiveFigures {
  readonly service: string;
  readonly priority: Priority;
  readonly size: number;
  readonly overflow: number;
  readonly max: number;
  /** Real connections and connects in progress; not creates still waiting for the breaker or a shared slot. */
  readonly total: number;
  readonly idle: number;
  readonly inUse: number;
  readonly waiting: number;
  readonly consecutiveConnectFailures: number;
  readonly circuit: CircuitState;
  readonly sharedInUse: number;
  readonly waitingForShared: number;
  readonly sharedSlotHolders: Readonly<Record<string, number>>;
}
