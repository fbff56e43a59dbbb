import { describe, expect, it } from 'vitest';
import { Budget, type BudgetMember } from '../../src/budget/budget';
import type { Clock } from '../../src/clock';

function fakeClock(): Clock & { advance(ms: number): void } {
  let now = 0;
  return {
    now: () => now,
    wallNow: () => now,
    setTimeout: () => 0,
    clearTimeout: () => {},
    advance(ms: number) {
      now += ms;
    },
  };
}

const members: BudgetMember[] = [
  { service: 'auth', size: 2, overflow: 3, priority: 'highest' },
  { service: 'ext', size: 1, overflow: 3, priority: 'high' },
  { service: 'llm', size: 2, overflow: 6, priority: 'medium' },
  { service: 'bg', size: 1, overflow: 4, priority: 'low' },
];

function budget(total = 10, reserve = 1, agingMs = 0) {
  const clock = fakeClock();
  return { clock, budget: new Budget({ total, reserve, agingMs, members, clock }) };
}

describe('Budget', () => {
  it('reserves every size and lends the rest as shared slots, up to each service overflow', () => {
    const { budget: b } = budget(10, 0);
    expect(b.stats()).toMatchObject({ total: 10, guaranteed: 6, shared: 4, sharedInUse: 0 });
    expect([b.tryTake('ext'), b.tryTake('ext'), b.tryTake('ext')]).toEqual([true, true, true]);
    expect(b.tryTake('ext')).toBe(false); // its own overflow is 3
    expect(b.tryTake('llm')).toBe(true);
    expect(b.tryTake('auth')).toBe(false); // the 4 shared slots are gone
    expect(b.stats().sharedInUseByService).toEqual({ auth: 0, ext: 3, llm: 1, bg: 0 });
  });

  it('keeps the reserve for high and highest services only', () => {
    const { budget: b } = budget(10, 2);
    expect([b.tryTake('llm'), b.tryTake('llm'), b.tryTake('llm')]).toEqual([true, true, false]);
    expect(b.tryTake('bg')).toBe(false);
    expect([b.tryTake('auth'), b.tryTake('ext'), b.tryTake('auth')]).toEqual([true, true, false]);
  });

  it('serves waiters by priority, first come within a priority', () => {
    const { budget: b } = budget(10, 0);
    for (let i = 0; i < 4; i++) expect(b.tryTake('llm')).toBe(true);
    const order: string[] = [];
    b.request('bg', () => order.push('bg-1'));
    b.request('llm', () => order.push('llm-1'));
    b.request('auth', () => order.push('auth-1'));
    b.request('auth', () => order.push('auth-2'));
    b.request('ext', () => order.push('ext-1'));
    expect(b.stats().waitingByService).toEqual({ auth: 2, ext: 1, llm: 1, bg: 1 });
    for (let i = 0; i < 4; i++) b.release('llm');
    expect(order).toEqual(['auth-1', 'auth-2', 'ext-1', 'llm-1']);
    expect(b.stats().waiting).toBe(1);
  });

  it('a newcomer does not jump ahead of an entitled waiter of the same or higher rank', () => {
    const { budget: b } = budget(10, 0);
    for (let i = 0; i < 4; i++) b.tryTake('llm');
    let granted = false;
    b.request('auth', () => (granted = true));
    b.release('llm');
    expect(granted).toBe(true);
    b.release('llm');
    b.request('ext', () => {});
    // with a free slot and nobody waiting ahead, a request is granted at once
    expect(b.stats().waiting).toBe(0);
  });

  it('ages waiters so a low-priority request is not starved while capacity keeps freeing', () => {
    const { budget: b, clock } = budget(10, 0, 1_000);
    for (let i = 0; i < 4; i++) b.tryTake('llm');
    const order: string[] = [];
    b.request('bg', () => order.push('bg'));
    clock.advance(3_000); // bg has aged three levels: it now competes as 'highest', and it came first
    b.request('auth', () => order.push('auth'));
    b.release('llm');
    expect(order).toEqual(['bg']);
    b.release('llm');
    expect(order).toEqual(['bg', 'auth']);
  });

  it('without aging, strict priority keeps the low waiter behind newer high ones', () => {
    const { budget: b, clock } = budget(10, 0, 0);
    for (let i = 0; i < 4; i++) b.tryTake('llm');
    const order: string[] = [];
    b.request('bg', () => order.push('bg'));
    clock.advance(3_000);
    b.request('auth', () => order.push('auth'));
    b.release('llm');
    expect(order).toEqual(['auth']);
  });

  it('cancelled requests are never granted', () => {
    const { budget: b } = budget(10, 0);
    for (let i = 0; i < 4; i++) b.tryTake('llm');
    let granted = false;
    const cancel = b.request('auth', () => (granted = true));
    cancel();
    b.release('llm');
    expect(granted).toBe(false);
    expect(b.stats()).toMatchObject({ waiting: 0, sharedInUse: 3 });
  });

  it('asks for a preemption when an entitled waiter finds every shared slot taken', () => {
    const { budget: b } = budget(10, 0);
    for (let i = 0; i < 4; i++) b.tryTake('llm');
    const asked: string[] = [];
    b.setPreemptor((forService) => {
      asked.push(forService);
      return true;
    });
    b.request('auth', () => {});
    expect(asked).toEqual(['auth']);
    // not entitled (at its own overflow): no preemption on its behalf
    asked.length = 0;
    b.request('llm', () => {});
    expect(asked).toEqual(['auth']); // the auth waiter is still the one that justifies it
  });
});
