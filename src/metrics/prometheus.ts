import type { LatencyHistogram } from '../stats/latency-buckets';
import type { ServiceStats } from '../types';
import { INSTRUMENTS, METRIC_ATTRIBUTES, prometheusLabel, prometheusName, type InstrumentSpec } from './instruments';
import { poolNameOf, readMetrics, type MetricsSources } from './readings';

export type { MetricsRegistry, MetricsDetector, MetricsUsageSource } from './readings';

/** Options of {@link toPrometheus}: the sources, as for the OpenTelemetry bridge. */
export type PrometheusOptions<S extends string> = MetricsSources<S>;

type Labels = Readonly<Record<string, string>>;

/** Builds one exposition: families in order, each HELP/TYPE once, then its samples. */
class Exposition {
  readonly #lines: string[] = [];

  family(name: string, type: 'gauge' | 'counter' | 'histogram', help: string): void {
    this.#lines.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`);
  }

  sample(name: string, labels: Labels, value: number): void {
    const pairs = Object.entries(labels).map(([k, v]) => `${prometheusLabel(k)}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`);
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

/**
 * A number as Prometheus clients print one: integers without a fraction, others in their shortest form after
 * rounding to 15 significant digits, so float noise from unit conversions and sums (`2.0599999999999996`) never
 * shows; `NaN`, `+Inf`, `-Inf` spelled as the format wants.
 */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  if (Number.isInteger(value)) return String(value);
  return String(Number(value.toPrecision(15)));
}

function typeOf(instrument: InstrumentSpec): 'gauge' | 'counter' | 'histogram' {
  return instrument.kind === 'counter' ? 'counter' : instrument.kind === 'histogram' ? 'histogram' : 'gauge';
}

/** The content type of the text format this writes; set it on the scrape response. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * Renders the registry (and optionally the detector and a usage tracker) in the Prometheus text exposition
 * format 0.0.4, every family with HELP and TYPE. Names and labels are those of the OpenTelemetry bridge
 * (`pg-bulkhead/otel`) as OpenTelemetry's Prometheus exporter writes them (dots to underscores, unit suffix,
 * `_total` on counters; see {@link INSTRUMENTS}), so one dashboard reads either path. Durations are in seconds.
 * Every per-pool series carries `db_client_connection_pool_name="<applicationName>:<service>"`.
 *
 * - connections: `db_client_connection_count{db_client_connection_state="idle"|"used"}`, `_idle_max`,
 *   `_idle_min`, `_max`, `_pending_requests`, `db_client_connection_timeouts_total`,
 *   `pg_bulkhead_connection_created_total`, `pg_bulkhead_connection_closed_total{reason}`,
 *   `pg_bulkhead_connection_create_failures_total`, `pg_bulkhead_queue_rejections_total`,
 *   `pg_bulkhead_errors_total`, `pg_bulkhead_circuit_state{state}`, `pg_bulkhead_connection_utilization_ratio`,
 *   `pg_bulkhead_acquire_wait_p95_seconds`, `pg_bulkhead_query_time_p95_seconds`
 * - histograms since each pool started: `db_client_connection_wait_time_seconds` (buckets cover every
 *   configured acquire timeout), `db_client_connection_use_time_seconds`, `db_client_connection_create_time_seconds`
 * - the shared budget: `pg_bulkhead_budget_limit`, `_guaranteed`, `_shared`, `_reserved`, `_shared_used` (per
 *   pool), `_shared_free`, `pg_bulkhead_budget_waiting{priority}`
 * - with `usage`: `pg_bulkhead_usage_pending_keys`, `_pending_increments`, `_flushed_increments_total`,
 *   `_flush_failures_total`, `_dropped_calls_total`, `_dropped_increments_total`, `_last_flush_age_seconds`
 * - with `detector`: `pg_bulkhead_incidents_open{kind,victim,aggressor,severity}`,
 *   `pg_bulkhead_incidents_opened_total{victim}`
 *
 * @example
 * http.createServer((req, res) => {
 *   res.setHeader('content-type', PROMETHEUS_CONTENT_TYPE);
 *   res.end(toPrometheus({ registry, detector, usage }));
 * });
 */
export function toPrometheus<S extends string>(options: PrometheusOptions<S>): string {
  const out = new Exposition();
  const stats = options.registry.stats();
  const readings = readMetrics(options, stats);
  const write = (reading: (typeof readings)[number]): void => {
    const name = prometheusName(reading.instrument);
    out.family(name, typeOf(reading.instrument), reading.instrument.description);
    for (const point of reading.points) out.sample(name, point.attributes, point.value);
  };
  // The connection gauges first, then the histograms, then the rest, as a person reads them.
  const pools = readings.filter((r) => r.instrument.name.startsWith('db.client.connection.'));
  pools.forEach(write);
  // Since-start buckets kept by each pool: counters that never go down, as Prometheus histograms require.
  const services = Object.values(stats.services) as ServiceStats[];
  const histograms: [InstrumentSpec, (s: ServiceStats) => LatencyHistogram | undefined][] = [
    [INSTRUMENTS.waitTime, (s) => s.acquireWaitTotal],
    [INSTRUMENTS.useTime, (s) => s.holdTimeTotal],
    [INSTRUMENTS.createTime, (s) => s.createTimeTotal],
  ];
  for (const [instrument, of] of histograms) {
    const name = prometheusName(instrument);
    out.family(name, 'histogram', instrument.description);
    for (const s of services) {
      const h = of(s);
      if (h !== undefined) out.histogram(name, { [METRIC_ATTRIBUTES.poolName]: poolNameOf(options.registry, s.service) }, h);
    }
  }
  readings.filter((r) => !pools.includes(r)).forEach(write);
  return out.toString();
}
