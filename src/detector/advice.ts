// The last stage of an evaluation, after the rules and the blame: advice for a service short of what is its own,
// the probe's idle transactions of the services involved, every resize checked with the registry, advice fitted
// to the deployment (PgBouncer), and an explicit reason wherever there is none.

import type { Pooler } from '../pool/session-settings';
import type { Recommendation } from './incident';
import { checkAdvice, type ValidateResize } from './advice-check';
import { fitRecommendationToPooler, pgbouncerWaitSignals } from './deployment';
import { budgetLimits, findingOf, ms, signal, whyNoAdvice, type Evaluation, type Finding } from './findings';
import { givesMoreConnections, lendableSlots, limitIdleTransactions, raiseBudget, raiseOverflow } from './recommendations';
import type { PgBouncerWait } from './server-probe';

/** Services idle in transaction (server probe), with the sessions and the longest time, ms. */
export type IdleTransactions<S extends string> = ReadonlyMap<S, { readonly sessions: number; readonly longestMs: number }>;

/**
 * Completes each finding's advice. `aggressorsAnywhere`: services named as aggressors, now or in an incident still
 * open, for which more connections would hurt a victim.
 */
export function advise<S extends string>(
  findings: Map<S, Finding<S>>,
  e: Evaluation<S>,
  context: { readonly idle: IdleTransactions<S>; readonly aggressorsAnywhere: ReadonlySet<S>; readonly validateResize: ValidateResize<S> },
): void {
  const { stats } = e;
  const t = e.thresholds;
  for (const [victim, f] of findings) {
    const s = stats.services[victim];
    // A service that runs out of its own pool with nobody else involved (no aggressor, not an aggressor itself,
    // not waiting for shared slots others hold) gets advice about its own limits, and the budget's where those
    // stop it: nobody else's would help.
    const timeouts = e.windowTimeouts(victim);
    const ownShortage = f.signals.some((x) => x.service === victim && (x.kind === 'exhaustion' || (x.kind === 'failures' && timeouts > 0)));
    const othersInvolved =
      f.aggressors.size > 0 ||
      f.signals.some((x) => x.service !== victim || x.kind === 'server-capacity') ||
      context.aggressorsAnywhere.has(victim) ||
      e.mitigated(victim);
    const advisedSize = f.recommendations.some((r) => r.kind === 'raise-size' && r.service === victim);
    // A pool full with nobody waiting and nothing timed out works at its limit: no change is due yet (whyNoAdvice).
    const harmed = s.waiting > 0 || timeouts > 0;
    if (ownShortage && harmed && !othersInvolved && !advisedSize) {
      const budget = budgetLimits(stats, s.priority);
      const figures = { inUse: s.inUse, waiting: s.waiting, timeouts };
      if (s.inUse >= s.max && s.waitingForShared === 0) {
        // Its own limit: size + overflow all in use.
        f.recommendations.push(raiseOverflow(victim, e.serviceOptions(victim), figures, budget));
      } else if (s.waitingForShared > 0 && s.sharedInUse >= lendableSlots(budget)) {
        // The budget's limit: it holds every shared slot it may ever borrow and waits for more (when others hold
        // the slots it waits for, they are involved and their limits are the question, not the budget).
        f.recommendations.push(raiseBudget(victim, e.serviceOptions(victim), { ...figures, sharedInUse: s.sharedInUse }, budget));
      }
    }
    for (const aggressor of [...f.aggressors.keys(), victim]) {
      const idle = context.idle.get(aggressor);
      if (idle === undefined) continue;
      if (f.signals.some((x) => x.kind === 'idle-in-transaction' && x.service === aggressor)) continue; // already seen blocking
      const message =
        `${idle.sessions} ${aggressor} session(s) idle in transaction, ` +
        `longest ${ms(idle.longestMs)} (> ${ms(t.idleInTransactionMs)})`;
      f.signals.push(signal('idle-in-transaction', aggressor, idle.longestMs, t.idleInTransactionMs, 'ms', message));
      f.recommendations.push(limitIdleTransactions(aggressor, e.serviceOptions(aggressor), t.idleInTransactionMs));
    }
    // Lock waits get lock advice only: more connections for the victim would only queue behind the same locks.
    if (f.signals.some((x) => x.kind === 'lock-blocking')) {
      f.recommendations = f.recommendations.filter((r) => !(r.service === victim && givesMoreConnections(r)));
    }
    // Every size/overflow change offered is one the registry accepts, or says what it takes first.
    const budgetNow = { maxConnections: e.capacity, reserve: stats.budget.reserve };
    const checked: Recommendation<S>[] = [];
    for (const r of f.recommendations) {
      const advice = checkAdvice(r, context.validateResize, budgetNow);
      if (advice !== null) checked.push(advice);
    }
    f.recommendations = checked;
    f.noRecommendation = checked.length > 0 ? null : whyNoAdvice(victim, f, s, context.aggressorsAnywhere.has(victim), e.mitigated(victim));
  }
}

/**
 * (issue 15) Waits inside PgBouncer, which show in no client-side signal, as signals of the services that connect
 * through each pool; then every recommendation as this deployment can apply it. A finding made of PgBouncer waits
 * alone was not advised by {@link advise}: it still says why it has no advice.
 */
export function fitToDeployment<S extends string>(
  findings: Map<S, Finding<S>>,
  e: Evaluation<S>,
  waits: readonly PgBouncerWait<S>[],
  pooler: Pooler,
): void {
  for (const wait of waits) for (const service of wait.services) findingOf(findings, service).signals.push(...pgbouncerWaitSignals(service, [wait]));
  for (const f of findings.values()) f.recommendations = f.recommendations.map((r) => fitRecommendationToPooler(r, pooler));
  for (const [victim, f] of findings) {
    if (f.recommendations.length === 0 && f.noRecommendation === null) {
      f.noRecommendation = whyNoAdvice(victim, f, e.stats.services[victim], false, e.mitigated(victim));
    }
  }
}
