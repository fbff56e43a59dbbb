/** A ServicePool on a fake server and a fake budget, for the pool's unit tests (fake time via vitest). */
import { EventEmitter } from 'eventemitter3';
import { systemClock } from '../../src/clock';
import type { PoolEventSink } from '../../src/pool/events';
import { resolveServiceOptions, type ServiceOptions } from '../../src/pool/options';
import { ServicePool } from '../../src/pool/service-pool';
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
