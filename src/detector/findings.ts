import type { Priority } from '../types';
import { PRIORITIES } from '../types';
import type { ServiceStats } from '../types';
import type { RegistryStats } from '../registry/pool-registry';
import type { Aggressor, Recommendation, Signal, SignalKind } from './incident';
import type { BudgetLimits } from './recommendations';
import type { ResolvedServiceOptions } from '../pool/options';
import type { ResolvedDetectorOptions } from './options';

// The pieces one evaluation is built from: findings per victim, who holds what, and the small formatting helpers
// of signal messages. Pure functions over one registry snapshot; the detector wires them (interference-detector.ts).

/** What one evaluation found for one victim: evidence, aggressors, advice (or why there is none). */
export interface Finding<S extends string> {
  signals: Signal<S>[];
  aggressors: Map<S, Aggressor<S>>;
  recommendations: Recommendation<S>[];
  noRecommendation: string | null;
}

/** The finding of `victim`, created empty when it has none yet. */
export function findingOf<S extends string>(findings: Map<S, Finding<S>>, victim: S): Finding<S> {
  let f = findings.get(victim);
  if (f === undefined) {
    f = { signals: [], aggressors: new Map(), recommendations: [], noRecommendation: null };
    findings.set(victim, f);
  }
  return f;
}

/** What the stages after the rules (blame, advice) read of one evaluation, besides the findings. */
export interface Evaluation<S extends string> {
  readonly stats: RegistryStats<S>;
  /** Every service of the registry, in its order. */
  readonly services: readonly S[];
  /** The capacity shares are measured against: `stats().budget.total`, at least 1. */
  readonly capacity: number;
  readonly thresholds: ResolvedDetectorOptions<S>['thresholds'];
  isProtected(service: S): boolean;
  /** Acquire timeouts of the service within the window. */
  windowTimeouts(service: S): number;
  /** Connections the registry held at the service's last capacity refusal. */
  heldAtRefusal(service: S): number;
  /** The service's limits now. */
  serviceOptions(service: S): ResolvedServiceOptions;
  /** The service's limits before auto mitigation changed them, so advice quotes the configured numbers. */
  originalOptions(service: S): ResolvedServiceOptions;
  /** Whether auto mitigation lowered the service's overflow (and has not put it back). */
  mitigated(service: S): boolean;
}

/** An aggressor entry with the figures of the current snapshot. */
export function aggressorOf<S extends string>(stats: RegistryStats<S>, service: S, capacity: number, blockedSessions: number): Aggressor<S> {
  const a = stats.services[service];
  return { service, priority: a.priority, inUse: a.inUse, share: a.inUse / capacity, blockedSessions, sharedSlots: a.sharedInUse };
}

/** Shared slots held by services other than `service`, per service holding any, largest first. */
export function sharedHeldByOthers<S extends string>(stats: RegistryStats<S>, service: S): { total: number; byService: Map<S, number> } {
  const byService = new Map<S, number>();
  let total = 0;
  for (const [name, n] of Object.entries(stats.budget.sharedInUseByService).sort((a, b) => b[1] - a[1])) {
    if (name === service || !(n > 0)) continue;
    byService.set(name as S, n);
    total += n;
  }
  return { total, byService };
}

/**
 * Whether the service could use a connection somebody else holds: it is below its own `size + overflow`, or waits
 * for a shared slot. At its own limit, it waits for its own connections only.
 */
export function belowOwnLimit(s: { readonly inUse: number; readonly max: number; readonly waitingForShared: number }): boolean {
  return s.inUse < s.max || s.waitingForShared > 0;
}

/** Why an incident carries no recommendation: said explicitly, so silence is never mistaken for "nothing to do". */
export function whyNoAdvice<S extends string>(victim: S, f: Finding<S>, s: ServiceStats, isAggressor: boolean, mitigated: boolean): string {
  if (mitigated) {
    return `${victim}'s overflow was lowered by auto mitigation; more connections for it would take them from a protected service`;
  }
  if (isAggressor) {
    return (
      `${victim} is itself an aggressor in another incident: more connections for it would hurt that victim; ` +
      'lower its load or hold connections for less time'
    );
  }
  if (f.signals.every((x) => x.kind === 'exhaustion') && s.waiting === 0) {
    return (
      `${victim} works at its limit (${s.inUse} of ${s.max} in use) but nobody waits and no acquire timed out: ` +
      'no change needed yet'
    );
  }
  if (f.signals.some((x) => x.kind === 'failures') && s.inUse < s.max) {
    return (
      `${victim}'s acquire timeouts happened with room in its pool (${s.inUse} of ${s.max} in use) and no connection ` +
      'failures: its connections were slow to open or to come back; look at the lease hold times'
    );
  }
  const kinds = f.signals.map((x) => x.kind).join(', ');
  return `no setting of the registry explains ${kinds} on ${victim}: the signals say what was measured`;
}

export function rank(priority: Priority): number {
  return PRIORITIES.indexOf(priority);
}

/** The shared budget as the advice for a service of `priority` sees it. */
export function budgetLimits(stats: RegistryStats<string>, priority: Priority): BudgetLimits {
  const { total, guaranteed, reserve } = stats.budget;
  return { maxConnections: total, guaranteed, reserve, mayTakeReserve: priority === 'highest' || priority === 'high' };
}

export function signal<S extends string>(
  kind: SignalKind,
  service: S,
  value: number,
  threshold: number,
  unit: Signal['unit'],
  message: string,
): Signal<S> {
  return { kind, service, value, threshold, unit, message };
}

export function ms(value: number): string {
  return `${value >= 10 ? Math.round(value) : Math.round(value * 10) / 10} ms`;
}

export function pct(ratio: number): string {
  return `${Math.round(ratio * 100)} %`;
}

