import type { Incident } from '../detector/incident';
import type { LatencyHistogram } from '../stats/latency-buckets';
import type { ServiceStats } from '../pool/service-pool';

/** What {@link toPrometheus} reads from the registry: its `stats()` snapshot. */
export interface MetricsRegistry<S extends string> {
  /** A fresh snapshot of every service. */
  stats(): { readonly services: { readonly [K in S]: ServiceStats } };
}

/** What {@link toPrometheus} reads from the detector. {@link InterferenceDetector} fits. */
export interface MetricsDetector<S extends string> {
  /** Incidents open now. */
  incidents(): readonly Incident<S>[];
  /** Incidents opened since start, per victim (a counter). */
  openedIncidents(): { readonly [K in S]: number };
}

/**
 * What {@link toPrometheus} reads from a usage tracker: only these fields of `stats()` (a usage tracker fits
 * structurally; nothing else of it is imported).
 */
export interface MetricsUsageSource {
  /** The tracker's snapshot; only the fields below are read. */
  stats(): {
    /** Distinct keys waiting for the next flush. */
    readonly pendingKeys: number;
    /** Sum of the pending increments. */
    readonly pendingIncrements: number;
    /** Increment calls dropped since creation. */
    readonly droppedCalls: number;
    /** Amounts those dropped calls carried. */
    readonly droppedIncrements: number;
  };
}

/** Options of {@link toPrometheus}. */
export interface PrometheusOptions<S extends string> {
  readonly registry: MetricsRegistry<S>;
  /** Adds the incident series. Without it they are left out. */
  readonly detector?: MetricsDetector<S>;
  /** Adds the usage tracker's pending and dropped series. */
  readonly usage?: MetricsUsageSource;
}

type Labels = Readonly<Record<string, string>>;

/** Builds one exposition: families in order, each HELP/TYPE once, then its samples. */
class Exposition {
  readonly #lines: string[] = [];

  family(name: string, type: 'gauge' | 'counter' | 'histogram', help: string): void {
    this.#lines.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`);
  }

  sample(name: string, labels: Labels, value: number): void {
    const pairs = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`);
    this.#lines.push(`${name}${pairs.length > 0 ? `{${pairs.join(',')}}` : ''} ${formatValue(value)}`);
  }

  /** A histogram from ms buckets, written in seconds. */
  histogram(name: string, labels: Labels, h: LatencyHistogram): void {
    h.boundsMs.forEach((boundMs, i) => this.sample(`${name}_bucket`, { ...labels, le: formatValue(boundMs / 1_000) }, h.buckets[i] as number));
    this.sample(`${name}_bucket`, { ...labels, le: '+Inf' }, h.count);
    this.sample(`${name}_sum`, labels, h.sumMs / 1_000);
    this.sample(`${name}_count`, labels, h.count);
  }

  toString(): string {
    return `${this.#lines.join('\n')}\n`;
  }
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** The content type of the text format this writes; set it on the scrape response. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * Renders the registry (and optionally the detector and a usage tracker) in the Prometheus text exposition
 * format 0.0.4. Names follow the OpenTelemetry database client semantic conventions, converted to Prometheus
 * style (dots to underscores, unit suffix, `_total` on counters); durations are in seconds. One label,
 * `pool_name`, carries the service name (plus `state` on the connection count).
 *
 * - `db_client_connection_count{pool_name,state="idle"|"used"}`, `db_client_connection_max`,
 *   `db_client_connection_pending_requests`, `db_client_connection_timeouts_total` (gauges / counter)
 * - `db_client_connection_wait_time_seconds`, `db_client_connection_use_time_seconds` (histograms since each
 *   pool started)
 * - `pg_bulkhead_errors_total`, `pg_bulkhead_connection_utilization_ratio`, `pg_bulkhead_acquire_wait_p95_seconds`,
 *   `pg_bulkhead_query_time_p95_seconds` (the registry's rolling window)
 * - `pg_bulkhead_incidents_open{victim,aggressor,severity}`, `pg_bulkhead_incidents_opened_total{victim}` (needs `detector`)
 * - `pg_bulkhead_usage_pending_keys`, `pg_bulkhead_usage_pending_increments`, `pg_bulkhead_usage_dropped_calls_total`,
 *   `pg_bulkhead_usage_dropped_increments_total` (needs `usage`)
 *
 * @example
 * http.createServer((req, res) => {
 *   res.setHeader('content-type', PROMETHEUS_CONTENT_TYPE);
 *   res.end(toPrometheus({ registry, detector, usage }));
 * });
 */
export function toPrometheus<S extends string>(options: PrometheusOptions<S>): string {
  const out = new Exposition();
  const services = Object.values(options.registry.stats().services) as ServiceStats[];
  const each = (name: string, value: (s: ServiceStats) => number): void => {
    for (const s of services) out.sample(name, { pool_name: s.service }, value(s));
  };
  out.family('db_client_connection_count', 'gauge', 'Connections currently open, by state (idle or used).');
  for (const s of services) {
    out.sample('db_client_connection_count', { pool_name: s.service, state: 'idle' }, s.idle);
    out.sample('db_client_connection_count', { pool_name: s.service, state: 'used' }, s.inUse);
  }
  out.family('db_client_connection_max', 'gauge', 'Most open connections allowed (size + overflow).');
  each('db_client_connection_max', (s) => s.max);
  out.family('db_client_connection_idle_min', 'gauge', 'Connections kept open when idle (the guaranteed size).');
  each('db_client_connection_idle_min', (s) => s.guaranteedSize);
  out.family('db_client_connection_pending_requests', 'gauge', 'Requests waiting for a connection.');
  each('db_client_connection_pending_requests', (s) => s.waiting);
  out.family('db_client_connection_timeouts_total', 'counter', 'Connection requests that timed out waiting.');
  each('db_client_connection_timeouts_total', (s) => s.timeouts);
  // Since-start buckets kept by each pool: counters that never go down, as Prometheus histograms require.
  out.family('db_client_connection_wait_time_seconds', 'histogram', 'Time to obtain a connection from the pool, seconds.');
  for (const s of services) out.histogram('db_client_connection_wait_time_seconds', { pool_name: s.service }, s.acquireWaitTotal);
  out.family('db_client_connection_use_time_seconds', 'histogram', 'Time between borrowing a connection and returning it, seconds.');
  for (const s of services) out.histogram('db_client_connection_use_time_seconds', { pool_name: s.service }, s.holdTimeTotal);
  out.family('pg_bulkhead_errors_total', 'counter', 'Failed queries and connection failures.');
  each('pg_bulkhead_errors_total', (s) => s.errors);
  out.family('pg_bulkhead_connection_utilization_ratio', 'gauge', 'Connections in use divided by the maximum, 0 to 1.');
  each('pg_bulkhead_connection_utilization_ratio', (s) => s.utilization);
  out.family('pg_bulkhead_acquire_wait_p95_seconds', 'gauge', 'p95 time waiting for a connection over the rolling window, seconds.');
  each('pg_bulkhead_acquire_wait_p95_seconds', (s) => s.acquireWait.p95 / 1_000);
  out.family('pg_bulkhead_query_time_p95_seconds', 'gauge', 'p95 query time over the rolling window, seconds.');
  each('pg_bulkhead_query_time_p95_seconds', (s) => s.queryTime.p95 / 1_000);
  if (options.detector !== undefined) {
    out.family('pg_bulkhead_incidents_open', 'gauge', 'Open interference incidents, by victim and aggressor (aggressor "" when none is named).');
    for (const incident of options.detector.incidents()) {
      const aggressors = incident.aggressors.length > 0 ? incident.aggressors.map((a) => a.service) : [''];
      for (const aggressor of aggressors) out.sample('pg_bulkhead_incidents_open', { victim: incident.victim, aggressor, severity: incident.severity }, 1);
    }
    out.family('pg_bulkhead_incidents_opened_total', 'counter', 'Interference incidents opened, by victim.');
    const opened = options.detector.openedIncidents();
    for (const s of services) out.sample('pg_bulkhead_incidents_opened_total', { victim: s.service }, opened[s.service as S] ?? 0);
  }
  if (options.usage !== undefined) {
    const u = options.usage.stats();
    out.family('pg_bulkhead_usage_pending_keys', 'gauge', 'Usage counter keys waiting for the next flush.');
    out.sample('pg_bulkhead_usage_pending_keys', {}, u.pendingKeys);
    out.family('pg_bulkhead_usage_pending_increments', 'gauge', 'Sum of usage increments waiting for the next flush.');
    out.sample('pg_bulkhead_usage_pending_increments', {}, u.pendingIncrements);
    out.family('pg_bulkhead_usage_dropped_calls_total', 'counter', 'Usage increment calls dropped (memory bound reached, or after close).');
    out.sample('pg_bulkhead_usage_dropped_calls_total', {}, u.droppedCalls);
    out.family('pg_bulkhead_usage_dropped_increments_total', 'counter', 'Sum of the usage increments dropped.');
    out.sample('pg_bulkhead_usage_dropped_increments_total', {}, u.droppedIncrements);
  }
  return out.toString();
}
