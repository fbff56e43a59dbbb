/**
 * How the registry builds one service: its session settings, its client config (connection, session name,
 * startup parameters), its pool, and the pool's view of the shared budget (a {@link SlotBroker}).
 */
import type { Budget } from '../budget/budget';
import type { Clock } from '../clock';
import type { BreakerOptions } from '../pool/circuit-breaker';
import type { ClientConfig, ClientConstructor } from '../pool/client';
import type { ResolvedServiceOptions } from '../pool/options';
import { ServicePool } from '../pool/service-pool';
import { SessionSettings, type Pooler } from '../pool/session-settings';
import type { SlotBroker } from '../pool/slots';
import type { Redactor } from '../redact';
import { serviceClientConfig } from './options';

type PoolEventSink = ConstructorParameters<typeof ServicePool>[0]['events'];

/** What every service of one registry shares. */
export interface SharedWiring {
  readonly Client: ClientConstructor;
  readonly pooler: Pooler;
  readonly budget: Budget;
  readonly clock: Clock;
  /** The registry, which emits every pool's events. */
  readonly events: PoolEventSink;
  readonly redactor: Redactor;
  readonly connectTimeoutMs: number;
  readonly maintenanceIntervalMs: number;
  readonly allowExitOnIdle: boolean;
  readonly windowMs: number;
  readonly breaker: Required<BreakerOptions>;
  readonly random: () => number;
  /** One bucket set for every service, covering every acquire timeout, so their wait histograms add up. */
  readonly waitBoundsMs: readonly number[];
  /** Connection ids count per registry: unique across its services, independent of any other registry. */
  readonly nextConnectionId: () => number;
}

/** One wired service. */
export interface WiredService {
  readonly pool: ServicePool;
  readonly settings: SessionSettings;
  /** For {@link PoolRegistry.pgPool}'s `options`. */
  readonly clientConfig: ClientConfig;
}

/** Builds one service's settings, client config and pool. */
export function wireService(shared: SharedWiring, service: string, options: ResolvedServiceOptions, connection: string | ClientConfig | undefined, sessionName: string): WiredService {
  const settings = new SessionSettings(service, shared.pooler, options, shared.events);
  const startup = settings.startupParameters();
  const clientConfig = serviceClientConfig(connection, sessionName, startup.statement_timeout ?? 0, startup.idle_in_transaction_session_timeout ?? 0, options.queryTimeoutMs);
  const pool = new ServicePool({
    service,
    options,
    clientConfig,
    afterConnect: settings.needsSetup ? (client) => settings.afterConnect(client) : undefined,
    explainConnectError: (error) => settings.explainConnectError(error),
    Client: shared.Client,
    connectTimeoutMs: shared.connectTimeoutMs,
    maintenanceIntervalMs: shared.maintenanceIntervalMs,
    allowExitOnIdle: shared.allowExitOnIdle,
    windowMs: shared.windowMs,
    clock: shared.clock,
    events: shared.events,
    redactor: shared.redactor,
    slots: slotBrokerFor(shared.budget, service),
    breaker: shared.breaker,
    random: shared.random,
    waitBoundsMs: shared.waitBoundsMs,
    nextConnectionId: shared.nextConnectionId,
  });
  return { pool, settings, clientConfig };
}

/** A service's view of the shared budget: the only way its pool takes and gives back shared slots. */
export function slotBrokerFor(budget: Budget, service: string): SlotBroker {
  return {
    tryTake: () => budget.tryTake(service),
    request: (grant) => budget.request(service, grant),
    release: (count) => budget.release(service, count),
    forceTake: (count) => budget.forceTake(service, count),
    poke: () => budget.poke(),
    waiting: () => budget.waitingFor(service),
    holders: () => {
      const stats = budget.stats();
      return { shared: stats.shared, byService: Object.fromEntries(Object.entries(stats.sharedInUseByService).filter(([, n]) => n > 0)) };
    },
  };
}
