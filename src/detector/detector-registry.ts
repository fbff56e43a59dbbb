// The registry as the detector sees it: the part of the public registry API it uses, and nothing more.

import type { ResolvedServiceOptions } from '../pool/options';
import type { Pooler } from '../pool/session-settings';
import type { RegistryEvents, RegistryStats } from '../registry/pool-registry';
import type { ResizeCheck } from '../registry/resize-check';
import type { PgBouncerProbeTarget, ProbeClient } from './server-probe';

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
