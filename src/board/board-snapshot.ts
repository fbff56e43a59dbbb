import type { BudgetStats } from '../budget/budget';
import type { HealthReport, HealthStatus, Incident, LastConnectionError } from '../detector/incident';
import type { Priority } from '../types';
import type { ServiceStats } from '../types';
import type { UsageStats } from '../usage/stats';

/** What the board reads from a registry: {@link PoolRegistry} fits. */
export interface BoardRegistry<S extends string> {
  /** The configured service names, in configuration order (the board's order). */
  readonly services: readonly S[];
  /** A fresh snapshot of every service and of the shared budget, taken once per poll. */
  stats(): { readonly at: number; readonly services: { readonly [K in S]: ServiceStats }; readonly budget: BudgetStats };
}

/** What the board reads from the detector: {@link InterferenceDetector} fits. Only read methods are called. */
export interface BoardDetector<S extends string> {
  /** True between `start()` and `stop()`: the board then shows the last evaluation instead of evaluating. */
  readonly running: boolean;
  /** The last evaluation. */
  health(): HealthReport<S>;
  /** Evaluates now (when the detector is not running on its own timer), as the health handler does. */
  check(): Promise<HealthReport<S>>;
  /** Closed incidents, oldest first; the board shows the newest few. */
  history?(): readonly Incident<S>[];
  /** Each service's last connection failure, password removed; read only with `includeErrors: true`. */
  lastConnectionErrors?(): { readonly [K in S]?: LastConnectionError };
}

/** What the board reads from a usage tracker: the fields of its `stats()` that {@link BoardUsage} shows ({@link UsageTracker} fits). */
export interface BoardUsageSource {
  /** The tracker's snapshot, taken once per poll. */
  stats(): Pick<UsageStats, Exclude<keyof BoardUsage, 'lastFlushAgeMs'>>;
}

/** One service on the board: its pool figures (fresh), and the detector's verdict (its last evaluation). */
export interface BoardService<S extends string = string> {
  readonly service: S;
  readonly priority: Priority;
  readonly protected: boolean;
  readonly status: HealthStatus;
  /** Guaranteed connections (`size`). */
  readonly size: number;
  readonly overflow: number;
  /** `size + overflow`. */
  readonly max: number;
  /** Leased connections. */
  readonly inUse: number;
  /** Open connections not leased. */
  readonly idle: number;
  /** Connections being opened (`total - inUse - idle`). */
  readonly opening: number;
  /** Acquires waiting for a connection. */
  readonly waiting: number;
  /** Shared budget slots held. */
  readonly sharedInUse: number;
  /** p95 acquire wait over the registry's window, ms. */
  readonly acquireWaitP95Ms: number;
  /** p95 query time over the registry's window, ms. */
  readonly queryTimeP95Ms: number;
  /** Acquire timeouts within the detector's window. */
  readonly timeouts: number;
  /** Errors (failed queries and connection failures) within the detector's window. */
  readonly errors: number;
  readonly circuit: 'open' | 'half-open' | 'closed';
  /** Why the status is not healthy (the detector's words). */
  readonly reasons: readonly string[];
  /** Only with `includeErrors: true`: the last connection failure (may name host, user, database), or null. */
  readonly lastConnectionError?: LastConnectionError | null;
}

/** The shared budget on the board: the budget's own figures (see {@link BudgetStats}). */
export type BoardBudget = Pick<BudgetStats, 'total' | 'guaranteed' | 'shared' | 'reserve' | 'sharedInUse' | 'sharedInUseByService' | 'waiting' | 'waitingByPriority'>;

/** The usage tracker on the board: its figures, the age of its last flush, and its last error (redacted). */
export interface BoardUsage
  extends Pick<UsageStats, 'state' | 'pendingKeys' | 'pendingIncrements' | 'frozenKeys' | 'failedWrites' | 'droppedCalls' | 'droppedIncrements' | 'rejectedCalls' | 'quarantinedRows' | 'lastFlushAt'> {
  /** How long ago the last successful write was, ms (by the handler's clock), or null. */
  readonly lastFlushAgeMs: number | null;
  /** The last write failure: its time, and its message only with `includeErrors: true` (it may name the host). */
  readonly lastError: { readonly at: number; readonly message?: string } | null;
}

/** The board's JSON (`?format=json`): one poll. */
export interface BoardSnapshot<S extends string = string> {
  /** Shape version of this body. */
  readonly version: 1;
  /** Wall-clock ms of the registry snapshot. */
  readonly at: number;
  readonly status: HealthStatus;
  readonly serverProbe: HealthReport<S>['serverProbe'];
  readonly services: readonly BoardService<S>[];
  readonly budget: BoardBudget;
  /** Open incidents of every kind, as the detector reports them (the health handler's redaction). */
  readonly incidents: readonly Incident<S>[];
  /** The newest closed incidents, newest first. */
  readonly recentIncidents: readonly Incident<S>[];
  /** Null when the board has no usage tracker. */
  readonly usage: BoardUsage | null;
}

/** What {@link buildBoardSnapshot} reads. */
export interface BoardSources<S extends string> {
  readonly registry: BoardRegistry<S>;
  readonly detector: BoardDetector<S>;
  readonly usage?: BoardUsageSource;
  readonly includeErrors: boolean;
  readonly recentIncidents: number;
  /** Wall-clock now, ms since the epoch: the reference of the tracker's last-flush age. */
  readonly now: () => number;
}

/**
 * One board poll: a fresh `registry.stats()`, the detector's report (its last evaluation while it runs, else one
 * `check()`, as the health handler does), its newest closed incidents and the usage tracker's figures. Reads only.
 */
export async function buildBoardSnapshot<S extends string>(sources: BoardSources<S>): Promise<BoardSnapshot<S>> {
  const { registry, detector, usage, includeErrors } = sources;
  const report = detector.running ? detector.health() : await detector.check();
  const stats = registry.stats();
  const errors: { readonly [K in S]?: LastConnectionError } = includeErrors ? (detector.lastConnectionErrors?.() ?? {}) : {};
  const services: BoardService<S>[] = [];
  for (const name of registry.services) {
    const s = stats.services[name];
    const h = report.services[name];
    const service: BoardService<S> = {
      service: name,
      priority: s.priority,
      protected: h?.protected ?? false,
      status: h?.status ?? 'healthy',
      size: s.guaranteedSize,
      overflow: s.overflow,
      max: s.max,
      inUse: s.inUse,
      idle: s.idle,
      opening: Math.max(0, s.total - s.inUse - s.idle),
      waiting: s.waiting,
      sharedInUse: s.sharedInUse,
      acquireWaitP95Ms: s.acquireWait.p95,
      queryTimeP95Ms: s.queryTime.p95,
      timeouts: h?.timeouts ?? 0,
      errors: h?.errors ?? 0,
      circuit: s.circuit,
      reasons: h?.reasons ?? [],
    };
    services.push(includeErrors ? { ...service, lastConnectionError: errors[name] ?? null } : service);
  }
  const history = detector.history?.() ?? [];
  const recentIncidents = history.slice(Math.max(0, history.length - sources.recentIncidents)).reverse();
  return {
    version: 1,
    at: stats.at,
    status: report.status,
    serverProbe: report.serverProbe,
    services,
    budget: {
      total: stats.budget.total,
      guaranteed: stats.budget.guaranteed,
      shared: stats.budget.shared,
      reserve: stats.budget.reserve,
      sharedInUse: stats.budget.sharedInUse,
      sharedInUseByService: stats.budget.sharedInUseByService,
      waiting: stats.budget.waiting,
      waitingByPriority: stats.budget.waitingByPriority,
    },
    incidents: report.incidents,
    recentIncidents,
    usage: usage === undefined ? null : usageOf(usage, sources.now(), includeErrors),
  };
}

function usageOf(source: BoardUsageSource, now: number, includeErrors: boolean): BoardUsage {
  const u = source.stats();
  return {
    state: u.state,
    pendingKeys: u.pendingKeys,
    pendingIncrements: u.pendingIncrements,
    frozenKeys: u.frozenKeys,
    failedWrites: u.failedWrites,
    droppedCalls: u.droppedCalls,
    droppedIncrements: u.droppedIncrements,
    rejectedCalls: u.rejectedCalls,
    quarantinedRows: u.quarantinedRows,
    lastFlushAt: u.lastFlushAt,
    lastFlushAgeMs: u.lastFlushAt === null ? null : Math.max(0, now - u.lastFlushAt),
    lastError: u.lastError === null ? null : includeErrors ? { at: u.lastError.at, message: u.lastError.message } : { at: u.lastError.at },
  };
}
