/**
 * `pg-bulkhead/otel`: the OpenTelemetry metrics bridge, a separate entry point so that the main one never loads
 * it. `@opentelemetry/api` is an optional peer dependency, used for types only.
 * @module
 */
export { instrumentRegistry } from './instrument-registry';
export { createHistogramProducer } from './histogram-producer';
export type { HistogramCollection, HistogramMetric, HistogramProducer, HistogramProducerOptions, HistogramValue } from './histogram-producer';
export type { InstrumentRegistryOptions, InstrumentedRegistry, InstrumentedRegistryEvents, RegistryInstrumentation } from './instrument-registry';
export { INSTRUMENTS, METRIC_ATTRIBUTES, prometheusName, prometheusLabel } from '../metrics/instruments';
export type { InstrumentSpec, InstrumentKind } from '../metrics/instruments';
export type { MetricsRegistry, MetricsDetector, MetricsUsageSource } from '../metrics/readings';
