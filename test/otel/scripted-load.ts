import { expect } from 'vitest';
import type { Clock } from '../../src/clock';
import type { ClientConstructor } from '../../src/pool/client';
import { createPoolRegistry } from '../../src/registry/pool-registry';

/** The services of the scripted load: auth is small and times out fast, llm runs a few queries. */
export const LOAD_SERVICES = {
  auth: { size: 1, overflow: 1, maxWaiting: 1, acquireTimeoutMs: 300, priority: 'highest' },
  llm: { size: 1, overflow: 2, acquireTimeoutMs: 1_000, priority: 'low' },
} as const;

/** A registry for the scripted load, on pg-mem or real PostgreSQL. */
export function loadRegistry(options: { applicationName: string; Client?: ClientConstructor; connection?: string; clock?: Clock }) {
  return createPoolRegistry({ ...options, maxConnections: 5, reserve: 0, services: LOAD_SERVICES });
}

/**
 * The same load on any back end. `elapse(ms)` moves fake time on (pg-mem) or does nothing (real time passes by
 * itself while the awaited timeout runs out).
 *
 * auth: two leases (the second opens the overflow connection), a third acquire that times out after 300 ms, a
 * fourth rejected at once (queue full); the first lease is returned, the second released with an error (its
 * connection closed as broken). llm: three queries.
 */
export async function scriptedLoad(registry: ReturnType<typeof loadRegistry>, elapse: (ms: number) => Promise<void>): Promise<void> {
  const first = await registry.acquire('auth');
  const second = await registry.acquire('auth');
  const timingOut = registry.acquire('auth').then(
    () => new Error('expected a timeout'),
    (e: unknown) => e,
  );
  const full = await registry.acquire('auth').then(
    () => new Error('expected a queue-full rejection'),
    (e: unknown) => e,
  );
  expect(full).toMatchObject({ code: 'ERR_QUEUE_FULL' });
  await elapse(300);
  expect(await timingOut).toMatchObject({ code: 'ERR_ACQUIRE_TIMEOUT' });
  first.release();
  second.release(new Error('connection lost'));
  for (let i = 0; i < 3; i++) await registry.query('llm', 'select 1 as one');
}
