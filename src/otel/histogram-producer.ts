/**
 * The pool histograms (`db.client.connection.wait_time`, `.use_time`, `.create_time`) as an OpenTelemetry SDK
 * `MetricProducer`, read at collection time from the histograms every pool keeps anyway (the ones the Prometheus
 * text prints), so the bridge adds nothing to an acquire or a release. The alternative, one `Histogram.record()`
 * per event, costs the SDK about a microsecond per call (it hashes the attributes every time), which a busy pool
 * pays twice per query.
 *
 * A producer is handed to the reader when the reader is built (`metricProducers: [producer]`), which is usually
 * before any registry exists; `instrumentRegistry(registry, { meter, histograms: producer })` attaches a registry
 * to it later, and its `dispose()` detaches it. Points are cumulative, starting when the registry was attached.
 * Only the types of `@opentelemetry/sdk-metrics` are used: nothing of it is loaded here.
 */
import type { Attributes, HrTime, ValueType } from '@opentelemetry/api';
import type { Clock } from '../clock';
import { InvalidArgumentError } from '../errors';
import { INSTRUMENTS, METRIC_ATTRIBUTES, type InstrumentSpec } from '../metrics/instruments';
import { poolNameOf, type MetricsRegistry } from '../metrics/readings';
import type { LatencyHistogram } from '../stats/latency-buckets';
import type { ServiceStats } from '../types';

/*
 * The SDK's data model, written structurally so that neither this module nor its type declarations need
 * `@opentelemetry/sdk-metrics` (a user may run another SDK): a producer of these types is assignable to the SDK's
 * `MetricProducer` (checked in test/otel/types.test-d.ts). The enum values are the SDK's.
 */
/** `DataPointType.HISTOGRAM` */
const HISTOGRAM = 0;
/** `AggregationTemporality.CUMULATIVE` */
const CUMULATIVE = 1;
/** `ValueType.DOUBLE` */
const DOUBLE = 1 as ValueType;

/** An explicit-bucket histogram point's value, as the SDK's `Histogram`: counts per bucket, not cumulative. */
export interface HistogramValue {
  buckets: { boundaries: number[]; counts: number[] };
  sum?: number;
  count: number;
}

/** One histogram metric, as the SDK's `HistogramMetricData`. */
export interface HistogramMetric {
  readonly descriptor: { readonly name: string; readonly description: string; readonly unit: string; readonly valueType: ValueType };
  readonly aggregationTemporality: typeof CUMULATIVE;
  readonly dataPointType: typeof HISTOGRAM;
  readonly dataPoints: { readonly startTime: HrTime; readonly endTime: HrTime; readonly attributes: Attributes; readonly value: HistogramValue }[];
}

/**
 * What a collection returns, as the SDK's `CollectionResult`. `resource` is never set: the SDK's reader keeps its
 * own resource and takes only the scope metrics of additional producers.
 */
export interface HistogramCollection {
  resourceMetrics: { resource: never; scopeMetrics: { scope: { name: string }; metrics: HistogramMetric[] }[] };
  errors: unknown[];
}

/** The three pool histograms and where each one's since-start counts are in a service's stats. */
const HISTOGRAMS: readonly (readonly [InstrumentSpec, (s: ServiceStats) => LatencyHistogram])[] = [
  [INSTRUMENTS.createTime, (s) => s.createTimeTotal],
  [INSTRUMENTS.waitTime, (s) => s.acquireWaitTotal],
  [INSTRUMENTS.useTime, (s) => s.holdTimeTotal],
];

/** Options of {@link createHistogramProducer}. */
export interface HistogramProducerOptions {
  /** Instrumentation scope the histograms are reported under. @default 'pg-bulkhead' */
  readonly scope?: string;
  /** Wall clock for the points' start and end times. @default Date.now */
  readonly clock?: Pick<Clock, 'wallNow'>;
}

/**
 * An OpenTelemetry SDK `MetricProducer` (`@opentelemetry/sdk-metrics` ≥ 2) that reports the pool histograms of
 * every registry attached to it. Give it to the reader, then to `instrumentRegistry` as `histograms`.
 */
export interface HistogramProducer {
  /** Reads every attached registry's histograms now. Called by the SDK's reader on each collection. */
  collect(): Promise<HistogramCollection>;
}

/** One registry attached to a producer: its pool names and the counts it had when attached. */
interface Attached {
  readonly registry: MetricsRegistry<string>;
  readonly startTime: HrTime;
  /** Per instrument name, per service: the since-start histogram at attach time. */
  readonly baseline: Map<string, Map<string, LatencyHistogram>>;
}

/** The producer's side that {@link instrumentRegistry} uses; not part of the public surface. */
interface Attachable {
  attach(registry: MetricsRegistry<string>): () => void;
}

const attachables = new WeakMap<object, Attachable>();

/**
 * Creates a producer of the pool histograms, to give to the OpenTelemetry reader before attaching registries.
 * @example
 * import { createHistogramProducer, instrumentRegistry } from 'pg-bulkhead/otel';
 * const histograms = createHistogramProducer();
 * const reader = new PeriodicExportingMetricReader({ exporter, metricProducers: [histograms] });
 * // … once the registry exists
 * instrumentRegistry(registry, { meter, histograms });
 */
export function createHistogramProducer(options: HistogramProducerOptions = {}): HistogramProducer {
  const scope = { name: options.scope ?? 'pg-bulkhead' };
  const wallNow = options.clock === undefined ? Date.now : () => options.clock!.wallNow();
  const attached = new Set<Attached>();

  const producer: HistogramProducer = {
    collect(): Promise<HistogramCollection> {
      const errors: unknown[] = [];
      const endTime = hrTime(wallNow());
      const metrics = new Map<string, HistogramMetric>();
      for (const [instrument] of HISTOGRAMS) metrics.set(instrument.name, { descriptor: { name: instrument.name, description: instrument.description, unit: instrument.unit, valueType: DOUBLE }, aggregationTemporality: CUMULATIVE, dataPointType: HISTOGRAM, dataPoints: [] });
      for (const entry of attached) {
        let services: ServiceStats[];
        try {
          services = Object.values(entry.registry.stats().services);
        } catch (error) {
          errors.push(error);
          continue;
        }
        for (const [instrument, histogramOf] of HISTOGRAMS) {
          const points = metrics.get(instrument.name)!.dataPoints;
          const baselines = entry.baseline.get(instrument.name)!;
          for (const s of services) {
            const attributes: Attributes = { [METRIC_ATTRIBUTES.poolName]: poolNameOf(entry.registry, s.service) };
            points.push({ startTime: entry.startTime, endTime, attributes, value: sinceBaseline(histogramOf(s), baselines.get(s.service)) });
          }
        }
      }
      const resourceMetrics = { resource: undefined as never, scopeMetrics: [{ scope, metrics: [...metrics.values()].filter((m) => m.dataPoints.length > 0) }] };
      return Promise.resolve({ resourceMetrics, errors });
    },
  };
  attachables.set(producer, {
    attach(registry) {
      for (const entry of attached) {
        if (entry.registry === registry) {
          throw new InvalidArgumentError('instrumentRegistry: options.histograms: this registry is already attached to this producer (its series would be reported twice); dispose() the other bridge first');
        }
      }
      const baseline = new Map<string, Map<string, LatencyHistogram>>();
      const services = Object.values(registry.stats().services) as ServiceStats[];
      for (const [instrument, histogramOf] of HISTOGRAMS) baseline.set(instrument.name, new Map(services.map((s) => [s.service, histogramOf(s)])));
      const entry: Attached = { registry, startTime: hrTime(wallNow()), baseline };
      attached.add(entry);
      return () => void attached.delete(entry);
    },
  });
  return producer;
}

/** The attach function of a producer made by {@link createHistogramProducer}, or undefined for anything else. */
export function attachableOf(value: unknown): Attachable | undefined {
  return typeof value === 'object' && value !== null ? attachables.get(value) : undefined;
}

/** One OpenTelemetry histogram point in seconds: what `now` counted beyond `base`, per bucket (not cumulative). */
function sinceBaseline(now: LatencyHistogram, base: LatencyHistogram | undefined): HistogramValue {
  const bounds = now.boundsMs;
  const counts = new Array<number>(bounds.length + 1);
  let below = 0;
  let baseBelow = 0;
  for (let i = 0; i <= bounds.length; i++) {
    const upTo = i < bounds.length ? (now.buckets[i] as number) : now.count;
    const baseUpTo = base === undefined ? 0 : i < bounds.length ? (base.buckets[i] as number) : base.count;
    counts[i] = upTo - below - (baseUpTo - baseBelow);
    below = upTo;
    baseBelow = baseUpTo;
  }
  return {
    buckets: { boundaries: bounds.map((ms) => ms / 1_000), counts },
    count: now.count - (base?.count ?? 0),
    sum: (now.sumMs - (base?.sumMs ?? 0)) / 1_000,
  };
}

function hrTime(epochMs: number): HrTime {
  const seconds = Math.floor(epochMs / 1_000);
  return [seconds, Math.round((epochMs - seconds * 1_000) * 1e6)];
}
