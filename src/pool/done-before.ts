/**
 * Waits for something that signals completion through a callback, up to a deadline on the injected clock: how
 * close() waits for leases to come back and for the ledger to drain. The timer keeps the process alive, since
 * someone awaits the close.
 */
import type { Clock } from '../clock';

/** Resolves true when `start(done)` calls done before `deadline` (monotonic ms), false otherwise. */
export function doneBefore(clock: Clock, deadline: number, start: (done: () => void) => void): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    let settled = false;
    const finish = (inTime: boolean): void => {
      if (settled) return;
      settled = true;
      clock.clearTimeout(timer);
      resolve(inTime);
    };
    const timer = clock.setTimeout(() => finish(false), Math.max(0, deadline - clock.now()), true);
    start(() => finish(true));
  });
}
