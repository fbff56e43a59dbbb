import { SafeEventEmitter } from '../events/safe-emitter';
import { systemClock, type Clock, type TimerHandle } from '../clock';
import type { ResolvedServiceOptions } from '../pool/options';
import type { ServiceStats } from '../types';
import type { RegistryEvents, RegistryStats } from '../registry/pool-registry';
import type {
  Aggressor,
  HealthReport,
  HealthStatus,
  Incident,
  IncidentType,
  LastConnectionError,
  MitigationAction,
  Recommendation,
  ServiceHealth,
  Severity,
  Signal,
  SignalKind,
} from './incident';
import type { LatencyHistogram } from '../stats/latency-buckets';
import { resolveDetectorOptions, type DetectorOptions, type ResolvedDetectorOptions } from './options';
import {
  boundSlowQueries,
  checkConnectivity,
  CONTENTION_KINDS,
  fitServerCapacity,
  makeRoomInBudget,
  lendableSlots,
  limitIdleTransactions,
  lowerOverflow,
  raiseBudget,
  reduceChurn,
  raiseOverflow,
  raiseSize,
  recommendationKey,
  shortenTransactions,
  shrunkOverflow,
} from './recommendations';
import { ServerProbe, type PgBouncerProbeTarget, type ProbeClient, type ProbeResult } from './server-probe';
import { fitRecommendationToPooler, pgbouncerWaitSignals } from './deployment';
import type { Pooler } from '../pool/session-settings';
import type { ResizeCheck } from '../registry/resize-check';
import { describeHolders } from '../errors';
import {
  aggressorOf,
  budgetLimits,
  ms,
  pct,
  rank,
  sharedHeldByOthers,
  sharedHoldersOf,
  signal,
  whyNoAdvice,
  type Finding,
} from './findings';
import { checkAdvice } from './advice-check';

/**
 * What the detector needs from a registry: exactly the public API of {@link PoolRegistry} (which fits), so a
 * scripted stand-in works in tests. `stats().budget.total`, when the registry reports a shared connection budget,
 * is the capacity shares are measured against; otherwise `stats().totals.max`.
 */
export interface DetectorRegistry<S extends string = string> {
  /** The configured service names. */
  readonly services: readonly S[];
  /** Prefix of the sessions' application_name (`<applicationName>:<service>`), to attribute server sessions. */
  readonly applicationName: string;
  /** This instance's tag (`<app>:<service>@<instanceId>`), so the probe tells its own sessions from other instances'. (issue 15) */
  readonly instanceId?: string | undefined;
  /** How per-service settings are applied (the registry's `pooler`), so advice fits the deployment. (issue 15) */
  readonly pooler?: Pooler | undefined;
  /** PgBouncer's admin console and aliases (the registry's `pgbouncerAdmin`), for `SHOW POOLS`. (issue 15) */
  pgbouncer?(): PgBouncerProbeTarget<S> | undefined;
  /** A fresh snapshot of every service and the budget; read once per evaluation. */
  stats(): RegistryStats<S>;
  /** A service's limits, for recommendations with numbers. */
  serviceOptions(service: S): ResolvedServiceOptions;
  /**
   * Whether `resize` would accept these limits now, without changing anything: every `size`/`overflow`
   * recommendation is checked with it before it is offered.
   */
  validateResize(service: S, limits: { readonly size?: number; readonly overflow?: number }): ResizeCheck;
  /** Changes a service's limits: used by `mitigation: 'auto'` only. */
  resize(service: S, limits: { readonly size?: number; readonly overflow?: number }, reason?: string): void;
  /** A client outside every pool, for the server probe. */
  openClient(label?: string): Promise<ProbeClient>;
  /** Only connection failures are listened to (`connect-error`, `error`): nothing on the hot path. */
  on<E extends 'connect-error' | 'error'>(event: E, listener: (...args: RegistryEvents<S>[E]) => void): unknown;
  /** Stops listening (on `stop()`). */
  off<E extends 'connect-error' | 'error'>(event: E, listener: (...args: RegistryEvents<S>[E]) => void): unknown;
}

/** Longest connection error message kept, characters. */
const MAX_ERROR_MESSAGE = 500;

/** Events of an {@link InterferenceDetector}. Listeners run in their own try/catch. */
export interface DetectorEvents<S extends string = string> {
  /**
   * An incident with another service involved (aggressors holding the shared slots, the locks or the server's
   * connections, or the server out of capacity) opened, or escalated (a new signal kind, a new aggressor, a higher
   * severity, or a saturation or connectivity incident that turned out to involve another service).
   */
  interference: [Incident<S>];
  /** A service ran out of what is its own (its pool, its queries' time) with nobody else involved; or escalated. */
  saturation: [Incident<S>];
  /** A service cannot connect (database down or restarting, network, credentials); or escalated. */
  connectivity: [Incident<S>];
  /** An incident closed after `calmIntervals` calm evaluations. */
  recovered: [Incident<S>];
  /** `mitigation: 'auto'` shrank or restored a service's limits. */
  mitigation: [MitigationAction<S>];
}

/** Latency histograms of one service since the registry started, for metrics. */
export interface ServiceLatencyHistograms {
  /** Time callers waited for a connection (acquires and acquire timeouts), ms. */
  readonly waitTime: LatencyHistogram;
  /** Time connections were held by a lease, ms. */
  readonly useTime: LatencyHistogram;
}

/** Cumulative counters of one service at one evaluation, plus the acquire waits seen since the previous one. */
interface Sample {
  readonly at: number;
  readonly errors: Float64Array;
  readonly connectionErrors: Float64Array;
  readonly timeouts: Float64Array;
  readonly waitSum: Float64Array;
  readonly waitCount: Float64Array;
  readonly capacityRefusals: Float64Array;
  readonly created: Float64Array;
}

interface OpenIncident<S extends string> {
  readonly id: string;
  readonly victim: S;
  readonly victimProtected: boolean;
  readonly startedAt: number;
  type: IncidentType;
  noRecommendation: string | null;
  aggressors: Map<S, Aggressor<S>>;
  signals: Signal<S>[];
  kinds: Set<SignalKind>;
  severity: Severity;
  recommendations: Map<string, Recommendation<S>>;
  updatedAt: number;
  endedAt: number | null;
  occurrences: number;
  calm: number;
  mitigations: MitigationAction<S>[];
}

interface Mitigated<S extends string> {
  readonly original: { readonly size: number; readonly overflow: number };
  readonly applied: number;
  readonly incidents: Map<string, OpenIncident<S>>;
}


/** SQLSTATE of a server refusing a connection for lack of capacity: too_many_connections. */
const SERVER_CAPACITY_CODE = '53300';
const TYPE_RANK: Record<IncidentType, number> = { saturation: 0, connectivity: 1, interference: 2 };

type SafeEmitter = { emit(event: string, ...args: unknown[]): boolean };

const CIRCUIT_OPEN_AFTER = 3;
const NO_HOLDERS: Readonly<Record<string, number>> = Object.freeze({});

const SEVERITY_RANK: Record<Severity, number> = { warning: 0, critical: 1 };
const STATUS_RANK: Record<HealthStatus, number> = { healthy: 0, degraded: 1, unhealthy: 2 };

/**
 * Watches a registry for one service starving another and turns what it sees into {@link Incident}s.
 * Create it with {@link createInterferenceDetector}.
 *
 * Cost: nothing per acquire or release (acquire waits and hold times are read from the registry's since-start
 * buckets); one small record per connection failure; everything else runs once per evaluation, over one
 * `registry.stats()` snapshot. Memory is bounded: a ring of `windowMs / intervalMs` samples, one open incident per service holding at
 * most one recommendation per kind and service (updated in place), a `historySize` ring of closed ones.
 */
export class InterferenceDetector<S extends string = string> extends SafeEventEmitter<DetectorEvents<S>> {
  readonly #registry: DetectorRegistry<S>;
  readonly #clock: Clock;
  readonly #options: ResolvedDetectorOptions<S>;
  readonly #index = new Map<S, number>();
  readonly #protected: ReadonlySet<S>;
  readonly #samples: Sample[] = [];
  readonly #sampleCapacity: number;
  /** The registry's since-start acquire-wait sum and count at the last pushed sample. */
  readonly #pushedWaitSum: Float64Array;
  readonly #pushedWaitCount: Float64Array;
  readonly #open = new Map<S, OpenIncident<S>>();
  readonly #history: Incident<S>[] = [];
  readonly #mitigated = new Map<S, Mitigated<S>>();
  readonly #opened = new Map<S, number>();
  /** Per service: monotonic time of the first evaluation in the current run of evaluations that saw it above `utilization`, NaN when not. */
  readonly #fullSince: Float64Array;
  #probe: ServerProbe<S> | null = null;
  #timer: TimerHandle | null = null;
  #running = false;
  /** True from stop() until start(): the probe's client is ended and no long-lived one may be opened again. */
  #stopped = false;
  /** Status of the last probe, for the report (the probe of a check after stop() is gone by then). */
  #probeStatus: 'ok' | 'unavailable' | 'idle' = 'idle';
  #checking: Promise<HealthReport<S>> | null = null;
  #nextId = 1;
  #last: HealthReport<S> | null = null;
  #lastCounts: { errors: Float64Array; connectionErrors: Float64Array; timeouts: Float64Array; capacityRefusals: Float64Array; created: Float64Array } | null = null;
  readonly #lastConnectionErrors = new Map<S, LastConnectionError>();
  /** Per service: monotonic time of the first evaluation in the current run that saw it wait for others' shared slots, NaN when not. */
  readonly #sharedWaitSince: Float64Array;
  /** Per service: connections refused by the server for lack of capacity (53300) since the detector was created. */
  readonly #capacityRefusals: Float64Array;
  /** Per service: connections the registry held at the last capacity refusal (what the server had room for). */
  readonly #heldAtRefusal: Float64Array;
  #listening = false;

  /** @internal use {@link createInterferenceDetector} */
  constructor(options: DetectorOptions<S> & { readonly registry: DetectorRegistry<S> }) {
    super();
    const registry = options.registry;
    this.#registry = registry;
    this.#options = resolveDetectorOptions(options, registry.services, (s) => registry.serviceOptions(s).priority);
    this.#clock = options.clock ?? systemClock;
    registry.services.forEach((s, i) => this.#index.set(s, i));
    this.#protected = new Set(this.#options.protect);
    const n = registry.services.length;
    this.#pushedWaitSum = new Float64Array(n);
    this.#pushedWaitCount = new Float64Array(n);
    this.#fullSince = new Float64Array(n).fill(NaN);
    this.#capacityRefusals = new Float64Array(n);
    this.#sharedWaitSince = new Float64Array(n).fill(NaN);
    this.#heldAtRefusal = new Float64Array(n);
    // Two samples per interval at most are kept (see #sample), so the ring covers the window.
    this.#sampleCapacity = Math.ceil((2 * this.#options.windowMs) / this.#options.intervalMs) + 2;
    this.#sample(this.#registry.stats(), this.#clock.now(), true);
    this.#listen();
  }

  /** Keeps the last connection failure per service (see lastConnectionErrors); its payload is already redacted. */
  readonly #onConnectionError = (event: { readonly service: S; readonly error: Error }): void => {
    const i = this.#index.get(event.service);
    if (i === undefined) return;
    const error: unknown = event.error;
    const message = error instanceof Error ? error.message : String(error);
    const code = (error as { code?: unknown } | null)?.code;
    if (code === SERVER_CAPACITY_CODE) {
      // A failure path only: one stats() snapshot to know how many connections the server had room for.
      this.#capacityRefusals[i] = (this.#capacityRefusals[i] as number) + 1;
      try {
        // Open connections only (leased and idle): `connections` also counts attempts in flight, this refused one too.
        const totals = this.#registry.stats().totals;
        this.#heldAtRefusal[i] = totals.inUse + totals.idle;
      } catch {
        // a closed registry: keep the previous figure
      }
    }
    this.#lastConnectionErrors.set(event.service, {
      message: message.length > MAX_ERROR_MESSAGE ? `${message.slice(0, MAX_ERROR_MESSAGE)}…` : message,
      code: typeof code === 'string' ? code : undefined,
      at: this.#clock.wallNow(),
    });
  };

  #listen(): void {
    if (this.#listening) return;
    this.#listening = true;
    this.#registry.on('connect-error', this.#onConnectionError);
    this.#registry.on('error', this.#onConnectionError);
  }

  #unlisten(): void {
    if (!this.#listening) return;
    this.#listening = false;
    this.#registry.off('connect-error', this.#onConnectionError);
    this.#registry.off('error', this.#onConnectionError);
  }

  /** The options in force, defaults applied. */
  get options(): ResolvedDetectorOptions<S> {
    return this.#options;
  }

  // ---- lifecycle -------------------------------------------------------------------------------------------

  /** Evaluates every `intervalMs` until {@link InterferenceDetector.stop}. The timer is unref'd. Idempotent. */
  start(): this {
    if (this.#running) return this;
    this.#running = true;
    this.#stopped = false;
    this.#listen();
    this.#schedule();
    return this;
  }

  #schedule(): void {
    if (!this.#running) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = null;
      this.check()
        .catch(() => {})
        .finally(() => this.#schedule());
    }, this.#options.intervalMs);
  }

  /**
   * Stops the timer, ends the probe's client and puts back any limits auto mitigation changed. Idempotent;
   * `start()` may be called again afterwards. An evaluation in flight finishes first, without waiting for its
   * server probe (which is ended), so this settles within `probeTimeoutMs` at most, however the server behaves.
   * A `check()` after `stop()` probes the server through a client of its own that it ends before returning.
   */
  async stop(): Promise<void> {
    this.#running = false;
    this.#stopped = true;
    this.#unlisten();
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    // Close the probe first: that settles an in-flight sample, so the evaluation below cannot hang on it.
    const probe = this.#probe;
    this.#probe = null;
    const closed = probe?.close();
    const checking = this.#checking;
    if (checking !== null) await checking.catch(() => {});
    for (const service of [...this.#mitigated.keys()]) this.#restore(service, null);
    await closed;
  }

  /** True between start() and stop(). */
  get running(): boolean {
    return this.#running;
  }

  // ---- public views ----------------------------------------------------------------------------------------

  /** Evaluates now (one `registry.stats()` snapshot, plus the server probe if a signal fired) and returns the health report. Concurrent calls share one evaluation. */
  check(): Promise<HealthReport<S>> {
    this.#checking ??= this.#evaluate().finally(() => {
      this.#checking = null;
    });
    return this.#checking;
  }

  /** The report of the last evaluation (evaluating once, synchronously and without the probe, if none ran yet). */
  health(): HealthReport<S> {
    return this.#last ?? this.#report(this.#registry.stats(), this.#clock.wallNow(), new Map());
  }

  /** Open incidents, oldest first. */
  incidents(): Incident<S>[] {
    return [...this.#open.values()].map((r) => snapshot(r));
  }

  /** Closed incidents, oldest first; at most `historySize`. */
  history(): Incident<S>[] {
    return [...this.#history];
  }

  /** Recommendations of the open incidents, without duplicates. */
  recommendations(): Recommendation<S>[] {
    const all = new Map<string, Recommendation<S>>();
    for (const incident of this.#open.values()) for (const [key, r] of incident.recommendations) all.set(key, r);
    return [...all.values()];
  }

  /**
   * The last connection failure of each service that had one since the detector was created (failed connects and
   * connections that broke while idle, from the registry's `connect-error` and `error` events, password removed).
   * Not listened for between `stop()` and the next `start()`. The messages may name the host, user and database:
   * the health handler includes them only with `includeErrors: true`.
   */
  lastConnectionErrors(): { readonly [K in S]?: LastConnectionError } {
    const out: { [K in S]?: LastConnectionError } = {};
    for (const [service, error] of this.#lastConnectionErrors) out[service] = error;
    return out;
  }

  /** Incidents opened since the detector was created, per victim (a counter: it never goes down). */
  openedIncidents(): { readonly [K in S]: number } {
    const out = {} as Record<S, number>;
    for (const service of this.#registry.services) out[service] = this.#opened.get(service) ?? 0;
    return out;
  }

  /** Since-start histograms of acquire wait and connection use time per service (read from the registry's stats). */
  latencyHistograms(): { readonly [K in S]: ServiceLatencyHistograms } {
    const stats = this.#registry.stats();
    const out = {} as Record<S, ServiceLatencyHistograms>;
    for (const service of this.#index.keys()) {
      const s = stats.services[service];
      out[service] = { waitTime: s.acquireWaitTotal, useTime: s.holdTimeTotal };
    }
    return out;
  }

  // ---- evaluation ----------------------------------------------------------------------------------------

  /** Pushes a sample at most twice per interval, so check() called in a loop cannot flood the ring. */
  #sample(stats: RegistryStats<S>, now: number, force = false): void {
    const last = this.#samples[this.#samples.length - 1];
    const n = this.#registry.services.length;
    const errors = new Float64Array(n);
    const connectionErrors = new Float64Array(n);
    const timeouts = new Float64Array(n);
    const waitSum = new Float64Array(n);
    const waitCount = new Float64Array(n);
    const capacityRefusals = Float64Array.from(this.#capacityRefusals);
    const created = new Float64Array(n);
    for (const [service, i] of this.#index) {
      const s = stats.services[service];
      errors[i] = s.errors;
      connectionErrors[i] = s.connectionErrors;
      timeouts[i] = s.timeouts;
      created[i] = s.created ?? 0;
      waitSum[i] = s.acquireWaitTotal.sumMs;
      waitCount[i] = s.acquireWaitTotal.count;
    }
    this.#lastCounts = { errors, connectionErrors, timeouts, capacityRefusals, created };
    if (!force && last !== undefined && now - last.at < this.#options.intervalMs / 2) return;
    // Each sample holds the waits seen since the previous one: the registry's since-start totals, differenced.
    const sampleSum = new Float64Array(n);
    const sampleCount = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      sampleSum[i] = force ? 0 : (waitSum[i] as number) - (this.#pushedWaitSum[i] as number);
      sampleCount[i] = force ? 0 : (waitCount[i] as number) - (this.#pushedWaitCount[i] as number);
    }
    this.#pushedWaitSum.set(waitSum);
    this.#pushedWaitCount.set(waitCount);
    this.#samples.push({ at: now, errors, connectionErrors, timeouts, waitSum: sampleSum, waitCount: sampleCount, capacityRefusals, created });
    while (this.#samples.length > this.#sampleCapacity) this.#samples.shift();
  }

  /** Errors, connection failures and timeouts of `service` within the window (current cumulative minus the oldest sample in it). */
  #windowCounts(i: number, now: number): { errors: number; connectionErrors: number; timeouts: number; capacityRefusals: number; created: number } {
    const since = now - this.#options.windowMs;
    let base: Sample | undefined;
    for (const s of this.#samples) {
      if (s.at >= since) {
        base = s;
        break;
      }
    }
    base ??= this.#samples[this.#samples.length - 1];
    const current = this.#lastCounts;
    if (base === undefined || current === null) return { errors: 0, connectionErrors: 0, timeouts: 0, capacityRefusals: 0, created: 0 };
    return {
      capacityRefusals: (current.capacityRefusals[i] as number) - (base.capacityRefusals[i] as number),
      created: (current.created[i] as number) - (base.created[i] as number),
      errors: (current.errors[i] as number) - (base.errors[i] as number),
      connectionErrors: (current.connectionErrors[i] as number) - (base.connectionErrors[i] as number),
      timeouts: (current.timeouts[i] as number) - (base.timeouts[i] as number),
    };
  }

  /** Mean acquire wait in the short window and in the rest of the long one, with sample counts. */
  #waitWindows(i: number, now: number): { short: { mean: number; count: number }; baseline: { mean: number; count: number } } {
    let shortSum = 0;
    let shortCount = 0;
    let baseSum = 0;
    let baseCount = 0;
    const shortSince = now - this.#options.shortWindowMs;
    const longSince = now - this.#options.windowMs;
    for (const s of this.#samples) {
      if (s.at < longSince) continue;
      // A sample holds the waits recorded *before* its time: the first one in the window started earlier.
      if (s.at > shortSince) {
        shortSum += s.waitSum[i] as number;
        shortCount += s.waitCount[i] as number;
      } else {
        baseSum += s.waitSum[i] as number;
        baseCount += s.waitCount[i] as number;
      }
    }
    return {
      short: { mean: shortCount === 0 ? 0 : shortSum / shortCount, count: shortCount },
      baseline: { mean: baseCount === 0 ? 0 : baseSum / baseCount, count: baseCount },
    };
  }

  async #evaluate(): Promise<HealthReport<S>> {
    const stats = this.#registry.stats();
    const now = this.#clock.now();
    this.#sample(stats, now);
    const t = this.#options.thresholds;
    // Read structurally: the shared budget is reported by newer registries only.
    const budgetTotal = (stats as { budget?: { total?: unknown } }).budget?.total;
    const capacity = Math.max(1, typeof budgetTotal === 'number' ? budgetTotal : stats.totals.max);
    const findings = new Map<S, Finding<S>>();
    const finding = (service: S): Finding<S> => {
      let f = findings.get(service);
      if (f === undefined) {
        f = { signals: [], aggressors: new Map(), recommendations: [], noRecommendation: null };
        findings.set(service, f);
      }
      return f;
    };

    for (const [victim, i] of this.#index) {
      const s = stats.services[victim];
      const options = this.#registry.serviceOptions(victim);
      const isProtected = this.#protected.has(victim);
      const add = (signal: Signal<S>, recommendation?: Recommendation<S> | null): void => {
        const f = finding(victim);
        f.signals.push(signal);
        if (recommendation) f.recommendations.push(recommendation);
      };
      if (s.queryTime.count > 0 && s.queryTime.p95 > t.slowQueryMs) {
        add(signal('slow-queries', victim, s.queryTime.p95, t.slowQueryMs, 'ms', `${victim} p95 query time ${ms(s.queryTime.p95)} > ${ms(t.slowQueryMs)}`), boundSlowQueries(victim, options, { p50Ms: s.queryTime.p50, p95Ms: s.queryTime.p95, slowQueryMs: t.slowQueryMs }));
      }
      const window = this.#windowCounts(i, now);
      // Connection failures and acquire timeouts only: SQL errors (a constraint violation, a bad query) are the
      // application's business and say nothing about the service getting its connections.
      const failures = window.connectionErrors + window.timeouts;
      if (failures > t.failures) {
        add(
          signal(
            'failures',
            victim,
            failures,
            t.failures,
            'count',
            `${victim} had ${window.connectionErrors} connection failures and ${window.timeouts} acquire timeouts in ${ms(this.#options.windowMs)} (more than ${t.failures})`,
          ),
          // Refusals for lack of capacity are the server's capacity, not the connection: they get capacity advice below.
          window.connectionErrors > window.capacityRefusals
            ? checkConnectivity(victim, { consecutiveConnectFailures: s.consecutiveConnectFailures, connectionErrors: window.connectionErrors, windowMs: this.#options.windowMs })
            : null,
        );
      }
      // A full pool alone is no harm: a one-connection pool is at 100 % whenever it works (the usage tracker's
      // during a flush). It counts once somebody waits, an acquire timed out, or it has stayed full for a while.
      const full = s.utilization > t.utilization;
      if (!full) this.#fullSince[i] = NaN;
      else if (Number.isNaN(this.#fullSince[i] as number)) this.#fullSince[i] = now;
      const fullForMs = full ? now - (this.#fullSince[i] as number) : 0;
      if (full && (s.waiting > 0 || window.timeouts > 0 || fullForMs >= t.sustainedExhaustionMs)) {
        const harm =
          s.waiting > 0 ? `${s.waiting} waiting` : window.timeouts > 0 ? `${window.timeouts} acquire timeouts in ${ms(this.#options.windowMs)}` : `full for ${ms(fullForMs)}`;
        add(signal('exhaustion', victim, s.utilization, t.utilization, 'ratio', `${victim} uses ${s.inUse} of ${s.max} connections (${pct(s.utilization)} > ${pct(t.utilization)}), ${harm}`));
      }
      // Waiting for shared budget slots that other services hold: they are involved, whatever the priorities.
      // A caller caught waiting for a slot at the instant of one evaluation, with no harm measured, is a blip: it
      // counts once it is seen at two evaluations in a row, or with waits above acquireWaitMs or timeouts.
      const heldByOthers = sharedHeldByOthers(stats, victim);
      const waitsForShared = (s.waitingForShared ?? 0) > 0 && heldByOthers.total > 0;
      if (!waitsForShared) this.#sharedWaitSince[i] = NaN;
      else if (Number.isNaN(this.#sharedWaitSince[i] as number)) this.#sharedWaitSince[i] = now;
      const sharedWaitHurts = window.timeouts > 0 || (s.acquireWait.count > 0 && s.acquireWait.p95 > t.acquireWaitMs) || now - (this.#sharedWaitSince[i] as number) >= this.#options.intervalMs / 2;
      if (waitsForShared && sharedWaitHurts) {
        add(signal('shared-slots', victim, heldByOthers.total, stats.budget.shared, 'count', `${victim} waits for shared slots (${s.waitingForShared} waiting): ${describeHolders(stats.budget.shared, stats.budget.sharedInUseByService)}`));
      }
      // Connections opened beyond what broke: replacing broken ones is connectivity's business, not churn.
      const churn = t.connectionChurn > 0 ? t.connectionChurn : Math.max(10, 2 * s.max);
      const opened = window.created - window.connectionErrors;
      if (opened > churn) {
        add(signal('connection-churn', victim, opened, churn, 'count', `${victim} opened ${opened} connections in ${ms(this.#options.windowMs)} for a pool of ${s.max} (more than ${churn})`), reduceChurn(victim, options, { opened, windowMs: this.#options.windowMs }));
      }
      if (window.capacityRefusals > 0) {
        add(signal('server-capacity', victim, window.capacityRefusals, 0, 'count', `the server refused ${window.capacityRefusals} ${victim} connection(s) for lack of capacity (53300 too many clients) in ${ms(this.#options.windowMs)}, with ${this.#heldAtRefusal[i]} registry connections open`));
      }
      if (!isProtected) continue;
      // Starving: callers wait, and it hurts: waits above acquireWaitMs, timeouts, or a wait for shared slots. A caller
      // waiting a few ms for a connection being opened, caught at the instant of an evaluation, is not starvation.
      const starving = s.waiting > 0 && ((s.acquireWait.count > 0 && s.acquireWait.p95 > t.acquireWaitMs) || window.timeouts > 0 || (s.waitingForShared ?? 0) > 0);
      const waits = this.#waitWindows(i, now);
      const riseThreshold = Math.max(waits.baseline.mean * t.waitRiseRatio, waits.baseline.mean + t.waitRiseMinMs);
      if (waits.short.count >= t.minSamples && waits.baseline.count >= t.minSamples && waits.short.mean > riseThreshold) {
        add(signal('wait-rise', victim, waits.short.mean, riseThreshold, 'ms', `${victim} mean acquire wait ${ms(waits.short.mean)} over the last ${ms(this.#options.shortWindowMs)}, baseline ${ms(waits.baseline.mean)} (threshold ${ms(riseThreshold)})`));
      }
      for (const aggressor of this.#registry.services) {
        if (aggressor === victim || rank(stats.services[aggressor].priority) <= rank(s.priority)) continue;
        const a = stats.services[aggressor];
        const share = a.inUse / capacity;
        // Connections within its own size are its own: only one that uses its overflow (shared capacity) can take
        // anything from the victim.
        if (starving && share > t.monopolyShare && a.overflowInUse > 0) {
          add(
            signal('monopolization', aggressor, share, t.monopolyShare, 'ratio', `${aggressor} (${a.priority}) holds ${a.inUse} of ${capacity} connections (${pct(share)} > ${pct(t.monopolyShare)}) while ${victim} waits (${s.waiting} waiting, p95 wait ${ms(s.acquireWait.p95)})`),
          );
        }
      }
    }

    // The blocking view is not free: ask the server only when something already looks wrong on the client.
    let probeResult: ProbeResult<S> | null = null;
    if (this.#options.serverProbe && findings.size > 0) {
      if (this.#stopped) {
        // stop() already ended the probe and nothing would end a new one: probe once, then end its client.
        const once = this.#newProbe();
        try {
          probeResult = await once.sample(t.idleInTransactionMs);
        } finally {
          this.#probeStatus = once.status;
          await once.close();
        }
      } else {
        const probe = (this.#probe ??= this.#newProbe());
        probeResult = await probe.sample(t.idleInTransactionMs);
        this.#probeStatus = probe.status;
      }
    }
    const idleByService = new Map<S, { sessions: number; longestMs: number }>();
    for (const idle of probeResult?.idleInTransaction ?? []) idleByService.set(idle.service, idle);
    for (const pair of probeResult?.blocking ?? []) {
      const f = finding(pair.victim);
      // (issue 15) Name the instances holding the locks when the blockers carry an instance identity.
      const where = pair.aggressorInstances.length === 0 ? '' : ` (instance ${pair.aggressorInstances.join(', ')})`;
      f.signals.push(signal('lock-blocking', pair.aggressor, pair.sessions, 0, 'count', `${pair.sessions} ${pair.victim} session(s) wait on locks held by ${pair.aggressor}${where}`));
      f.aggressors.set(pair.aggressor, aggressorOf(stats, pair.aggressor, capacity, pair.sessions));
      f.recommendations.push(shortenTransactions(pair.aggressor, pair.victim, pair.blockers));
      // A blocker idle in transaction is reported the moment it is seen blocking, not once its own threshold passed.
      const idle = pair.blockers.filter((b) => b.state !== null && b.state.startsWith('idle in transaction'));
      if (idle.length > 0) {
        const longest = Math.max(...idle.map((b) => b.stateMs));
        f.signals.push(signal('idle-in-transaction', pair.aggressor, longest, 0, 'ms', `${idle.length} ${pair.aggressor} session(s) idle in transaction (longest ${ms(longest)}) hold locks ${pair.victim} waits for`));
        f.recommendations.push(limitIdleTransactions(pair.aggressor, this.#registry.serviceOptions(pair.aggressor), t.idleInTransactionMs));
      }
    }

    // Aggressors by share, and the recommendations that follow from the whole picture.
    for (const [victim, f] of findings) {
      const s = stats.services[victim];
      // Contention for connections or locks; failures count only with acquire timeouts among them: connections that
      // fail to open or break (a restart) are the server's, not another service's doing.
      const windowTimeouts = this.#windowCounts(this.#index.get(victim) as number, now).timeouts;
      const contention = f.signals.some((x) => CONTENTION_KINDS.has(x.kind) && (x.kind !== 'failures' || windowTimeouts > 0));
      if (this.#protected.has(victim) && contention) {
        for (const aggressor of this.#registry.services) {
          if (aggressor === victim || rank(stats.services[aggressor].priority) <= rank(s.priority)) continue;
          const a = stats.services[aggressor];
          const share = a.inUse / capacity;
          if (share < t.aggressorShare && !f.signals.some((x) => x.kind === 'monopolization' && x.service === aggressor)) continue;
          if (a.overflowInUse === 0) continue; // all within its guaranteed size: nothing of the victim's
          if (!f.aggressors.has(aggressor)) f.aggressors.set(aggressor, aggressorOf(stats, aggressor, capacity, 0));
          const lower = lowerOverflow(aggressor, this.#originalOptions(aggressor));
          if (lower !== null) f.recommendations.push(lower);
        }
        // Its own slow queries with nobody else involved hold its connections: more of them would be held the same way.
        const ownSlowness = f.aggressors.size === 0 && f.signals.some((x) => x.kind === 'slow-queries');
        if (!ownSlowness && f.signals.some((x) => x.kind !== 'lock-blocking' && x.kind !== 'slow-queries' && x.kind !== 'idle-in-transaction' && x.kind !== 'server-capacity')) {
          f.recommendations.push(raiseSize(victim, this.#registry.serviceOptions(victim), s.waiting));
        }
      }
      // Whoever holds the shared slots the victim waits for is involved: a holder of the same or lower priority is
      // asked to give some back; when only higher-priority services hold them, the budget serves them first by
      // design, and only a larger budget lends the victim more.
      if (f.signals.some((x) => x.kind === 'shared-slots' && x.service === victim)) {
        let yielding = 0;
        const held = sharedHeldByOthers(stats, victim);
        for (const holder of held.byService.keys()) {
          if (!f.aggressors.has(holder)) f.aggressors.set(holder, aggressorOf(stats, holder, capacity, 0));
          if (rank(stats.services[holder].priority) < rank(s.priority)) continue;
          yielding++;
          const lower = lowerOverflow(holder, this.#originalOptions(holder));
          if (lower !== null) f.recommendations.push(lower); // the shared-slots signal says how many it holds
        }
        const budget = budgetLimits(stats, s.priority);
        if (yielding === 0 && budget !== null) {
          const holders = [...held.byService].map(([name, n]) => `${name} ${n}`).join(', ');
          f.recommendations.push(makeRoomInBudget(victim, { waiting: s.waitingForShared, holders }, budget));
        }
      }
      const capacitySignal = f.signals.find((x) => x.kind === 'server-capacity' && x.service === victim);
      if (capacitySignal !== undefined) {
        const i = this.#index.get(victim) as number;
        f.recommendations.push(fitServerCapacity(victim, { refusals: capacitySignal.value, heldAtRefusal: this.#heldAtRefusal[i] as number }, budgetLimits(stats, s.priority)));
      }
    }
    // Services named as aggressors, now or in an incident still open: more connections for them would hurt a victim.
    const aggressorsAnywhere = new Set<S>();
    for (const f of findings.values()) for (const service of f.aggressors.keys()) aggressorsAnywhere.add(service);
    for (const incident of this.#open.values()) for (const service of incident.aggressors.keys()) aggressorsAnywhere.add(service);
    for (const [victim, f] of findings) {
      const s = stats.services[victim];
      // A service that runs out of its own pool with nobody else involved (no aggressor, not an aggressor itself,
      // not waiting for shared slots others hold) gets advice about its own limits, and the budget's where those
      // stop it: nobody else's would help.
      const i = this.#index.get(victim) as number;
      const timeouts = this.#windowCounts(i, now).timeouts;
      const ownShortage = f.signals.some((x) => x.service === victim && (x.kind === 'exhaustion' || (x.kind === 'failures' && timeouts > 0)));
      const othersInvolved = f.aggressors.size > 0 || f.signals.some((x) => x.service !== victim || x.kind === 'server-capacity') || aggressorsAnywhere.has(victim) || this.#mitigated.has(victim);
      const advisedSize = f.recommendations.some((r) => r.kind === 'raise-size' && r.service === victim);
      // A pool full with nobody waiting and nothing timed out works at its limit: no change is due yet (whyNoAdvice).
      const harmed = s.waiting > 0 || timeouts > 0;
      if (ownShortage && harmed && !othersInvolved && !advisedSize) {
        const budget = budgetLimits(stats, s.priority);
        const figures = { inUse: s.inUse, waiting: s.waiting, timeouts };
        if (s.inUse >= s.max && s.waitingForShared === 0) {
          // Its own limit: size + overflow all in use.
          f.recommendations.push(raiseOverflow(victim, this.#registry.serviceOptions(victim), figures, budget));
        } else if (budget !== null && s.waitingForShared > 0 && s.sharedInUse >= lendableSlots(budget)) {
          // The budget's limit: it holds every shared slot it may ever borrow and waits for more (when others hold
          // the slots it waits for, they are involved and their limits are the question, not the budget).
          f.recommendations.push(raiseBudget(victim, this.#registry.serviceOptions(victim), { ...figures, sharedInUse: s.sharedInUse }, budget));
        }
      }
      for (const aggressor of [...f.aggressors.keys(), victim]) {
        const idle = idleByService.get(aggressor);
        if (idle === undefined) continue;
        if (f.signals.some((x) => x.kind === 'idle-in-transaction' && x.service === aggressor)) continue; // already seen blocking
        f.signals.push(signal('idle-in-transaction', aggressor, idle.longestMs, t.idleInTransactionMs, 'ms', `${idle.sessions} ${aggressor} session(s) idle in transaction, longest ${ms(idle.longestMs)} (> ${ms(t.idleInTransactionMs)})`));
        f.recommendations.push(limitIdleTransactions(aggressor, this.#registry.serviceOptions(aggressor), t.idleInTransactionMs));
      }
      // Lock waits get lock advice only: more connections for the victim would only queue behind the same locks.
      if (f.signals.some((x) => x.kind === 'lock-blocking')) {
        f.recommendations = f.recommendations.filter((r) => !(r.service === victim && (r.kind === 'raise-size' || r.kind === 'raise-overflow' || r.kind === 'raise-budget')));
      }
      // Every size/overflow change offered is one the registry accepts, or says what it takes first.
      const budgetNow = { maxConnections: capacity, reserve: typeof stats.budget?.reserve === 'number' ? stats.budget.reserve : 0 };
      const checked: Recommendation<S>[] = [];
      for (const r of f.recommendations) {
        const advice = checkAdvice(r, (service, limits) => this.#registry.validateResize(service, limits), budgetNow);
        if (advice !== null) checked.push(advice);
      }
      f.recommendations = checked;
      f.noRecommendation = checked.length > 0 ? null : whyNoAdvice(victim, f, s, aggressorsAnywhere.has(victim), this.#mitigated.has(victim));
    }

    // (issue 15) Waits inside PgBouncer show in no client-side signal: with the registry's pgbouncerAdmin, SHOW
    // POOLS is read at every evaluation (by the probe when it ran). Then advice that the deployment can apply.
    let pgbouncerWaits = probeResult?.pgbouncerWaits ?? [];
    if (probeResult === null && this.#options.serverProbe && !this.#stopped && this.#registry.pgbouncer?.() !== undefined) {
      pgbouncerWaits = await (this.#probe ??= this.#newProbe()).pgbouncerWaits();
    }
    for (const wait of pgbouncerWaits) for (const service of wait.services) finding(service).signals.push(...pgbouncerWaitSignals(service, [wait]));
    for (const f of findings.values()) f.recommendations = f.recommendations.map((r) => fitRecommendationToPooler(r, this.#registry.pooler ?? 'none'));
    // A finding made of PgBouncer waits alone was not advised above: it still says why it has no advice.
    for (const [victim, f] of findings) {
      if (f.recommendations.length === 0 && f.noRecommendation === null) f.noRecommendation = whyNoAdvice(victim, f, stats.services[victim], false, this.#mitigated.has(victim));
    }

    const wall = this.#clock.wallNow();
    this.#updateIncidents(findings, wall);
    const report = this.#report(stats, wall, findings);
    this.#last = report;
    return report;
  }

  #newProbe(): ServerProbe<S> {
    return new ServerProbe<S>(() => this.#registry.openClient('detector'), this.#registry.applicationName, this.#registry.services, {
      clock: this.#clock,
      timeoutMs: this.#options.probeTimeoutMs,
      instanceId: this.#registry.instanceId,
      pgbouncer: this.#registry.pgbouncer?.(),
    });
  }

  /** A service's options before auto mitigation changed them, so recommendations quote the configured numbers. */
  #originalOptions(service: S): ResolvedServiceOptions {
    const options = this.#registry.serviceOptions(service);
    const mitigated = this.#mitigated.get(service);
    return mitigated === undefined ? options : { ...options, ...mitigated.original };
  }

  #updateIncidents(findings: Map<S, Finding<S>>, wall: number): void {
    for (const [victim, f] of findings) {
      const isProtected = this.#protected.has(victim);
      const type: IncidentType =
        f.aggressors.size > 0 || f.signals.some((x) => x.kind === 'server-capacity' || x.kind === 'shared-slots' || x.kind === 'monopolization' || x.kind === 'lock-blocking')
          ? 'interference'
          : f.recommendations.some((r) => r.kind === 'check-connectivity')
            ? 'connectivity'
            : 'saturation';
      const severity: Severity = isProtected && f.signals.some((x) => x.kind === 'failures' || x.kind === 'lock-blocking' || x.kind === 'monopolization') ? 'critical' : 'warning';
      let incident = this.#open.get(victim);
      let escalated = false;
      if (incident === undefined) {
        incident = {
          id: `${victim}-${this.#nextId++}`,
          victim,
          victimProtected: isProtected,
          startedAt: wall,
          type,
          noRecommendation: null,
          aggressors: new Map(),
          signals: [],
          kinds: new Set(),
          severity,
          recommendations: new Map(),
          updatedAt: wall,
          endedAt: null,
          occurrences: 0,
          calm: 0,
          mitigations: [],
        };
        this.#open.set(victim, incident);
        this.#opened.set(victim, (this.#opened.get(victim) ?? 0) + 1);
        escalated = true;
      }
      for (const x of f.signals) {
        if (!incident.kinds.has(x.kind)) escalated = true;
        incident.kinds.add(x.kind);
      }
      for (const [service, a] of f.aggressors) {
        if (!incident.aggressors.has(service)) escalated = true;
        incident.aggressors.set(service, a);
      }
      // Lock waits, or the victim's own slow queries with nobody else involved: its connections are held by what
      // more connections would only repeat, so "more connections" advice is withdrawn for the rest of the incident.
      const noMoreConnections =
        incident.kinds.has('lock-blocking') ||
        f.signals.some((x) => x.kind === 'lock-blocking') ||
        (f.aggressors.size === 0 && incident.aggressors.size === 0 && f.signals.some((x) => x.kind === 'slow-queries' && x.service === victim));
      if (noMoreConnections) {
        // The probe does not run at every evaluation, nor catch every wait: what was seen once holds for the incident.
        for (const [key, r] of incident.recommendations) {
          if (r.service === victim && (r.kind === 'raise-size' || r.kind === 'raise-overflow' || r.kind === 'raise-budget')) incident.recommendations.delete(key);
        }
      }
      // A victim slowed by a lock is not slow on its own account: its statement timeout is not the lever.
      const lockSeen = incident.kinds.has('lock-blocking') || f.signals.some((x) => x.kind === 'lock-blocking');
      if (lockSeen) for (const [key, r] of incident.recommendations) if (r.service === victim && r.kind === 'bound-slow-queries') incident.recommendations.delete(key);
      for (const r of f.recommendations) {
        if (noMoreConnections && r.service === victim && (r.kind === 'raise-size' || r.kind === 'raise-overflow' || r.kind === 'raise-budget')) continue;
        if (lockSeen && r.service === victim && r.kind === 'bound-slow-queries') continue;
        incident.recommendations.set(recommendationKey(r), r);
      }
      incident.noRecommendation =
        incident.recommendations.size > 0 ? null : (f.noRecommendation ?? `more connections cannot help ${victim}: it waits on locks or on its own slow queries`);
      if (TYPE_RANK[type] > TYPE_RANK[incident.type]) {
        incident.type = type;
        escalated = true;
      }
      if (SEVERITY_RANK[severity] > SEVERITY_RANK[incident.severity]) {
        incident.severity = severity;
        escalated = true;
      }
      incident.signals = f.signals;
      incident.updatedAt = wall;
      incident.occurrences++;
      incident.calm = 0;
      if (this.#options.mitigation === 'auto') this.#mitigate(incident, f);
      if (escalated) this.emit(incident.type, snapshot(incident));
    }
    for (const [victim, incident] of [...this.#open]) {
      if (findings.has(victim)) continue;
      incident.calm++;
      if (incident.calm < this.#options.calmIntervals) continue;
      this.#open.delete(victim);
      incident.endedAt = wall;
      for (const [service, mitigated] of [...this.#mitigated]) {
        if (mitigated.incidents.delete(incident.id) && mitigated.incidents.size === 0) this.#restore(service, incident);
      }
      const closed = snapshot(incident);
      this.#history.push(closed);
      if (this.#history.length > this.#options.historySize) this.#history.shift();
      this.emit('recovered', closed);
    }
  }

  /** Shrinks the overflow of each monopolizing aggressor once, remembering the original to put back. */
  #mitigate(incident: OpenIncident<S>, f: Finding<S>): void {
    if (!incident.victimProtected) return;
    for (const x of f.signals) {
      if (x.kind !== 'monopolization') continue;
      const service = x.service;
      const existing = this.#mitigated.get(service);
      if (existing !== undefined) {
        existing.incidents.set(incident.id, incident);
        continue;
      }
      const options = this.#registry.serviceOptions(service);
      if (options.overflow === 0) continue;
      const previous = { size: options.size, overflow: options.overflow };
      const current = { size: options.size, overflow: shrunkOverflow(options.overflow) };
      try {
        this.#registry.resize(service, { overflow: current.overflow }, `pg-bulkhead detector: ${service} starves ${incident.victim} (incident ${incident.id})`);
      } catch {
        continue; // closed registry: nothing to mitigate
      }
      this.#mitigated.set(service, { original: previous, applied: current.overflow, incidents: new Map([[incident.id, incident]]) });
      const action: MitigationAction<S> = { action: 'shrink', service, incidentId: incident.id, victim: incident.victim, previous, current, at: this.#clock.wallNow() };
      incident.mitigations.push(action);
      this.emit('mitigation', action);
    }
  }

  /** Puts a mitigated service's overflow back, unless someone else changed it since. */
  #restore(service: S, incident: OpenIncident<S> | null): void {
    const mitigated = this.#mitigated.get(service);
    if (mitigated === undefined) return;
    this.#mitigated.delete(service);
    let options: ResolvedServiceOptions;
    try {
      options = this.#registry.serviceOptions(service);
      if (options.overflow !== mitigated.applied) return;
      this.#registry.resize(service, { overflow: mitigated.original.overflow }, `pg-bulkhead detector: restore ${service} after recovery`);
    } catch {
      return; // registry closed
    }
    const first = incident ?? mitigated.incidents.values().next().value ?? null;
    const action: MitigationAction<S> = {
      action: 'restore',
      service,
      incidentId: first?.id ?? '',
      victim: first?.victim ?? service,
      previous: { size: options.size, overflow: options.overflow },
      current: { size: options.size, overflow: mitigated.original.overflow },
      at: this.#clock.wallNow(),
    };
    incident?.mitigations.push(action);
    this.emit('mitigation', action);
  }

  #report(stats: RegistryStats<S>, wall: number, findings: Map<S, Finding<S>>): HealthReport<S> {
    const services = {} as Record<S, ServiceHealth<S>>;
    let overall: HealthStatus = 'healthy';
    const now = this.#clock.now();
    for (const [service, i] of this.#index) {
      const s: ServiceStats = stats.services[service];
      const reasons: string[] = [];
      let status: HealthStatus = 'healthy';
      const raise = (to: HealthStatus, why: string): void => {
        reasons.push(why);
        if (STATUS_RANK[to] > STATUS_RANK[status]) status = to;
      };
      const reported = (s as { circuit?: unknown }).circuit;
      const circuit: ServiceHealth['circuit'] =
        reported === 'open' || reported === 'half-open' || reported === 'closed' ? reported : s.consecutiveConnectFailures >= CIRCUIT_OPEN_AFTER ? 'open' : 'closed';
      if (circuit === 'open') raise('unhealthy', `circuit open: ${s.consecutiveConnectFailures} consecutive connection failures`);
      else if (circuit === 'half-open') raise('degraded', 'circuit half-open: probing the database');
      for (const x of findings.get(service)?.signals ?? []) raise('degraded', x.message);
      const incidents: string[] = [];
      for (const incident of this.#open.values()) {
        if (incident.victim === service) {
          incidents.push(incident.id);
          raise(incident.severity === 'critical' ? 'unhealthy' : 'degraded', `victim of incident ${incident.id} (${[...incident.kinds].join(', ')})`);
        } else if (incident.aggressors.has(service)) {
          incidents.push(incident.id);
          raise('degraded', `aggressor in incident ${incident.id}`);
        }
      }
      const window = this.#windowCounts(i, now);
      const sharedSlotHolders = (s.waitingForShared ?? 0) > 0 ? (s.sharedSlotHolders ?? sharedHoldersOf(stats)) : NO_HOLDERS;
      const sharedCapacity = (stats as { budget?: { shared?: number } }).budget?.shared;
      if (Object.keys(sharedSlotHolders).length > 0 && sharedCapacity !== undefined) raise('degraded', `waiting for a shared slot: ${describeHolders(sharedCapacity, sharedSlotHolders)}`);
      services[service] = {
        service,
        status,
        priority: s.priority,
        protected: this.#protected.has(service),
        utilization: s.utilization,
        inUse: s.inUse,
        max: s.max,
        waiting: s.waiting,
        acquireWaitP95Ms: s.acquireWait.p95,
        queryTimeP95Ms: s.queryTime.p95,
        errors: window.errors,
        connectionErrors: window.connectionErrors,
        timeouts: window.timeouts,
        circuit,
        consecutiveConnectFailures: s.consecutiveConnectFailures,
        sharedSlotHolders,
        incidents,
        reasons: [...new Set(reasons)],
      };
      if (STATUS_RANK[status] > STATUS_RANK[overall]) overall = status;
    }
    return {
      status: overall,
      at: wall,
      services,
      incidents: this.incidents(),
      serverProbe: !this.#options.serverProbe ? 'off' : this.#probeStatus,
    };
  }
}

function snapshot<S extends string>(r: OpenIncident<S>): Incident<S> {
  return Object.freeze({
    id: r.id,
    victim: r.victim,
    victimProtected: r.victimProtected,
    type: r.type,
    aggressors: Object.freeze([...r.aggressors.values()].sort((a, b) => b.share - a.share)),
    signals: Object.freeze([...r.signals]),
    kinds: Object.freeze([...r.kinds]),
    severity: r.severity,
    recommendations: Object.freeze([...r.recommendations.values()]),
    noRecommendation: r.noRecommendation,
    startedAt: r.startedAt,
    updatedAt: r.updatedAt,
    endedAt: r.endedAt,
    occurrences: r.occurrences,
    mitigations: Object.freeze([...r.mitigations]),
  });
}

/**
 * Creates an {@link InterferenceDetector} over a registry. The service names come from the registry alone, so a
 * name in `protect` that the registry does not have (`protect: ['atuh']`) is a compile error at `protect`.
 * It does nothing until `start()` (or `check()`),
 * except remember each service's last connection failure (listening to `connect-error` and `error` until `stop()`).
 * @throws ConfigError `ERR_CONFIG` listing every invalid option.
 * @example
 * const detector = createInterferenceDetector({ registry, protect: ['auth'], mitigation: 'auto' });
 * detector.on('interference', (incident) => log.warn(incident));
 * detector.start();
 */
export function createInterferenceDetector<S extends string>(options: DetectorOptions<NoInfer<S>> & { readonly registry: DetectorRegistry<S> }): InterferenceDetector<S> {
  return new InterferenceDetector<S>(options);
}
