import { settleWithin, type Clock } from '../clock';
import { endQuietly } from '../pool/client';
import { parseSessionName } from '../registry/instance-name';

/** The part of a pg client the probe uses. */
export interface ProbeClient {
  /** Runs one statement of the probe (`pg_stat_activity`, `pg_blocking_pids`). */
  query(text: string, values?: readonly unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
  /** Closes the probe's connection (on `stop()`, or when a probe query times out). */
  end(): Promise<unknown> | void;
}

/** One of our sessions, as PostgreSQL sees it. Holds no SQL text and no user or host names. */
interface ProbeSession<S extends string = string> {
  readonly pid: number;
  readonly service: S;
  /** The instance tag in its application_name (`<app>:<service>@<instance>`), or undefined. */
  readonly instance: string | undefined;
  /** `pg_stat_activity.state`, null when the probe may not see it. */
  readonly state: string | null;
  /** How long it has been in that state, ms. */
  readonly stateMs: number;
  /** Pids of the sessions blocking this one (`pg_blocking_pids`). */
  readonly blockedBy: readonly number[];
}

/** What one probe found. */
export interface ProbeResult<S extends string = string> {
  /**
   * Pairs of (blocked victim, blocking service) with how many of the victim's sessions wait on it. Victims are
   * this instance's sessions; the blockers may be any instance of the same application, listed by their tag in
   * `aggressorInstances` (sorted; empty when the blockers carry no instance identity).
   */
  readonly blocking: readonly {
    readonly victim: S;
    readonly aggressor: S;
    readonly sessions: number;
    readonly aggressorInstances: readonly string[];
    /** The aggressor's sessions that block the victim's, with their state (`idle in transaction`: whatever its duration). */
    readonly blockers: readonly { readonly pid: number; readonly state: string | null; readonly stateMs: number }[];
  }[];
  /** Services with sessions idle in transaction (any instance), with the longest time so far, ms, and the instances. */
  readonly idleInTransaction: readonly {
    readonly service: S;
    readonly sessions: number;
    readonly longestMs: number;
    readonly instances: readonly string[];
  }[];
  /**
   * Sessions on the server per service and instance (every instance of the application), busiest first: who holds
   * the server's connections. `instance` is undefined for sessions without an instance identity.
   */
  readonly holders: readonly { readonly service: S; readonly instance: string | undefined; readonly sessions: number; readonly active: number }[];
  /**
   * PgBouncer pools (database aliases) with clients waiting inside PgBouncer (`SHOW POOLS` `cl_waiting`), where
   * no acquire timeout sees them, with the services that connect through each. Empty without an admin connection,
   * or when reading it failed.
   */
  readonly pgbouncerWaits: readonly PgBouncerWait<S>[];
}

/** Clients waiting inside one PgBouncer pool. */
export interface PgBouncerWait<S extends string = string> {
  /** The database alias. */
  readonly database: string;
  /** The services that connect through it. */
  readonly services: readonly S[];
  /** Clients waiting for a server connection (`cl_waiting`, every user of the alias). */
  readonly clientsWaiting: number;
  /** How long the oldest of them has waited, ms (`maxwait`, `maxwait_us`). */
  readonly maxWaitMs: number;
}

/** What the probe needs to read PgBouncer's pools: its admin console, and which services use which alias. */
export interface PgBouncerProbeTarget<S extends string = string> {
  /** Opens a client of PgBouncer's admin console (the probe ends it on `close()` or after a failure). */
  open(): Promise<ProbeClient>;
  /** Database alias → the services that connect through it. */
  readonly aliases: ReadonlyMap<string, readonly S[]>;
}

// Only pids, states and durations are read: never query text, user or client address.
const SESSIONS_SQL = `select pid, application_name, state,
  coalesce(extract(epoch from (clock_timestamp() - state_change)) * 1000, 0)::float8 as state_ms,
  pg_blocking_pids(pid) as blocked_by
from pg_stat_activity
where left(application_name, $2) = $1 and pid <> pg_backend_pid()`;

/** The probe gave up on a connect or query that took longer than its timeout. */
class ProbeTimeout extends Error {}

/**
 * Samples the server's view of the registry's sessions through one dedicated client outside every pool.
 * Any failure (pg-mem, missing privileges, a lost connection) makes it report `null` and stay quiet for
 * `retryAfterProbes` calls, so the detector falls back to client-side signals.
 *
 * Nothing it does can take longer than `timeoutMs`: connecting and each query race a timer (the client is ended
 * when it fires, since a hung connection is not worth keeping), the server cancels the probe's statements after
 * the same time (`statement_timeout`), and `close()` settles an in-flight sample at once.
 */
export class ServerProbe<S extends string> {
  readonly #open: () => Promise<ProbeClient>;
  readonly #prefix: string;
  readonly #services: ReadonlySet<string>;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #instance: string | undefined;
  readonly #pgbouncer: PgBouncerProbeTarget<S> | undefined;
  #admin: Promise<ProbeClient> | null = null;
  /** The connection being opened or open, or null. */
  #connecting: Promise<ProbeClient> | null = null;
  #skip = 0;
  #closed = false;
  /** Settles every in-flight wait when close() is called. */
  readonly #closing: Promise<never>;
  #abort: (reason: Error) => void = () => {};
  /** `ok` after a successful probe, `unavailable` after a failed one, `idle` before the first. */
  status: 'ok' | 'unavailable' | 'idle' = 'idle';

  constructor(
    open: () => Promise<ProbeClient>,
    applicationName: string,
    services: readonly S[],
    timing: {
      readonly clock: Clock;
      readonly timeoutMs: number;
      readonly instanceId?: string | undefined;
      readonly pgbouncer?: PgBouncerProbeTarget<S> | undefined;
    },
    readonly retryAfterProbes = 10,
  ) {
    this.#open = open;
    this.#prefix = `${applicationName}:`;
    this.#services = new Set(services);
    this.#clock = timing.clock;
    this.#timeoutMs = timing.timeoutMs;
    this.#instance = timing.instanceId;
    this.#pgbouncer = timing.pgbouncer;
    this.#closing = new Promise<never>((_, reject) => {
      this.#abort = reject;
    });
    this.#closing.catch(() => {}); // only ever raced
  }

  async sample(idleThresholdMs: number): Promise<ProbeResult<S> | null> {
    if (this.#closed) return null;
    if (this.#skip > 0) {
      this.#skip--;
      return null;
    }
    try {
      const connecting = (this.#connecting ??= this.#open());
      // One deadline for connecting and the whole transaction. The server cancels the probe's statement after the
      // same time: set for this transaction only (SET LOCAL), so nothing stays on a server connection that
      // PgBouncer (transaction mode) shares with other clients.
      const rows = await this.#bounded(
        (async () => {
          const client = await connecting;
          await client.query(`BEGIN READ ONLY; SET LOCAL statement_timeout = ${Math.max(1, Math.ceil(this.#timeoutMs))}`);
          const result = await client.query(SESSIONS_SQL, [this.#prefix, this.#prefix.length]);
          await client.query('COMMIT');
          return result.rows;
        })(),
      );
      if (this.#closed) return null;
      this.status = 'ok';
      const pgbouncerWaits = await this.pgbouncerWaits();
      return { ...this.#interpret(rows, idleThresholdMs), pgbouncerWaits };
    } catch {
      if (this.#closed) return null;
      // Quietly degrade: no function (pg-mem), no privilege, no connection, or no answer in time. Reconnect
      // next time: a client whose query timed out may sit on a half-open connection.
      this.status = 'unavailable';
      this.#skip = this.retryAfterProbes;
      this.#discard();
      return null;
    }
  }

  /**
   * `SHOW POOLS` on PgBouncer's admin console (no transaction there: it takes only SHOW and admin commands).
   * Optional: a failure leaves the rest of the probe's result standing and drops the admin connection. Cheap
   * enough to read at every evaluation: waits inside PgBouncer show in no client-side signal.
   */
  async pgbouncerWaits(): Promise<PgBouncerWait<S>[]> {
    const target = this.#pgbouncer;
    if (target === undefined || this.#closed) return [];
    try {
      const admin = (this.#admin ??= target.open());
      const { rows } = await this.#bounded((async () => (await admin).query('SHOW POOLS'))());
      const byDatabase = new Map<string, { clientsWaiting: number; maxWaitMs: number }>();
      for (const row of rows) {
        const database = String(row.database);
        if (!target.aliases.has(database)) continue;
        const entry = byDatabase.get(database) ?? { clientsWaiting: 0, maxWaitMs: 0 };
        entry.clientsWaiting += Number(row.cl_waiting) || 0;
        entry.maxWaitMs = Math.max(entry.maxWaitMs, (Number(row.maxwait) || 0) * 1000 + (Number(row.maxwait_us) || 0) / 1000);
        byDatabase.set(database, entry);
      }
      return [...byDatabase]
        .filter(([, w]) => w.clientsWaiting > 0)
        .map(([database, w]) => ({ database, services: target.aliases.get(database) ?? [], ...w }));
    } catch {
      this.#dropAdmin();
      return [];
    }
  }

  #dropAdmin(): void {
    const admin = this.#admin;
    this.#admin = null;
    admin?.then(endQuietly, () => {});
  }

  /** `work`, unless the timeout fires or close() is called first. */
  #bounded<T>(work: Promise<T>): Promise<T> {
    const timeout = (): Error => new ProbeTimeout(`server probe: no answer within ${this.#timeoutMs} ms`);
    return settleWithin(this.#clock, this.#timeoutMs, () => Promise.race([work, this.#closing]), timeout);
  }

  /** Forgets the connection and ends it whenever it is (or becomes) open, without waiting for it. */
  #discard(): Promise<void> {
    const connecting = this.#connecting;
    this.#connecting = null;
    if (connecting === null) return Promise.resolve();
    return connecting.then(
      (client) => Promise.resolve().then(() => client.end()).then(
        () => {},
        () => {},
      ),
      () => {}, // never connected: nothing to end
    );
  }

  #interpret(rows: readonly Record<string, unknown>[], idleThresholdMs: number): Omit<ProbeResult<S>, 'pgbouncerWaits'> {
    const sessions = new Map<number, ProbeSession<S>>();
    for (const row of rows) {
      const name = String(row.application_name ?? '');
      const { label: service, tag: instance } = parseSessionName(name.slice(this.#prefix.length));
      if (!this.#services.has(service)) continue;
      const blockedBy = Array.isArray(row.blocked_by) ? row.blocked_by.map(Number) : parseIntArray(row.blocked_by);
      const pid = Number(row.pid);
      sessions.set(pid, { pid, service: service as S, instance, state: typeof row.state === 'string' ? row.state : null, stateMs: Number(row.state_ms) || 0, blockedBy });
    }
    const pairs = new Map<string, { victim: S; aggressor: S; sessions: number; instances: Set<string>; blockers: { pid: number; state: string | null; stateMs: number }[] }>();
    const idle = new Map<S, { service: S; sessions: number; longestMs: number; instances: Set<string> }>();
    const holders = new Map<string, { service: S; instance: string | undefined; sessions: number; active: number }>();
    for (const session of sessions.values()) {
      const holderKey = `${session.service}\u0000${session.instance ?? ''}`;
      const holder = holders.get(holderKey) ?? { service: session.service, instance: session.instance, sessions: 0, active: 0 };
      holder.sessions++;
      if (session.state === 'active') holder.active++;
      holders.set(holderKey, holder);
      if (session.state !== null && session.state.startsWith('idle in transaction') && session.stateMs >= idleThresholdMs) {
        const entry = idle.get(session.service) ?? { service: session.service, sessions: 0, longestMs: 0, instances: new Set<string>() };
        entry.sessions++;
        entry.longestMs = Math.max(entry.longestMs, session.stateMs);
        if (session.instance !== undefined) entry.instances.add(session.instance);
        idle.set(session.service, entry);
      }
      // Victims are this instance's own sessions: each instance's detector speaks for its own services.
      if (session.instance !== this.#instance) continue;
      // Follow the chain: a session queued behind another waiter of its own service is still blocked by the
      // service at the head of the chain (PostgreSQL reports only the direct blockers).
      const seen = new Set<S>();
      const visited = new Set<number>([session.pid]);
      const stack = [...session.blockedBy];
      while (stack.length > 0) {
        const pid = stack.pop() as number;
        if (visited.has(pid)) continue;
        visited.add(pid);
        const blocker = sessions.get(pid);
        if (blocker === undefined) continue;
        stack.push(...blocker.blockedBy);
        if (blocker.service === session.service) continue;
        const key = `${session.service}\u0000${blocker.service}`;
        const pair = pairs.get(key) ?? { victim: session.service, aggressor: blocker.service, sessions: 0, instances: new Set<string>(), blockers: [] };
        if (blocker.instance !== undefined) pair.instances.add(blocker.instance);
        if (!pair.blockers.some((b) => b.pid === blocker.pid)) pair.blockers.push({ pid: blocker.pid, state: blocker.state, stateMs: blocker.stateMs });
        // Each victim session is counted once per blocking service, however many of its sessions are in the chain.
        if (!seen.has(blocker.service)) pair.sessions++;
        seen.add(blocker.service);
        pairs.set(key, pair);
      }
    }
    return {
      blocking: [...pairs.values()].map(({ instances, ...pair }) => ({ ...pair, aggressorInstances: [...instances].sort() })),
      idleInTransaction: [...idle.values()].map(({ instances, ...entry }) => ({ ...entry, instances: [...instances].sort() })),
      holders: [...holders.values()].sort((a, b) => b.sessions - a.sessions || `${a.service}@${a.instance ?? ''}`.localeCompare(`${b.service}@${b.instance ?? ''}`)),
    };
  }

  /**
   * Ends the probe's client and settles an in-flight sample with `null` at once. Waits for the client to end
   * (or to fail connecting) for at most the probe's timeout. Idempotent.
   */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#abort(new ProbeTimeout('server probe closed'));
    }
    this.#dropAdmin();
    const ended = this.#discard();
    // Waiting longer would let a hung server hold up stop(): past the timeout the client ends on its own time.
    await settleWithin(this.#clock, this.#timeoutMs, () => ended, () => new ProbeTimeout('server probe: close timed out')).catch(() => {});
  }
}

function parseIntArray(value: unknown): number[] {
  if (typeof value !== 'string') return [];
  return value.replace(/[{}]/g, '').split(',').filter((s) => s.length > 0).map(Number);
}
