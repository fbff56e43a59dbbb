import { vi } from 'vitest';

/** Fakes every timer and both clocks (Date and performance.now), which the default Clock reads. */
export function useFakeTime(): void {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval', 'Date', 'performance'] });
}

/** Moves fake time forward, letting promise chains settle in between. */
export async function advance(ms = 0): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
}
