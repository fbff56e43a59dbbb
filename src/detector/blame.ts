// Blame: which services hold what a victim needs, named as its incident's aggressors with the advice that asks
// them to give it back. Three ways to hold it: connections beyond one's own size (a lower-priority borrower of
// shared capacity), the shared budget slots the victim waits for, and the locks its sessions wait on (server probe).

import type { RegistryStats } from '../registry/pool-registry';
import type { ServiceStats } from '../types';
import {
  CONTENTION_KINDS,
  fitServerCapacity,
  limitIdleTransactions,
  lowerOverflow,
  makeRoomInBudget,
  raiseSize,
  shortenTransactions,
} from './recommendations';
import { aggressorOf, belowOwnLimit, budgetLimits, findingOf, ms, rank, sharedHeldByOthers, signal, type Evaluation, type Finding } from './findings';
import type { ProbeResult } from './server-probe';

/** A service of lower priority than a victim that uses its overflow (shared capacity), with its share of it all. */
export interface Borrower<S extends string> {
  readonly service: S;
  /** `inUse / capacity`, 0..1. */
  readonly share: number;
  readonly stats: ServiceStats;
}

/**
 * The services that can take connections from `victim`: of lower priority, and beyond their own size (connections
 * within it are their own, nothing of the victim's), in the registry's order.
 */
export function borrowersBelow<S extends string>(stats: RegistryStats<S>, services: readonly S[], victim: S, capacity: number): Borrower<S>[] {
  const out: Borrower<S>[] = [];
  const victimRank = rank(stats.services[victim].priority);
  for (const service of services) {
    const a = stats.services[service];
    if (service === victim || rank(a.priority) <= victimRank || a.overflowInUse === 0) continue;
    out.push({ service, share: a.inUse / capacity, stats: a });
  }
  return out;
}

/**
 * The server probe's evidence: each victim session waiting on another service's locks makes that service an
 * aggressor, asked to keep its transactions short; a blocker idle in transaction is reported the moment it is seen
 * blocking, not once its own threshold passed.
 */
export function blameLockHolders<S extends string>(findings: Map<S, Finding<S>>, probe: ProbeResult<S>, e: Evaluation<S>): void {
  for (const pair of probe.blocking) {
    const f = findingOf(findings, pair.victim);
    // (issue 15) Name the instances holding the locks when the blockers carry an instance identity.
    const where = pair.aggressorInstances.length === 0 ? '' : ` (instance ${pair.aggressorInstances.join(', ')})`;
    const waiting = `${pair.sessions} ${pair.victim} session(s) wait on locks held by ${pair.aggressor}${where}`;
    f.signals.push(signal('lock-blocking', pair.aggressor, pair.sessions, 0, 'count', waiting));
    f.aggressors.set(pair.aggressor, aggressorOf(e.stats, pair.aggressor, e.capacity, pair.sessions));
    f.recommendations.push(shortenTransactions(pair.aggressor, pair.victim, pair.blockers));
    const idle = pair.blockers.filter((b) => b.state !== null && b.state.startsWith('idle in transaction'));
    if (idle.length > 0) {
      const longest = Math.max(...idle.map((b) => b.stateMs));
      const message =
        `${idle.length} ${pair.aggressor} session(s) idle in transaction (longest ${ms(longest)}) ` +
        `hold locks ${pair.victim} waits for`;
      f.signals.push(signal('idle-in-transaction', pair.aggressor, longest, 0, 'ms', message));
      f.recommendations.push(limitIdleTransactions(pair.aggressor, e.serviceOptions(pair.aggressor), e.thresholds.idleInTransactionMs));
    }
  }
}

/** How many holders a server-capacity signal names; the rest are counted. */
const HOLDERS_NAMED = 5;

/**
 * (issue 15) Who holds the server's connections when it refused a victim's: this application's sessions on the
 * server per service and instance (the probe sees every instance), busiest first, added to the victim's
 * `server-capacity` signal. Another instance's service holding most of them is the monopolizer that no figure of
 * this registry shows. Nothing is added when the probe could not connect (a full server may refuse it too).
 */
export function nameServerHolders<S extends string>(findings: Map<S, Finding<S>>, probe: ProbeResult<S>): void {
  if (probe.holders.length === 0) return;
  const total = probe.holders.reduce((sum, h) => sum + h.sessions, 0);
  const named = probe.holders
    .slice(0, HOLDERS_NAMED)
    .map((h) => `${h.service}${h.instance === undefined ? '' : `@${h.instance}`} ${h.sessions} (${h.active} active)`);
  const rest = probe.holders.length - named.length;
  const holders = `this application's ${total} session(s) on the server (every instance): ${named.join(', ')}${rest > 0 ? `, and ${rest} more` : ''}`;
  for (const [victim, f] of findings) {
    f.signals = f.signals.map((x) => (x.kind === 'server-capacity' && x.service === victim ? { ...x, message: `${x.message}; ${holders}` } : x));
  }
}

/**
 * Names the aggressors of every finding, with the advice that follows from the whole picture: lower the overflow
 * of whoever takes a protected victim's connections or holds the shared slots it waits for, more size for the
 * victim when that is what it lacks, a larger budget when only higher-priority services hold the slots, and a
 * budget that fits what the server has room for.
 */
export function blame<S extends string>(findings: Map<S, Finding<S>>, e: Evaluation<S>): void {
  const { stats } = e;
  for (const [victim, f] of findings) {
    const s = stats.services[victim];
    // Contention for connections or locks; failures count only with acquire timeouts among them: connections that
    // fail to open or break (a restart) are the server's, not another service's doing.
    const timeouts = e.windowTimeouts(victim);
    const contention = f.signals.some((x) => CONTENTION_KINDS.has(x.kind) && (x.kind !== 'failures' || timeouts > 0));
    if (e.isProtected(victim) && contention) {
      // At its own size + overflow, the victim waits for its own connections: the borrowers hold nothing it may take.
      const borrowers = belowOwnLimit(s) ? borrowersBelow(stats, e.services, victim, e.capacity) : [];
      for (const borrower of borrowers) {
        const monopolizes = f.signals.some((x) => x.kind === 'monopolization' && x.service === borrower.service);
        if (borrower.share < e.thresholds.aggressorShare && !monopolizes) continue;
        if (!f.aggressors.has(borrower.service)) f.aggressors.set(borrower.service, aggressorOf(stats, borrower.service, e.capacity, 0));
        const lower = lowerOverflow(borrower.service, e.originalOptions(borrower.service));
        if (lower !== null) f.recommendations.push(lower);
      }
      // Its own slow queries with nobody else involved hold its connections: more of them would be held the same way.
      const ownSlowness = f.aggressors.size === 0 && f.signals.some((x) => x.kind === 'slow-queries');
      const lacksConnections = f.signals.some((x) => !NOT_A_SHORTAGE.has(x.kind));
      if (!ownSlowness && lacksConnections) f.recommendations.push(raiseSize(victim, e.serviceOptions(victim), s.waiting));
    }
    if (f.signals.some((x) => x.kind === 'shared-slots' && x.service === victim)) blameSharedSlotHolders(victim, f, e);
    const capacitySignal = f.signals.find((x) => x.kind === 'server-capacity' && x.service === victim);
    if (capacitySignal !== undefined) {
      const figures = { refusals: capacitySignal.value, heldAtRefusal: e.heldAtRefusal(victim) };
      f.recommendations.push(fitServerCapacity(victim, figures, budgetLimits(stats, s.priority)));
    }
  }
}

/** Signal kinds that more connections for the victim would not answer. */
const NOT_A_SHORTAGE: ReadonlySet<string> = new Set(['lock-blocking', 'slow-queries', 'idle-in-transaction', 'server-capacity']);

/**
 * Whoever holds the shared slots the victim waits for is involved: a holder of the same or lower priority is
 * asked to give some back; when only higher-priority services hold them, the budget serves them first by design,
 * and only a larger budget lends the victim more.
 */
function blameSharedSlotHolders<S extends string>(victim: S, f: Finding<S>, e: Evaluation<S>): void {
  const { stats } = e;
  const s = stats.services[victim];
  let yielding = 0;
  const held = sharedHeldByOthers(stats, victim);
  for (const holder of held.byService.keys()) {
    if (!f.aggressors.has(holder)) f.aggressors.set(holder, aggressorOf(stats, holder, e.capacity, 0));
    if (rank(stats.services[holder].priority) < rank(s.priority)) continue;
    yielding++;
    const lower = lowerOverflow(holder, e.originalOptions(holder));
    if (lower !== null) f.recommendations.push(lower); // the shared-slots signal says how many it holds
  }
  const budget = budgetLimits(stats, s.priority);
  if (yielding === 0) {
    const holders = [...held.byService].map(([name, n]) => `${name} ${n}`).join(', ');
    f.recommendations.push(makeRoomInBudget(victim, { waiting: s.waitingForShared, holders }, budget));
  }
}
