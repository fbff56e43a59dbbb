import { EventEmitter } from 'eventemitter3';
import type { Clock, TimerHandle } from '../../src/clock';
import type { ProbeClient } from '../../src/detector/server-probe';
import type { Pooler } from '../../src/pool/session-settings';
import { checkResize, resolveServiceOptions, type Priority, type ResolvedServiceOptions } from '../../src/pool/options';
import type { ConfigError } from '../../src/errors';
import type { ResizeCheck } from '../../src/registry/resize-check';
import type { ServiceStats } from '../../src/types';
import type { RegistryEvents, RegistryStats } from '../../src/registry/pool-registry';
import { LatencyBuckets } from '../../src/stats/latency-buckets';
import type { LatencySummary } from '../../src/stats/rolling-histogram';

/** A clock driven by hand: `advance(ms)` runs due timers in order. Records whether each timer keeps the process alive. */
export class FakeClock implements Clock {
  time = 0;
  wall = 1_700_000_000_000;
  readonly timers = new Map<number, { at: number; callback: () => void; keepAlive: boolean }>();
  #next = 1;
  now(): number {
    return this.time;
  }
  wallNow(): number {
    return this.wall + this.time;
  }
  setTimeout(callback: () => void, ms: number, keepAlive = false): TimerHandle {
    const id = this.#next++;
    this.timers.set(id, { at: this.time + ms, callback, keepAlive });
    return id;
  }
  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }
  /** Moves time forward, running each due timer (and letting promises settle between them). */
  async advance(ms: number): Promise<void> {
    const target = this.time + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= target).sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) break;
      this.timers.delete(due[0]);
      this.time = Math.max(this.time, due[1].at);
      due[1].callback();
      for (let i = 0; i < 20; i++) await Promise.resolve();
    }
    this.time = target;
  }
}

const EMPTY: LatencySummary = Object.freeze({ count: 0, p50: 0, p95: 0, p99: 0, max: 0, mean: 0 });

/** A summary with `count` samples whose p95 is `p95` (ms). */
export function latency(p95: number, count = 100): LatencySummary {
  return { count, p50: p95 / 2, p95, p99: p95, max: p95, mean: p95 / 2 };
}

/** The figures a test scripts for one service; the rest is derived. */
export interface Script {
  inUse: number;
  waiting: number;
  errors: number;
  connectionErrors: number;
  timeouts: number;
  consecutiveConnectFailures: number;
  /** Connection attempts waiting for a shared budget slot. */
  waitingForShared: number;
  /** Shared budget slots held. */
  sharedInUse: number;
  /** Connections opened since start. */
  created: number;
  acquireWait: LatencySummary;
  queryTime: LatencySummary;
}

/**
 * A registry stand-in whose statistics a test writes directly. It implements the same public API the detector
 * uses (stats, serviceOptions, resize, openClient, events), so rules can be driven figure by figure.
 */
export class ScriptedRegistry<S extends string> extends EventEmitter<RegistryEvents<S>> {
  readonly services: readonly S[];
  readonly applicationName = 'app';
  /** The emulated registry's `instanceId` tag, or undefined (issue 15). */
  instanceId: string | undefined = undefined;
  /** The emulated registry's `pooler`, or undefined as an older registry has none (issue 15). */
  pooler: Pooler | undefined = undefined;
  readonly script: Record<S, Script>;
  readonly #options: Record<S, ResolvedServiceOptions>;
  readonly resizes: { service: S; limits: { size?: number; overflow?: number }; reason: string | undefined }[] = [];
  /** What openClient gives the probe: a client answering these rows, or a rejection. */
  probeRows: Record<string, unknown>[] | Error = new Error('function pg_blocking_pids(integer) does not exist');
  probeClients: { ended: boolean; queries: number; texts: string[] }[] = [];
  openClientError: Error | null = null;
  /** `'query'`: the sessions query never answers (a half-open connection); `'connect'`: openClient never settles. */
  probeHangs: 'query' | 'connect' | null = null;
  /**
   * The emulated registry's `maxConnections` (`stats().budget.total`); null for none configured, where a registry's
   * budget is the sum of every service's `size + overflow`.
   */
  budgetMax: number | null = null;
  /** The emulated budget's `reserve` (shared slots only high and highest services may take). */
  budgetReserve = 0;

  constructor(services: Record<S, { size: number; overflow: number; priority: Priority; idleInTransactionTimeoutMs?: number; statementTimeoutMs?: number }>) {
    super();
    this.services = Object.keys(services) as S[];
    this.#options = {} as Record<S, ResolvedServiceOptions>;
    this.script = {} as Record<S, Script>;
    for (const s of this.services) {
      this.#options[s] = resolveServiceOptions(services[s]);
      this.script[s] = { inUse: 0, waiting: 0, errors: 0, connectionErrors: 0, timeouts: 0, consecutiveConnectFailures: 0, waitingForShared: 0, sharedInUse: 0, created: 0, acquireWait: EMPTY, queryTime: EMPTY };
      this.#waits.set(s, new LatencyBuckets());
      this.#holds.set(s, new LatencyBuckets());
    }
    this.#unconfiguredTotal = this.services.reduce((sum, s) => sum + this.#options[s].size + this.#options[s].overflow, 0);
  }

  readonly #waits = new Map<S, LatencyBuckets>();
  /** The budget of a registry without maxConnections: every service's size + overflow when it was created. */
  readonly #unconfiguredTotal: number;
  readonly #holds = new Map<S, LatencyBuckets>();

  /** Records acquire waits (ms) as a real registry does on every acquire or acquire timeout. */
  recordWait(service: S, waitMs: number, times = 1): void {
    for (let i = 0; i < times; i++) this.#waits.get(service)?.record(waitMs);
  }

  /** Records lease hold times (ms) as a real registry does on every release. */
  recordHold(service: S, heldMs: number, times = 1): void {
    for (let i = 0; i < times; i++) this.#holds.get(service)?.record(heldMs);
  }

  set(service: S, figures: Partial<Script>): void {
    Object.assign(this.script[service], figures);
  }

  stats(): RegistryStats<S> {
    const services = {} as Record<S, ServiceStats>;
    let connections = 0;
    let inUse = 0;
    let waiting = 0;
    let max = 0;
    for (const s of this.services) {
      const o = this.#options[s];
      const f = this.script[s];
      const m = o.size + o.overflow;
      services[s] = {
        service: s,
        priority: o.priority,
        guaranteedSize: o.size,
        overflow: o.overflow,
        max: m,
        total: Math.max(o.size, f.inUse),
        idle: Math.max(0, o.size - f.inUse),
        inUse: f.inUse,
        overflowInUse: Math.max(0, f.inUse - o.size),
        waiting: f.waiting,
        acquired: 0,
        timeouts: f.timeouts,
        queueRejections: 0,
        errors: f.errors + f.connectionErrors, // as a real pool counts them: failed queries and connection failures
        connectionErrors: f.connectionErrors,
        created: f.created,
        removed: 0,
        closedInTransaction: 0,
        capacityRefusals: 0,
        removedByReason: { recycled: 0, idle: 0, overflow: 0, broken: 0, closed: 0, 'in-transaction': 0 },
        connectFailures: 0,
        consecutiveConnectFailures: f.consecutiveConnectFailures,
        utilization: f.inUse / m,
        windowMs: 60_000,
        acquireWait: f.acquireWait,
        queryTime: f.queryTime,
        holdTime: EMPTY,
        acquireWaitTotal: this.#waits.get(s)!.snapshot(),
        queryTimeTotal: new LatencyBuckets().snapshot(),
        holdTimeTotal: this.#holds.get(s)!.snapshot(),
        createTimeTotal: new LatencyBuckets().snapshot(),
        // fields of registries with a shared budget and a breaker; harmless for older ones
        circuit: 'closed' as const,
        sharedInUse: f.sharedInUse,
        waitingForShared: f.waitingForShared,
        sharedSlotHolders:
          f.waitingForShared > 0 ? Object.fromEntries(this.services.filter((x) => this.script[x].sharedInUse > 0).map((x) => [x, this.script[x].sharedInUse])) : {},
      } as ServiceStats;
      connections += services[s].total;
      inUse += f.inUse;
      waiting += f.waiting;
      max += m;
    }
    const snapshot = { at: 0, services, totals: { connections, inUse, idle: connections - inUse, waiting, max } };
    // A registry reports its shared budget (BudgetStats), derived from the sizes and the scripted figures.
    const total = this.budgetMax ?? this.#unconfiguredTotal;
    const guaranteed = this.services.reduce((sum, s) => sum + this.#options[s].size, 0);
    const sharedInUseByService = Object.fromEntries(this.services.map((s) => [s, this.script[s].sharedInUse]));
    const waitingByService = Object.fromEntries(this.services.map((s) => [s, this.script[s].waitingForShared]));
    const budget = {
      total,
      guaranteed,
      shared: total - guaranteed,
      reserve: this.budgetReserve,
      sharedInUse: this.services.reduce((sum, s) => sum + this.script[s].sharedInUse, 0),
      sharedInUseByService,
      waitingByService,
      waiting: this.services.reduce((sum, s) => sum + this.script[s].waitingForShared, 0),
      free: 0,
      waitingByPriority: { highest: 0, high: 0, medium: 0, low: 0 },
    };
    budget.free = Math.max(0, budget.shared - budget.sharedInUse);
    for (const s of this.services) budget.waitingByPriority[this.#options[s].priority] += this.script[s].waitingForShared;
    return { ...snapshot, budget } as RegistryStats<S>;
  }

  serviceOptions(service: S): ResolvedServiceOptions {
    return this.#options[service];
  }

  /** Checks a resize as the real registry does: integer limits, and sizes that fit `budgetMax` with the reserve. */
  validateResize(service: S, limits: { readonly size?: number; readonly overflow?: number }): ResizeCheck {
    this.validations.push({ service, limits });
    try {
      checkResize(service, limits, this.#options[service]);
    } catch (error) {
      return { ok: false, reason: 'invalid', problems: (error as ConfigError).problems };
    }
    if (limits.size === undefined) return { ok: true };
    const guaranteed = this.services.reduce((sum, s) => sum + (s === service ? (limits.size as number) : this.#options[s].size), 0);
    const total = this.budgetMax ?? this.#unconfiguredTotal;
    if (guaranteed + this.budgetReserve > total) {
      return { ok: false, reason: 'budget', problems: [{ path: `${service}.size`, message: `${limits.size} would reserve ${guaranteed} connections` }], requiredMaxConnections: guaranteed + this.budgetReserve };
    }
    return { ok: true };
  }

  /** Every validateResize call, in order. */
  readonly validations: { service: S; limits: { readonly size?: number; readonly overflow?: number } }[] = [];

  resize(service: S, limits: { size?: number; overflow?: number }, reason?: string): void {
    this.resizes.push({ service, limits, reason });
    this.#options[service] = Object.freeze({ ...this.#options[service], ...limits });
  }

  async openClient(): Promise<ProbeClient> {
    if (this.openClientError !== null) throw this.openClientError;
    if (this.probeHangs === 'connect') return new Promise<never>(() => {});
    const record = { ended: false, queries: 0, texts: [] as string[] };
    this.probeClients.push(record);
    return {
      query: async (text: string) => {
        record.texts.push(text);
        if (/^(set|begin|commit)\b/i.test(text)) return { rows: [] }; // the probe's transaction bookkeeping (issue 15)
        record.queries++;
        if (this.probeHangs === 'query') return new Promise<never>(() => {});
        if (this.probeRows instanceof Error) throw this.probeRows;
        return { rows: this.probeRows };
      },
      end: async () => {
        record.ended = true;
      },
    };
  }
}

/** The five-service layout of the original design, smaller numbers. */
export function presetRegistry(): ScriptedRegistry<'auth' | 'extension' | 'llm' | 'usage'> {
  return new ScriptedRegistry({
    auth: { size: 3, overflow: 5, priority: 'highest' },
    extension: { size: 5, overflow: 10, priority: 'high' },
    llm: { size: 8, overflow: 15, priority: 'medium' },
    usage: { size: 2, overflow: 4, priority: 'low' },
  });
}
