import type { Clock } from '../clock';
import { PRIORITIES, type Priority } from '../types';

/** Limits of one service as the budget sees them. */
export interface BudgetMember {
  readonly service: string;
  readonly size: number;
  readonly overflow: number;
  readonly priority: Priority;
}

/** Snapshot of the shared connection budget. */
export interface BudgetStats {
  /** Most connections the registry opens in total (`maxConnections`). */
  readonly total: number;
  /** Sum of every service's guaranteed `size`: reserved, never lent. */
  readonly guaranteed: number;
  /** Slots left for overflow: `total - guaranteed`. */
  readonly shared: number;
  /** Shared slots only `high`/`highest` services may take (`reserve`). */
  readonly reserve: number;
  /** Shared slots taken, in all. */
  readonly sharedInUse: number;
  /** Shared slots taken, per service. */
  readonly sharedInUseByService: Readonly<Record<string, number>>;
  /** Requests waiting for a shared slot, per service. */
  readonly waitingByService: Readonly<Record<string, number>>;
  /** Requests waiting for a shared slot, in all. */
  readonly waiting: number;
  /** Shared slots nobody holds: `max(0, shared - sharedInUse)` (the reserve included). */
  readonly free: number;
  /** Requests waiting for a shared slot, by their service's priority (every priority present). */
  readonly waitingByPriority: Readonly<Record<Priority, number>>;
}

interface Ticket {
  readonly service: string;
  readonly rank: number; // index in PRIORITIES: 0 = highest
  readonly since: number;
  readonly seq: number;
  readonly grant: () => void;
  settled: boolean;
}

/** Asked to close one idle connection of another service to make room; returns true if it started one. */
export type Preemptor = (forService: string) => boolean;

/**
 * The shared connection budget: pure bookkeeping, no I/O.
 *
 * Every service's `size` is reserved out of `total` and never lent. The rest are shared slots that a service
 * borrows, one per connection beyond its size, up to its own `overflow`, and gives back when that connection
 * closes. The last `reserve` shared slots may only go to `high`/`highest` services (headroom).
 *
 * Waiters for a shared slot are served by priority, first-come within a priority. So that a low-priority waiter
 * is not starved while capacity keeps freeing, a waiter is promoted one priority level for every `agingMs` it has
 * waited: a `low` waiter that has waited 3 × `agingMs` competes as `highest`, and then wins on arrival order.
 */
export class Budget {
  readonly #members = new Map<string, BudgetMember>();
  readonly #held = new Map<string, number>();
  readonly #waiting: Ticket[] = [];
  readonly #clock: Clock;
  readonly #agingMs: number;
  #total: number;
  #reserve: number;
  #seq = 0;
  #preemptor: Preemptor | null = null;
  #warnedDrift = false;

  constructor(options: { total: number; reserve: number; agingMs: number; members: readonly BudgetMember[]; clock: Clock }) {
    this.#clock = options.clock;
    this.#total = options.total;
    this.#reserve = options.reserve;
    this.#agingMs = options.agingMs;
    for (const member of options.members) {
      this.#members.set(member.service, member);
      this.#held.set(member.service, 0);
    }
  }

  /** Who to ask to close an idle connection when a waiter is entitled to a slot and none is free. */
  setPreemptor(preemptor: Preemptor): void {
    this.#preemptor = preemptor;
  }

  get total(): number {
    return this.#total;
  }

  get guaranteed(): number {
    let sum = 0;
    for (const member of this.#members.values()) sum += member.size;
    return sum;
  }

  get #sharedCapacity(): number {
    return this.#total - this.guaranteed;
  }

  get #sharedInUse(): number {
    let sum = 0;
    for (const held of this.#held.values()) sum += held;
    return sum;
  }

  /** Shared slots `service` holds. */
  held(service: string): number {
    return this.#held.get(service) ?? 0;
  }

  #isHigh(service: string): boolean {
    const priority = this.#members.get(service)?.priority;
    return priority === 'highest' || priority === 'high';
  }

  /** Whether `service` may take one more shared slot now, ignoring who else waits. */
  #canTake(service: string): boolean {
    const member = this.#members.get(service);
    if (member === undefined) return false;
    if (this.held(service) >= member.overflow) return false;
    const limit = this.#sharedCapacity - (this.#isHigh(service) ? 0 : this.#reserve);
    return this.#sharedInUse < limit;
  }

  /**
   * Takes a shared slot at once if one is free and nobody who ranks ahead is waiting for it.
   * @returns true if taken.
   */
  tryTake(service: string): boolean {
    if (!this.#canTake(service)) return false;
    if (this.#waiting.length > 0) {
      const me = PRIORITIES.indexOf(this.#members.get(service)?.priority ?? 'low');
      for (const ticket of this.#waiting) {
        // Someone ahead of us who could use a slot: they go first.
        if (this.#effectiveRank(ticket) <= me && this.#canTake(ticket.service)) return false;
      }
    }
    this.#held.set(service, this.held(service) + 1);
    return true;
  }

  /**
   * Queues for a shared slot. `grant` is called (once) when the slot is taken on the caller's behalf.
   * Returns a cancel function; call it when the caller stops waiting (it is a no-op after the grant).
   */
  request(service: string, grant: () => void): () => void {
    const member = this.#members.get(service);
    const ticket: Ticket = {
      service,
      rank: PRIORITIES.indexOf(member?.priority ?? 'low'),
      since: this.#clock.now(),
      seq: this.#seq++,
      grant,
      settled: false,
    };
    this.#waiting.push(ticket);
    this.#dispatch(true);
    return () => {
      if (ticket.settled) return;
      ticket.settled = true;
      const index = this.#waiting.indexOf(ticket);
      if (index >= 0) this.#waiting.splice(index, 1);
    };
  }

  /** Gives back `count` shared slots of `service` and serves waiters. */
  release(service: string, count = 1): void {
    const held = this.held(service);
    if (count > held) {
      // A pool never gives back more than it holds. Never throw here (this runs inside releases and timers);
      // say it once, loudly, so a drift cannot hide behind a clamp.
      if (!this.#warnedDrift) process.emitWarning(`pg-bulkhead: ${service} gave back ${count} shared slots but held ${held}`, 'PgBulkheadAccountingWarning');
      this.#warnedDrift = true;
    }
    this.#held.set(service, Math.max(0, held - count));
    this.#dispatch(false);
  }

  /** Requests of `service` waiting for a shared slot. */
  waitingFor(service: string): number {
    let n = 0;
    for (const ticket of this.#waiting) if (ticket.service === service) n++;
    return n;
  }

  /**
   * Takes a slot even beyond capacity (used when a service's size is lowered while its connections are open:
   * they become overflow and must be accounted for until they close). Shows up as `sharedInUse > shared`.
   */
  forceTake(service: string, count = 1): void {
    this.#held.set(service, this.held(service) + count);
  }

  /**
   * Updates a service's limits. The caller has checked that the sizes still fit in `total`. Grants nothing by
   * itself: a smaller size turns some of the service's open connections into overflow, and they must take their
   * shared slots (the pool's reconcile) before anyone else may be granted the slots the smaller size freed.
   * Call {@link Budget.rebalance} once the service's pool has reconciled.
   */
  update(service: string, limits: { size: number; overflow: number }): void {
    const member = this.#members.get(service);
    if (member === undefined) return;
    this.#members.set(service, { ...member, ...limits });
  }

  /** Grants free slots to waiters after {@link Budget.update} and the pool's reconcile. */
  rebalance(): void {
    this.#dispatch(false);
  }

  /** Sum of sizes if `service` had `size`: for validating a resize. */
  guaranteedWith(service: string, size: number): number {
    let sum = 0;
    for (const member of this.#members.values()) sum += member.service === service ? size : member.size;
    return sum;
  }

  #effectiveRank(ticket: Ticket): number {
    if (this.#agingMs <= 0) return ticket.rank;
    const promoted = Math.floor((this.#clock.now() - ticket.since) / this.#agingMs);
    return Math.max(0, ticket.rank - promoted);
  }

  /** The one scheduling point: grants free slots to the best eligible waiters, or asks for a preemption. */
  #dispatch(allowPreempt: boolean): void {
    while (this.#waiting.length > 0) {
      let best: Ticket | null = null;
      let bestRank = Number.POSITIVE_INFINITY;
      for (const ticket of this.#waiting) {
        if (!this.#canTake(ticket.service)) continue;
        const rank = this.#effectiveRank(ticket);
        if (rank < bestRank || (rank === bestRank && best !== null && ticket.seq < best.seq)) {
          best = ticket;
          bestRank = rank;
        }
      }
      if (best === null) break;
      this.#waiting.splice(this.#waiting.indexOf(best), 1);
      best.settled = true;
      this.#held.set(best.service, this.held(best.service) + 1);
      best.grant();
    }
    if (!allowPreempt || this.#preemptor === null) return;
    // Nobody could be served. If a waiter is entitled to a slot (under its overflow, and the reserve allows it)
    // but all shared slots are taken, close an idle connection elsewhere rather than waiting for its idle timeout.
    for (const ticket of this.#waiting) {
      const member = this.#members.get(ticket.service);
      if (member === undefined || this.held(ticket.service) >= member.overflow) continue;
      const limit = this.#sharedCapacity - (this.#isHigh(ticket.service) ? 0 : this.#reserve);
      if (this.#sharedInUse >= limit && this.#preemptor(ticket.service)) return;
    }
  }

  /** Asks again for preemption for current waiters (after an idle connection appeared somewhere). */
  poke(): void {
    this.#dispatch(true);
  }

  stats(): BudgetStats {
    const sharedInUseByService: Record<string, number> = {};
    const waitingByService: Record<string, number> = {};
    for (const service of this.#members.keys()) {
      sharedInUseByService[service] = this.held(service);
      waitingByService[service] = 0;
    }
    const waitingByPriority: Record<Priority, number> = { highest: 0, high: 0, medium: 0, low: 0 };
    for (const ticket of this.#waiting) {
      waitingByService[ticket.service] = (waitingByService[ticket.service] ?? 0) + 1;
      waitingByPriority[PRIORITIES[ticket.rank] ?? 'low']++;
    }
    const sharedInUse = this.#sharedInUse;
    return {
      total: this.#total,
      guaranteed: this.guaranteed,
      shared: this.#sharedCapacity,
      reserve: this.#reserve,
      sharedInUse,
      sharedInUseByService,
      waitingByService,
      waiting: this.#waiting.length,
      free: Math.max(0, this.#sharedCapacity - sharedInUse),
      waitingByPriority,
    };
  }
}
