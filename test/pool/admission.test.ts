import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../src/clock';
import { Admission, type Waiter } from '../../src/pool/admission';
import { advance, useFakeTime } from '../helpers/fake-time';

function waiter(start: number, timeoutMs: number): Waiter {
  return { start, timeoutMs, stack: undefined, resolve: () => {}, reject: () => {}, stopListening: null, ownTimer: null, queued: false };
}

function setup(timeoutMs = 1_000) {
  const timedOut: Waiter[] = [];
  const aborted: Waiter[] = [];
  const admission = new Admission(systemClock, timeoutMs, { timedOut: (w) => timedOut.push(w), aborted: (w) => aborted.push(w) });
  return { admission, timedOut, aborted };
}

describe('Admission', () => {
  beforeEach(() => useFakeTime());
  afterEach(() => vi.useRealTimers());

  it('is FIFO, and a waiter whose deadline was never started holds no timer', () => {
    const { admission } = setup();
    const [a, b] = [waiter(0, 1_000), waiter(0, 1_000)];
    admission.enqueue(a, undefined);
    admission.enqueue(b, undefined);
    expect(vi.getTimerCount()).toBe(0);
    expect(admission.peek()).toBe(a);
    expect(admission.shift()).toBe(a);
    expect(a.queued).toBe(false);
    expect(b.queued).toBe(true);
    expect(admission.length).toBe(1);
  });

  it('times waiters out with one timer for the queue, each at its own deadline, and stops it once nobody waits', async () => {
    const { admission, timedOut } = setup(1_000);
    const first = waiter(performance.now(), 1_000);
    admission.enqueue(first, undefined);
    admission.startDeadline(first, performance.now());
    await advance(400);
    const second = waiter(performance.now(), 1_000);
    admission.enqueue(second, undefined);
    admission.startDeadline(second, performance.now());
    expect(vi.getTimerCount()).toBe(1);
    await advance(599);
    expect(timedOut).toEqual([]);
    await advance(1);
    expect(timedOut).toEqual([first]);
    expect(admission.length).toBe(1);
    await advance(399);
    expect(timedOut).toEqual([first]);
    await advance(1);
    expect(timedOut).toEqual([first, second]);
    expect(admission.length).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a shorter per-call timeout gets a timer of its own and leaves from the middle of the queue', async () => {
    const { admission, timedOut } = setup(1_000);
    const long = waiter(0, 1_000);
    const short = waiter(0, 100);
    for (const w of [long, short]) {
      admission.enqueue(w, undefined);
      admission.startDeadline(w, 0);
    }
    await advance(100);
    expect(timedOut).toEqual([short]);
    expect(admission.peek()).toBe(long);
    expect(short.ownTimer).toBeNull();
  });

  it('an abort takes the waiter out at once and stops listening; a waiter taken out earlier ignores a later abort', () => {
    const { admission, aborted } = setup();
    const controller = new AbortController();
    const [a, b] = [waiter(0, 1_000), waiter(0, 1_000)];
    admission.enqueue(a, controller.signal);
    admission.enqueue(b, controller.signal);
    expect(admission.shift()).toBe(a);
    admission.finish(a);
    controller.abort();
    expect(aborted).toEqual([b]);
    expect(admission.length).toBe(0);
    expect(b.stopListening).toBeNull();
  });

  it('takeAfter keeps the oldest waiters and hands back the rest in order, no longer watched', async () => {
    const { admission, timedOut } = setup(1_000);
    const waiters = [waiter(0, 1_000), waiter(0, 1_000), waiter(0, 50)];
    for (const w of waiters) {
      admission.enqueue(w, undefined);
      admission.startDeadline(w, 0);
    }
    expect(admission.takeAfter(1)).toEqual([waiters[1], waiters[2]]);
    expect(waiters[2]?.ownTimer).toBeNull();
    await advance(50);
    expect(timedOut).toEqual([]);
    expect(admission.takeAll()).toEqual([waiters[0]]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
