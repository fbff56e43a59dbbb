// Detector scenario corpus, part 3 of 3 (the harness: scenario-harness.ts): a throwaway cluster whose
// max_connections can be reached and which can be restarted.
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createCluster, type Cluster } from '../soak/cluster';
import { describePg, uniqueAppName } from '../helpers/pg';
import { waitFor } from '../helpers/wait-for';
import { apply, adviceCell, cleanup, type Config, expectAppliable, incidentOf, ms, open, p99, type Registry, rows, run, useScenarioHooks, verdictCell } from './scenario-harness';

useScenarioHooks('a throwaway cluster');

describePg('detector scenario corpus on real PostgreSQL (issue 14): a throwaway cluster', () => {
  let cluster: Cluster | null = null;
  /** The throwaway cluster (max_connections 8, so 5 for a non-superuser) as the role t14, for capacity and restart. */
  let smallUrl = '';
  beforeAll(async () => {
    cluster = await createCluster({ adminPassword: 'issue14-admin', database: 'scen14', maxConnections: 8 });
    const admin = new pg.Client(cluster.adminUrl('scen14'));
    admin.on('error', () => {});
    await admin.connect();
    await admin.query(`create role t14 login password 'issue14-pw'`);
    await admin.end();
    smallUrl = `postgres://t14:issue14-pw@127.0.0.1:${cluster.port}/scen14`;
  }, 60_000);
  afterAll(async () => {
    await cluster?.destroy();
  });

  it('5. the server reaches max_connections: capacity advice (the maxConnections the server has room for), and no refusals after', async () => {
    const app = uniqueAppName('14-cap');
    // Another application holds 2 of the 5 connections a non-superuser may open.
    const others = await Promise.all([1, 2].map(async () => {
      const c = new pg.Client({ connectionString: smallUrl, application_name: 'issue14-other-app' });
      c.on('error', () => {});
      await c.connect();
      return c;
    }));
    cleanup.push(() => Promise.all(others.map((c) => c.end())));
    let config: Config = { services: { llm: { size: 1, overflow: 6, priority: 'medium', acquireTimeoutMs: 4_000 } } };
    let registry = open(smallUrl, app, config);
    const refusals = (r: Registry) => {
      const seen: string[] = [];
      r.on('connect-error', (e) => {
        if ((e.error as { code?: string }).code === '53300') seen.push(e.service);
      });
      return seen;
    };
    const workers = [{ service: 'llm', concurrency: 7, sql: () => 'select pg_sleep(0.2)' }];
    const refusedBefore = refusals(registry);
    const before = await run(registry, workers, 2_500, { serverProbe: false });
    expect(refusedBefore.length).toBeGreaterThan(0);
    const incident = incidentOf(before, 'llm');
    expect(incident, JSON.stringify(before.detector.incidents())).toBeDefined();
    expect(incident!.type).toBe('interference');
    expect(incident!.kinds).toContain('server-capacity');
    expect(incident!.aggressors).toEqual([]); // the other party is the server (and the other application on it)
    const fit = incident!.recommendations.find((r) => r.kind === 'fit-server-capacity');
    expect(fit?.registryChange).toEqual({ option: 'maxConnections', from: 7, to: 3 });
    expect(incident!.recommendations.map((r) => r.kind)).not.toContain('raise-overflow');
    expectAppliable(registry, config, incident!);
    ({ registry, config } = await apply(registry, config, incident!, smallUrl, app));
    const refusedAfter = refusals(registry);
    const after = await run(registry, workers, 2_500, { serverProbe: false });
    expect(refusedAfter).toEqual([]);
    expect(incidentOf(after, 'llm')?.kinds ?? []).not.toContain('server-capacity');
    expect(after.errors.llm).toEqual([]);
    rows.push({
      scenario: 'server max_connections reached (5 for the role, 2 used by another app)',
      verdict: verdictCell(incident!),
      advice: adviceCell(incident!),
      effect: `53300 refusals ${refusedBefore.length} → 0, llm errors ${before.errors.llm?.length} → 0, llm p99 ${ms(p99(before.latencies.llm))} → ${ms(p99(after.latencies.llm))}`,
    });
  });

  it('6. the database restarts: a connectivity incident with connectivity advice; none once it is back', async () => {
    const app = uniqueAppName('14-restart');
    const config: Config = { services: { auth: { size: 1, overflow: 1, priority: 'highest', acquireTimeoutMs: 1_000 }, llm: { size: 2, overflow: 0, acquireTimeoutMs: 1_000 } } };
    const registry = open(smallUrl, app, config);
    const workers = [
      { service: 'auth', concurrency: 1, sql: () => 'select pg_sleep(0.02)' },
      { service: 'llm', concurrency: 1, sql: () => 'select pg_sleep(0.05)' },
    ];
    const restart = async () => {
      await sleep(400);
      await cluster!.stop();
      await sleep(800);
      await cluster!.start();
    };
    const before = await run(registry, workers, 4_000, { serverProbe: false, thresholds: { failures: 1 } }, restart);
    const incidents = [incidentOf(before, 'auth'), incidentOf(before, 'llm')].filter((i) => i !== undefined);
    expect(incidents.length, JSON.stringify(before.detector.incidents())).toBeGreaterThan(0);
    for (const incident of incidents) {
      expect(incident.type, JSON.stringify(incident)).toBe('connectivity');
      expect(incident.aggressors).toEqual([]);
      expect(incident.recommendations.map((r) => r.kind)).toContain('check-connectivity');
      expectAppliable(registry, config, incident);
    }
    // the advice is to look, not to resize: applied, the same registry (no change) runs clean once the server is back
    await waitFor(async () => (await registry.query('auth', 'select 1').then(() => true, () => false)), 15_000, 'the registry to reconnect');
    const after = await run(registry, workers, 2_000, { serverProbe: false, thresholds: { failures: 1 } });
    expect(after.detector.incidents(), JSON.stringify(after.detector.incidents())).toEqual([]);
    expect([...(after.errors.auth ?? []), ...(after.errors.llm ?? [])]).toEqual([]);
    const errorsBefore = (before.errors.auth?.length ?? 0) + (before.errors.llm?.length ?? 0);
    rows.push({
      scenario: 'database restart (fast shutdown, 0.8 s down)',
      verdict: incidents.map((i) => verdictCell(i)).join('<br>'),
      advice: incidents.map((i) => adviceCell(i)).join('<br>'),
      effect: `${errorsBefore} failed queries during the restart → 0 after; no incident once the server is back`,
    });
  });
});
