import type { Pooler } from '../pool/session-settings';
import type { Recommendation, Signal } from './incident';
import type { PgBouncerWait } from './server-probe';

/**
 * What the detector says depends on where the registry runs (issue 15): behind PgBouncer, waits happen inside
 * PgBouncer, and per-service timeouts are not startup parameters. Kept apart from the rules, as a small filter
 * over what they found.
 */

/**
 * A `pgbouncer-wait` signal for `victim` when clients of its PgBouncer pool wait inside PgBouncer. The figure is
 * the pool's (every client of the alias): when other services share the alias, they are why it waits.
 */
export function pgbouncerWaitSignals<S extends string>(victim: S, waits: readonly PgBouncerWait<S>[]): Signal<S>[] {
  const out: Signal<S>[] = [];
  for (const wait of waits) {
    if (!wait.services.includes(victim)) continue;
    const shared = wait.services.filter((s) => s !== victim);
    const why =
      shared.length === 0
        ? ''
        : `; it shares the alias with ${shared.join(', ')}: give ${victim} a database alias of its own (services.${victim}.connection)`;
    out.push({
      kind: 'pgbouncer-wait',
      service: victim,
      value: wait.clientsWaiting,
      threshold: 0,
      unit: 'count',
      message:
        `${wait.clientsWaiting} client(s) wait inside PgBouncer for a server connection of ${wait.database}, ` +
        `the longest ${Math.round(wait.maxWaitMs)} ms (no acquire timeout sees this)${why}`,
    });
  }
  return out;
}

/**
 * The recommendation as this deployment can apply it. Under transaction pooling a timeout is not a startup
 * parameter and a session `SET` would leak to other clients: the registry applies it with `SET LOCAL` in `query()`
 * and `transaction()`, and only the service's role (`ALTER ROLE … SET`) covers `withClient()` and `acquire()`.
 */
export function fitRecommendationToPooler<S extends string>(recommendation: Recommendation<S>, pooler: Pooler): Recommendation<S> {
  if (pooler !== 'pgbouncer-transaction') return recommendation;
  const setting =
    recommendation.option === 'statementTimeoutMs' ? 'statement_timeout'
    : recommendation.option === 'idleInTransactionTimeoutMs' ? 'idle_in_transaction_session_timeout'
    : null;
  if (setting === null || recommendation.to === undefined) return recommendation;
  return {
    ...recommendation,
    text:
      `${recommendation.text} (behind PgBouncer in transaction mode it is applied with SET LOCAL in query() and ` +
      `transaction(); for withClient() and acquire() too: ALTER ROLE <${recommendation.service}'s role> ` +
      `SET ${setting} = ${recommendation.to})`,
  };
}
