/**
 * What a service's pool tells the outside world about its connections: the registry's `connect`, `remove` and
 * `error` events, and the observers subscribed with `observe` (the pg.Pool view turns them into pg-pool's events).
 * Nothing is built when nobody listens, and a throwing observer never breaks the pool.
 */
import type { Clock } from '../clock';
import type { Redactor } from '../redact';
import type { RemoveReason } from '../types';
import type { PoolEventSink } from './events';
import type { PooledConnection } from './pooled-connection';
import type { ConnectionObserver } from './service-pool-types';

export class ConnectionReports {
  readonly #service: string;
  readonly #events: PoolEventSink;
  readonly #redactor: Redactor;
  readonly #clock: Clock;
  readonly #observers = new Set<ConnectionObserver>();

  constructor(service: string, events: PoolEventSink, redactor: Redactor, clock: Clock) {
    this.#service = service;
    this.#events = events;
    this.#redactor = redactor;
    this.#clock = clock;
  }

  /** Subscribes to connection life events; returns the unsubscribe function. */
  observe(observer: ConnectionObserver): () => void {
    this.#observers.add(observer);
    return () => this.#observers.delete(observer);
  }

  /** A new connection is ready, `durationMs` after its connect began. */
  connected(connection: PooledConnection, durationMs: number): void {
    if (this.#events.listenerCount('connect') > 0) this.#events.emit('connect', { service: this.#service, connectionId: connection.id, durationMs });
    if (this.#observers.size > 0) this.#notify((o) => o.connected?.(connection.client));
  }

  /** A connection is being closed, for `reason`. */
  removed(connection: PooledConnection, reason: RemoveReason): void {
    if (this.#events.listenerCount('remove') > 0) {
      this.#events.emit('remove', { service: this.#service, connectionId: connection.id, reason, ageMs: this.#clock.now() - connection.createdAt });
    }
    if (this.#observers.size > 0) this.#notify((o) => o.removed?.(connection.client));
  }

  /** An idle connection failed (the error is redacted before anyone sees it). */
  idleFailed(connection: PooledConnection, error: Error): void {
    const listening = this.#events.listenerCount('error') > 0;
    if (!listening && this.#observers.size === 0) return;
    const safe = this.#redactor.error(error);
    if (listening) this.#events.emit('error', { service: this.#service, connectionId: connection.id, error: safe });
    this.#notify((o) => o.idleError?.(safe, connection.client));
  }

  #notify(call: (observer: ConnectionObserver) => void): void {
    for (const observer of this.#observers) {
      try {
        call(observer);
      } catch {
        // An observer (a user's event listener behind it) never breaks the pool.
      }
    }
  }
}
