// The detector's scenario corpus on real PostgreSQL: each scenario runs a load that causes one kind of trouble,
// asserts what the detector says (event type, victim, aggressors, and that every recommendation passes the
// registry's own validation), applies the recommendations (registry.resize where the registry accepts it live,
// otherwise a registry built with the options they name), runs the same load again and asserts the measured effect:
// the incident does not recur, or the victim's p99 improves. Real time and real load: the server's behaviour (locks,
// max_connections, a restart, connection set-up) is the subject; the detector's own time logic is unit-tested with
// fake time in interference-detector.test.ts and taxonomy.test.ts. A table of the verdicts is printed at the end
// (docs/detector-scenarios.md shows one run).
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createInterferenceDetector, type InterferenceDetector } from '../../src/detector/interference-detector';
import type { Incident, IncidentType, Recommendation } from '../../src/detector/incident';
import type { ServiceOptions } from '../../src/pool/options';
import { createPoolRegistry, type PoolRegistry } from '../../src/registry/pool-registry';
import { checkRegistryOptions } from '../../src/registry/options';
import { createCluster, type Cluster } from '../soak/cluster';
import { adminClient, describePg, pgUrl, uniqueAppName } from '../helpers/pg';
import { waitFor } from '../helpers/wait-for';

type Config = { maxConnections?: number; reserve?: number; services: Record<string, ServiceOptions> };
type Registry = PoolRegistry<string, pg.Client>;

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => {});
});

/** One row of the corpus table. */
const rows: { scenario: string; verdict: string; advice: string; effect: string }[] = [];
afterAll(() => {
  if (rows.length === 0) return;
  const lines = ['| scenario | verdict | advice | effect measured |', '|---|---|---|---|', ...rows.map((r) => `| ${r.scenario} | ${r.verdict} | ${r.advice} | ${r.effect} |`)];
  console.log(`\n[issue 14] detector scenario corpus\n${lines.join('\n')}\n`);
});

function open(connection: string, app: string, config: Config): Registry {
  const registry = createPoolRegistry({ connection, applicationName: app, windowMs: 5_000, maintenanceIntervalMs: 100, ...config } as never) as unknown as Registry;
  cleanup.push(() => registry.close({ timeoutMs: 2_000 }));
  return registry;
}

interface Worker {
  readonly service: string;
  readonly concurrency: number;
  /** The statement each loop runs; `i` counts the loop's own queries. */
  readonly sql: (i: number) => string;
  /** Pause between a loop's queries, ms (a request rate rather than a closed loop). */
  readonly pauseMs?: number;
}

interface RunResult {
  readonly latencies: Record<string, number[]>;
  readonly errors: Record<string, string[]>;
  readonly detector: InterferenceDetector<string>;
  readonly announced: { type: IncidentType; incident: Incident<string> }[];
}

/** Runs the workers for `ms` with a fresh detector evaluating every 200 ms; `during` runs alongside. */
async function run(registry: Registry, workers: readonly Worker[], ms: number, detectorOptions: Record<string, unknown> = {}, during?: () => Promise<void>): Promise<RunResult> {
  const detector = createInterferenceDetector({ registry, intervalMs: 200, windowMs: 5_000, ...detectorOptions } as never) as InterferenceDetector<string>;
  cleanup.push(() => detector.stop());
  const announced: RunResult['announced'] = [];
  for (const type of ['interference', 'saturation', 'connectivity'] as const) detector.on(type, (incident) => announced.push({ type, incident }));
  const latencies: Record<string, number[]> = {};
  const errors: Record<string, string[]> = {};
  const end = Date.now() + ms;
  let stop = false;
  cleanup.push(async () => {
    stop = true;
  });
  const loops = workers.flatMap((w) =>
    Array.from({ length: w.concurrency }, async () => {
      (latencies[w.service] ??= []);
      (errors[w.service] ??= []);
      for (let i = 0; Date.now() < end && !stop; i++) {
        const started = performance.now();
        try {
          await registry.query(w.service, w.sql(i));
        } catch (error) {
          errors[w.service]!.push(String((error as { code?: unknown }).code ?? (error as Error).message));
          await sleep(5); // a refused acquire must not spin
        }
        latencies[w.service]!.push(performance.now() - started);
        if (w.pauseMs !== undefined) await sleep(w.pauseMs);
      }
    }),
  );
  const evaluating = (async () => {
    while (Date.now() < end && !stop) {
      await detector.check();
      await sleep(200);
    }
  })();
  await Promise.all([...loops, evaluating, during?.()]);
  await detector.check();
  return { latencies, errors, detector, announced };
}

function p99(values: readonly number[] | undefined): number {
  if (values === undefined || values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)] as number;
}

function incidentOf(result: RunResult, victim: string): Incident<string> | undefined {
  return result.detector.incidents().find((i) => i.victim === victim) ?? result.detector.history().find((i) => i.victim === victim);
}

/** The config with every recommendation applied: its option on the service, its registryChange on the registry. */
function applied(config: Config, recommendations: readonly Recommendation<string>[], reserve: number): Config {
  const next: Config = { ...config, services: Object.fromEntries(Object.entries(config.services).map(([k, v]) => [k, { ...v }])) };
  for (const r of recommendations) {
    if (r.registryChange !== undefined) {
      next.maxConnections = r.registryChange.to;
      next.reserve = reserve; // as the advice says: a default reserve would grow with maxConnections
    }
    if (r.option !== undefined && r.to !== undefined) (next.services[r.service] as Record<string, unknown>)[r.option] = r.to;
  }
  return next;
}

/**
 * Every recommendation is one the registry accepts: a size/overflow change passes `validateResize` now (or is only
 * waiting for borrowed slots to come back), or carries the registryChange with which the whole config validates;
 * any registryChange validates with the change applied.
 */
function expectAppliable(registry: Registry, config: Config, incident: Incident<string>): void {
  const reserve = registry.stats().budget.reserve;
  expect(incident.recommendations.length > 0 || incident.noRecommendation !== null).toBe(true);
  for (const r of incident.recommendations) {
    if (r.option === 'size' || r.option === 'overflow') {
      expect(r.validation, r.text).toBeDefined();
      if (r.validation === 'needs-registry-change') expect(r.registryChange, r.text).toBeDefined();
      else {
        const verdict = registry.validateResize(r.service, { [r.option]: r.to });
        expect(verdict.ok || verdict.reason === 'busy', `${r.text}: ${JSON.stringify(verdict)}`).toBe(true);
      }
    }
    // the whole config, with this advice applied, passes the registry's validation
    expect(() => checkRegistryOptions(applied(config, [r], reserve) as never), r.text).not.toThrow();
  }
}

/**
 * Applies the advice: size/overflow changes the live registry accepts go through registry.resize (lowering others'
 * overflow first, then waiting until the registry can guarantee a larger size); when any advice names an option
 * resize cannot change (a registry change, a timeout, recycleMs), a registry with the applied config replaces it.
 */
async function apply(registry: Registry, config: Config, incident: Incident<string>, connection: string, app: string): Promise<{ registry: Registry; config: Config }> {
  const reserve = registry.stats().budget.reserve;
  const recs = incident.recommendations.filter((r) => r.option !== undefined || r.registryChange !== undefined);
  const next = applied(config, recs, reserve);
  const live = recs.every((r) => (r.option === 'size' || r.option === 'overflow') && r.registryChange === undefined);
  if (!live) {
    await registry.close({ timeoutMs: 2_000 });
    return { registry: open(connection, app, next), config: next };
  }
  const ordered = [...recs].sort((a, b) => Number(b.kind === 'lower-overflow') - Number(a.kind === 'lower-overflow'));
  for (const r of ordered) {
    const limits = { [r.option as 'size' | 'overflow']: r.to };
    await waitFor(() => registry.validateResize(r.service, limits).ok, 10_000, `the registry to accept ${r.text}`);
    registry.resize(r.service, limits, `issue 14 scenario: ${r.text}`);
  }
  return { registry, config: next };
}

function adviceCell(incident: Incident<string>): string {
  if (incident.recommendations.length === 0) return `none: ${incident.noRecommendation}`;
  return incident.recommendations
    .map((r) => {
      const change = r.option !== undefined ? ` ${r.service}.${r.option} ${r.from}→${r.to}` : ` ${r.service}`;
      const registryChange = r.registryChange !== undefined ? ` + maxConnections ${r.registryChange.from}→${r.registryChange.to}` : '';
      return `${r.kind}${change}${registryChange}${r.validation === undefined ? '' : ` (${r.validation})`}`;
    })
    .join('; ');
}

function verdictCell(incident: Incident<string>): string {
  const aggressors = incident.aggressors.map((a) => a.service).join(', ');
  return `${incident.type}: ${incident.victim}${aggressors === '' ? '' : ` ← ${aggressors}`} (${incident.kinds.join(', ')})`;
}

const ms = (v: number): string => `${Math.round(v)} ms`;

describePg('detector scenario corpus on real PostgreSQL (issue 14)', () => {
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

  it('1. llm floods the shared budget: auth waits for the slots llm holds; lowering llm overflow (and the size the registry then accepts) ends it', async () => {
    const app = uniqueAppName('14-flood');
    let config: Config = {
      maxConnections: 8,
      reserve: 0,
      services: { auth: { size: 1, overflow: 2, priority: 'highest', acquireTimeoutMs: 800 }, llm: { size: 1, overflow: 7, priority: 'medium', acquireTimeoutMs: 20_000 } },
    };
    let registry = open(pgUrl, app, config);
    const workers = [
      { service: 'llm', concurrency: 12, sql: () => 'select pg_sleep(0.2)' },
      { service: 'auth', concurrency: 2, sql: () => 'select pg_sleep(0.02)' },
    ];
    const before = await run(registry, workers, 2_500, { serverProbe: false });
    const incident = incidentOf(before, 'auth');
    expect(incident, JSON.stringify(before.detector.incidents())).toBeDefined();
    expect(incident!.type).toBe('interference');
    expect(incident!.aggressors.map((a) => a.service)).toEqual(['llm']);
    expect(incident!.kinds).toContain('shared-slots');
    expect(before.announced.filter((a) => a.incident.victim === 'llm' && a.type === 'interference')).toEqual([]);
    expect(incident!.recommendations).toContainEqual(expect.objectContaining({ kind: 'lower-overflow', service: 'llm', from: 7, to: 4 }));
    expectAppliable(registry, config, incident!);
    ({ registry, config } = await apply(registry, config, incident!, pgUrl, app));
    expect(registry.serviceOptions('llm').overflow).toBe(4);
    const after = await run(registry, workers, 2_500, { serverProbe: false });
    expect(incidentOf(after, 'auth'), JSON.stringify(incidentOf(after, 'auth'))).toBeUndefined();
    expect(after.errors.auth).toEqual([]);
    expect(p99(after.latencies.auth)).toBeLessThan(p99(before.latencies.auth));
    rows.push({
      scenario: 'llm flood through the shared budget',
      verdict: verdictCell(incident!),
      advice: adviceCell(incident!),
      effect: `auth p99 ${ms(p99(before.latencies.auth))} → ${ms(p99(after.latencies.auth))}, auth errors ${before.errors.auth?.length} → 0; no incident after`,
    });
  });

  it('2. llm saturates its own pool: a saturation event, never interference, with an overflow the budget can lend', async () => {
    const app = uniqueAppName('14-self');
    let config: Config = { services: { llm: { size: 2, overflow: 0, priority: 'medium', acquireTimeoutMs: 300 } } };
    let registry = open(pgUrl, app, config);
    const workers = [{ service: 'llm', concurrency: 6, sql: () => 'select pg_sleep(0.15)' }];
    const before = await run(registry, workers, 2_000, { serverProbe: false });
    const incident = incidentOf(before, 'llm');
    expect(incident).toBeDefined();
    expect(incident!.type).toBe('saturation');
    expect(incident!.aggressors).toEqual([]);
    expect(new Set(before.announced.map((a) => a.type))).toEqual(new Set(['saturation']));
    const raise = incident!.recommendations.find((r) => r.kind === 'raise-overflow');
    expect(raise).toMatchObject({ service: 'llm', option: 'overflow', from: 0, validation: 'needs-registry-change' });
    expect(raise!.registryChange).toEqual({ option: 'maxConnections', from: 2, to: 2 + raise!.to! });
    expectAppliable(registry, config, incident!);
    ({ registry, config } = await apply(registry, config, incident!, pgUrl, app));
    const after = await run(registry, workers, 2_000, { serverProbe: false });
    expect(after.errors.llm).toEqual([]);
    expect(p99(after.latencies.llm)).toBeLessThan(p99(before.latencies.llm));
    rows.push({
      scenario: 'self-saturation (llm 2 + 0, 6 callers)',
      verdict: verdictCell(incident!),
      advice: adviceCell(incident!),
      effect: `llm p99 ${ms(p99(before.latencies.llm))} → ${ms(p99(after.latencies.llm))}, acquire timeouts ${before.errors.llm?.length} → 0${incidentOf(after, 'llm') === undefined ? '; no incident after' : ''}`,
    });
  });

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

  it('7. a background batch monopolizes the connections: auth is the victim, background the aggressor; its lower overflow ends it', async () => {
    const app = uniqueAppName('14-batch');
    let config: Config = {
      maxConnections: 8,
      reserve: 0,
      services: { auth: { size: 1, overflow: 3, priority: 'highest', acquireTimeoutMs: 800 }, background: { size: 1, overflow: 8, priority: 'low', acquireTimeoutMs: 30_000 } },
    };
    let registry = open(pgUrl, app, config);
    const workers = [
      { service: 'background', concurrency: 10, sql: () => 'select pg_sleep(0.3)' },
      { service: 'auth', concurrency: 3, sql: () => 'select pg_sleep(0.02)' },
    ];
    const before = await run(registry, workers, 2_500, { serverProbe: false });
    const incident = incidentOf(before, 'auth');
    expect(incident, JSON.stringify(before.detector.incidents())).toBeDefined();
    expect(incident!.type).toBe('interference');
    expect(incident!.aggressors.map((a) => a.service)).toEqual(['background']);
    expect(incident!.kinds).toEqual(expect.arrayContaining(['monopolization', 'shared-slots']));
    expect(incident!.recommendations).toContainEqual(expect.objectContaining({ kind: 'lower-overflow', service: 'background', from: 8, to: 4 }));
    expectAppliable(registry, config, incident!);
    ({ registry, config } = await apply(registry, config, incident!, pgUrl, app));
    const after = await run(registry, workers, 2_500, { serverProbe: false });
    expect(incidentOf(after, 'auth')).toBeUndefined();
    expect(after.errors.auth).toEqual([]);
    expect(p99(after.latencies.auth)).toBeLessThan(p99(before.latencies.auth));
    rows.push({
      scenario: 'a background batch monopolizing',
      verdict: verdictCell(incident!),
      advice: adviceCell(incident!),
      effect: `auth p99 ${ms(p99(before.latencies.auth))} → ${ms(p99(after.latencies.auth))}, auth errors ${before.errors.auth?.length} → 0; no incident after`,
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
