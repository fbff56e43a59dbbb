import { EventEmitter } from 'eventemitter3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../src/clock';
import type { ClientLike } from '../../src/pool/client';
import { ConnectionReports } from '../../src/pool/connection-reports';
import { Connections } from '../../src/pool/connections';
import type { PoolEventSink } from '../../src/pool/events';
import { resolveServiceOptions, type ServiceOptions } from '../../src/pool/options';
import { PoolMeters } from '../../src/pool/pool-meters';
import { PooledConnection } from '../../src/pool/pooled-connection';
import { SlotAccount } from '../../src/pool/slot-account';
import { Redactor } from '../../src/redact';
import type { RemoveReason } from '../../src/types';
import { advance, useFakeTime } from '../helpers/fake-time';
import { fakeSlots } from './pool-fixture';

function setup(service: ServiceOptions) {
  let options = resolveServiceOptions(service);
  const events = new EventEmitter();
  const sink = events as unknown as PoolEventSink;
  const removed: [number, RemoveReason][] = [];
  const released: { destroyed: boolean }[] = [];
  events.on('remove', (e: { connectionId: number; reason: RemoveReason }) => removed.push([e.connectionId, e.reason]));
  events.on('release', (e: { destroyed: boolean }) => released.push(e));
  const calls = { closed: 0, available: 0, removed: 0 };
  let connections: Connections | undefined;
  const slots = new SlotAccount(fakeSlots(10), systemClock, { openCount: () => connections!.size, size: () => options.size, waitLimitMs: () => 1_000, wantsConnection: () => false });
  const owner = {
    name: 'auth',
    isOpen: () => true,
    options: () => options,
    max: () => options.size + options.overflow,
    close: () => void calls.closed++,
    removed: () => void calls.removed++,
    available: () => void calls.available++,
  };
  connections = new Connections(owner, new PoolMeters(systemClock, 60_000, [100]), new ConnectionReports('auth', sink, new Redactor([]), systemClock), slots, sink, systemClock, false);
  let ids = 0;
  const open = (status: () => string | null = () => 'I'): PooledConnection => {
    const client = { getTransactionStatus: status } as unknown as ClientLike;
    const connection = new PooledConnection(connections!, ++ids, client, performance.now(), performance.now() + 10_000);
    connections!.connected(connection, 0);
    return connection;
  };
  return { connections, removed, released, calls, open, shrink: (size: number, overflow: number) => (options = Object.freeze({ ...options, size, overflow })) };
}

describe('Connections', () => {
  beforeEach(() => useFakeTime());
  afterEach(() => vi.useRealTimers());

  it('a lease points at its connection; a healthy one comes back on top of the idle stack', () => {
    const { connections, open, released, calls } = setup({ size: 2, overflow: 0 });
    const connection = open();
    const lease = connections.lend(connection, performance.now(), undefined);
    expect(connections.inUse).toBe(1);
    expect(connection.lease).toBe(lease);
    expect(lease.service).toBe('auth');
    lease.release();
    expect(connections.inUse).toBe(0);
    expect(connections.idle.peek()).toBe(connection);
    expect(released).toEqual([expect.objectContaining({ destroyed: false })]);
    expect(calls.available).toBe(1);
  });

  it('closes instead of reusing: released with an error, inside a transaction, after maxUses, past its lifetime, beyond a smaller max', async () => {
    const { connections, open, removed, shrink } = setup({ size: 3, overflow: 0, maxUses: 2 });
    const withError = open();
    connections.lend(withError, 0, undefined).release(new Error('bad'));
    const inTransaction = open(() => 'T');
    connections.lend(inTransaction, 0, undefined).release();
    const used = open();
    connections.lend(used, 0, undefined).release();
    connections.idle.pop();
    connections.lend(used, 0, undefined).release();
    const old = open();
    const oldLease = connections.lend(old, 0, undefined);
    await advance(10_000);
    oldLease.release();
    const surplus = open();
    const extra = open();
    const surplusLease = connections.lend(surplus, 0, undefined);
    connections.lend(extra, 0, undefined).release();
    connections.idle.pop();
    shrink(1, 0);
    surplusLease.release();
    expect(removed.map(([, reason]) => reason)).toEqual(['broken', 'in-transaction', 'recycled', 'recycled', 'overflow']);
  });

  it('closeAll closes idle and leased connections and counts the leases it took back by force; their late release is harmless', () => {
    const { connections, open, released } = setup({ size: 2, overflow: 0 });
    open();
    const leased = open();
    const lease = connections.lend(leased, 0, undefined);
    connections.idle.push([...connections.all()].find((c) => c !== leased)!);
    expect(connections.closeAll()).toBe(1);
    expect(connections.size).toBe(0);
    lease.release();
    expect(released).toEqual([expect.objectContaining({ destroyed: true })]);
    expect(connections.inUse).toBe(0);
  });

  it('an idle connection whose backend dies is reported and closed at once; a leased one waits for its release', () => {
    const { connections, open, removed } = setup({ size: 2, overflow: 0 });
    const idle = open();
    connections.idle.push(idle);
    const leased = open();
    connections.lend(leased, 0, undefined);
    connections.clientError(idle, new Error('terminating connection'));
    connections.clientError(leased, new Error('terminating connection'));
    expect(removed).toEqual([[idle.id, 'broken']]);
    expect(leased.broken).not.toBeNull();
  });

  it('preemptIdle closes the connection idle the longest, only beyond the size and after minIdleMs', async () => {
    const { connections, open, removed } = setup({ size: 1, overflow: 2 });
    const [a, b] = [open(), open()];
    connections.idle.push(a);
    await advance(100);
    b.idleSince = performance.now();
    connections.idle.push(b);
    expect(connections.preemptIdle(performance.now(), 200)).toBe(false);
    expect(connections.preemptibleIdleSince()).toBe(a.idleSince);
    expect(connections.preemptIdle(performance.now(), 100)).toBe(true);
    expect(removed).toEqual([[a.id, 'idle']]);
    expect(connections.preemptIdle(performance.now(), 0)).toBe(false); // back at its size
  });
});
