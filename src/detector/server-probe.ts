/** The part of a pg client the probe uses. */
export interface ProbeClient {
  query(text: string, values?: readonly unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
  end(): Promise<unknown> | void;
}

/** One of our sessions, as PostgreSQL sees it. Holds no SQL text and no user or host names. */
export interface ProbeSession<S extends string = string> {
  readonly pid: number;
  readonly service: S;
  /** `pg_stat_activity.state`, null when the probe may not see it. */
  readonly state: string | null;
  /** How long it has been in that state, ms. */
  readonly stateMs: number;
  /** Pids of the sessions blocking this one (`pg_blocking_pids`). */
  readonly blockedBy: readonly number[];
}

/** What one probe found. */
export interface ProbeResult<S extends string = string> {
  /** Pairs of (blocked victim, blocking service) with how many of the victim's sessions wait on it. */
  readonly blocking: readonly { readonly victim: S; readonly aggressor: S; readonly sessions: number }[];
  /** Services with sessions idle in transaction, with the longest time so far, ms. */
  readonly idleInTransaction: readonly { readonly service: S; readonly sessions: number; readonly longestMs: number }[];
}

// Only pids, states and durations are read: never query text, user or client address.
const SESSIONS_SQL = `select pid, application_name, state,
  coalesce(extract(epoch from (clock_timestamp() - state_change)) * 1000, 0)::float8 as state_ms,
  pg_blocking_pids(pid) as blocked_by
from pg_stat_activity
where left(application_name, $2) = $1 and pid <> pg_backend_pid()`;

/**
 * Samples the server's view of the registry's sessions through one dedicated client outside every pool.
 * Any failure (pg-mem, missing privileges, a lost connection) makes it report `null` and stay quiet for
 * `retryAfterProbes` calls, so the detector falls back to client-side signals.
 */
export class ServerProbe<S extends string> {
  readonly #open: () => Promise<ProbeClient>;
  readonly #prefix: string;
  readonly #services: ReadonlySet<string>;
  #client: ProbeClient | null = null;
  #connecting: Promise<ProbeClient> | null = null;
  #skip = 0;
  #closed = false;
  /** `ok` after a successful probe, `unavailable` after a failed one, `idle` before the first. */
  status: 'ok' | 'unavailable' | 'idle' = 'idle';

  constructor(open: () => Promise<ProbeClient>, applicationName: string, services: readonly S[], readonly retryAfterProbes = 10) {
    this.#open = open;
    this.#prefix = `${applicationName}:`;
    this.#services = new Set(services);
  }

  async sample(idleThresholdMs: number): Promise<ProbeResult<S> | null> {
    if (this.#closed) return null;
    if (this.#skip > 0) {
      this.#skip--;
      return null;
    }
    try {
      this.#connecting ??= this.#open();
      const client = (this.#client ??= await this.#connecting);
      if (this.#closed) return null;
      const { rows } = await client.query(SESSIONS_SQL, [this.#prefix, this.#prefix.length]);
      this.status = 'ok';
      return this.#interpret(rows, idleThresholdMs);
    } catch {
      // Quietly degrade: no function (pg-mem), no privilege, or no connection. Reconnect next time.
      this.status = 'unavailable';
      this.#skip = this.retryAfterProbes;
      const client = this.#client;
      this.#client = null;
      this.#connecting = null;
      if (client !== null) Promise.resolve().then(() => client.end()).catch(() => {});
      return null;
    }
  }

  #interpret(rows: readonly Record<string, unknown>[], idleThresholdMs: number): ProbeResult<S> {
    const sessions = new Map<number, ProbeSession<S>>();
    for (const row of rows) {
      const name = String(row.application_name ?? '');
      const service = name.slice(this.#prefix.length);
      if (!this.#services.has(service)) continue;
      const blockedBy = Array.isArray(row.blocked_by) ? row.blocked_by.map(Number) : parseIntArray(row.blocked_by);
      const pid = Number(row.pid);
      sessions.set(pid, { pid, service: service as S, state: typeof row.state === 'string' ? row.state : null, stateMs: Number(row.state_ms) || 0, blockedBy });
    }
    const pairs = new Map<string, { victim: S; aggressor: S; sessions: number }>();
    const idle = new Map<S, { service: S; sessions: number; longestMs: number }>();
    for (const session of sessions.values()) {
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
        if (blocker.service === session.service || seen.has(blocker.service)) continue;
        seen.add(blocker.service);
        const key = `${session.service}\u0000${blocker.service}`;
        const pair = pairs.get(key) ?? { victim: session.service, aggressor: blocker.service, sessions: 0 };
        pair.sessions++;
        pairs.set(key, pair);
      }
      if (session.state !== null && session.state.startsWith('idle in transaction') && session.stateMs >= idleThresholdMs) {
        const entry = idle.get(session.service) ?? { service: session.service, sessions: 0, longestMs: 0 };
        entry.sessions++;
        entry.longestMs = Math.max(entry.longestMs, session.stateMs);
        idle.set(session.service, entry);
      }
    }
    return { blocking: [...pairs.values()], idleInTransaction: [...idle.values()] };
  }

  /** Ends the probe's client. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const connecting = this.#connecting;
    this.#connecting = null;
    this.#client = null;
    if (connecting === null) return;
    try {
      const client = await connecting;
      await client.end();
    } catch {
      // nothing to end
    }
  }
}

function parseIntArray(value: unknown): number[] {
  if (typeof value !== 'string') return [];
  return value.replace(/[{}]/g, '').split(',').filter((s) => s.length > 0).map(Number);
}
