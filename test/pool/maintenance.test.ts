import { EventEmitter } from 'eventemitter3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../src/clock';
import type { ClientLike } from '../../src/pool/client';
import type { PoolEventSink } from '../../src/pool/events';
import { ConnectionReports } from '../../src/pool/connection-reports';
import { Connections } from '../../src/pool/connections';
import { PoolMeters } from '../../src/pool/pool-meters';
import { Redactor } from '../../src/redact';
import { Lease } from '../../src/pool/lease';
import { Maintenance, type MaintainedPool } from '../../src/pool/maintenance';
import { resolveServiceOptions, type ServiceOptions } from '../../src/pool/options';
import { PooledConnection } from '../../src/pool/pooled-connection';
import { SlotAccount } from '../../src/pool/slot-account';
import type { RemoveReason } from '../../src/types';
import { advance, useFakeTime } from '../helpers/fake-time';
import { fakeSlots } from './pool-fixture';

function setup(service: ServiceOptions, intervalMs = 1_000) {
  const options = resolveServiceOptions(service);
  const removed: [number, RemoveReason][] = [];
  const state = { opening: 0, waiting: 0, spares: 0 };
  let ids = 0;
  const events = new EventEmitter();
  const sink = events as unknown as PoolEventSink;
  const meters = new PoolMeters(systemClock, 60_000, [100]);
  const reports = new ConnectionReports('auth', sink, new Redactor([]), systemClock);
  events.on('remove', (e: { connectionId: number; reason: RemoveReason }) => removed.push([e.connectionId, e.reason]));
  let connections: Connections | undefined;
  const slots = new SlotAccount(fakeSlots(10), systemClock, { openCount: () => connections!.size, size: () => options.size, waitLimitMs: () => 1_000, wantsConnection: () => state.waiting > 0 });
  const owner = { name: 'auth', isOpen: () => true, options: () => options, max: () => options.size + options.overflow, close: () => {}, removed: () => {}, available: () => {} };
  connections = new Connections(owner, meters, reports, slots, sink, systemClock, false);
  const pool: MaintainedPool = {
    name: 'auth',
    connections,
    slots,
    isOpen: () => true,
    options: () => options,
    max: () => options.size + options.overflow,
    opening: () => state.opening,
    waiting: () => state.waiting,
    openSpare: () => state.spares++,
  };
  const add = (expiresAt = Number.POSITIVE_INFINITY): PooledConnection => {
    const connection = new PooledConnection({ name: 'auth', returnConnection: () => {} }, ++ids, {} as ClientLike, performance.now(), expiresAt);
    connections!.connected(connection, 0);
    return connection;
  };
  const maintenance = new Maintenance(pool, systemClock, sink, intervalMs);
  return { maintenance, idle: connections.idle, removed, state, add, events };
}

describe('Maintenance', () => {
  beforeEach(() => useFakeTime());
  afterEach(() => vi.useRealTimers());

  it('closes surplus idle connections once idle longer than idleTimeoutMs, least recently used first, never below size', async () => {
    const { maintenance, idle, removed, add } = setup({ size: 1, overflow: 3, idleTimeoutMs: 5_000 });
    const [a, b, c] = [add(), add(), add()];
    for (const x of [a, b, c]) idle.push(x);
    maintenance.start();
    await advance(5_000);
    expect(removed).toEqual([]); // idle exactly 5 s: not yet
    await advance(1_000);
    expect(removed).toEqual([
      [a.id, 'overflow'],
      [b.id, 'overflow'],
    ]);
    expect(idle.length).toBe(1);
    maintenance.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('closes broken and expired idle connections whatever the size, and refills the guaranteed size', () => {
    const { maintenance, idle, removed, add, state } = setup({ size: 3, overflow: 0 });
    const broken = add();
    broken.markBroken(new Error('gone'));
    const expired = add(performance.now());
    const fine = add();
    for (const x of [broken, expired, fine]) idle.push(x);
    state.opening = 1;
    maintenance.run();
    expect(removed).toEqual([
      [broken.id, 'broken'],
      [expired.id, 'recycled'],
    ]);
    // one left, one being opened: one more to reach size 3
    expect(state.spares).toBe(1);
  });

  it('reports a lease held past leakDetectionMs once', async () => {
    const { maintenance, add, events } = setup({ size: 1, overflow: 0, leakDetectionMs: 2_000 }, 500);
    const leaks: unknown[] = [];
    events.on('leak', (e) => leaks.push(e));
    const connection = add();
    connection.lease = new Lease(connection, connection.client, connection.id, performance.now(), 'at test');
    maintenance.start();
    await advance(1_500);
    expect(leaks).toEqual([]);
    await advance(1_500);
    expect(leaks).toEqual([{ service: 'auth', connectionId: connection.id, heldMs: 2_000, acquiredAt: 'at test' }]);
    maintenance.stop();
  });
});
