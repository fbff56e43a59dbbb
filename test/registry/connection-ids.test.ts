import { afterEach, expect, it, vi } from 'vitest';
import { createPoolRegistry } from '../../src/index';
import { FakeServer } from '../helpers/fake-client';
import { advance, useFakeTime } from '../helpers/fake-time';

afterEach(() => {
  vi.useRealTimers();
});

it('connection ids are counted per registry: unique across its services, the same in every registry', async () => {
  useFakeTime();
  const ids = async (): Promise<number[]> => {
    const server = new FakeServer();
    const registry = createPoolRegistry({ Client: server.Client, services: { auth: { size: 2, overflow: 0 }, llm: { size: 1, overflow: 0 } } });
    const seen: number[] = [];
    registry.on('connect', (e) => seen.push(e.connectionId));
    await advance(10);
    await registry.close({ timeoutMs: 10 });
    return seen.sort((a, b) => a - b);
  };
  const first = await ids();
  const second = await ids();
  expect(first).toEqual([1, 2, 3]);
  expect(second).toEqual(first); // a module-wide counter would have given 4, 5, 6
});
