/**
 * The one list of metrics pg-bulkhead publishes, shared by the Prometheus text ({@link toPrometheus}) and the
 * OpenTelemetry bridge (`pg-bulkhead/otel`), so both paths carry the same names, units and attributes and one
 * dashboard reads either. Names are OpenTelemetry's (the database-client semantic conventions where they define
 * one, `pg_bulkhead.*` otherwise); the Prometheus names are derived from them the way OpenTelemetry's Prometheus
 * exporters render a metric ({@link prometheusName}).
 */

/** How an instrument aggregates. `updowncounter` and `gauge` are both gauges in Prometheus. */
export type InstrumentKind = 'counter' | 'updowncounter' | 'gauge' | 'histogram';

/** One metric: its OpenTelemetry name, kind, unit (UCUM, as the conventions write it) and description. */
export interface InstrumentSpec {
  readonly name: string;
  readonly kind: InstrumentKind;
  readonly unit: string;
  readonly description: string;
}

/** Attribute names (OpenTelemetry); the Prometheus label is the same with `.` turned into `_`. */
export const METRIC_ATTRIBUTES = Object.freeze({
  /** `<applicationName>:<service>`, the name each pool's sessions show in `pg_stat_activity`. */
  poolName: 'db.client.connection.pool.name',
  /** `idle` or `used`, on `db.client.connection.count`. */
  connectionState: 'db.client.connection.state',
  /** Why a connection was closed: `recycled`, `idle`, `overflow`, `broken`, `closed`. */
  reason: 'reason',
  /** Circuit breaker state: `closed`, `open`, `half-open`. */
  circuitState: 'state',
  /** A service priority: `highest`, `high`, `medium`, `low`. */
  priority: 'priority',
  /** Detector incidents: the event kind (`interference`, …), the victim and aggressor pools, the severity. */
  kind: 'kind',
  victim: 'victim',
  aggressor: 'aggressor',
  severity: 'severity',
} as const);

const spec = (name: string, kind: InstrumentKind, unit: string, description: string): InstrumentSpec => Object.freeze({ name, kind, unit, description });

/** Every metric, by a short key. Per-pool metrics carry `db.client.connection.pool.name`. */
export const INSTRUMENTS = Object.freeze({
  // OpenTelemetry database-client semantic conventions (connection pools)
  connectionCount: spec('db.client.connection.count', 'updowncounter', '{connection}', 'Connections currently open, by state (idle or used).'),
  idleMax: spec('db.client.connection.idle.max', 'updowncounter', '{connection}', 'Most idle open connections allowed (size + overflow).'),
  idleMin: spec('db.client.connection.idle.min', 'updowncounter', '{connection}', 'Idle connections kept open (the guaranteed size).'),
  max: spec('db.client.connection.max', 'updowncounter', '{connection}', 'Most open connections allowed (size + overflow).'),
  pendingRequests: spec('db.client.connection.pending_requests', 'updowncounter', '{request}', 'Requests waiting for a connection.'),
  timeouts: spec('db.client.connection.timeouts', 'counter', '{timeout}', 'Connection requests that timed out waiting for a connection.'),
  createTime: spec('db.client.connection.create_time', 'histogram', 's', 'Time it took to open a new connection.'),
  waitTime: spec('db.client.connection.wait_time', 'histogram', 's', 'Time it took to obtain a connection from the pool (timeouts included, at the time waited).'),
  useTime: spec('db.client.connection.use_time', 'histogram', 's', 'Time between borrowing a connection and returning it.'),
  // the pools, beyond the conventions
  created: spec('pg_bulkhead.connection.created', 'counter', '{connection}', 'Connections opened.'),
  closed: spec('pg_bulkhead.connection.closed', 'counter', '{connection}', 'Connections closed, by reason (recycled, idle, overflow, broken, closed, in-transaction).'),
  createFailures: spec('pg_bulkhead.connection.create_failures', 'counter', '{attempt}', 'Connection attempts that failed to open.'),
  capacityRefusals: spec('pg_bulkhead.connection.capacity_refusals', 'counter', '{attempt}', 'Connection attempts the server refused for lack of room (53300, or a PgBouncer client limit) while the pool had working connections.'),
  queueRejections: spec('pg_bulkhead.queue.rejections', 'counter', '{request}', 'Connection requests rejected because the wait queue was full (ERR_QUEUE_FULL).'),
  errors: spec('pg_bulkhead.errors', 'counter', '{error}', 'Failed queries and connection failures.'),
  circuitState: spec('pg_bulkhead.circuit.state', 'gauge', '', 'Connection circuit breaker: 1 for the current state, 0 for the others.'),
  utilization: spec('pg_bulkhead.connection.utilization', 'gauge', '1', 'Connections in use divided by the maximum, 0 to 1.'),
  acquireWaitP95: spec('pg_bulkhead.acquire_wait.p95', 'gauge', 's', 'p95 time waiting for a connection over the rolling window.'),
  queryTimeP95: spec('pg_bulkhead.query_time.p95', 'gauge', 's', 'p95 query time over the rolling window.'),
  // the shared budget
  budgetLimit: spec('pg_bulkhead.budget.limit', 'updowncounter', '{connection}', 'Most connections the registry opens in all (maxConnections).'),
  budgetGuaranteed: spec('pg_bulkhead.budget.guaranteed', 'updowncounter', '{connection}', 'Connections reserved as every service\'s guaranteed size.'),
  budgetShared: spec('pg_bulkhead.budget.shared', 'updowncounter', '{connection}', 'Shared slots for overflow connections (limit - guaranteed).'),
  budgetReserved: spec('pg_bulkhead.budget.reserved', 'updowncounter', '{connection}', 'Shared slots only high and highest services may take.'),
  budgetSharedUsed: spec('pg_bulkhead.budget.shared.used', 'updowncounter', '{connection}', 'Shared slots held, by pool.'),
  budgetSharedFree: spec('pg_bulkhead.budget.shared.free', 'updowncounter', '{connection}', 'Shared slots nobody holds.'),
  budgetWaiting: spec('pg_bulkhead.budget.waiting', 'updowncounter', '{request}', 'Connection opens waiting for a shared slot, by priority.'),
  // the usage tracker
  usagePendingKeys: spec('pg_bulkhead.usage.pending.keys', 'updowncounter', '{key}', 'Usage counter keys waiting for the next flush.'),
  usagePendingIncrements: spec('pg_bulkhead.usage.pending.increments', 'updowncounter', '{increment}', 'Sum of the usage increments waiting for the next flush.'),
  usageFlushedIncrements: spec('pg_bulkhead.usage.flushed.increments', 'counter', '{increment}', 'Sum of the usage increments written.'),
  usageFlushFailures: spec('pg_bulkhead.usage.flush.failures', 'counter', '{attempt}', 'Usage batch writes that failed (each is retried).'),
  usageDroppedCalls: spec('pg_bulkhead.usage.dropped.calls', 'counter', '{call}', 'Usage increment calls dropped (memory bound reached, or after close).'),
  usageDroppedIncrements: spec('pg_bulkhead.usage.dropped.increments', 'counter', '{increment}', 'Sum of the usage increments dropped.'),
  usageRejectedCalls: spec('pg_bulkhead.usage.rejected.calls', 'counter', '{call}', 'Usage increment calls refused as never storable (ERR_INVALID_ARGUMENT).'),
  usageQuarantinedRows: spec('pg_bulkhead.usage.quarantined.rows', 'counter', '{row}', 'Usage rows the sink refused for good, quarantined after bisecting their batch.'),
  usageQuarantinedIncrements: spec('pg_bulkhead.usage.quarantined.increments', 'counter', '{increment}', 'Sum of the usage increments in quarantined rows.'),
  usageLastFlushAge: spec('pg_bulkhead.usage.last_flush.age', 'gauge', 's', 'Time since the last successful usage write (absent before the first).'),
  // the interference detector
  incidentsOpen: spec('pg_bulkhead.incidents.open', 'updowncounter', '{incident}', 'Open detector incidents, by kind, victim, aggressor ("" when none is named) and severity.'),
  incidentsOpened: spec('pg_bulkhead.incidents.opened', 'counter', '{incident}', 'Detector incidents opened, by victim.'),
} satisfies Record<string, InstrumentSpec>);

/** A Prometheus label name for an OpenTelemetry attribute name. */
export function prometheusLabel(attribute: string): string {
  return attribute.replace(/[^a-zA-Z0-9_]/g, '_');
}

/**
 * The Prometheus name of a metric, as OpenTelemetry's Prometheus exporters write it: characters outside
 * `[a-zA-Z0-9_:]` become `_`, the unit is appended (`s` as `_seconds`; `1` as `_ratio` on gauges; annotations in
 * braces are dropped), and counters end in `_total`.
 * @example prometheusName(INSTRUMENTS.waitTime) // 'db_client_connection_wait_time_seconds'
 */
export function prometheusName(instrument: InstrumentSpec): string {
  let name = instrument.name.replace(/[^a-zA-Z0-9_:]/g, '_');
  const unit = UNIT_SUFFIXES[instrument.unit] ?? (instrument.unit === '1' && instrument.kind === 'gauge' ? 'ratio' : undefined);
  if (unit !== undefined && !name.endsWith(`_${unit}`)) name += `_${unit}`;
  if (instrument.kind === 'counter' && !name.endsWith('_total')) name += '_total';
  return name;
}

const UNIT_SUFFIXES: Readonly<Record<string, string>> = { s: 'seconds', ms: 'milliseconds', By: 'bytes' };
