/**
 * The counters and latency histograms of one service's pool, shared by the pieces that feed them (the pool
 * facade, the connection factory). Plain fields: incrementing one is the whole cost on the hot path.
 */
import type { Clock } from '../clock';
import type { RemoveReason } from '../types';
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
}
