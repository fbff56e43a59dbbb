/** A ServicePool on a fake server and a fake budget, for the pool's unit tests (fake time via vitest). */
import { EventEmitter } from 'eventemitter3';
import { systemClock } from '../../src/clock';
import { ConnectionFactory, type FactoryConnections } from '../../src/pool/connection-factory';
import type { PoolEventSink } from '../../src/pool/events';
import { resolveServiceOptions, type ServiceOptions } from '../../src/pool/options';
import { PoolMeters } from '../../src/pool/pool-meters';
import type { PooledConnection } from '../../src/pool/pooled-connection';
import { ServicePool } from '../../src/pool/service-pool';
import { SlotAccount } from '../../src/pool/slot-account';
import type { SlotBroker } from '../../src/pool/slots';
import { Redactor } from '../../src/redact';
import { FakeServer } from '../helpers/fake-client';

/** A budget with `free` shared slots that grants queued requests as slots come back. */
export function fakeSlots(free = 0): SlotBroker & { taken: number } {
  const queue: (() => void)[] = [];
  const broker = {
    taken: 0,
    tryTake: () => (free > 0 ? (free--, broker.taken++, true) : false),
    request: (grant: () => void) => {
      queue.push(grant);
      return () => void queue.splice(queue.indexOf(grant), 1);
    },
    release: (count: number) => {
      broker.taken -= count;
      free += count;
      while (free > 0 && queue.length > 0) {
        free--;
        broker.taken++;
        queue.shift()!();
      }
    },
    forceTake: (count: number) => {
      broker.taken += count;
      free -= count;
    },
    poke: () => {},
    waiting: () => queue.length,
    holders: () => ({ shared: 0, byService: {} }),
  };
  return broker;
}

export function makePool(service: ServiceOptions, extra: { slots?: SlotBroker; failureThreshold?: number; connectTimeoutMs?: number } = {}) {
  const server = new FakeServer();
  const events = new EventEmitter();
  let ids = 0;
  const pool = new ServicePool({
    service: 'auth',
    options: resolveServiceOptions(service),
    clientConfig: {},
    Client: server.Client,
    connectTimeoutMs: extra.connectTimeoutMs ?? 1_000,
    maintenanceIntervalMs: 60_000,
    allowExitOnIdle: false,
    windowMs: 60_000,
    clock: systemClock,
    events: events as unknown as PoolEventSink,
    redactor: new Redactor([]),
    slots: extra.slots ?? fakeSlots(),
    breaker: { failureThreshold: extra.failureThreshold ?? 3, initialBackoffMs: 500, maxBackoffMs: 5_000 },
    random: () => 0.5,
    nextConnectionId: () => ++ids,
  });
  return { pool, server, events };
}

/**
 * A ConnectionFactory on a fake server and a fake budget, with the pool around it reduced to what the factory asks
 * (`state.open` says whether the pool is open; `open` holds the connections it reported connected).
 */
export function makeFactory(service: ServiceOptions = {}, threshold = 3) {
  const server = new FakeServer();
  const events = new EventEmitter();
  const meters = new PoolMeters(systemClock, 60_000, [100]);
  const open = new Set<PooledConnection>();
  const state = { open: true, circuitOpened: 0 };
  const options = resolveServiceOptions({ size: 5, overflow: 0, ...service });
  const host: FactoryConnections = {
    name: 'auth',
    returnConnection: () => {},
    isOpen: () => state.open,
    options: () => options,
    max: () => options.size + options.overflow,
    workingConnections: () => open.size,
    connected: (connection) => void open.add(connection),
    queryDone: () => {},
    clientError: () => {},
  };
  const slots = new SlotAccount(fakeSlots(), systemClock, { openCount: () => open.size, size: () => options.size, waitLimitMs: () => 1_000, wantsConnection: () => true });
  let ids = 0;
  const factory = new ConnectionFactory(
    {
      service: 'auth',
      Client: server.Client,
      clientConfig: {},
      connectTimeoutMs: 1_000,
      clock: systemClock,
      random: () => 0.5,
      redactor: new Redactor([]),
      events: events as unknown as PoolEventSink,
      breaker: { failureThreshold: threshold, initialBackoffMs: 500, maxBackoffMs: 5_000 },
      nextConnectionId: () => ++ids,
      circuitOpened: () => state.circuitOpened++,
    },
    host,
    slots,
    meters,
  );
  return { factory, server, events, meters, open, state, slots };
}
