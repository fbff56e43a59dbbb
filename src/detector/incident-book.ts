// Incidents with hysteresis: one open incident per victim, updated in place by every evaluation that finds
// something, announced when it opens or escalates, and closed (into a bounded history) after `calmIntervals`
// calm evaluations in a row.

import type { Aggressor, Incident, IncidentType, MitigationAction, Recommendation, Severity, Signal, SignalKind } from './incident';
import type { Finding } from './findings';
import { givesMoreConnections, recommendationKey } from './recommendations';

/** An incident while it is open: mutable, snapshotted into a frozen {@link Incident} for everyone else. */
export interface OpenIncident<S extends string> {
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

/** What the incident book tells its owner, in this order for each incident. */
export interface IncidentHooks<S extends string> {
  /** After an open incident was updated by a finding (auto mitigation acts here). */
  updated(incident: OpenIncident<S>, finding: Finding<S>): void;
  /** An incident opened or escalated (a new kind, aggressor, type or severity). */
  announce(type: IncidentType, incident: Incident<S>): void;
  /** An incident is about to close (mitigations are put back here). */
  closing(incident: OpenIncident<S>): void;
  /** An incident closed. */
  recovered(incident: Incident<S>): void;
}

const TYPE_RANK: Record<IncidentType, number> = { saturation: 0, connectivity: 1, interference: 2 };
const SEVERITY_RANK: Record<Severity, number> = { warning: 0, critical: 1 };
/** Signal kinds that involve another service, or the server's capacity: the incident is interference. */
const INTERFERENCE_KINDS: ReadonlySet<SignalKind> = new Set(['server-capacity', 'shared-slots', 'monopolization', 'lock-blocking']);
/** Signal kinds that make an incident of a protected victim critical. */
const CRITICAL_KINDS: ReadonlySet<SignalKind> = new Set(['failures', 'lock-blocking', 'monopolization']);

/** The type an incident with this finding has. */
function typeOf<S extends string>(f: Finding<S>): IncidentType {
  if (f.aggressors.size > 0 || f.signals.some((x) => INTERFERENCE_KINDS.has(x.kind))) return 'interference';
  return f.recommendations.some((r) => r.kind === 'check-connectivity') ? 'connectivity' : 'saturation';
}

/** Open incidents per victim, the closed ones (at most `historySize`), and how many opened per victim. */
export class IncidentBook<S extends string> {
  readonly #open = new Map<S, OpenIncident<S>>();
  readonly #history: Incident<S>[] = [];
  readonly #opened = new Map<S, number>();
  readonly #options: { readonly calmIntervals: number; readonly historySize: number; readonly protect: ReadonlySet<S> };
  readonly #hooks: IncidentHooks<S>;
  #nextId = 1;

  constructor(options: { readonly calmIntervals: number; readonly historySize: number; readonly protect: ReadonlySet<S> }, hooks: IncidentHooks<S>) {
    this.#options = options;
    this.#hooks = hooks;
  }

  /** The open incidents, oldest first. */
  open(): IterableIterator<OpenIncident<S>> {
    return this.#open.values();
  }

  /** Open incidents as snapshots, oldest first. */
  snapshots(): Incident<S>[] {
    return [...this.#open.values()].map((r) => snapshot(r));
  }

  /** Closed incidents, oldest first. */
  history(): Incident<S>[] {
    return [...this.#history];
  }

  /** Incidents opened so far with `victim` as victim. */
  openedFor(victim: S): number {
    return this.#opened.get(victim) ?? 0;
  }

  /** Services named as aggressors in an open incident. */
  aggressors(): Set<S> {
    const out = new Set<S>();
    for (const incident of this.#open.values()) for (const service of incident.aggressors.keys()) out.add(service);
    return out;
  }

  /** Opens, updates and closes incidents after one evaluation's findings. */
  update(findings: ReadonlyMap<S, Finding<S>>, wall: number): void {
    for (const [victim, f] of findings) this.#record(victim, f, wall);
    for (const [victim, incident] of [...this.#open]) {
      if (findings.has(victim)) continue;
      incident.calm++;
      if (incident.calm < this.#options.calmIntervals) continue;
      this.#open.delete(victim);
      incident.endedAt = wall;
      this.#hooks.closing(incident);
      const closed = snapshot(incident);
      this.#history.push(closed);
      if (this.#history.length > this.#options.historySize) this.#history.shift();
      this.#hooks.recovered(closed);
    }
  }

  #record(victim: S, f: Finding<S>, wall: number): void {
    const isProtected = this.#options.protect.has(victim);
    const type = typeOf(f);
    const severity: Severity = isProtected && f.signals.some((x) => CRITICAL_KINDS.has(x.kind)) ? 'critical' : 'warning';
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
      this.#opened.set(victim, this.openedFor(victim) + 1);
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
    mergeRecommendations(incident, f);
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
    this.#hooks.updated(incident, f);
    if (escalated) this.#hooks.announce(incident.type, snapshot(incident));
  }
}

/**
 * Merges a finding's advice into the incident's: one per kind and service, the latest figures winning. The probe
 * does not run at every evaluation, nor catch every wait: what was seen once holds for the rest of the incident.
 */
function mergeRecommendations<S extends string>(incident: OpenIncident<S>, f: Finding<S>): void {
  const victim = incident.victim;
  // Lock waits, or the victim's own slow queries with nobody else involved: its connections are held by what more
  // connections would only repeat, so "more connections" advice is withdrawn for the rest of the incident.
  const lockSeen = incident.kinds.has('lock-blocking');
  const ownSlowness = f.aggressors.size === 0 && incident.aggressors.size === 0 && f.signals.some((x) => x.kind === 'slow-queries' && x.service === victim);
  const noMoreConnections = lockSeen || ownSlowness;
  // A victim slowed by a lock is not slow on its own account: its statement timeout is not the lever.
  const withdrawn = (r: Recommendation<S>): boolean =>
    r.service === victim && ((noMoreConnections && givesMoreConnections(r)) || (lockSeen && r.kind === 'bound-slow-queries'));
  for (const [key, r] of incident.recommendations) if (withdrawn(r)) incident.recommendations.delete(key);
  for (const r of f.recommendations) if (!withdrawn(r)) incident.recommendations.set(recommendationKey(r), r);
  incident.noRecommendation =
    incident.recommendations.size > 0
      ? null
      : (f.noRecommendation ?? `more connections cannot help ${victim}: it waits on locks or on its own slow queries`);
}

/** A frozen copy of an incident, aggressors by share. */
export function snapshot<S extends string>(r: OpenIncident<S>): Incident<S> {
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
