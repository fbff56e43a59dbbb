export { createPoolRegistry, PoolRegistry } from './registry/pool-registry';
export type { RegistryEvents, RegistryStats, RegistryCloseReport, CloseOptions } from './registry/pool-registry';
export type { RegistryOptions } from './registry/options';
export type { ResizeCheck } from './registry/resize-check';
export { REGISTRY_DEFAULTS } from './registry/options';
export { servicePresets } from './registry/presets';
export type { PresetService } from './registry/presets';
export { SERVICE_DEFAULTS, PRIORITIES } from './pool/options';
export type { ServiceOptions, ResolvedServiceOptions, Priority } from './pool/options';
export type { ServiceStats, PoolCloseReport } from './pool/service-pool';
export { Lease } from './pool/lease';
export type { AcquireOptions } from './pool/acquire-options';
export type { QueryTextOrConfig, PgRow } from './pool/query-args';
export type { ServiceCounts } from './pool/service-pool';
export { PgPoolView } from './compat/pg-pool-view';
export type { ClientLike, ClientConstructor } from './pool/client';
export { isConnectionError } from './pool/client';
export type {
  PoolEvents,
  RemoveReason,
  ConnectEvent,
  ConnectErrorEvent,
  AcquireEvent,
  ReleaseEvent,
  AcquireTimeoutEvent,
  QueueFullEvent,
  RemoveEvent,
  LeakEvent,
  ConnectionErrorEvent,
  ResizeEvent,
  CircuitEvent,
  ServerCheckReport,
  ServerCapacityWarning,
  ServerWarning,
  SettingWarningEvent,
  PgBouncerPoolCheck,
} from './pool/events';
export { POOLERS } from './pool/session-settings';
export type { Pooler } from './pool/session-settings';
export type { CheckServerOptions } from './registry/server-check';
export type { BudgetStats } from './budget/budget';
export type { CircuitState, BreakerOptions } from './pool/circuit-breaker';
export type { LatencySummary } from './stats/rolling-histogram';
export { systemClock } from './clock';
export type { Clock, TimerHandle } from './clock';
export {
  BulkheadError,
  ConfigError,
  UnknownServiceError,
  AcquireTimeoutError,
  QueueFullError,
  PoolClosedError,
  LeaseReleasedError,
  ConnectTimeoutError,
  DatabaseUnavailableError,
  WriteInDoubtError,
  InvalidArgumentError,
  AbortedError,
  SettingNotAppliedError,
  isBulkheadError,
} from './errors';
export type { ErrorCode, ConfigProblem } from './errors';
export { createUsageTracker, UsageTracker } from './usage/usage-tracker';
export type { UsageStats, UsageCloseOptions, UsageTrackerState } from './usage/usage-tracker';
export { USAGE_DEFAULTS } from './usage/options';
export type { UsageTrackerOptions, UsageSink, UsageWriteMode } from './usage/options';
export { USAGE_BUCKETS } from './usage/bucket';
export type { UsageBucket } from './usage/bucket';
export type { UsageBatch, UsageRow } from './usage/batch';
export type { UsageRegistry, UsageLease } from './usage/registry-port';
export type {
  UsageTrackerEvents,
  UsageFlushEvent,
  UsageFlushErrorEvent,
  UsageDropEvent,
  UsageDroppedCallEvent,
  UsageQuarantineEvent,
  UsageDropReason,
  UsageFlushReport,
  UsageCloseReport,
  UsageInDoubtBatch,
} from './usage/events';
export { createInterferenceDetector, InterferenceDetector } from './detector/interference-detector';
export type { DetectorRegistry, DetectorEvents, ServiceLatencyHistograms } from './detector/interference-detector';
export { DETECTOR_DEFAULTS } from './detector/options';
export type { DetectorOptions, DetectorThresholds, MitigationMode, ResolvedDetectorOptions } from './detector/options';
export type {
  Incident,
  IncidentType,
  Signal,
  SignalKind,
  Aggressor,
  Recommendation,
  RecommendationKind,
  Severity,
  MitigationAction,
  HealthStatus,
  ServiceHealth,
  HealthReport,
  LastConnectionError,
} from './detector/incident';
export type { LatencyHistogram } from './stats/latency-buckets';
export type { ProbeClient, ProbeResult, PgBouncerWait, PgBouncerProbeTarget } from './detector/server-probe';
export { createHealthHandler } from './health/health-handler';
export type { HealthHandlerOptions, HealthRequest, HealthResponse, HealthSource, HealthBody, HealthBodyService } from './health/health-handler';
export { toPrometheus, PROMETHEUS_CONTENT_TYPE } from './metrics/prometheus';
export type { PrometheusOptions, MetricsRegistry, MetricsDetector, MetricsUsageSource } from './metrics/prometheus';
export { createBoardHandler, BOARD_DEFAULTS } from './board/board-handler';
export type { BoardHandlerOptions } from './board/board-handler';
export type { BoardSnapshot, BoardService, BoardBudget, BoardUsage, BoardRegistry, BoardDetector, BoardUsageSource } from './board/board-snapshot';
export { INSTRUMENTS, METRIC_ATTRIBUTES, prometheusName, prometheusLabel } from './metrics/instruments';
export type { InstrumentSpec, InstrumentKind } from './metrics/instruments';
export type { MetricsSources } from './metrics/readings';
export { waitBoundsMs } from './stats/latency-buckets';
