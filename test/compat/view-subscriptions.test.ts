/**
 * A pg.Pool view subscribes to its service's connection events only while someone listens for them, so handles
 * made and dropped without `end()` (a `registry.pgPool('api')` per request, say) leave nothing behind.
 * Driven through a counting source: the subscription itself is what is under test.
 */
import { describe, expect, it } from 'vitest';
import { PgPoolView, type PgPoolSource } from '../../src/compat/pg-pool-view';
import type { ConnectionObserver } from '../../src/pool/service-pool';

function countingSource(): { source: PgPoolSource; observers: Set<ConnectionObserver> } {
  const observers = new Set<ConnectionObserver>();
  const source = {
    service: 'api',
    acquire: () => Promise.reject(new Error('not used')),
    counts: () => ({ total: 0, idle: 0, waiting: 0, expired: 0 }),
    observe: (observer: ConnectionObserver) => {
      observers.add(observer);
      return () => observers.delete(observer);
    },
    Client: class {},
    options: {},
  } as unknown as PgPoolSource;
  return { source, observers };
}

describe('pg.Pool view subscriptions', () => {
  it('1000 handles nobody listens to hold no subscription', () => {
    const { source, observers } = countingSource();
    for (let i = 0; i < 1_000; i++) new PgPoolView(source).on('acquire', () => {});
    expect(observers.size).toBe(0);
  });

  it('subscribes with the first connect/remove/error listener, once, and lets go with the last', () => {
    const { source, observers } = countingSource();
    const view = new PgPoolView(source);
    const onError = (): void => {};
    const onRemove = (): void => {};
    view.on('error', onError);
    view.on('remove', onRemove);
    expect(observers.size).toBe(1);
    view.off('error', onError);
    expect(observers.size).toBe(1);
    view.off('remove', onRemove);
    expect(observers.size).toBe(0);
    view.once('connect', () => {});
    expect(observers.size).toBe(1);
  });

  it('delivers while subscribed; removeAllListeners() lets go and later listeners subscribe again', () => {
    const { source, observers } = countingSource();
    const view = new PgPoolView(source);
    const seen: unknown[] = [];
    view.on('remove', (client) => seen.push(client));
    for (const observer of observers) observer.removed?.({ id: 1 } as never);
    expect(seen).toEqual([{ id: 1 }]);
    view.removeAllListeners();
    expect(observers.size).toBe(0);
    view.on('connect', (client) => seen.push(client));
    expect(observers.size).toBe(1);
    for (const observer of observers) observer.connected?.({ id: 2 } as never);
    expect(seen).toEqual([{ id: 1 }, { id: 2 }]);
  });

  it('end() lets go of the subscription and no listener added afterwards takes one', async () => {
    const { source, observers } = countingSource();
    const view = new PgPoolView(source);
    view.on('error', () => {});
    expect(observers.size).toBe(1);
    await view.end();
    expect(observers.size).toBe(0);
    view.on('connect', () => {});
    expect(observers.size).toBe(0);
  });
});
