import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createInterferenceDetector } from '../../src/detector/interference-detector';
import { toPrometheus } from '../../src/metrics/prometheus';
import { FakeClock, latency, presetRegistry } from '../detector/scripted-registry';
import { parseExposition } from './exposition-parser';

interface Target {
  readonly expr: string;
}
interface Panel {
  readonly type: string;
  readonly title: string;
  readonly targets?: readonly Target[];
  readonly panels?: readonly Panel[];
}
interface Dashboard {
  readonly panels: readonly Panel[];
  readonly templating: { readonly list: readonly { readonly name: string; readonly definition?: string }[] };
}

const dashboard = JSON.parse(readFileSync(new URL('../../docs/grafana-dashboard.json', import.meta.url), 'utf8')) as Dashboard;

/** PromQL words that are not metric names. */
const KEYWORDS = new Set([
  'sum', 'max', 'min', 'avg', 'count', 'rate', 'irate', 'increase', 'delta', 'histogram_quantile', 'by', 'without', 'on', 'ignoring',
  'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'topk', 'bottomk', 'clamp_min', 'clamp_max', 'abs', 'time', 'vector', 'label_values',
]);

/** What one PromQL expression reads: metric names, the labels each selector matches on, and the grouping labels. */
function referencesOf(expr: string): { metrics: string[]; matchers: [string, string][]; grouping: string[] } {
  const text = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const matchers: [string, string][] = [];
  for (const m of text.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}/g)) {
    for (const l of (m[2] as string).matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)) matchers.push([m[1] as string, l[1] as string]);
  }
  const grouping: string[] = [];
  for (const m of text.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) grouping.push(...(m[1] as string).split(',').map((s) => s.trim()).filter((s) => s !== ''));
  for (const m of text.matchAll(/label_values\(\s*[a-zA-Z_:][a-zA-Z0-9_:]*\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)/g)) grouping.push(m[1] as string);
  const bare = text
    .replace(/label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)/g, ' $1 ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without)\s*\([^)]*\)/g, ' ')
    .replace(/\$[a-zA-Z_]+/g, ' ');
  const metrics = [...bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)].map((m) => m[0]).filter((w) => !KEYWORDS.has(w) && !/^\d/.test(w));
  return { metrics, matchers, grouping };
}

function expressions(): { title: string; expr: string }[] {
  const out: { title: string; expr: string }[] = [];
  const walk = (panels: readonly Panel[]): void => {
    for (const panel of panels) {
      for (const target of panel.targets ?? []) out.push({ title: panel.title, expr: target.expr });
      walk(panel.panels ?? []);
    }
  };
  walk(dashboard.panels);
  for (const variable of dashboard.templating.list) if (variable.definition !== undefined) out.push({ title: `$${variable.name}`, expr: variable.definition });
  return out;
}

/** Every series the library writes, with the labels each carries: a registry with a budget, an incident, a tracker. */
async function emitted(): Promise<Map<string, Set<string>>> {
  const registry = presetRegistry();
  const detector = createInterferenceDetector({ registry, clock: new FakeClock(), serverProbe: false });
  registry.budgetMax = 30;
  registry.set('llm', { inUse: 18 });
  registry.set('auth', { inUse: 3, waiting: 2, acquireWait: latency(400) }); // waiting, and it hurts: starvation
  await detector.check();
  const usage = { stats: () => ({ pendingKeys: 1, pendingIncrements: 1, droppedCalls: 0, droppedIncrements: 0, flushedIncrements: 3, failedWrites: 0, lastFlushAt: 0 }) };
  const families = parseExposition(toPrometheus({ registry, detector, usage, clock: { wallNow: () => 1_000 } }));
  await detector.stop();
  const series = new Map<string, Set<string>>();
  for (const family of families.values()) {
    for (const sample of family.samples) {
      const labels = series.get(sample.name) ?? new Set<string>();
      for (const label of Object.keys(sample.labels)) labels.add(label);
      series.set(sample.name, labels);
    }
  }
  return series;
}

/** Problems of one expression against the emitted series; empty when it reads only what exists. */
function problemsOf(expr: string, series: Map<string, Set<string>>): string[] {
  const { metrics, matchers, grouping } = referencesOf(expr);
  const problems: string[] = [];
  if (metrics.length === 0) problems.push('names no series');
  for (const metric of metrics) if (!series.has(metric)) problems.push(`${metric} is not emitted`);
  for (const [metric, label] of matchers) if (series.has(metric) && !series.get(metric)!.has(label)) problems.push(`${metric} has no label ${label}`);
  const available = new Set(metrics.flatMap((m) => [...(series.get(m) ?? [])]));
  for (const label of grouping) if (!available.has(label)) problems.push(`no series of the expression has the label ${label}`);
  return problems;
}

describe('the Grafana dashboard (docs/grafana-dashboard.json)', () => {
  it('finds what an expression reads, and flags names and labels the library does not emit (the check can fail)', async () => {
    const series = await emitted();
    expect(referencesOf('sum by (le, a) (rate(m_bucket{a=~"$pool", b!="x"}[$__rate_interval])) / max(n)')).toEqual({ metrics: ['m_bucket', 'n'], matchers: [['m_bucket', 'a'], ['m_bucket', 'b']], grouping: ['le', 'a'] });
    expect(problemsOf('sum(db_client_connection_countt)', series)).toEqual(['db_client_connection_countt is not emitted']);
    expect(problemsOf('sum by (pool_name) (db_client_connection_count)', series)).toEqual(['no series of the expression has the label pool_name']);
    expect(problemsOf('db_client_connection_count{pool_name="auth"}', series)).toEqual(['db_client_connection_count has no label pool_name']);
    expect(problemsOf('sum(db_client_connection_count{db_client_connection_pool_name=~"$pool"})', series)).toEqual([]);
  });

  it('reads only series and labels the library emits, in every panel and variable', async () => {
    const series = await emitted();
    const all = expressions();
    expect(all.length).toBeGreaterThan(20);
    const problems = all.flatMap(({ title, expr }) => problemsOf(expr, series).map((p) => `${title}: ${p}`));
    expect(problems).toEqual([]);
  });

  it('covers connections, waits, timeouts, the circuit, the budget and incidents', () => {
    const read = new Set(expressions().flatMap(({ expr }) => referencesOf(expr).metrics));
    for (const name of [
      'db_client_connection_count',
      'db_client_connection_pending_requests',
      'db_client_connection_wait_time_seconds_bucket',
      'db_client_connection_timeouts_total',
      'pg_bulkhead_queue_rejections_total',
      'pg_bulkhead_circuit_state',
      'pg_bulkhead_connection_closed_total',
      'pg_bulkhead_budget_shared_used',
      'pg_bulkhead_budget_waiting',
      'pg_bulkhead_incidents_open',
    ]) {
      expect(read, name).toContain(name);
    }
    // every panel that shows data has a query
    const empty = dashboard.panels.filter((p) => p.type !== 'row' && (p.targets ?? []).length === 0).map((p) => p.title);
    expect(empty).toEqual([]);
  });
});
