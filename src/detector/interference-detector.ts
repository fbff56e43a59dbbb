// The detector's facade: its lifecycle, its public views, and one evaluation wired from the pieces. The sampler
// keeps the counters (sampler.ts); a table of rules judges each victim (rules.ts); the server probe adds what the
// server sees (server-probe.ts); blame names the aggressors (blame.ts); advice completes the recommendations
// (advice.ts); incidents open and close with hysteresis (incident-book.ts); auto mitigation acts (mitigation.ts);
// the report sums it up (report.ts).

import { SafeEventEmitter } from '../events/safe-emitter';
import { systemClock, type Clock, type TimerHandle } from '../clock';
import { isCapacityRefusal } from '../pool/client';
import type { RegistryStats } from '../registry/pool-registry';
import type { ResizeCheck } from '../registry/resize-check';
import type { LatencyHistogram } from '../stats/latency-buckets';
import type { HealthReport, Incident, LastConnectionError, MitigationAction, Recommendation } from './incident';
import { resolveDetectorOptions, type DetectorOptions, type ResolvedDetectorOptions } from './options';
import { ServerProbe, type ProbeResult } from './server-probe';
import type { Evaluation, Finding } from './findings';
import { Sampler } from './sampler';
import { applyRules, ruleContext } from './rules';
import { blame, blameLockHolders, nameServerHolders } from './blame';
import { advise, fitToDeployment } from './advice';
import { IncidentBook } from './incident-book';
import { Mitigation } from './mitigation';
import { buildReport } from './report';
import type { DetectorRegistry } from './detector-registry';

export type { DetectorRegistry } from './detector-registry';

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

/**
 * Watches a registry for one service starving another and turns what it sees into {@link Incident}s.
 * Create it with {@link createInterferenceDetector}.
 *
 * Cost: nothing per acquire or release (acquire waits and hold times are read from the registry's since-start
 * buckets); one small record per connection failure; everything else runs once per evaluation, over one
 * `registry.stats()` snapshot. Memory is bounded: a ring of `windowMs / intervalMs` samples, one open incident per
 * service holding at most one recommendation per kind and service (updated in place), a `historySize` ring of
 * closed ones.
 */
export class InterferenceDetector<S extends string = string> extends SafeEventEmitter<DetectorEvents<S>> {
  readonly #registry: DetectorRegistry<S>;
  readonly #clock: Clock;
  readonly #options: ResolvedDetectorOptions<S>;
  readonly #index = new Map<S, number>();
  readonly #protected: ReadonlySet<S>;
  readonly #sampler: Sampler<S>;
  readonly #incidents: IncidentBook<S>;
  readonly #mitigation: Mitigation<S>;
  #probe: ServerProbe<S> | null = null;
  #timer: TimerHandle | null = null;
  #running = false;
  /** True from stop() until start(): the probe's client is ended and no long-lived one may be opened again. */
  #stopped = false;
  /** Status of the last probe, for the report (the probe of a check after stop() is gone by then). */
  #probeStatus: 'ok' | 'unavailable' | 'idle' = 'idle';
  /** Monotonic ms of the last evaluation that probed the server, or null (for `probeIntervalMs`). */
  #lastProbeAt: number | null = null;
  #checking: Promise<HealthReport<S>> | null = null;
  #last: HealthReport<S> | null = null;
  readonly #lastConnectionErrors = new Map<S, LastConnectionError>();
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
    this.#sampler = new Sampler(registry.services, this.#options);
    this.#mitigation = new Mitigation(registry, () => this.#clock.wallNow(), (action) => this.emit('mitigation', action));
    this.#incidents = new IncidentBook<S>(
      { calmIntervals: this.#options.calmIntervals, historySize: this.#options.historySize, protect: this.#protected },
      {
        updated: (incident, f) => {
          if (this.#options.mitigation === 'auto') this.#mitigation.mitigate(incident, f);
        },
        announce: (type, incident) => this.emit(type, incident),
        closing: (incident) => this.#mitigation.release(incident),
        recovered: (incident) => this.emit('recovered', incident),
      },
    );
    this.#sampler.push(this.#registry.stats(), this.#clock.now(), true);
    this.#listen();
  }

  /** Keeps the last connection failure per service (see lastConnectionErrors); its payload is already redacted. */
  readonly #onConnectionError = (event: { readonly service: S; readonly error: Error }): void => {
    const i = this.#index.get(event.service);
    if (i === undefined) return;
    const error: unknown = event.error;
    const message = error instanceof Error ? error.message : String(error);
    const code = (error as { code?: unknown } | null)?.code;
    if (isCapacityRefusal(error)) {
      // A failure path only: one stats() snapshot to know how many connections the server had room for.
      let held: number | undefined;
      try {
        // Open connections only (leased and idle): `connections` also counts attempts in flight, this refused one too.
        const totals = this.#registry.stats().totals;
        held = totals.inUse + totals.idle;
      } catch {
        // a closed registry: keep the previous figure
      }
      this.#sampler.countCapacityRefusal(i, held);
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
    this.#mitigation.restoreAll();
    await closed;
  }

  /** True between start() and stop(). */
  get running(): boolean {
    return this.#running;
  }

  // ---- public views ----------------------------------------------------------------------------------------

  /**
   * Evaluates now (one `registry.stats()` snapshot, plus the server probe if a signal fired) and returns the
   * health report. Concurrent calls share one evaluation.
   */
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
    return this.#incidents.snapshots();
  }

  /** Closed incidents, oldest first; at most `historySize`. */
  history(): Incident<S>[] {
    return this.#incidents.history();
  }

  /** Recommendations of the open incidents, without duplicates. */
  recommendations(): Recommendation<S>[] {
    const all = new Map<string, Recommendation<S>>();
    for (const incident of this.#incidents.open()) for (const [key, r] of incident.recommendations) all.set(key, r);
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
    for (const service of this.#registry.services) out[service] = this.#incidents.openedFor(service);
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

  async #evaluate(): Promise<HealthReport<S>> {
    const stats = this.#registry.stats();
    const now = this.#clock.now();
    this.#sampler.push(stats, now);
    const t = this.#options.thresholds;
    const capacity = Math.max(1, stats.budget.total);
    const findings = new Map<S, Finding<S>>();
    for (const [victim, i] of this.#index) {
      const context = ruleContext(stats, victim, i, now, {
        sampler: this.#sampler,
        services: this.#registry.services,
        options: this.#registry.serviceOptions(victim),
        isProtected: this.#protected.has(victim),
        detector: this.#options,
        capacity,
      });
      const found = applyRules(context);
      if (found.signals.length > 0) findings.set(victim, { ...found, aggressors: new Map(), noRecommendation: null });
    }

    // The blocking view is not free: ask the server when something already looks wrong on the client, or (with
    // probeIntervalMs) when the last probe is that old: another instance's locks show in no figure of this registry.
    const every = this.#options.probeIntervalMs;
    const due = every > 0 && (this.#lastProbeAt === null || now - this.#lastProbeAt >= every);
    const probing = this.#options.serverProbe && (findings.size > 0 || due);
    if (probing) this.#lastProbeAt = now;
    const probeResult = probing ? await this.#probeServer(t.idleInTransactionMs) : null;
    const evaluation = this.#evaluation(stats, capacity, now);
    if (probeResult !== null) {
      blameLockHolders(findings, probeResult, evaluation);
      nameServerHolders(findings, probeResult);
    }
    blame(findings, evaluation);
    const idle = new Map<S, { sessions: number; longestMs: number }>();
    for (const entry of probeResult?.idleInTransaction ?? []) idle.set(entry.service, entry);
    // Services named as aggressors, now or in an incident still open: more connections for them would hurt a victim.
    const aggressorsAnywhere = this.#incidents.aggressors();
    for (const f of findings.values()) for (const service of f.aggressors.keys()) aggressorsAnywhere.add(service);
    const validateResize = (service: S, limits: { readonly size?: number; readonly overflow?: number }): ResizeCheck =>
      this.#registry.validateResize(service, limits);
    advise(findings, evaluation, { idle, aggressorsAnywhere, validateResize });

    // (issue 15) Waits inside PgBouncer show in no client-side signal: with the registry's pgbouncerAdmin, SHOW
    // POOLS is read at every evaluation (by the probe when it ran).
    let pgbouncerWaits = probeResult?.pgbouncerWaits ?? [];
    if (probeResult === null && this.#options.serverProbe && !this.#stopped && this.#registry.pgbouncer?.() !== undefined) {
      pgbouncerWaits = await (this.#probe ??= this.#newProbe()).pgbouncerWaits();
    }
    fitToDeployment(findings, evaluation, pgbouncerWaits, this.#registry.pooler ?? 'none');

    const wall = this.#clock.wallNow();
    this.#incidents.update(findings, wall);
    const report = this.#report(stats, wall, findings);
    this.#last = report;
    return report;
  }

  /** What blame and advice read of this evaluation. */
  #evaluation(stats: RegistryStats<S>, capacity: number, now: number): Evaluation<S> {
    const indexOf = (service: S): number => this.#index.get(service) as number;
    return {
      stats,
      services: this.#registry.services,
      capacity,
      thresholds: this.#options.thresholds,
      isProtected: (service) => this.#protected.has(service),
      windowTimeouts: (service) => this.#sampler.window(indexOf(service), now).timeouts,
      heldAtRefusal: (service) => this.#sampler.heldAtRefusal(indexOf(service)),
      serviceOptions: (service) => this.#registry.serviceOptions(service),
      originalOptions: (service) => this.#mitigation.originalOptions(service),
      mitigated: (service) => this.#mitigation.has(service),
    };
  }

  /** One server probe. After stop() (which ended the probe) through a probe of its own, ended before returning. */
  async #probeServer(idleThresholdMs: number): Promise<ProbeResult<S> | null> {
    if (this.#stopped) {
      const once = this.#newProbe();
      try {
        return await once.sample(idleThresholdMs);
      } finally {
        this.#probeStatus = once.status;
        await once.close();
      }
    }
    const probe = (this.#probe ??= this.#newProbe());
    const result = await probe.sample(idleThresholdMs);
    this.#probeStatus = probe.status;
    return result;
  }

  #newProbe(): ServerProbe<S> {
    return new ServerProbe<S>(() => this.#registry.openClient('detector'), this.#registry.applicationName, this.#registry.services, {
      clock: this.#clock,
      timeoutMs: this.#options.probeTimeoutMs,
      instanceId: this.#registry.instanceId,
      pgbouncer: this.#registry.pgbouncer?.(),
    });
  }

  #report(stats: RegistryStats<S>, wall: number, findings: ReadonlyMap<S, Finding<S>>): HealthReport<S> {
    const now = this.#clock.now();
    return buildReport({
      stats,
      at: wall,
      services: this.#registry.services,
      protect: this.#protected,
      findings,
      open: this.#incidents.open(),
      incidents: this.#incidents.snapshots(),
      window: (service) => this.#sampler.window(this.#index.get(service) as number, now),
      serverProbe: !this.#options.serverProbe ? 'off' : this.#probeStatus,
    });
  }
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
export function createInterferenceDetector<S extends string>(
  options: DetectorOptions<NoInfer<S>> & { readonly registry: DetectorRegistry<S> },
): InterferenceDetector<S> {
  return new InterferenceDetector<S>(options);
}
