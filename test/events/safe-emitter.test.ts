import { afterEach, describe, expect, it, vi } from 'vitest';
import { SafeEventEmitter } from '../../src/events/safe-emitter';

interface Events {
  tick: [{ n: number }];
}

afterEach(() => vi.restoreAllMocks());

describe('SafeEventEmitter', () => {
  it('runs every listener even when one throws, and reports what it threw as a warning', () => {
    const warning = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const emitter = new SafeEventEmitter<Events>();
    const seen: number[] = [];
    emitter.on('tick', () => {
      throw new Error('listener bug');
    });
    emitter.on('tick', (e) => seen.push(e.n));
    expect(emitter.emit('tick', { n: 1 })).toBe(true);
    expect(seen).toEqual([1]);
    expect(warning).toHaveBeenCalledWith("pg-bulkhead: a listener of 'tick' threw: listener bug", 'PgBulkheadListenerWarning');
  });

  it('runs a once listener once, and keeps the listener context', () => {
    const emitter = new SafeEventEmitter<Events>();
    const calls: unknown[] = [];
    const context = { name: 'ctx' };
    emitter.once('tick', function (this: unknown, e) {
      calls.push([this, e.n]);
    }, context);
    emitter.on('tick', (e) => calls.push(e.n));
    emitter.emit('tick', { n: 1 });
    emitter.emit('tick', { n: 2 });
    expect(calls).toEqual([[context, 1], 1, 2]);
    expect(emitter.listenerCount('tick')).toBe(1);
  });

  it('a single once listener that throws is still removed', () => {
    vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const emitter = new SafeEventEmitter<Events>();
    let calls = 0;
    emitter.once('tick', () => {
      calls++;
      throw new Error('x');
    });
    emitter.emit('tick', { n: 1 });
    emitter.emit('tick', { n: 2 });
    expect(calls).toBe(1);
    expect(emitter.emit('tick', { n: 3 })).toBe(false);
  });
});

describe('SafeEventEmitter, listener bookkeeping', () => {
  it('removes a listener by the function that was registered, and lists what was registered', () => {
    const emitter = new SafeEventEmitter<Events>();
    const seen: number[] = [];
    const listener = (e: { n: number }): void => {
      seen.push(e.n);
    };
    emitter.on('tick', listener);
    expect(emitter.listeners('tick')).toEqual([listener]);
    emitter.off('tick', listener);
    expect(emitter.emit('tick', { n: 1 })).toBe(false);
    expect(emitter.listenerCount('tick')).toBe(0);
    emitter.addListener('tick', listener);
    emitter.once('tick', listener);
    emitter.removeListener('tick', listener, undefined, true);
    emitter.emit('tick', { n: 2 });
    emitter.removeAllListeners('tick');
    emitter.emit('tick', { n: 3 });
    expect(seen).toEqual([2]);
  });

  it('removes only the registration with the given context', () => {
    const emitter = new SafeEventEmitter<Events>();
    const calls: unknown[] = [];
    function listener(this: unknown): void {
      calls.push(this);
    }
    const a = { name: 'a' };
    const b = { name: 'b' };
    emitter.on('tick', listener, a);
    emitter.on('tick', listener, b);
    emitter.off('tick', listener, a);
    emitter.emit('tick', { n: 1 });
    expect(calls).toEqual([b]);
  });
});
