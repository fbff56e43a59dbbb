/**
 * The source of time for every component. Inject one in tests to drive timers and durations with fake time;
 * the default reads `performance.now()` (monotonic) for durations and `Date.now()` for timestamps.
 */
export interface Clock {
  /** Monotonic milliseconds, for measuring durations. */
  now(): number;
  /** Wall-clock milliseconds since the epoch, for timestamps shown to people. */
  wallNow(): number;
  /**
   * Schedules `callback` after `ms`. Background timers must not keep the process alive; `keepAlive: true`
   * marks a timer somebody is awaiting (an acquire deadline), which should, as any pending I/O would.
   */
  setTimeout(callback: () => void, ms: number, keepAlive?: boolean): TimerHandle;
  /** Cancels a timer returned by {@link Clock.setTimeout}. */
  clearTimeout(handle: TimerHandle): void;
}

/** Opaque timer handle returned by a {@link Clock}. */
export type TimerHandle = unknown;

/**
 * The system clock. Timers are `unref()`ed unless `keepAlive` is set: a background timer never keeps the host
 * process alive.
 * Reads the globals at call time, so test frameworks that fake timers (vitest's `vi.useFakeTimers()`) take effect.
 */
export const systemClock: Clock = Object.freeze({
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout(callback: () => void, ms: number, keepAlive = false): TimerHandle {
    const handle = setTimeout(callback, ms);
    if (!keepAlive) (handle as { unref?: () => void }).unref?.();
    return handle;
  },
  clearTimeout(handle: TimerHandle): void {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
});

/**
 * Runs `work` and settles with it, or rejects with `onTimeout()` once `ms` have passed on `timers` (whichever
 * comes first); the timer is always cleared. The one promise-versus-deadline race of the pool's connect steps.
 */
export async function settleWithin<T>(timers: Pick<Clock, 'setTimeout' | 'clearTimeout'>, ms: number, work: () => T | Promise<T>, onTimeout: () => Error): Promise<T> {
  let timer: TimerHandle | null = null;
  try {
    return await Promise.race([
      Promise.resolve().then(work),
      new Promise<never>((_, reject) => {
        timer = timers.setTimeout(() => reject(onTimeout()), ms);
      }),
    ]);
  } finally {
    if (timer !== null) timers.clearTimeout(timer);
  }
}
