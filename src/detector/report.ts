// The health report: per service a status with its reasons (circuit, signals, incidents it is part of, shared
// slots it waits for) and its figures; overall, the worst status.

import type { RegistryStats } from '../registry/pool-registry';
import { describeHolders } from '../errors';
import type { HealthReport, HealthStatus, Incident, ServiceHealth } from './incident';
import type { Finding } from './findings';
import type { OpenIncident } from './incident-book';
import type { WindowCounts } from './sampler';

const STATUS_RANK: Record<HealthStatus, number> = { healthy: 0, degraded: 1, unhealthy: 2 };
const NO_HOLDERS: Readonly<Record<string, number>> = Object.freeze({});

/** What one report is made of. */
export interface ReportInput<S extends string> {
  readonly stats: RegistryStats<S>;
  /** Wall-clock ms of the evaluation. */
  readonly at: number;
  readonly services: readonly S[];
  readonly protect: ReadonlySet<S>;
  /** The evaluation's findings (none for a report without an evaluation). */
  readonly findings: ReadonlyMap<S, Finding<S>>;
  readonly open: Iterable<OpenIncident<S>>;
  readonly incidents: readonly Incident<S>[];
  /** The service's counts within the detector's window. */
  window(service: S): WindowCounts;
  readonly serverProbe: HealthReport['serverProbe'];
}

/** The health report of one evaluation. */
export function buildReport<S extends string>(input: ReportInput<S>): HealthReport<S> {
  const { stats } = input;
  const open = [...input.open];
  const services = {} as Record<S, ServiceHealth<S>>;
  let overall: HealthStatus = 'healthy';
  for (const service of input.services) {
    const s = stats.services[service];
    const reasons: string[] = [];
    let status: HealthStatus = 'healthy';
    const raise = (to: HealthStatus, why: string): void => {
      reasons.push(why);
      if (STATUS_RANK[to] > STATUS_RANK[status]) status = to;
    };
    // The pool's breaker opens after its configured failureThreshold: the registry reports its state.
    if (s.circuit === 'open') raise('unhealthy', `circuit open: ${s.consecutiveConnectFailures} consecutive connection failures`);
    else if (s.circuit === 'half-open') raise('degraded', 'circuit half-open: probing the database');
    for (const x of input.findings.get(service)?.signals ?? []) raise('degraded', x.message);
    const incidents: string[] = [];
    for (const incident of open) {
      if (incident.victim === service) {
        incidents.push(incident.id);
        const kinds = [...incident.kinds].join(', ');
        raise(incident.severity === 'critical' ? 'unhealthy' : 'degraded', `victim of incident ${incident.id} (${kinds})`);
      } else if (incident.aggressors.has(service)) {
        incidents.push(incident.id);
        raise('degraded', `aggressor in incident ${incident.id}`);
      }
    }
    const window = input.window(service);
    const sharedSlotHolders = s.waitingForShared > 0 ? s.sharedSlotHolders : NO_HOLDERS;
    if (Object.keys(sharedSlotHolders).length > 0) {
      raise('degraded', `waiting for a shared slot: ${describeHolders(stats.budget.shared, sharedSlotHolders)}`);
    }
    services[service] = {
      service,
      status,
      priority: s.priority,
      protected: input.protect.has(service),
      utilization: s.utilization,
      inUse: s.inUse,
      max: s.max,
      waiting: s.waiting,
      acquireWaitP95Ms: s.acquireWait.p95,
      queryTimeP95Ms: s.queryTime.p95,
      errors: window.errors,
      connectionErrors: window.connectionErrors,
      timeouts: window.timeouts,
      circuit: s.circuit,
      consecutiveConnectFailures: s.consecutiveConnectFailures,
      sharedSlotHolders,
      incidents,
      reasons: [...new Set(reasons)],
    };
    if (STATUS_RANK[status] > STATUS_RANK[overall]) overall = status;
  }
  return { status: overall, at: input.at, services, incidents: input.incidents, serverProbe: input.serverProbe };
}
