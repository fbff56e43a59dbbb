/** The registry's public result and event types (its events, its stats snapshot, what close() reports) and the stats totals. */
import type { BudgetStats } from '../budget/budget';
import type { PoolEvents } from '../pool/events';
import type { PoolCloseReport } from '../pool/service-pool';
import type { ServiceStats } from '../types';

/** Events of a {@link PoolRegistry}. Every payload is one object carrying `service`. */
export interface RegistryEvents<S extends string = string> extends PoolEvents<S> {
  /** The registry finished closing. */
  close: [RegistryCloseReport];
}

/** Snapshot of the whole registry: one {@link ServiceStats} per service plus totals. */
export interface RegistryStats<S extends string = string> {
  /** Wall-clock time of the snapshot, ms since the epoch. */
  readonly at: number;
  readonly services: { readonly [K in S]: ServiceStats };
  readonly totals: {
    /** Open connections across services. */
    readonly connections: number;
    readonly inUse: number;
    readonly idle: number;
    readonly waiting: number;
    /** Sum of every service's `size + overflow`. */
    readonly max: number;
  };
  /** The shared connection budget. */
  readonly budget: BudgetStats;
}

/** Result of {@link PoolRegistry.close}. */
export interface RegistryCloseReport {
  /** True when every lease came back and every connection closed within the timeout. */
  readonly clean: boolean;
  readonly services: readonly PoolCloseReport[];
}

/** Options of {@link PoolRegistry.close}. */
export interface CloseOptions {
  /** How long to wait for leases to come back before ending their connections anyway, ms. @default 5000 */
  readonly timeoutMs?: number;
}

/** The registry-wide totals of the services' snapshots. */
export function totalsOf(services: readonly ServiceStats[]): RegistryStats['totals'] {
  let connections = 0;
  let inUse = 0;
  let idle = 0;
  let waiting = 0;
  let max = 0;
  for (const s of services) {
    connections += s.total;
    inUse += s.inUse;
    idle += s.idle;
    waiting += s.waiting;
    max += s.max;
  }
  return { connections, inUse, idle, waiting, max };
}
