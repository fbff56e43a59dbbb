/**
 * The types a service pool shares with the registry and the pg.Pool view: its configuration, its close report,
 * its cheap counts, and the observer of its connections' lives.
 */
import type { Clock } from '../clock';
import type { RandomSource } from '../random';
import type { Redactor } from '../redact';
import type { BreakerOptions } from './circuit-breaker';
import type { ClientConfig, ClientConstructor, ClientLike } from './client';
import type { PoolEventSink } from './events';
import type { ResolvedServiceOptions } from './options';
import type { SlotBroker } from './slots';

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
  /** Turns a connect error into the one to report (a refused session setting into `ERR_SETTING_NOT_APPLIED`). */
  readonly explainConnectError?: ((error: unknown) => unknown) | undefined;
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

/** Counts of one service's pool, without the latency summaries of ServiceStats: cheap enough for gauges read per request. */
export interface ServiceCounts {
  /** Open connections, including ones being opened. */
  readonly total: number;
  readonly idle: number;
  readonly inUse: number;
  readonly waiting: number;
  /** Leased connections past their lifetime or `maxUses`: they are closed when they come back. */
  readonly expired: number;
}
