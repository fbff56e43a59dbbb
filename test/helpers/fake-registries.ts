import { afterEach, beforeEach, vi } from 'vitest';
import { useFakeTime } from './fake-time';

/** The part of a registry the cleanup needs. */
interface Closable {
  close(options?: { timeoutMs?: number }): Promise<unknown>;
}

/**
 * For unit suites of registries on a fake server: fakes time before each test, and after it restores real time and
 * closes every registry the test registered. Returns the function that registers one (and hands it back).
 * @example const track = useFakeRegistries(); const registry = track(createPoolRegistry({ … }));
 */
export function useFakeRegistries(): <R extends Closable>(registry: R) => R {
  let open: Closable[] = [];
  beforeEach(() => {
    useFakeTime();
    open = [];
  });
  afterEach(async () => {
    vi.useRealTimers();
    await Promise.all(open.map((r) => r.close({ timeoutMs: 10 })));
  });
  return (registry) => {
    open.push(registry);
    return registry;
  };
}
