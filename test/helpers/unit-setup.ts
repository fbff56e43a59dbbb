// Setup file of the unit project, which runs its files one after another in shared workers (isolate: false): a file
// that fakes time and does not restore it must not hand fake timers to the next file.
import { afterAll, vi } from 'vitest';

afterAll(() => {
  vi.useRealTimers();
});
