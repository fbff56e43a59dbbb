import type { BudgetStats } from '../budget/budget';
import type { Clock } from '../clock';
import type { Incident } from '../detector/incident';
import { PRIORITIES } from '../types';
import type { RemoveReason } from '../types';
import type { ServiceStats } from '../types';
import type { UsageStats } from '../usage/stats';
import { INSTRUMENTS, METRIC_ATTRIBUTES as A, type InstrumentSpec } from './instruments';

/** What the metrics read from the registry: its `stats()` snapshot (a {@link PoolRegistry} fits). */
export interface MetricsRegistry<S extends string> {
  /** Prefix of the pool names (`<applicationName>:<service>`); without it the pool name is the service name. */
  readonly applicationName?: string;
  /** A fresh snapshot of every service, and of the shared budget when there is one. */
  stats(): { readonly services: { readonly [K in S]: ServiceStats }; readonly budget?: BudgetStats };
}

/** What the metrics read from the detector. {@link InterferenceDetector} fits. */
export interface MetricsDetector<S extends string> {
  /** Incidents open now. An incident's `kind`, when it has one, labels it; otherwise it is `interference`. */
  incidents(): readonly Incident<S>[];
  /** Incidents opened since start, per victim (a counter). */
  openedIncidents(): { readonly [K in S]: number };
}

/**
 * What the metrics read from a usage tracker: only these fields of `stats()` (a usage tracker fits structurally;
 * nothing else of it is imported). The optional ones are published when present.
 */
export interface MetricsUsageSource {
  /** The tracker's snapshot; only these fields of {@link UsageStats} are read. */
  stats(): Pick<UsageStats, 'pendingKeys' | 'pendingIncrements' | 'droppedCalls' | 'droppedIncrements'> &
    Partial<Pick<UsageStats, 'flushedIncrements' | 'rejectedCalls' | 'quarantinedRows' | 'quarantinedIncrements' | 'failedWrites' | 'lastFlushAt'>>;
}

/** Where the metrics come from. Only `registry` is required; the others add their series. */
export interface MetricsSources<S extends string> {
  readonly registry: MetricsRegistry<S>;
  /** Adds the incident series. */
  readonly detector?: MetricsDetector<S>;
  /** Adds the usage tracker's series. */
  readonly usage?: MetricsUsageSource;
  /** Wall clock for the age of the last usage flush. @default Date.now */
  readonly clock?: Pick<Clock, 'wallNow'>;
}

/** One value of a metric with its attributes (OpenTelemetry attribute names). */
export interface MetricPoint {
  readonly attributes: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The points of one metric at one instant. */
export interface MetricReading {
  readonly instrument: InstrumentSpec;
  readonly points: readonly MetricPoint[];
}

const REMOVE_REASONS: readonly RemoveReason[] = ['recycled', 'idle', 'overflow', 'broken', 'closed', 'in-transaction'];
const CIRCUIT_STATES = ['closed', 'open', 'half-open'] as const;

/** The pool name of a service: `<applicationName>:<service>`, as its sessions show in `pg_stat_activity`. */
export function poolNameOf(registry: { readonly applicationName?: string }, service: string): string {
  return registry.applicationName === undefined ? service : `${registry.applicationName}:${service}`;
}

/**
 * Reads every gauge and counter (not the histograms) from one snapshot of each source. Both the Prometheus text
 * and the OpenTelemetry bridge publish exactly these readings, so they agree on names, attributes and values.
 * Cheap: one `stats()` per source (the registry's may be given, taken once for everything), a few small objects
 * per service.
 */
export function readMetrics<S extends string>(sources: MetricsSources<S>, stats: ReturnType<MetricsRegistry<S>['stats']> = sources.registry.stats()): MetricReading[] {
  const { registry } = sources;
  const services = Object.values(stats.services) as ServiceStats[];
  const pool = (s: ServiceStats): string => poolNameOf(registry, s.service);
  const out: MetricReading[] = [];
  const perPool = (instrument: InstrumentSpec, value: (s: ServiceStats) => number): void => {
    out.push({ instrument, points: services.map((s) => ({ attributes: { [A.poolName]: pool(s) }, value: value(s) })) });
  };
  out.push({
    instrument: INSTRUMENTS.connectionCount,
    points: services.flatMap((s) => [
      { attributes: { [A.poolName]: pool(s), [A.connectionState]: 'idle' }, value: s.idle },
      { attributes: { [A.poolName]: pool(s), [A.connectionState]: 'used' }, value: s.inUse },
    ]),
  });
  perPool(INSTRUMENTS.idleMax, (s) => s.max);
  perPool(INSTRUMENTS.idleMin, (s) => s.guaranteedSize);
  perPool(INSTRUMENTS.max, (s) => s.max);
  perPool(INSTRUMENTS.pendingRequests, (s) => s.waiting);
  perPool(INSTRUMENTS.timeouts, (s) => s.timeouts);
  perPool(INSTRUMENTS.created, (s) => s.created);
  out.push({
    instrument: INSTRUMENTS.closed,
    points: services.flatMap((s) => REMOVE_REASONS.map((reason) => ({ attributes: { [A.poolName]: pool(s), [A.reason]: reason }, value: s.removedByReason?.[reason] ?? 0 }))),
  });
  perPool(INSTRUMENTS.createFailures, (s) => s.connectFailures ?? 0);
  perPool(INSTRUMENTS.capacityRefusals, (s) => s.capacityRefusals ?? 0);
  perPool(INSTRUMENTS.queueRejections, (s) => s.queueRejections);
  perPool(INSTRUMENTS.errors, (s) => s.errors);
  out.push({
    instrument: INSTRUMENTS.circuitState,
    points: services.flatMap((s) => CIRCUIT_STATES.map((state) => ({ attributes: { [A.poolName]: pool(s), [A.circuitState]: state }, value: s.circuit === state ? 1 : 0 }))),
  });
  perPool(INSTRUMENTS.utilization, (s) => s.utilization);
  perPool(INSTRUMENTS.acquireWaitP95, (s) => s.acquireWait.p95 / 1_000);
  perPool(INSTRUMENTS.queryTimeP95, (s) => s.queryTime.p95 / 1_000);
  const budget = stats.budget;
  if (budget !== undefined) {
    const single = (instrument: InstrumentSpec, value: number): void => {
      out.push({ instrument, points: [{ attributes: {}, value }] });
    };
    single(INSTRUMENTS.budgetLimit, budget.total);
    single(INSTRUMENTS.budgetGuaranteed, budget.guaranteed);
    single(INSTRUMENTS.budgetShared, budget.shared);
    single(INSTRUMENTS.budgetReserved, budget.reserve);
    perPool(INSTRUMENTS.budgetSharedUsed, (s) => budget.sharedInUseByService[s.service] ?? 0);
    single(INSTRUMENTS.budgetSharedFree, budget.free ?? Math.max(0, budget.shared - budget.sharedInUse));
    out.push({
      instrument: INSTRUMENTS.budgetWaiting,
      points: PRIORITIES.map((priority) => ({ attributes: { [A.priority]: priority }, value: budget.waitingByPriority[priority] })),
    });
  }
  if (sources.usage !== undefined) {
    const u = sources.usage.stats();
    const single = (instrument: InstrumentSpec, value: number | undefined): void => {
      if (value !== undefined) out.push({ instrument, points: [{ attributes: {}, value }] });
    };
    single(INSTRUMENTS.usagePendingKeys, u.pendingKeys);
    single(INSTRUMENTS.usagePendingIncrements, u.pendingIncrements);
    single(INSTRUMENTS.usageFlushedIncrements, u.flushedIncrements);
    single(INSTRUMENTS.usageFlushFailures, u.failedWrites);
    single(INSTRUMENTS.usageDroppedCalls, u.droppedCalls);
    single(INSTRUMENTS.usageDroppedIncrements, u.droppedIncrements);
    single(INSTRUMENTS.usageRejectedCalls, u.rejectedCalls);
    single(INSTRUMENTS.usageQuarantinedRows, u.quarantinedRows);
    single(INSTRUMENTS.usageQuarantinedIncrements, u.quarantinedIncrements);
    // No point before the first write: an age since "never" would be a made-up number.
    const last = u.lastFlushAt;
    if (typeof last === 'number') single(INSTRUMENTS.usageLastFlushAge, Math.max(0, ((sources.clock?.wallNow() ?? Date.now()) - last) / 1_000));
  }
  if (sources.detector !== undefined) {
    const open = new Map<string, MetricPoint>();
    for (const incident of sources.detector.incidents()) {
      const kind = kindOf(incident);
      const victim = poolNameOf(registry, incident.victim);
      const aggressors = incident.aggressors.length > 0 ? incident.aggressors.map((a) => poolNameOf(registry, a.service)) : [''];
      for (const aggressor of aggressors) {
        const attributes = { [A.kind]: kind, [A.victim]: victim, [A.aggressor]: aggressor, [A.severity]: incident.severity };
        const key = JSON.stringify(attributes);
        open.set(key, { attributes, value: (open.get(key)?.value ?? 0) + 1 });
      }
    }
    out.push({ instrument: INSTRUMENTS.incidentsOpen, points: [...open.values()] });
    const opened = sources.detector.openedIncidents() as Readonly<Record<string, number>>;
    out.push({ instrument: INSTRUMENTS.incidentsOpened, points: services.map((s) => ({ attributes: { [A.victim]: pool(s) }, value: opened[s.service] ?? 0 })) });
  }
  return out;
}

/** The incident's type (interference, saturation, connectivity: new types flow through), else `interference`. */
function kindOf(incident: object): string {
  // The detector's incident type (interference, saturation, connectivity); `kind` for stand-ins that predate it.
  const { type, kind } = incident as { readonly type?: unknown; readonly kind?: unknown };
  if (typeof type === 'string' && type !== '') return type;
  return typeof kind === 'string' && kind !== '' ? kind : 'interference';
}
