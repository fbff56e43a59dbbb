import type { Clock } from '../clock';
import { ConfigChecker } from '../options/check';

/** Thresholds of the detector's rules. Every field is optional; defaults are in {@link DETECTOR_DEFAULTS}. */
export interface DetectorThresholds {
  /** A service's p95 query time above this is "slow responses", ms. @default 1000 */
  readonly slowQueryMs?: number;
  /**
   * More than this many connection failures (failed connects, connections that broke) plus acquire timeouts of
   * one service within `windowMs` is "repeated failures". SQL errors do not count: a service whose queries fail
   * (constraint violations, bad input) still gets its connections. Integer >= 0. @default 3
   */
  readonly failures?: number;
  /**
   * A service whose `inUse / max` is above this is "exhausted", 0..1, provided there is evidence of harm: callers
   * waiting, acquire timeouts within `windowMs`, or a full pool for `sustainedExhaustionMs`. A pool that is briefly
   * full with nobody waiting (a one-connection pool during a usage flush) is working, not exhausted. @default 0.8
   */
  readonly utilization?: number;
  /**
   * With nobody waiting and no acquire timeouts in the window, utilization must stay above `utilization` at every
   * evaluation for this long before it counts as exhaustion, ms (measured from the first evaluation that saw it).
   * `0` reports it at the first evaluation, with no further evidence.
   * @default 2 × intervalMs (the third consecutive evaluation while the detector runs)
   */
  readonly sustainedExhaustionMs?: number;
  /** A protected service whose p95 acquire wait is above this is waiting too long, ms. @default 100 */
  readonly acquireWaitMs?: number;
  /**
   * A lower-priority service holding more than this share of all connections while a protected one waits (below its own
   * `size + overflow`) is "monopolizing", 0..1. @default 0.5
   */
  readonly monopolyShare?: number;
  /** A lower-priority service holding at least this share of connections is named as an aggressor of a victim's incident, 0..1. @default 0.25 */
  readonly aggressorShare?: number;
  /** The short-window mean acquire wait must exceed the baseline mean times this to count as "rising", >= 1. @default 3 */
  readonly waitRiseRatio?: number;
  /** …and exceed the baseline mean by at least this much, so a rise from 0.1 ms to 0.5 ms is not reported, ms. @default 50 */
  readonly waitRiseMinMs?: number;
  /** Fewest acquires in the short window and in the baseline before the rise rule judges at all. Integer >= 1. @default 20 */
  readonly minSamples?: number;
  /** A session `idle in transaction` for longer than this is reported (server probe), ms. @default 5000 */
  readonly idleInTransactionMs?: number;
  /**
   * A service that opened more than this many connections within `windowMs` is "churning" (a recycle storm, an
   * idle timeout shorter than the gaps between bursts). `0` means `max(10, 2 × (size + overflow))` per service.
   * Integer >= 0. @default 0
   */
  readonly connectionChurn?: number;
}

/** What the detector does about interference it finds. */
export type MitigationMode = 'recommend' | 'auto';

/** Options of {@link createInterferenceDetector}. */
export interface DetectorOptions<S extends string = string> {
  /** Services whose starvation is an incident with aggressors. @default services of priority `highest` and `high` */
  readonly protect?: readonly S[];
  /** How often `start()` evaluates, ms. @default 5000 */
  readonly intervalMs?: number;
  /** Window of the failure counts and of the acquire-wait baseline (the "long" window), ms. @default 60000 */
  readonly windowMs?: number;
  /** The "short" window compared against the baseline, ms; must be below `windowMs`. @default 2 × intervalMs */
  readonly shortWindowMs?: number;
  /** Rule thresholds. */
  readonly thresholds?: DetectorThresholds;
  /** Consecutive calm evaluations before an open incident closes (hysteresis). Integer >= 1. @default 3 */
  readonly calmIntervals?: number;
  /** Closed incidents kept by `history()` (a ring: the oldest goes first). Integer >= 1. @default 100 */
  readonly historySize?: number;
  /**
   * Sample `pg_stat_activity` / `pg_blocking_pids` through `registry.openClient('detector')` when a client-side
   * signal fires (and every `probeIntervalMs`, when set). Degrades quietly (no server signals) on pg-mem or without privileges.
   * @default true
   */
  readonly serverProbe?: boolean;
  /**
   * Longest the server probe may take to connect or to answer, ms; past it the probe gives up (ending its
   * client, which may sit on a dead connection) and reports `unavailable`. The server also cancels the probe's
   * statements after this long (`statement_timeout`). Bounds how long an evaluation, and so `stop()`, can wait.
   * @default 2000
   */
  readonly probeTimeoutMs?: number;
  /**
   * Also probe the server at least this often, ms, whatever the client-side figures say; 0 probes only when a
   * client-side signal fires. A lock held by another instance, or a session of this one that has waited on a lock
   * for less than `slowQueryMs`, shows in none of this registry's figures: set it (for example to `intervalMs`)
   * to see them. Each probe is one short read-only query on the detector's own connection. (issue 15)
   * @default 0
   */
  readonly probeIntervalMs?: number;
  /** `'recommend'` only reports; `'auto'` also shrinks a monopolizing service's overflow and restores it after recovery. @default 'recommend' */
  readonly mitigation?: MitigationMode;
  /** Time source; inject a fake one in tests. @default the registry's default, systemClock */
  readonly clock?: Clock;
}

/** Defaults of the detector. */
export const DETECTOR_DEFAULTS = Object.freeze({
  intervalMs: 5_000,
  windowMs: 60_000,
  calmIntervals: 3,
  historySize: 100,
  serverProbe: true,
  probeTimeoutMs: 2_000,
  probeIntervalMs: 0,
  mitigation: 'recommend' as MitigationMode,
  thresholds: Object.freeze({
    slowQueryMs: 1_000,
    failures: 3,
    utilization: 0.8,
    acquireWaitMs: 100,
    monopolyShare: 0.5,
    aggressorShare: 0.25,
    waitRiseRatio: 3,
    waitRiseMinMs: 50,
    minSamples: 20,
    idleInTransactionMs: 5_000,
    connectionChurn: 0,
  }),
});

/** Detector options with every default applied. */
export interface ResolvedDetectorOptions<S extends string> {
  readonly protect: readonly S[];
  readonly intervalMs: number;
  readonly windowMs: number;
  readonly shortWindowMs: number;
  readonly thresholds: Required<DetectorThresholds>;
  readonly calmIntervals: number;
  readonly historySize: number;
  readonly serverProbe: boolean;
  readonly probeTimeoutMs: number;
  readonly probeIntervalMs: number;
  readonly mitigation: MitigationMode;
}

const OPTION_KEYS = ['registry', 'protect', 'intervalMs', 'windowMs', 'shortWindowMs', 'thresholds', 'calmIntervals', 'historySize', 'serverProbe', 'probeTimeoutMs', 'probeIntervalMs', 'mitigation', 'clock'];
// sustainedExhaustionMs has no fixed default: it follows intervalMs.
const THRESHOLD_KEYS = [...Object.keys(DETECTOR_DEFAULTS.thresholds), 'sustainedExhaustionMs'];

/**
 * Validates detector options all at once and applies the defaults.
 * @throws ConfigError `ERR_CONFIG` listing every problem with its path.
 */
export function resolveDetectorOptions<S extends string>(
  options: unknown,
  services: readonly S[],
  priorityOf: (service: S) => string,
): ResolvedDetectorOptions<S> {
  const check = new ConfigChecker();
  if (!check.object('', options, OPTION_KEYS)) check.throwIfAny();
  const o = options as Record<string, unknown>;
  check.duration('intervalMs', o.intervalMs);
  check.duration('windowMs', o.windowMs);
  check.duration('shortWindowMs', o.shortWindowMs);
  check.integer('calmIntervals', o.calmIntervals, 1);
  check.integer('historySize', o.historySize, 1, 100_000);
  check.duration('probeTimeoutMs', o.probeTimeoutMs);
  check.duration('probeIntervalMs', o.probeIntervalMs, true);
  if (o.serverProbe !== undefined && typeof o.serverProbe !== 'boolean') check.fail('serverProbe', 'a boolean', o.serverProbe);
  check.oneOf('mitigation', o.mitigation, ['recommend', 'auto']);
  if (o.protect !== undefined) {
    if (!Array.isArray(o.protect)) check.fail('protect', 'an array of service names', o.protect);
    else o.protect.forEach((s, i) => {
      if (!services.includes(s as S)) check.fail(`protect[${i}]`, `one of ${services.join(', ')}`, s);
    });
  }
  const t = (o.thresholds ?? {}) as Record<string, unknown>;
  if (o.thresholds !== undefined && check.object('thresholds', o.thresholds, THRESHOLD_KEYS)) {
    for (const key of ['slowQueryMs', 'acquireWaitMs', 'waitRiseMinMs', 'idleInTransactionMs', 'sustainedExhaustionMs']) check.duration(`thresholds.${key}`, t[key], true);
    check.integer('thresholds.failures', t.failures, 0);
    check.integer('thresholds.connectionChurn', t.connectionChurn, 0);
    check.integer('thresholds.minSamples', t.minSamples, 1);
    for (const key of ['utilization', 'monopolyShare', 'aggressorShare']) {
      const v = t[key];
      if (v !== undefined && (typeof v !== 'number' || !(v >= 0 && v <= 1))) check.fail(`thresholds.${key}`, 'a number from 0 to 1', v);
    }
    if (t.waitRiseRatio !== undefined && (typeof t.waitRiseRatio !== 'number' || !(t.waitRiseRatio >= 1) || !Number.isFinite(t.waitRiseRatio))) {
      check.fail('thresholds.waitRiseRatio', 'a finite number >= 1', t.waitRiseRatio);
    }
  }
  const intervalMs = (o.intervalMs as number | undefined) ?? DETECTOR_DEFAULTS.intervalMs;
  const windowMs = (o.windowMs as number | undefined) ?? DETECTOR_DEFAULTS.windowMs;
  const shortWindowMs = (o.shortWindowMs as number | undefined) ?? 2 * intervalMs;
  if (check.problems.length === 0 && shortWindowMs >= windowMs) {
    check.problem('shortWindowMs', `expected less than windowMs (${windowMs}), got ${shortWindowMs}`);
  }
  check.throwIfAny();
  const d = DETECTOR_DEFAULTS.thresholds;
  return Object.freeze({
    protect: Object.freeze((o.protect as S[] | undefined) ?? services.filter((s) => priorityOf(s) === 'highest' || priorityOf(s) === 'high')),
    intervalMs,
    windowMs,
    shortWindowMs,
    thresholds: Object.freeze({
      slowQueryMs: (t.slowQueryMs as number | undefined) ?? d.slowQueryMs,
      failures: (t.failures as number | undefined) ?? d.failures,
      utilization: (t.utilization as number | undefined) ?? d.utilization,
      sustainedExhaustionMs: (t.sustainedExhaustionMs as number | undefined) ?? 2 * intervalMs,
      acquireWaitMs: (t.acquireWaitMs as number | undefined) ?? d.acquireWaitMs,
      monopolyShare: (t.monopolyShare as number | undefined) ?? d.monopolyShare,
      aggressorShare: (t.aggressorShare as number | undefined) ?? d.aggressorShare,
      waitRiseRatio: (t.waitRiseRatio as number | undefined) ?? d.waitRiseRatio,
      waitRiseMinMs: (t.waitRiseMinMs as number | undefined) ?? d.waitRiseMinMs,
      minSamples: (t.minSamples as number | undefined) ?? d.minSamples,
      idleInTransactionMs: (t.idleInTransactionMs as number | undefined) ?? d.idleInTransactionMs,
      connectionChurn: (t.connectionChurn as number | undefined) ?? d.connectionChurn,
    }),
    calmIntervals: (o.calmIntervals as number | undefined) ?? DETECTOR_DEFAULTS.calmIntervals,
    historySize: (o.historySize as number | undefined) ?? DETECTOR_DEFAULTS.historySize,
    serverProbe: (o.serverProbe as boolean | undefined) ?? DETECTOR_DEFAULTS.serverProbe,
    probeTimeoutMs: (o.probeTimeoutMs as number | undefined) ?? DETECTOR_DEFAULTS.probeTimeoutMs,
    probeIntervalMs: (o.probeIntervalMs as number | undefined) ?? DETECTOR_DEFAULTS.probeIntervalMs,
    mitigation: (o.mitigation as MitigationMode | undefined) ?? DETECTOR_DEFAULTS.mitigation,
  });
}
