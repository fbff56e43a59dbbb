import type { ResolvedServiceOptions } from '../pool/options';
import type { Recommendation, SignalKind } from './incident';

/**
 * The overflow to shrink an aggressor to: about half, always at least one lower (so 15 → 8, 7 → 4, 1 → 0).
 * Half keeps it serving its own burst while giving back enough for a protected service to get through.
 */
export function shrunkOverflow(overflow: number): number {
  return Math.max(0, Math.min(overflow - 1, Math.ceil(overflow / 2)));
}

/** Rounds a suggestion up to a whole second, so it reads like a setting a person would choose, ms. */
function roundUpSecond(ms: number): number {
  return Math.max(1_000, Math.ceil(ms / 1_000) * 1_000);
}

/** "lower llm overflow from 15 to 8" */
export function lowerOverflow<S extends string>(service: S, options: ResolvedServiceOptions): Recommendation<S> | null {
  if (options.overflow === 0) return null;
  const to = shrunkOverflow(options.overflow);
  const text = `lower ${service} overflow from ${options.overflow} to ${to}`;
  return { kind: 'lower-overflow', service, option: 'overflow', from: options.overflow, to, text };
}

/** "raise auth size from 3 to 5" */
export function raiseSize<S extends string>(service: S, options: ResolvedServiceOptions, waiting: number): Recommendation<S> {
  const to = options.size + Math.max(1, waiting);
  const text = `raise ${service} size from ${options.size} to ${to}`;
  return { kind: 'raise-size', service, option: 'size', from: options.size, to, text };
}

/** The shared connection budget as the advice for one service sees it (from `stats().budget`). */
export interface BudgetLimits {
  /** `maxConnections`. */
  readonly maxConnections: number;
  /** Sum of every service's `size`. */
  readonly guaranteed: number;
  /** Shared slots only `high`/`highest` services may take. */
  readonly reserve: number;
  /** Whether the service may take the reserve (priority `high` or `highest`). */
  readonly mayTakeReserve: boolean;
}

/** The most shared slots the budget ever lends the service, whoever else holds what: 0 or more. */
export function lendableSlots(budget: BudgetLimits): number {
  return Math.max(0, budget.maxConnections - budget.guaranteed - (budget.mayTakeReserve ? 0 : budget.reserve));
}

/** Why the budget lends no more: `maxConnections 12 - sizes 11 - reserve 1`. */
function lendableWhy(budget: BudgetLimits): string {
  const reserve = budget.mayTakeReserve ? '' : ` - reserve ${budget.reserve}`;
  return `maxConnections ${budget.maxConnections} - sizes ${budget.guaranteed}${reserve}`;
}

/**
 * The registry change that lets the budget lend `slots` shared slots to the service: `maxConnections` raised by
 * what is missing, the reserve kept (a default reserve grows with `maxConnections`, so it has to be set), and
 * lowering the reserve instead when that alone would do.
 */
function budgetChange(
  budget: BudgetLimits,
  slots: number,
): { change: { option: 'maxConnections'; from: number; to: number }; text: string; instead: string } {
  const missing = slots - lendableSlots(budget);
  const to = budget.maxConnections + missing;
  const keepsReserve = !budget.mayTakeReserve && budget.reserve > 0;
  const lowerReserve = keepsReserve && budget.reserve >= missing;
  return {
    change: { option: 'maxConnections', from: budget.maxConnections, to },
    text: `maxConnections from ${budget.maxConnections} to ${to}${keepsReserve ? keepReserve(budget.reserve) : ''}`,
    instead: lowerReserve
      ? `, or lower reserve from ${budget.reserve} to ${budget.reserve - missing} instead of raising maxConnections ` +
        '(less headroom for high and highest services)'
      : '',
  };
}

/** " (and set reserve: 1, or its default grows with maxConnections)" */
export function keepReserve(reserve: number): string {
  return ` (and set reserve: ${reserve}, or its default grows with maxConnections)`;
}

/** "1 shared slot", "0 shared slots" */
function sharedSlots(count: number): string {
  return `${count} shared slot${count === 1 ? '' : 's'}`;
}

/** "6 of 6 in use, 34 waiting, 84 acquire timeouts" */
function shortageEvidence(
  options: ResolvedServiceOptions,
  figures: { readonly inUse: number; readonly waiting: number; readonly timeouts: number },
): string {
  const evidence = [`${figures.inUse} of ${options.size + options.overflow} in use`, `${figures.waiting} waiting`];
  if (figures.timeouts > 0) evidence.push(`${figures.timeouts} acquire timeouts`);
  return evidence.join(', ');
}

/**
 * "raise llm overflow from 15 to 16 (or its size), or hold its connections for less time: …" for a service that runs
 * out of its own connections with no other service involved. One more connection per caller waiting now, at least
 * one. When the shared budget could never lend that many slots, raising the overflow alone would change nothing:
 * the advice leads with holding connections for less time and adds the `maxConnections` it takes
 * (`registryChange`); "(or its size)" is offered only where the sizes still fit.
 */
export function raiseOverflow<S extends string>(
  service: S,
  options: ResolvedServiceOptions,
  figures: { readonly inUse: number; readonly waiting: number; readonly timeouts: number },
  budget: BudgetLimits,
): Recommendation<S> {
  const from = options.overflow;
  const to = from + Math.max(1, figures.waiting);
  const evidence = shortageEvidence(options, figures);
  const base = { kind: 'raise-overflow', service, option: 'overflow', from, to } as const;
  if (to <= lendableSlots(budget)) {
    // Raising the size instead by as much must still leave the reserve (the registry rejects it otherwise).
    const sizeFits = budget.guaranteed + (to - from) + budget.reserve <= budget.maxConnections;
    return {
      ...base,
      text:
        `raise ${service} overflow from ${from} to ${to}${sizeFits ? ' (or its size)' : ''}, or hold its connections ` +
        `for less time: ${service} runs out of its own pool (${evidence}) and no other service is involved`,
    };
  }
  const registry = budgetChange(budget, to);
  return {
    ...base,
    registryChange: registry.change,
    text:
      `hold ${service}'s connections for less time, or raise ${service} overflow from ${from} to ${to} ` +
      `and ${registry.text}${registry.instead}: ${service} runs out of its own pool (${evidence}), ` +
      `no other service is involved, and the budget lends ${service} at most ` +
      `${sharedSlots(lendableSlots(budget))} (${lendableWhy(budget)})`,
  };
}

/**
 * "raise maxConnections from 12 to 46 (and set reserve: 1, or its default grows with maxConnections) and llm
 * overflow from 2 to 35, …" for a service that waits for shared slots the budget never lends it: it holds all it
 * may borrow (`sharedInUse >= lendableSlots`) and
 * no other service is involved. Sized like {@link raiseOverflow}: one more connection per caller waiting now, at
 * least one; the overflow is raised too when that is more than it is configured for. Raising its `size` within
 * `maxConnections` is not offered: every slot moved into the size is one fewer to lend, so it reaches no more.
 */
export function raiseBudget<S extends string>(
  service: S,
  options: ResolvedServiceOptions,
  figures: { readonly inUse: number; readonly waiting: number; readonly timeouts: number; readonly sharedInUse: number },
  budget: BudgetLimits,
): Recommendation<S> {
  const lendable = lendableSlots(budget);
  const slots = Math.max(lendable, figures.sharedInUse, figures.inUse - options.size) + Math.max(1, figures.waiting);
  const registry = budgetChange(budget, slots);
  const overflow = slots > options.overflow ? ({ option: 'overflow', from: options.overflow, to: slots } as const) : null;
  const also = overflow === null ? '' : ` and ${service} overflow from ${overflow.from} to ${overflow.to}`;
  const reserveRule =
    budget.mayTakeReserve || budget.reserve === 0 ? '' : `; the reserve of ${budget.reserve} is for high and highest services only`;
  return {
    kind: 'raise-budget',
    service,
    ...(overflow ?? {}),
    registryChange: registry.change,
    text:
      `raise ${registry.text}${also}${registry.instead}, or hold ${service}'s connections for less time: ` +
      `${service} waits for shared slots the budget never lends it (${shortageEvidence(options, figures)}; ` +
      `it holds ${sharedSlots(figures.sharedInUse)} and may hold at most ${lendable}: ` +
      `${lendableWhy(budget)}${reserveRule}) and no other service is involved`,
  };
}

/** "set idleInTransactionTimeoutMs on llm (now 0, unset) to 5000" */
export function limitIdleTransactions<S extends string>(
  service: S,
  options: ResolvedServiceOptions,
  idleThresholdMs: number,
): Recommendation<S> {
  const from = options.idleInTransactionTimeoutMs;
  const to = roundUpSecond(idleThresholdMs);
  const now = from === 0 ? 'now unset' : `now ${from}`;
  const text =
    `set idleInTransactionTimeoutMs on ${service} (${now}) to ${to}, ` +
    'and do not await slow calls (a model) inside a transaction';
  return { kind: 'limit-idle-transactions', service, option: 'idleInTransactionTimeoutMs', from, to, text };
}

/**
 * Advice for lock blocking: no option to change, and never more connections (a connection more only queues one
 * more session behind the same lock). Names the blocking sessions so a person can look at what they run:
 * `select query, state, xact_start from pg_stat_activity where pid in (…)` (the detector never reads SQL text).
 */
export function shortenTransactions<S extends string>(
  aggressor: S,
  victim: S,
  blockers: readonly { readonly pid: number; readonly state: string | null; readonly stateMs: number }[] = [],
): Recommendation<S> {
  const shown = blockers.slice(0, 5);
  const session = (b: (typeof shown)[number]): string =>
    `pid ${b.pid}${b.state === null ? '' : ` ${b.state} for ${Math.round(b.stateMs)} ms`}`;
  const sessions = shown.map(session).join(', ');
  const pids = shown.map((b) => b.pid).join(', ');
  const look =
    shown.length === 0
      ? ''
      : `; the blocking query: select pid, state, xact_start, query from pg_stat_activity where pid in (${pids}) (${sessions})`;
  const text =
    `keep ${aggressor} transactions short (commit before slow work, not after): its sessions hold locks that ` +
    `${victim} waits for, and more connections for ${victim} would only queue behind them${look}`;
  return { kind: 'shorten-transactions', service: aggressor, text };
}

/**
 * For a victim waiting for shared slots that only higher-priority services hold (the budget serves them first, by
 * design): the `maxConnections` that lends it what it waits for, keeping the reserve.
 */
export function makeRoomInBudget<S extends string>(
  victim: S,
  figures: { readonly waiting: number; readonly holders: string },
  budget: BudgetLimits,
): Recommendation<S> {
  const lendable = lendableSlots(budget);
  const registry = budgetChange(budget, lendable + Math.max(1, figures.waiting));
  return {
    kind: 'raise-budget',
    service: victim,
    registryChange: registry.change,
    text:
      `raise ${registry.text}${registry.instead}, or accept that ${victim} waits: it waits for shared slots held by ` +
      `higher-priority services (${figures.holders}), which the budget serves first`,
  };
}

/**
 * "lower maxConnections from 40 to 18 …" for a server (or PgBouncer) that refused connections for lack of capacity: the
 * registry opened `heldAtRefusal` connections when the server said no, so that is what it has room for now.
 */
export function fitServerCapacity<S extends string>(
  service: S,
  figures: { readonly refusals: number; readonly heldAtRefusal: number },
  budget: BudgetLimits,
): Recommendation<S> {
  const check = 'registry.checkServer() reports the headroom';
  const raise = "or raise the server's max_connections (PgBouncer's max_client_conn when PgBouncer refused), or move other clients off it";
  const refused =
    `the server refused ${figures.refusals} ${service} connection(s) for lack of capacity (53300 too many clients, or PgBouncer's client limit) ` +
    `while the registry held ${figures.heldAtRefusal}`;
  if (figures.heldAtRefusal >= budget.maxConnections) {
    return { kind: 'fit-server-capacity', service, text: `${raise.slice(3)}: ${refused}; ${check}` };
  }
  const to = Math.max(1, figures.heldAtRefusal);
  if (to < budget.guaranteed + budget.reserve) {
    // A maxConnections below what the sizes guarantee plus the reserve is refused by the registry: no change to
    // apply alone, so the advice gives the figures of the two changes that fit (sizes first, then the budget).
    return {
      kind: 'fit-server-capacity',
      service,
      text:
        `the server has room for ${to} of this registry's connections, fewer than its sizes guarantee (${budget.guaranteed}) ` +
        `plus its reserve (${budget.reserve}): lower the sizes and the reserve by ${budget.guaranteed + budget.reserve - to} in all, ` +
        `then maxConnections from ${budget.maxConnections} to ${to}; ${raise}: ${refused}; ${check}`,
    };
  }
  return {
    kind: 'fit-server-capacity',
    service,
    registryChange: { option: 'maxConnections', from: budget.maxConnections, to },
    text:
      `lower maxConnections from ${budget.maxConnections} to ${to}, so that waiting for a connection happens ` +
      `in the registry, by priority, instead of as server refusals; ${raise}: ${refused}; ${check}`,
  };
}

/**
 * "set statementTimeoutMs on auth to 4000" when unset, or advice to look at the slow queries. The timeout is twice
 * what the detector calls slow (`slowQueryMs`), or four times the median, whichever is longer: it leaves the
 * service's ordinary queries alone and cancels the runaway ones, which hold a connection (and their locks) for as
 * long as they run.
 */
export function boundSlowQueries<S extends string>(
  service: S,
  options: ResolvedServiceOptions,
  figures: { readonly p50Ms: number; readonly p95Ms: number; readonly slowQueryMs: number },
): Recommendation<S> {
  const p95Ms = figures.p95Ms;
  if (options.statementTimeoutMs === 0) {
    const to = roundUpSecond(Math.max(2 * figures.slowQueryMs, 4 * figures.p50Ms));
    const text = `find ${service}'s slow queries (p95 ${Math.round(p95Ms)} ms) and set statementTimeoutMs on ${service} to ${to}`;
    return { kind: 'bound-slow-queries', service, option: 'statementTimeoutMs', from: 0, to, text };
  }
  const text = `find ${service}'s slow queries (p95 ${Math.round(p95Ms)} ms; statementTimeoutMs is ${options.statementTimeoutMs})`;
  return { kind: 'bound-slow-queries', service, text };
}

/**
 * "raise llm recycleMs from 300 to 1800000" for a service that opened `opened` connections within the window
 * although its pool holds `max`: connections recycled (or closed idle) faster than the work needs, each one a fork
 * and an authentication on the server. Returns the option whose short value explains it best.
 */
export function reduceChurn<S extends string>(
  service: S,
  options: ResolvedServiceOptions,
  figures: { readonly opened: number; readonly windowMs: number },
): Recommendation<S> {
  const max = options.size + options.overflow;
  const why = `${service} opened ${figures.opened} connections in ${figures.windowMs} ms for a pool of ${max}`;
  if (options.recycleMs > 0 && options.recycleMs < figures.windowMs) {
    const to = Math.max(30 * 60_000, options.recycleMs);
    const text = `raise ${service} recycleMs from ${options.recycleMs} to ${to}: ${why}, each replaced after ${options.recycleMs} ms`;
    return { kind: 'reduce-churn', service, option: 'recycleMs', from: options.recycleMs, to, text };
  }
  if (options.overflow > 0 && options.idleTimeoutMs < figures.windowMs) {
    const to = roundUpSecond(Math.max(figures.windowMs, options.idleTimeoutMs));
    const text =
      `raise ${service} idleTimeoutMs from ${options.idleTimeoutMs} to ${to}, or its size: ${why}, ` +
      'its overflow connections closing between bursts';
    return { kind: 'reduce-churn', service, option: 'idleTimeoutMs', from: options.idleTimeoutMs, to, text };
  }
  const text =
    `find why ${service}'s connections are replaced so often: ${why}, ` +
    `with recycleMs ${options.recycleMs} and idleTimeoutMs ${options.idleTimeoutMs}`;
  return { kind: 'reduce-churn', service, text };
}

/**
 * Advice when connecting keeps failing, or connections keep breaking (a database restart terminates every session:
 * the pool replaces them, but a person should know why they broke).
 */
export function checkConnectivity<S extends string>(
  service: S,
  figures: { readonly consecutiveConnectFailures: number; readonly connectionErrors: number; readonly windowMs: number },
): Recommendation<S> {
  // No error code or message here: recommendations reach the health JSON, which shows errors only on request.
  if (figures.consecutiveConnectFailures > 0) {
    const text =
      `check the database connection of ${service}: ${figures.consecutiveConnectFailures} consecutive connection failures; ` +
      'the circuit breaker backs off meanwhile';
    return { kind: 'check-connectivity', service, text };
  }
  return {
    kind: 'check-connectivity',
    service,
    text:
      `check why ${figures.connectionErrors} ${service} connections broke in ${figures.windowMs} ms: the server restarted ` +
      'or terminated them (the pool has replaced them); a restart shows in the server log',
  };
}

/** Signal kinds that mean the victim competes with other services for connections or locks. */
export const CONTENTION_KINDS: ReadonlySet<SignalKind> = new Set<SignalKind>([
  'exhaustion',
  'failures',
  'monopolization',
  'wait-rise',
  'lock-blocking',
  'shared-slots',
]);

/** Whether the advice gives its service more connections: withdrawn while it waits on locks or its own slowness. */
export function givesMoreConnections(r: Recommendation<string>): boolean {
  return r.kind === 'raise-size' || r.kind === 'raise-overflow' || r.kind === 'raise-budget';
}

/**
 * The key that makes two recommendations "the same" when an incident's list is merged: kind and service only,
 * never the text or the figures, which change with every evaluation (a key holding them would add one entry
 * per evaluation to a long incident).
 */
export function recommendationKey(r: Recommendation<string>): string {
  return `${r.service}\u0000${r.kind}`;
}
