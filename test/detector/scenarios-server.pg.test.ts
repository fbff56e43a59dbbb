// Detector scenario corpus, part 2 of 3 (the harness: scenario-harness.ts): troubles the server sees: row locks held
// by an idle transaction, runaway queries, a recycle storm.
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { adminClient, describePg, pgUrl, uniqueAppName } from '../helpers/pg';
import { apply, adviceCell, cleanup, type Config, expectAppliable, incidentOf, ms, open, p99, type Registry, rows, run, useScenarioHooks, verdictCell } from './scenario-harness';

useScenarioHooks('the server');

describePg('detector scenario corpus on real PostgreSQL (issue 14): the server', () => {
  it('3. an idle llm transaction holds the row auth updates: lock advice only, the blocker idle in transaction at once; idleInTransactionTimeoutMs bounds the wait', async () => {
    const app = uniqueAppName('14-lock');
    const table = `t14_accounts_${process.pid}`;
    const admin = await adminClient();
    cleanup.push(async () => {
      await admin.query(`drop table if exists ${table}`);
      await admin.end();
    });
    await admin.query(`create table ${table} (id int primary key, n int not null)`);
    await admin.query(`insert into ${table} values (1, 0)`);
    let config: Config = {
      services: { auth: { size: 1, overflow: 0, priority: 'highest', acquireTimeoutMs: 10_000 }, llm: { size: 1, overflow: 0, priority: 'medium' } },
    };
    let registry = open(pgUrl, app, config);
    // Logins at a steady rate (one every 100 ms per loop), so the few blocked ones are more than 1 % of them.
    const workers = [{ service: 'auth', concurrency: 3, pauseMs: 100, sql: () => `update ${table} set n = n + 1 where id = 1` }];
    // llm updates the row, then awaits a slow call (a model) inside its transaction for 2.5 s.
    const idleTransaction = (r: Registry) => async () => {
      await r
        .transaction('llm', async (client) => {
          await client.query(`update ${table} set n = n + 1 where id = 1`);
          await sleep(2_500);
        })
        .catch(() => {}); // after the fix the server ends it (25P03): exactly the point
    };
    const detectorOptions = { thresholds: { idleInTransactionMs: 1_000 } };
    const before = await run(registry, workers, 3_000, detectorOptions, idleTransaction(registry));
    const incident = incidentOf(before, 'auth');
    expect(incident, JSON.stringify(before.detector.incidents())).toBeDefined();
    expect(incident!.type).toBe('interference');
    expect(incident!.aggressors).toEqual([expect.objectContaining({ service: 'llm', blockedSessions: expect.any(Number) })]);
    expect(incident!.kinds).toEqual(expect.arrayContaining(['lock-blocking', 'idle-in-transaction']));
    // the blocker's idle-in-transaction state was reported while it was still under the 1 s threshold
    expect(incident!.signals.some((x) => x.kind === 'idle-in-transaction' && x.threshold === 0) || before.announced.some((a) => a.incident.signals.some((x) => x.kind === 'idle-in-transaction' && x.value < 1_000))).toBe(true);
    // lock advice only: nothing for auth (never more connections), everything for the blocker
    expect(incident!.recommendations.filter((r) => r.service === 'auth')).toEqual([]);
    expect(incident!.recommendations).toContainEqual(expect.objectContaining({ kind: 'limit-idle-transactions', service: 'llm', option: 'idleInTransactionTimeoutMs', from: 0, to: 1_000 }));
    expect(incident!.recommendations).toContainEqual(expect.objectContaining({ kind: 'shorten-transactions', service: 'llm', text: expect.stringContaining('from pg_stat_activity where pid in (') }));
    expectAppliable(registry, config, incident!);
    ({ registry, config } = await apply(registry, config, incident!, pgUrl, app));
    expect(registry.serviceOptions('llm').idleInTransactionTimeoutMs).toBe(1_000);
    const after = await run(registry, workers, 3_000, detectorOptions, idleTransaction(registry));
    const [p99Before, p99After] = [p99(before.latencies.auth), p99(after.latencies.auth)];
    expect(p99Before).toBeGreaterThan(2_000);
    expect(p99After).toBeLessThan(p99Before - 800);
    rows.push({
      scenario: 'lock blocking by an idle llm transaction',
      verdict: verdictCell(incident!),
      advice: adviceCell(incident!),
      effect: `auth p99 ${ms(p99Before)} → ${ms(p99After)} (the server ends llm's idle transaction after 1 s)`,
    });
  });

  it("4. auth's own slow queries: saturation with a statement timeout that cuts the runaway ones", async () => {
    const app = uniqueAppName('14-slow');
    let config: Config = { services: { auth: { size: 2, overflow: 0, priority: 'highest', acquireTimeoutMs: 10_000 }, llm: { size: 1, overflow: 0 } } };
    let registry = open(pgUrl, app, config);
    // One query in five runs away for 2.5 s.
    const workers = [{ service: 'auth', concurrency: 2, sql: (i: number) => (i % 5 === 4 ? 'select pg_sleep(2.5)' : 'select pg_sleep(0.01)') }];
    const detectorOptions = { serverProbe: false, thresholds: { slowQueryMs: 500 } };
    const before = await run(registry, workers, 3_000, detectorOptions);
    const incident = incidentOf(before, 'auth');
    expect(incident).toBeDefined();
    expect(incident!.type).toBe('saturation');
    expect(incident!.aggressors).toEqual([]);
    expect(incident!.kinds).toContain('slow-queries');
    // the slow queries hold auth's connections: bound them; more connections would only be held by more of them
    expect(incident!.recommendations).toEqual([expect.objectContaining({ kind: 'bound-slow-queries', service: 'auth', option: 'statementTimeoutMs', from: 0, to: 1_000 })]);
    expectAppliable(registry, config, incident!);
    ({ registry, config } = await apply(registry, config, incident!, pgUrl, app));
    const after = await run(registry, workers, 3_000, detectorOptions);
    expect(after.errors.auth?.every((code) => code === '57014')).toBe(true); // the runaway ones, cancelled
    expect(p99(after.latencies.auth)).toBeLessThan(p99(before.latencies.auth) - 1_000);
    rows.push({
      scenario: 'slow victim queries (auth, 1 in 5 runs away)',
      verdict: verdictCell(incident!),
      advice: adviceCell(incident!),
      effect: `auth p99 ${ms(p99(before.latencies.auth))} → ${ms(p99(after.latencies.auth))} (${after.errors.auth?.length} runaway queries cancelled, 57014)`,
    });
  });

  it('8. a recycle storm: llm replaces its connections every 200 ms; recycleMs advice ends the churn', async () => {
    const app = uniqueAppName('14-recycle');
    let config: Config = { services: { llm: { size: 4, overflow: 0, priority: 'medium', recycleMs: 200 } } };
    let registry = open(pgUrl, app, config);
    const workers = [{ service: 'llm', concurrency: 3, sql: () => 'select pg_sleep(0.02)' }];
    const createdBefore = registry.stats('llm').created;
    const before = await run(registry, workers, 2_500, { serverProbe: false });
    const openedBefore = registry.stats('llm').created - createdBefore;
    const incident = incidentOf(before, 'llm');
    expect(incident).toBeDefined();
    expect(incident!.type).toBe('saturation');
    expect(incident!.aggressors).toEqual([]);
    expect(incident!.kinds).toContain('connection-churn');
    expect(incident!.recommendations).toContainEqual(expect.objectContaining({ kind: 'reduce-churn', service: 'llm', option: 'recycleMs', from: 200, to: 1_800_000 }));
    expectAppliable(registry, config, incident!);
    ({ registry, config } = await apply(registry, config, incident!, pgUrl, app));
    const after = await run(registry, workers, 2_500, { serverProbe: false });
    const openedAfter = registry.stats('llm').created;
    expect(incidentOf(after, 'llm'), JSON.stringify(incidentOf(after, 'llm'))).toBeUndefined();
    expect(openedAfter).toBeLessThanOrEqual(4);
    expect(openedBefore).toBeGreaterThan(10);
    rows.push({
      scenario: 'a recycle storm (recycleMs 200)',
      verdict: verdictCell(incident!),
      advice: adviceCell(incident!),
      effect: `connections opened in 2.5 s ${openedBefore} → ${openedAfter}; no incident after`,
    });
  });
});
