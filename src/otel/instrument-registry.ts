import type { Attributes, BatchObservableCallback, Histogram, Meter, Observable } from '@opentelemetry/api';
import type { Clock } from '../clock';
import { InvalidArgumentError } from '../errors';
import { describe } from '../options/check';
import type { AcquireEvent, AcquireTimeoutEvent, ConnectEvent, ReleaseEvent } from '../pool/events';
import { INSTRUMENTS, METRIC_ATTRIBUTES, type InstrumentSpec } from '../metrics/instruments';
import { poolNameOf, readMetrics, type MetricsDetector, type MetricsRegistry, type MetricsUsageSource } from '../metrics/readings';
import { LATENCY_BOUNDS_MS } from '../stats/latency-buckets';
import { attachableOf, type HistogramProducer } from './histogram-producer';

/** The pool events the bridge listens to while attached (a subset of the registry's events). */
export interface InstrumentedRegistryEvents<S extends string> {
  acquire: [AcquireEvent<S>];
  'acquire-timeout': [AcquireTimeoutEvent<S>];
  release: [ReleaseEvent<S>];
  connect: [ConnectEvent<S>];
}

/** What the bridge needs of a registry: its snapshot and its pool events. A `PoolRegistry` fits. */
export interface InstrumentedRegistry<S extends string> extends MetricsRegistry<S> {
  /** Adds a listener (the bridge adds one per event it records from). */
  on<E extends keyof InstrumentedRegistryEvents<S>>(event: E, listener: (...args: InstrumentedRegistryEvents<S>[E]) => void): unknown;
  /** Removes a listener added with `on`. */
  off<E extends keyof InstrumentedRegistryEvents<S>>(event: E, listener: (...args: InstrumentedRegistryEvents<S>[E]) => void): unknown;
}

/** Options of {@link instrumentRegistry}. */
export interface InstrumentRegistryOptions<S extends string> {
  /** The OpenTelemetry meter to create the instruments on, e.g. `metrics.getMeter('pg-bulkhead')`. */
  readonly meter: Meter;
  /** Adds the usage tracker's instruments (`pg_bulkhead.usage.*`). */
  readonly usage?: MetricsUsageSource;
  /** Adds the detector's incident instruments (`pg_bulkhead.incidents.*`). */
  readonly detector?: MetricsDetector<S>;
  /** Wall clock for the age of the last usage flush. @default Date.now */
  readonly clock?: Pick<Clock, 'wallNow'>;
  /**
   * Where the `create_time`, `wait_time` and `use_time` histograms come from:
   * - a {@link HistogramProducer} (from `createHistogramProducer()`, given to the reader as a metric producer):
   *   read at collection time from the histograms the pools keep anyway; nothing is added to an acquire or a
   *   release. The cheapest way, and the one to use on a busy service.
   * - `true`: recorded on the meter from the registry's `acquire`, `acquire-timeout`, `release` and `connect`
   *   events; each acquire and each release then costs one OpenTelemetry `Histogram.record()` (the SDK hashes the
   *   attributes on every call, about a microsecond).
   * - `false`: no histograms; only the observable instruments, read at collection time.
   * @default true
   */
  readonly histograms?: boolean | HistogramProducer;
}

/** What {@link instrumentRegistry} returns: call `dispose()` to detach. */
export interface RegistryInstrumentation {
  /** Detaches every listener and observable callback; the instruments report nothing more. Idempotent. */
  dispose(): void;
}

/**
 * Publishes a registry's metrics through OpenTelemetry: the database-client semantic-convention instruments per
 * pool (`db.client.connection.count` by `db.client.connection.state`, `.idle.max`, `.idle.min`, `.max`,
 * `.pending_requests`, `.timeouts`, and the `.create_time`, `.wait_time` and `.use_time` histograms in seconds),
 * each with `db.client.connection.pool.name` = `<applicationName>:<service>`, plus pg-bulkhead's own (connections
 * created and closed by reason, failed opens, queue-full rejections, errors, circuit state, the shared budget, and,
 * when given, the usage tracker and the detector's incidents). The names, units and attributes are the ones
 * `toPrometheus` writes, so one dashboard reads either path.
 *
 * Observable instruments read one `stats()` snapshot per collection. The histograms are read the same way when a
 * {@link HistogramProducer} is given as `histograms`; by default they record from the registry's `acquire`,
 * `acquire-timeout`, `release` and `connect` events, from the moment this is called: listeners are attached only
 * here, so a registry without the bridge does no extra work. `@opentelemetry/api` is only a type
 * here: this module loads nothing of it, and the main entry point never loads this module.
 * @throws InvalidArgumentError `ERR_INVALID_ARGUMENT` when `registry` or `options.meter` is not what is expected.
 * @example
 * import { metrics } from '@opentelemetry/api';
 * import { instrumentRegistry } from 'pg-bulkhead/otel';
 * const otel = instrumentRegistry(registry, { meter: metrics.getMeter('pg-bulkhead'), usage, detector });
 * // on shutdown
 * otel.dispose();
 */
export function instrumentRegistry<S extends string>(registry: InstrumentedRegistry<S>, options: InstrumentRegistryOptions<S>): RegistryInstrumentation {
  checkArguments(registry, options);
  const { meter } = options;
  // The histograms first: attaching to a producer may refuse, and nothing else is registered by then.
  let detach = (): void => {};
  const histograms = options.histograms ?? true;
  if (histograms === true) detach = recordHistograms(registry, meter);
  else if (histograms !== false) detach = attachableOf(histograms)!.attach(registry);
  // One observable per gauge/counter, all fed by one batch callback that takes one snapshot per collection.
  const observables = new Map<string, Observable>();
  for (const instrument of Object.values(INSTRUMENTS) as InstrumentSpec[]) {
    if (instrument.kind === 'histogram') continue;
    const opts = { unit: instrument.unit, description: instrument.description };
    const create = instrument.kind === 'counter' ? meter.createObservableCounter : instrument.kind === 'updowncounter' ? meter.createObservableUpDownCounter : meter.createObservableGauge;
    observables.set(instrument.name, create.call(meter, instrument.name, opts));
  }
  const sources = { registry, usage: options.usage, detector: options.detector, clock: options.clock };
  const collect: BatchObservableCallback = (observer) => {
    for (const reading of readMetrics(sources)) {
      const observable = observables.get(reading.instrument.name);
      if (observable === undefined) continue;
      for (const point of reading.points) observer.observe(observable, point.value, point.attributes);
    }
  };
  const observed = [...observables.values()];
  meter.addBatchObservableCallback(collect, observed);

  let disposed = false;
  return Object.freeze({
    dispose(): void {
      if (disposed) return;
      disposed = true;
      detach();
      meter.removeBatchObservableCallback(collect, observed);
    },
  });
}

/** Creates the three histograms and records into them from pool events; returns what detaches the listeners. */
function recordHistograms<S extends string>(registry: InstrumentedRegistry<S>, meter: Meter): () => void {
  // Histograms in seconds, with the same bucket bounds as the Prometheus text (wait buckets cover every acquire timeout).
  const anyService = Object.values(registry.stats().services)[0] as { acquireWaitTotal?: { boundsMs: readonly number[] } } | undefined;
  const seconds = (boundsMs: readonly number[]): number[] => boundsMs.map((ms) => ms / 1_000);
  const histogram = (instrument: InstrumentSpec, boundsMs: readonly number[]): Histogram =>
    meter.createHistogram(instrument.name, { unit: instrument.unit, description: instrument.description, advice: { explicitBucketBoundaries: seconds(boundsMs) } });
  const waitTime = histogram(INSTRUMENTS.waitTime, anyService?.acquireWaitTotal?.boundsMs ?? LATENCY_BOUNDS_MS);
  const useTime = histogram(INSTRUMENTS.useTime, LATENCY_BOUNDS_MS);
  const createTime = histogram(INSTRUMENTS.createTime, LATENCY_BOUNDS_MS);
  // One frozen attribute set per service, built once: recording allocates nothing of ours.
  const attributesByService = new Map<string, Attributes>();
  const attributesOf = (service: string): Attributes => {
    let attributes = attributesByService.get(service);
    if (attributes === undefined) {
      attributes = Object.freeze({ [METRIC_ATTRIBUTES.poolName]: poolNameOf(registry, service) });
      attributesByService.set(service, attributes);
    }
    return attributes;
  };
  const onAcquire = (e: AcquireEvent<S>): void => waitTime.record(e.waitMs / 1_000, attributesOf(e.service));
  const onTimeout = (e: AcquireTimeoutEvent<S>): void => waitTime.record(e.waitedMs / 1_000, attributesOf(e.service));
  const onRelease = (e: ReleaseEvent<S>): void => useTime.record(e.heldMs / 1_000, attributesOf(e.service));
  const onConnect = (e: ConnectEvent<S>): void => createTime.record(e.durationMs / 1_000, attributesOf(e.service));
  registry.on('acquire', onAcquire);
  registry.on('acquire-timeout', onTimeout);
  registry.on('release', onRelease);
  registry.on('connect', onConnect);
  return () => {
    registry.off('acquire', onAcquire);
    registry.off('acquire-timeout', onTimeout);
    registry.off('release', onRelease);
    registry.off('connect', onConnect);
  };
}

function checkArguments(registry: unknown, options: unknown): void {
  const r = registry as Partial<InstrumentedRegistry<string>> | null;
  if (typeof r !== 'object' || r === null || typeof r.stats !== 'function' || typeof r.on !== 'function' || typeof r.off !== 'function') {
    throw new InvalidArgumentError(`instrumentRegistry: registry: expected a PoolRegistry (stats, on, off), got ${describe(registry)}`);
  }
  const meter = (options as { meter?: Partial<Meter> } | null | undefined)?.meter;
  const methods = ['createHistogram', 'createObservableCounter', 'createObservableUpDownCounter', 'createObservableGauge', 'addBatchObservableCallback', 'removeBatchObservableCallback'] as const;
  const missing = methods.filter((m) => typeof meter?.[m] !== 'function');
  if (missing.length > 0) {
    throw new InvalidArgumentError(`instrumentRegistry: options.meter: expected an OpenTelemetry Meter (@opentelemetry/api >= 1.7), got ${describe(meter)}${meter === undefined || meter === null ? '' : ` without ${missing.join(', ')}`}`);
  }
  const { usage, detector, histograms } = options as { usage?: { stats?: unknown }; detector?: { incidents?: unknown; openedIncidents?: unknown }; histograms?: unknown };
  if (histograms !== undefined && typeof histograms !== 'boolean' && attachableOf(histograms) === undefined) {
    throw new InvalidArgumentError(`instrumentRegistry: options.histograms: expected a boolean or a producer from createHistogramProducer(), got ${describe(histograms)}`);
  }
  if (usage !== undefined && typeof usage?.stats !== 'function') throw new InvalidArgumentError(`instrumentRegistry: options.usage: expected a usage tracker (stats), got ${describe(usage)}`);
  if (detector !== undefined && (typeof detector?.incidents !== 'function' || typeof detector.openedIncidents !== 'function')) {
    throw new InvalidArgumentError(`instrumentRegistry: options.detector: expected an interference detector (incidents, openedIncidents), got ${describe(detector)}`);
  }
}
