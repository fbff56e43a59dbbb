import { describe, expect, it } from 'vitest';
import { fitRecommendationToPooler, pgbouncerWaitSignals } from '../../src/detector/deployment';
import type { Recommendation } from '../../src/detector/incident';

describe('advice that fits the deployment', () => {
  const timeout: Recommendation<'auth'> = { kind: 'bound-slow-queries', service: 'auth', option: 'statementTimeoutMs', from: 0, to: 4000, text: 'set statementTimeoutMs on auth to 4000' };

  it('under transaction pooling a timeout is advised as SET LOCAL plus ALTER ROLE, never as a startup parameter', () => {
    const fitted = fitRecommendationToPooler(timeout, 'pgbouncer-transaction');
    expect(fitted).toMatchObject({ kind: 'bound-slow-queries', option: 'statementTimeoutMs', to: 4000 });
    expect(fitted.text).toBe(
      "set statementTimeoutMs on auth to 4000 (behind PgBouncer in transaction mode it is applied with SET LOCAL in query() and transaction(); for withClient() and acquire() too: ALTER ROLE <auth's role> SET statement_timeout = 4000)",
    );
  });

  it('leaves other poolers and other advice alone', () => {
    expect(fitRecommendationToPooler(timeout, 'none')).toBe(timeout);
    expect(fitRecommendationToPooler(timeout, 'pgbouncer-session')).toBe(timeout);
    const size: Recommendation<'auth'> = { kind: 'raise-size', service: 'auth', option: 'size', from: 2, to: 3, text: 'raise auth size from 2 to 3' };
    expect(fitRecommendationToPooler(size, 'pgbouncer-transaction')).toBe(size);
  });

  it('a wait inside PgBouncer is a signal for the services of that alias only', () => {
    const waits = [{ database: 'app', services: ['auth', 'llm'] as ('auth' | 'llm')[], clientsWaiting: 3, maxWaitMs: 1234.5 }];
    expect(pgbouncerWaitSignals('auth', waits)).toEqual([
      {
        kind: 'pgbouncer-wait',
        service: 'auth',
        value: 3,
        threshold: 0,
        unit: 'count',
        message: '3 client(s) wait inside PgBouncer for a server connection of app, the longest 1235 ms (no acquire timeout sees this); it shares the alias with llm: give auth a database alias of its own (services.auth.connection)',
      },
    ]);
    expect(pgbouncerWaitSignals('auth', [{ ...waits[0]!, services: ['llm'] }])).toEqual([]);
  });
});
