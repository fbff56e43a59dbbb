// `mitigation: 'auto'`: the overflow of a service that monopolizes a protected victim's connections is shrunk once,
// and put back when the last incident it was shrunk for closes (unless someone else changed it meanwhile).

import type { ResolvedServiceOptions } from '../pool/options';
import type { DetectorRegistry } from './detector-registry';
import type { MitigationAction } from './incident';
import type { Finding } from './findings';
import type { OpenIncident } from './incident-book';
import { shrunkOverflow } from './recommendations';

interface Mitigated<S extends string> {
  readonly original: { readonly size: number; readonly overflow: number };
  /** The overflow it was shrunk to. */
  readonly applied: number;
  /** The incidents it was shrunk for, by id. */
  readonly incidents: Map<string, OpenIncident<S>>;
}

/** The services whose limits auto mitigation changed, with what to put back. */
export class Mitigation<S extends string> {
  readonly #registry: Pick<DetectorRegistry<S>, 'serviceOptions' | 'resize'>;
  readonly #wallNow: () => number;
  readonly #emit: (action: MitigationAction<S>) => void;
  readonly #mitigated = new Map<S, Mitigated<S>>();

  constructor(registry: Pick<DetectorRegistry<S>, 'serviceOptions' | 'resize'>, wallNow: () => number, emit: (action: MitigationAction<S>) => void) {
    this.#registry = registry;
    this.#wallNow = wallNow;
    this.#emit = emit;
  }

  /** Whether the service's overflow is shrunk now. */
  has(service: S): boolean {
    return this.#mitigated.has(service);
  }

  /** A service's options before auto mitigation changed them, so recommendations quote the configured numbers. */
  originalOptions(service: S): ResolvedServiceOptions {
    const options = this.#registry.serviceOptions(service);
    const mitigated = this.#mitigated.get(service);
    return mitigated === undefined ? options : { ...options, ...mitigated.original };
  }

  /** Shrinks the overflow of each service monopolizing a protected victim's connections, once per service. */
  mitigate(incident: OpenIncident<S>, f: Finding<S>): void {
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
      const reason = `pg-bulkhead detector: ${service} starves ${incident.victim} (incident ${incident.id})`;
      try {
        this.#registry.resize(service, { overflow: current.overflow }, reason);
      } catch {
        continue; // closed registry: nothing to mitigate
      }
      this.#mitigated.set(service, { original: previous, applied: current.overflow, incidents: new Map([[incident.id, incident]]) });
      const action: MitigationAction<S> = { action: 'shrink', service, incidentId: incident.id, victim: incident.victim, previous, current, at: this.#wallNow() };
      incident.mitigations.push(action);
      this.#emit(action);
    }
  }

  /** Puts back what was shrunk for `incident` alone, now that it closes. */
  release(incident: OpenIncident<S>): void {
    for (const [service, mitigated] of [...this.#mitigated]) {
      if (mitigated.incidents.delete(incident.id) && mitigated.incidents.size === 0) this.#restore(service, incident);
    }
  }

  /** Puts back everything (on stop). */
  restoreAll(): void {
    for (const service of [...this.#mitigated.keys()]) this.#restore(service, null);
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
      const reason = `pg-bulkhead detector: restore ${service} after recovery`;
      this.#registry.resize(service, { overflow: mitigated.original.overflow }, reason);
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
      at: this.#wallNow(),
    };
    incident?.mitigations.push(action);
    this.#emit(action);
  }
}
