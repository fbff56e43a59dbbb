import type { Meter } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type Histogram,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import type { HistogramProducer } from '../../src/otel/index';

/** One metric as the OpenTelemetry SDK exported it, reduced to what the tests compare. */
export interface Exported {
  readonly name: string;
  readonly unit: string;
  readonly description: string;
  /** `counter` (monotonic sum), `updowncounter` (non-monotonic sum), `gauge` or `histogram`. */
  readonly kind: 'counter' | 'updowncounter' | 'gauge' | 'histogram';
  readonly points: readonly { readonly attributes: Readonly<Record<string, string>>; readonly value: number; readonly histogram?: Histogram }[];
}

function kindOf(metric: MetricData): Exported['kind'] {
  if (metric.dataPointType === DataPointType.HISTOGRAM) return 'histogram';
  if (metric.dataPointType === DataPointType.GAUGE) return 'gauge';
  if (metric.dataPointType === DataPointType.SUM) return metric.isMonotonic ? 'counter' : 'updowncounter';
  throw new Error(`unexpected data point type ${metric.dataPointType}`);
}

/**
 * A real OpenTelemetry metrics SDK: a MeterProvider whose reader exports, on demand, to the SDK's in-memory
 * exporter (cumulative temporality, as a Prometheus scrape sees it), with the given histogram producer, if any,
 * among its metric producers.
 */
export function otelHarness(producer?: HistogramProducer): { meter: Meter; collect: () => Promise<Map<string, Exported>>; shutdown: () => Promise<void> } {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // Exports only when asked (forceFlush); the interval timer never fires within a test.
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000, metricProducers: producer === undefined ? [] : [producer] });
  const provider = new MeterProvider({ readers: [reader] });
  const meter = provider.getMeter('pg-bulkhead-test');
  const collect = async (): Promise<Map<string, Exported>> => {
    exporter.reset();
    await reader.forceFlush();
    const out = new Map<string, Exported>();
    for (const resource of exporter.getMetrics()) {
      for (const scope of resource.scopeMetrics) {
        for (const metric of scope.metrics) {
          const kind = kindOf(metric);
          const points = (metric.dataPoints as MetricData['dataPoints']).map((p) => {
            const attributes = Object.fromEntries(Object.entries(p.attributes).map(([k, v]) => [k, String(v)]));
            return kind === 'histogram' ? { attributes, value: (p.value as Histogram).count, histogram: p.value as Histogram } : { attributes, value: p.value as number };
          });
          out.set(metric.descriptor.name, { name: metric.descriptor.name, unit: metric.descriptor.unit, description: metric.descriptor.description, kind, points });
        }
      }
    }
    return out;
  };
  return { meter, collect, shutdown: () => provider.shutdown() };
}

/** The value of the point with exactly these attributes, or undefined. */
export function pointOf(metrics: Map<string, Exported>, name: string, attributes: Record<string, string>): Exported['points'][number] | undefined {
  const keys = Object.keys(attributes);
  return metrics.get(name)?.points.find((p) => Object.keys(p.attributes).length === keys.length && keys.every((k) => p.attributes[k] === attributes[k]));
}

/**
 * The Prometheus name OpenTelemetry's Prometheus exporter gives a metric, written here from the specification's
 * compatibility rules (not from the library): invalid characters to `_`, the unit appended (`s` as `seconds`,
 * `1` as `ratio` on gauges, annotations in braces dropped), `_total` on monotonic sums.
 */
export function renderedPrometheusName(metric: Pick<Exported, 'name' | 'unit' | 'kind'>): string {
  let name = metric.name.replace(/[^a-zA-Z0-9_:]/g, '_').replace(/__+/g, '_');
  const unit = metric.unit.replace(/\{[^}]*\}/g, '');
  const suffix = unit === 's' ? 'seconds' : unit === '1' ? (metric.kind === 'gauge' ? 'ratio' : '') : unit;
  if (suffix !== '' && !name.endsWith(`_${suffix}`)) name += `_${suffix}`;
  if (metric.kind === 'counter' && !name.endsWith('_total')) name += '_total';
  return name;
}
