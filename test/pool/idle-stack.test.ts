import { describe, expect, it } from 'vitest';
import { IdleStack } from '../../src/pool/idle-stack';
import { PooledConnection, type ConnectionHome } from '../../src/pool/pooled-connection';
import type { ClientLike } from '../../src/pool/client';

const home: ConnectionHome = { name: 'auth', returnConnection: () => {} };
const client = {} as ClientLike;
function connection(id: number, idleSince: number): PooledConnection {
  const c = new PooledConnection(home, id, client, 0, Number.POSITIVE_INFINITY);
  c.idleSince = idleSince;
  return c;
}

describe('IdleStack', () => {
  it('hands out the most recently pushed connection first; never-used ones go under the rest', () => {
    const stack = new IdleStack();
    const used1 = connection(1, 10);
    const used2 = connection(2, 20);
    const fresh = connection(3, 30);
    stack.push(used1);
    stack.push(used2);
    stack.pushUnder(fresh);
    expect(stack.length).toBe(3);
    expect(stack.peek()).toBe(used2);
    expect([stack.pop(), stack.pop(), stack.pop(), stack.pop()]).toEqual([used2, used1, fresh, undefined]);
  });

  it('finds the connection idle the longest by idleSince, not by position', () => {
    const stack = new IdleStack();
    const checkedAndPutBack = connection(1, 5);
    stack.push(connection(2, 10));
    stack.push(checkedAndPutBack); // on top, yet idle since 5
    stack.push(connection(3, 20));
    expect(stack.leastRecentlyIdle()).toBe(checkedAndPutBack);
    expect(new IdleStack().leastRecentlyIdle()).toBeUndefined();
  });

  it('takeWhere takes the picked connections least recently used first and keeps the rest in order', () => {
    const stack = new IdleStack();
    const [a, b, c, d] = [connection(1, 1), connection(2, 2), connection(3, 3), connection(4, 4)];
    for (const x of [a, b, c, d]) stack.push(x);
    const seen: number[] = [];
    const taken = stack.takeWhere((x) => {
      seen.push(x.id);
      return x.id % 2 === 0;
    });
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(taken).toEqual([b, d]);
    expect(stack.remove(c)).toBe(true);
    expect(stack.remove(c)).toBe(false);
    expect(stack.takeAll()).toEqual([a]);
    expect(stack.length).toBe(0);
  });
});
