// The client-side rules of the detector, as a table: what each measures of one victim (`test`), the line that
// says so (`message`) and the advice it carries (`recommend`). They judge one registry snapshot plus the figures
// the sampler keeps; the server probe's evidence and the blame that follows from the whole picture come after
// them (blame.ts). Rules run in table order, which is the order of an incident's signals.

import type { ResolvedServiceOptions } from '../pool/options';
import type { RegistryStats } from '../registry/pool-registry';
import type { ServiceStats } from '../types';
import { describeHolders } from '../errors';
import type { Recommendation, Signal, SignalKind } from './incident';
import type { ResolvedDetectorOptions } from './options';
import { boundSlowQueries, checkConnectivity, reduceChurn } from './recommendations';
import type { Sampler, WaitWindows, WindowCounts } from './sampler';
import { borrowersBelow } from './blame';
import { belowOwnLimit, ms, pct, sharedHeldByOthers } from './findings';

/** Everything a rule may read about one victim at one evaluation. */
export interface RuleContext<S extends string> {
  readonly victim: S;
  /** The victim's stats in the snapshot. */
  readonly s: ServiceStats;
  readonly stats: RegistryStats<S>;
  /** Every service of the registry, in its order. */
  readonly services: readonly S[];
  /** The victim's limits as configured (auto mitigation does not change a victim's). */
  readonly options: ResolvedServiceOptions;
  readonly isProtected: boolean;
  readonly detector: Pick<ResolvedDetectorOptions<S>, 'thresholds' | 'windowMs' | 'shortWindowMs' | 'intervalMs'>;
  /** The victim's counts within the window. */
  readonly window: WindowCounts;
  /** How long the victim's pool has been above `utilization` at every evaluation, ms (0 when it is not). */
  readonly fullForMs: number;
  /** How long the victim has waited for shared slots others hold at every evaluation, ms (0 when it does not). */
  readonly sharedWaitForMs: number;
  /** Shared slots held by services other than the victim, per service holding any, largest first. */
  readonly heldByOthers: { readonly total: number; readonly byService: ReadonlyMap<S, number> };
  /** The capacity shares are measured against: `stats().budget.total`, at least 1. */
  readonly capacity: number;
  /** Connections the registry held at the victim's last capacity refusal. */
  readonly heldAtRefusal: number;
  /** Mean acquire waits of the victim in the short window and the baseline (computed when asked). */
  waits(): WaitWindows;
}

/**
 * The context of `victim` (service number `i` of the sampler) at time `now` of one evaluation. Records the
 * victim's streaks in the sampler: call it once per victim and evaluation.
 */
export function ruleContext<S extends string>(
  stats: RegistryStats<S>,
  victim: S,
  i: number,
  now: number,
  of: Pick<RuleContext<S>, 'services' | 'options' | 'isProtected' | 'detector' | 'capacity'> & { readonly sampler: Sampler<S> },
): RuleContext<S> {
  const s = stats.services[victim];
  const { sampler } = of;
  const heldByOthers = sharedHeldByOthers(stats, victim);
  let waits: WaitWindows | undefined;
  return {
    victim,
    s,
    stats,
    services: of.services,
    options: of.options,
    isProtected: of.isProtected,
    detector: of.detector,
    window: sampler.window(i, now),
    fullForMs: sampler.streak('full', i, s.utilization > of.detector.thresholds.utilization, now),
    sharedWaitForMs: sampler.streak('shared-wait', i, s.waitingForShared > 0 && heldByOthers.total > 0, now),
    heldByOthers,
    capacity: of.capacity,
    heldAtRefusal: sampler.heldAtRefusal(i),
    waits: () => (waits ??= sampler.waitWindows(i, now)),
  };
}

/** What a rule measured: the figure, against which threshold, and whose it is (the victim, or an aggressor). */
export interface Reading<S extends string> {
  readonly service: S;
  readonly value: number;
  readonly threshold: number;
}

/** One rule: a row of the table. */
export interface Rule {
  readonly kind: SignalKind;
  readonly unit: Signal['unit'];
  /** Judged for protected victims only. */
  readonly protectedOnly: boolean;
  /** What fired: usually none or one reading of the victim; one per aggressor for `monopolization`. */
  test<S extends string>(c: RuleContext<S>): readonly Reading<S>[];
  /** One line a person can read; never SQL text. */
  message<S extends string>(c: RuleContext<S>, r: Reading<S>): string;
  /** The advice that goes with the signal, if any. */
  recommend<S extends string>(c: RuleContext<S>, r: Reading<S>): Recommendation<S> | null;
}

const NOTHING: readonly never[] = Object.freeze([]);

/** A reading of the victim when `fires`, none otherwise. */
function victimReading<S extends string>(c: RuleContext<S>, fires: boolean, value: number, threshold: number): readonly Reading<S>[] {
  return fires ? [{ service: c.victim, value, threshold }] : NOTHING;
}

/** No advice: the signal says what was measured, the blame and advice stages decide the rest. */
const noAdvice = (): null => null;

/** The churn threshold of a service: configured, or `max(10, 2 × max)` for `0`. */
function churnThreshold(c: RuleContext<string>): number {
  const configured = c.detector.thresholds.connectionChurn;
  return configured > 0 ? configured : Math.max(10, 2 * c.s.max);
}

/** The wait-rise threshold: the baseline times `waitRiseRatio`, and at least `waitRiseMinMs` above it. */
function riseThreshold(c: RuleContext<string>, baselineMs: number): number {
  const t = c.detector.thresholds;
  return Math.max(baselineMs * t.waitRiseRatio, baselineMs + t.waitRiseMinMs);
}

/**
 * Callers wait and it hurts: waits above `acquireWaitMs`, timeouts, or a wait for shared slots. A caller waiting a
 * few ms for a connection being opened, caught at the instant of an evaluation, is not starvation; nor is a service
 * at its own `size + overflow`, which no other service's connections would serve (its own saturation).
 */
function starving(c: RuleContext<string>): boolean {
  const s = c.s;
  const hurts = (s.acquireWait.count > 0 && s.acquireWait.p95 > c.detector.thresholds.acquireWaitMs) || c.window.timeouts > 0 || s.waitingForShared > 0;
  return s.waiting > 0 && hurts && belowOwnLimit(s);
}


/** The rule table. */
export const RULES: readonly Rule[] = Object.freeze<Rule[]>([
  {
    kind: 'slow-queries',
    unit: 'ms',
    protectedOnly: false,
    test: (c) => {
      const { queryTime } = c.s;
      const limit = c.detector.thresholds.slowQueryMs;
      return victimReading(c, queryTime.count > 0 && queryTime.p95 > limit, queryTime.p95, limit);
    },
    message: (c, r) => `${c.victim} p95 query time ${ms(r.value)} > ${ms(r.threshold)}`,
    recommend: (c, r) => boundSlowQueries(c.victim, c.options, { p50Ms: c.s.queryTime.p50, p95Ms: r.value, slowQueryMs: r.threshold }),
  },
  {
    // Connection failures and acquire timeouts only: SQL errors (a constraint violation, a bad query) are the
    // application's business and say nothing about the service getting its connections.
    kind: 'failures',
    unit: 'count',
    protectedOnly: false,
    test: (c) => {
      const failures = c.window.connectionErrors + c.window.timeouts;
      return victimReading(c, failures > c.detector.thresholds.failures, failures, c.detector.thresholds.failures);
    },
    message: (c, r) =>
      `${c.victim} had ${c.window.connectionErrors} connection failures and ${c.window.timeouts} acquire timeouts ` +
      `in ${ms(c.detector.windowMs)} (more than ${r.threshold})`,
    // Refusals for lack of capacity are the server's capacity, not the connection: server-capacity advises on them.
    recommend: (c) =>
      c.window.connectionErrors > c.window.capacityRefusals
        ? checkConnectivity(c.victim, {
            consecutiveConnectFailures: c.s.consecutiveConnectFailures,
            connectionErrors: c.window.connectionErrors,
            windowMs: c.detector.windowMs,
          })
        : null,
  },
  {
    // A full pool alone is no harm: a one-connection pool is at 100 % whenever it works (the usage tracker's
    // during a flush). It counts once somebody waits, an acquire timed out, or it has stayed full for a while.
    kind: 'exhaustion',
    unit: 'ratio',
    protectedOnly: false,
    test: (c) => {
      const t = c.detector.thresholds;
      const harm = c.s.waiting > 0 || c.window.timeouts > 0 || c.fullForMs >= t.sustainedExhaustionMs;
      return victimReading(c, c.s.utilization > t.utilization && harm, c.s.utilization, t.utilization);
    },
    message: (c, r) => {
      const { s, window } = c;
      const harm =
        s.waiting > 0 ? `${s.waiting} waiting`
        : window.timeouts > 0 ? `${window.timeouts} acquire timeouts in ${ms(c.detector.windowMs)}`
        : `full for ${ms(c.fullForMs)}`;
      return `${c.victim} uses ${s.inUse} of ${s.max} connections (${pct(r.value)} > ${pct(r.threshold)}), ${harm}`;
    },
    recommend: noAdvice,
  },
  {
    // Waiting for shared budget slots that other services hold: they are involved, whatever the priorities. A
    // caller caught waiting for a slot at the instant of one evaluation, with no harm measured, is a blip: it counts
    // once it is seen at two evaluations in a row, or with waits above acquireWaitMs or timeouts.
    kind: 'shared-slots',
    unit: 'count',
    protectedOnly: false,
    test: (c) => {
      const { s } = c;
      const waits = s.waitingForShared > 0 && c.heldByOthers.total > 0;
      const hurts =
        c.window.timeouts > 0 ||
        (s.acquireWait.count > 0 && s.acquireWait.p95 > c.detector.thresholds.acquireWaitMs) ||
        c.sharedWaitForMs >= c.detector.intervalMs / 2;
      return waits && hurts ? victimReading(c, true, c.heldByOthers.total, c.stats.budget.shared) : NOTHING;
    },
    message: (c) => {
      const budget = c.stats.budget;
      const holders = describeHolders(budget.shared, budget.sharedInUseByService);
      return `${c.victim} waits for shared slots (${c.s.waitingForShared} waiting): ${holders}`;
    },
    recommend: noAdvice,
  },
  {
    // Connections opened beyond what broke: replacing broken ones is connectivity's business, not churn.
    kind: 'connection-churn',
    unit: 'count',
    protectedOnly: false,
    test: (c) => {
      const opened = c.window.created - c.window.connectionErrors;
      const limit = churnThreshold(c);
      return victimReading(c, opened > limit, opened, limit);
    },
    message: (c, r) =>
      `${c.victim} opened ${r.value} connections in ${ms(c.detector.windowMs)} ` +
      `for a pool of ${c.s.max} (more than ${r.threshold})`,
    recommend: (c, r) => reduceChurn(c.victim, c.options, { opened: r.value, windowMs: c.detector.windowMs }),
  },
  {
    // Its advice needs the budget and the whole picture: it is given with the blame (blame.ts).
    kind: 'server-capacity',
    unit: 'count',
    protectedOnly: false,
    test: (c) => victimReading(c, c.window.capacityRefusals > 0, c.window.capacityRefusals, 0),
    message: (c, r) =>
      `the server refused ${r.value} ${c.victim} connection(s) for lack of capacity (53300 too many clients, or PgBouncer's client limit) ` +
      `in ${ms(c.detector.windowMs)}, with ${c.heldAtRefusal} registry connections open`,
    recommend: noAdvice,
  },
  {
    kind: 'wait-rise',
    unit: 'ms',
    protectedOnly: true,
    test: (c) => {
      const { short, baseline } = c.waits();
      const min = c.detector.thresholds.minSamples;
      const limit = riseThreshold(c, baseline.mean);
      return victimReading(c, short.count >= min && baseline.count >= min && short.mean > limit, short.mean, limit);
    },
    message: (c, r) =>
      `${c.victim} mean acquire wait ${ms(r.value)} over the last ${ms(c.detector.shortWindowMs)}, ` +
      `baseline ${ms(c.waits().baseline.mean)} (threshold ${ms(r.threshold)})`,
    recommend: noAdvice,
  },
  {
    // A lower-priority service using its overflow (shared capacity) holds too much while the victim starves.
    kind: 'monopolization',
    unit: 'ratio',
    protectedOnly: true,
    test: (c) => {
      if (!starving(c)) return NOTHING;
      const limit = c.detector.thresholds.monopolyShare;
      return borrowersBelow(c.stats, c.services, c.victim, c.capacity)
        .filter((b) => b.share > limit)
        .map((b) => ({ service: b.service, value: b.share, threshold: limit }));
    },
    message: (c, r) => {
      const a = c.stats.services[r.service];
      return (
        `${r.service} (${a.priority}) holds ${a.inUse} of ${c.capacity} connections ` +
        `(${pct(r.value)} > ${pct(r.threshold)}) ` +
        `while ${c.victim} waits (${c.s.waiting} waiting, p95 wait ${ms(c.s.acquireWait.p95)})`
      );
    },
    recommend: noAdvice,
  },
]);

/** The signals (and their advice) of every rule that fires for one victim, in table order. */
export function applyRules<S extends string>(
  c: RuleContext<S>,
  rules: readonly Rule[] = RULES,
): { signals: Signal<S>[]; recommendations: Recommendation<S>[] } {
  const signals: Signal<S>[] = [];
  const recommendations: Recommendation<S>[] = [];
  for (const rule of rules) {
    if (rule.protectedOnly && !c.isProtected) continue;
    for (const r of rule.test(c)) {
      signals.push({ kind: rule.kind, service: r.service, value: r.value, threshold: r.threshold, unit: rule.unit, message: rule.message(c, r) });
      const advice = rule.recommend(c, r);
      if (advice !== null) recommendations.push(advice);
    }
  }
  return { signals, recommendations };
}
