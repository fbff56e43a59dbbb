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
  return { kind: 'lower-overflow', service, option: 'overflow', from: options.overflow, to, text: `lower ${service} overflow from ${options.overflow} to ${to}` };
}

/** "raise auth size from 3 to 5" */
export function raiseSize<S extends string>(service: S, options: ResolvedServiceOptions, waiting: number): Recommendation<S> {
  const to = options.size + Math.max(1, waiting);
  return { kind: 'raise-size', service, option: 'size', from: options.size, to, text: `raise ${service} size from ${options.size} to ${to}` };
}

/**
 * "raise llm overflow from 15 to 16 (or its size): …" for a service that runs out of its own connections with no
 * other service involved. One more connection per caller waiting now, at least one.
 */
export function raiseOverflow<S extends string>(service: S, options: ResolvedServiceOptions, figures: { readonly inUse: number; readonly waiting: number; readonly timeouts: number }): Recommendation<S> {
  const to = options.overflow + Math.max(1, figures.waiting);
  const evidence = [`${figures.inUse} of ${options.size + options.overflow} in use`, `${figures.waiting} waiting`];
  if (figures.timeouts > 0) evidence.push(`${figures.timeouts} acquire timeouts`);
  return {
    kind: 'raise-overflow',
    service,
    option: 'overflow',
    from: options.overflow,
    to,
    text: `raise ${service} overflow from ${options.overflow} to ${to} (or its size), or hold its connections for less time: ${service} runs out of its own pool (${evidence.join(', ')}) and no other service is involved`,
  };
}

/** "set idleInTransactionTimeoutMs on llm (now 0, unset) to 5000" */
export function limitIdleTransactions<S extends string>(service: S, options: ResolvedServiceOptions, idleThresholdMs: number): Recommendation<S> {
  const from = options.idleInTransactionTimeoutMs;
  const to = roundUpSecond(idleThresholdMs);
  const now = from === 0 ? 'now unset' : `now ${from}`;
  return { kind: 'limit-idle-transactions', service, option: 'idleInTransactionTimeoutMs', from, to, text: `set idleInTransactionTimeoutMs on ${service} (${now}) to ${to}, and do not await slow calls (a model) inside a transaction` };
}

/** Advice for lock blocking with no option to change. */
export function shortenTransactions<S extends string>(aggressor: S, victim: S): Recommendation<S> {
  return { kind: 'shorten-transactions', service: aggressor, text: `keep ${aggressor} transactions short: its sessions hold locks that ${victim} waits for` };
}

/** "set statementTimeoutMs on auth to 4000" when unset, or advice to look at the slow queries. */
export function boundSlowQueries<S extends string>(service: S, options: ResolvedServiceOptions, p95Ms: number): Recommendation<S> {
  if (options.statementTimeoutMs === 0) {
    const to = roundUpSecond(p95Ms * 2);
    return { kind: 'bound-slow-queries', service, option: 'statementTimeoutMs', from: 0, to, text: `find ${service}'s slow queries (p95 ${Math.round(p95Ms)} ms) and set statementTimeoutMs on ${service} to ${to}` };
  }
  return { kind: 'bound-slow-queries', service, text: `find ${service}'s slow queries (p95 ${Math.round(p95Ms)} ms; statementTimeoutMs is ${options.statementTimeoutMs})` };
}

/** Advice when connecting keeps failing. */
export function checkConnectivity<S extends string>(service: S, consecutiveConnectFailures: number): Recommendation<S> {
  return { kind: 'check-connectivity', service, text: `check the database connection of ${service}: ${consecutiveConnectFailures} consecutive connection failures` };
}

/** Signal kinds that mean the victim competes with other services for connections or locks. */
export const CONTENTION_KINDS: ReadonlySet<SignalKind> = new Set<SignalKind>(['exhaustion', 'failures', 'monopolization', 'wait-rise', 'lock-blocking']);

/**
 * The key that makes two recommendations "the same" when an incident's list is merged: kind and service only,
 * never the text or the figures, which change with every evaluation (a key holding them would add one entry
 * per evaluation to a long incident).
 */
export function recommendationKey(r: Recommendation<string>): string {
  return `${r.service}\u0000${r.kind}`;
}
