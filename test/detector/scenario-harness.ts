// The harness of the detector's scenario corpus on real PostgreSQL (scenarios-*.pg.test.ts, three files so that
// vitest runs them side by side: the shared budget, the server's own troubles, a throwaway cluster). Each scenario runs a load that causes one kind of trouble,
// asserts what the detector says (event type, victim, aggressors, and that every recommendation passes the
// registry's own validation), applies the recommendations (registry.resize where the registry accepts it live,
// otherwise a registry built with the options they name), runs the same load again and asserts the measured effect:
// the incident does not recur, or the victim's p99 improves. Real time and real load: the server's behaviour (locks,
// max_connections, a restart, connection set-up) is the subject; the detector's own time logic is unit-tested with
// fake time in interference-detector.test.ts and taxonomy.test.ts. A table of the verdicts is printed at the end
// (docs/detector-scenarios.md shows one run).
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, expect } from 'vitest';
import { createInterferenceDetector, type InterferenceDetector } from '../../src/detector/interference-detector';
import type { Incident, IncidentType, Recommendation } from '../../src/detector/incident';
import type { ServiceOptions } from '../../src/pool/options';
import { createPoolRegistry, type PoolRegistry } from '../../src/registry/pool-registry';
import { checkRegistryOptions } from '../../src/registry/options';

import { waitFor } from '../helpers/wait-for';

export type Config = { maxConnections?: number; reserve?: number; services: Record<string, ServiceOptions> };
export type Registry = PoolRegistry<string, pg.Client>;

/** What a scenario opened, closed after each test in reverse order. */
export const cleanup: (() => Promise<unknown>)[] = [];

/** One row of the corpus table. */
export const rows: { scenario: string; verdict: string; advice: string; effect: string }[] = [];

/** Registers the hooks every corpus file needs: cleanup after each scenario, the table of verdicts at the end. */
export function useScenarioHooks(part: string): void {
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => {});
  });
  afterAll(() => {
    if (rows.length === 0) return;
    const lines = ['| scenario | verdict | advice | effect measured |', '|---|---|---|---|', ...rows.map((r) => `| ${r.scenario} | ${r.verdict} | ${r.advice} | ${r.effect} |`)];
    console.log(`\n[issue 14] detector scenario corpus, ${part}\n${lines.join('\n')}\n`);
  });
}

export function open(connection: string, app: string, config: Config): Registry {
  const registry = createPoolRegistry({ connection, applicationName: app, windowMs: 5_000, maintenanceIntervalMs: 100, ...config } as never) as unknown as Registry;
  cleanup.push(() => registry.close({ timeoutMs: 2_000 }));
  return registry;
}

export interface Worker {
  readonly service: string;
  readonly concurrency: number;
  /** The statement each loop runs; `i` counts the loop's own queries. */
  readonly sql: (i: number) => string;
  /** Pause between a loop's queries, ms (a request rate rather than a closed loop). */
  readonly pauseMs?: number;
}

export interface RunResult {
  readonly latencies: Record<string, number[]>;
  /** Each acquire's wait for a connection, ms, per service (the registry's `acquire` events during the run). */
  readonly waits: Record<string, number[]>;
  readonly errors: Record<string, string[]>;
  readonly detector: InterferenceDetector<string>;
  readonly announced: { type: IncidentType; incident: Incident<string> }[];
}

/** Runs the workers for `ms` with a fresh detector evaluating every 200 ms; `during` runs alongside. */
export async function run(registry: Registry, workers: readonly Worker[], ms: number, detectorOptions: Record<string, unknown> = {}, during?: () => Promise<void>): Promise<RunResult> {
  const detector = createInterferenceDetector({ registry, intervalMs: 200, windowMs: 5_000, ...detectorOptions } as never) as InterferenceDetector<string>;
  cleanup.push(() => detector.stop());
  const announced: RunResult['announced'] = [];
  for (const type of ['interference', 'saturation', 'connectivity'] as const) detector.on(type, (incident) => announced.push({ type, incident }));
  const latencies: Record<string, number[]> = {};
  const errors: Record<string, string[]> = {};
  const waits: Record<string, number[]> = {};
  const onAcquire = (event: { service: string; waitMs: number }) => (waits[event.service] ??= []).push(event.waitMs);
  registry.on('acquire', onAcquire);
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
  registry.off('acquire', onAcquire);
  await detector.check();
  return { latencies, errors, waits, detector, announced };
}

export function p99(values: readonly number[] | undefined): number {
  if (values === undefined || values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)] as number;
}

/** The share of a service's acquires in the run that waited longer than `ms` for a connection (0 when none). */
export function waitedLonger(result: RunResult, service: string, ms: number): number {
  const waits = result.waits[service] ?? [];
  return waits.length === 0 ? 0 : waits.filter((w) => w > ms).length / waits.length;
}

export function incidentOf(result: RunResult, victim: string): Incident<string> | undefined {
  return result.detector.incidents().find((i) => i.victim === victim) ?? result.detector.history().find((i) => i.victim === victim);
}

/** The config with every recommendation applied: its option on the service, its registryChange on the registry. */
export function applied(config: Config, recommendations: readonly Recommendation<string>[], reserve: number): Config {
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
export function expectAppliable(registry: Registry, config: Config, incident: Incident<string>): void {
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
export async function apply(registry: Registry, config: Config, incident: Incident<string>, connection: string, app: string): Promise<{ registry: Registry; config: Config }> {
  const reserve = registry.stats().budget.reserve;
  const recs = incident.recommendations.filter((r) => r.option !== undefined || r.registryChange !== undefined);
  const next = applied(config, recs, reserve);
  const live = recs.every((r) => (r.option === 'size' || r.option === 'overflow') && r.registryChange === undefined);
  if (!live) {
    await registry.close({ timeoutMs: 2_000 });
    const replaced = open(connection, app, next);
    await settled(replaced);
    return { registry: replaced, config: next };
  }
  const ordered = [...recs].sort((a, b) => Number(b.kind === 'lower-overflow') - Number(a.kind === 'lower-overflow'));
  for (const r of ordered) {
    const limits = { [r.option as 'size' | 'overflow']: r.to };
    await waitFor(() => registry.validateResize(r.service, limits).ok, 10_000, `the registry to accept ${r.text}`);
    registry.resize(r.service, limits, `issue 14 scenario: ${r.text}`);
  }
  await settled(registry);
  return { registry, config: next };
}

/**
 * Waits until every service has its guaranteed connections open, as a service has them once a change has settled:
 * the effect of advice is measured in that steady state, not while the connections a larger size guarantees are still
 * being opened (on a loaded 2-core machine an open takes 100–200 ms, which reads as an acquire wait).
 */
async function settled(registry: Registry): Promise<void> {
  await waitFor(() => registry.services.every((s) => registry.stats(s).total >= registry.stats(s).guaranteedSize), 10_000, 'every service to open its guaranteed connections');
}

export function adviceCell(incident: Incident<string>): string {
  if (incident.recommendations.length === 0) return `none: ${incident.noRecommendation}`;
  return incident.recommendations
    .map((r) => {
      const change = r.option !== undefined ? ` ${r.service}.${r.option} ${r.from}→${r.to}` : ` ${r.service}`;
      const registryChange = r.registryChange !== undefined ? ` + maxConnections ${r.registryChange.from}→${r.registryChange.to}` : '';
      return `${r.kind}${change}${registryChange}${r.validation === undefined ? '' : ` (${r.validation})`}`;
    })
    .join('; ');
}

export function verdictCell(incident: Incident<string>): string {
  const aggressors = incident.aggressors.map((a) => a.service).join(', ');
  return `${incident.type}: ${incident.victim}${aggressors === '' ? '' : ` ← ${aggressors}`} (${incident.kinds.join(', ')})`;
}

export const ms = (v: number): string => `${Math.round(v)} ms`;
