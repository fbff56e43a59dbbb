import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../src/clock';
import { SlotAccount } from '../../src/pool/slot-account';
import type { SlotBroker } from '../../src/pool/slots';
import { advance, useFakeTime } from '../helpers/fake-time';

/** A budget with `free` shared slots; requests queue until release() frees one. */
function fakeBroker(free: number) {
  const queue: (() => void)[] = [];
  const state = { free, taken: 0, pokes: 0 };
  const broker: SlotBroker = {
    tryTake: () => (state.free > 0 ? (state.free--, state.taken++, true) : false),
    request: (grant) => {
      queue.push(grant);
      return () => queue.splice(queue.indexOf(grant), 1);
    },
    release: (count) => {
      state.taken -= count;
      state.free += count;
      while (state.free > 0 && queue.length > 0) {
        state.free--;
        state.taken++;
        queue.shift()!();
      }
    },
    forceTake: (count) => {
      state.taken += count;
      state.free -= count;
    },
    poke: () => state.pokes++,
    waiting: () => queue.length,
    holders: () => ({ shared: free, byService: {} }),
  };
  return { broker, state, queue };
}

function setup(size: number, free: number) {
  const { broker, state, queue } = fakeBroker(free);
  const pool = { open: 0, size, wanted: true };
  const account = new SlotAccount(broker, systemClock, { openCount: () => pool.open, size: () => pool.size, waitLimitMs: () => 300, wantsConnection: () => pool.wanted });
  return { account, state, queue, pool };
}

describe('SlotAccount', () => {
  beforeEach(() => useFakeTime());
  afterEach(() => vi.useRealTimers());

  it('counts creates within the size without a shared slot, and takes one per create beyond it', () => {
    const { account, state } = setup(2, 5);
    expect(account.take()).toBe(true);
    expect(account.take()).toBe(true);
    expect(state.taken).toBe(0);
    expect(account.take()).toBe(true);
    expect(state.taken).toBe(1);
    expect(account.held).toBe(1);
    expect(account.opening).toBe(3);
  });

  it('gives back the slot of a create that failed, and keeps held = open + opening - size', () => {
    const { account, state, pool } = setup(1, 5);
    account.take();
    account.take();
    expect(account.held).toBe(1);
    // one connection opened, one failed
    pool.open = 1;
    account.finished();
    account.finished();
    expect(account.held).toBe(0);
    expect(state.taken).toBe(0);
    // a smaller size turns open connections into overflow: slots are taken for them
    pool.size = 0;
    account.reconcile();
    expect(account.held).toBe(1);
    expect(state.taken).toBe(1);
  });

  it('waits for a slot when none is free, and is granted one when another service gives one back', async () => {
    const { account, state, queue } = setup(0, 0);
    const took = account.take();
    expect(took).toBeInstanceOf(Promise);
    expect(account.waitingForSlot).toBe(1);
    expect(queue).toHaveLength(1);
    expect(account.opening).toBe(0); // not counted while it waits
    state.taken++; // the budget grants it a slot another service gave back
    queue.shift()!();
    expect(await took).toBe(true);
    expect(account.held).toBe(1);
    expect(account.opening).toBe(1);
  });

  it('gives up at the wait limit, and gives a slot granted after demand went straight back', async () => {
    const { account, state, queue, pool } = setup(0, 0);
    const late = account.take() as Promise<boolean>;
    await advance(300);
    expect(await late).toBe(false);
    expect(queue).toHaveLength(0);
    expect(account.waitingForSlot).toBe(0);
    const unwanted = account.take() as Promise<boolean>;
    pool.wanted = false; // the caller left meanwhile
    state.taken++;
    queue.shift()!();
    expect(await unwanted).toBe(false);
    expect(account.held).toBe(0);
    expect(state.taken).toBe(0);
  });

  it('after a larger size, creates queued for a slot go ahead within the size, oldest first', async () => {
    const { account, pool } = setup(0, 0);
    const first = account.take() as Promise<boolean>;
    const second = account.take() as Promise<boolean>;
    pool.size = 1;
    account.admitWithinSize();
    expect(await first).toBe(true);
    expect(account.waitingForSlot).toBe(1);
    account.giveUpWaits();
    expect(await second).toBe(false);
    expect(account.held).toBe(0);
  });
});
