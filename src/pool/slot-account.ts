/**
 * A service's account with the shared connection budget. Connections up to the guaranteed `size` are its own;
 * each one beyond (open, or being opened past this step) holds one shared slot from the {@link SlotBroker}.
 * Invariant once reconciled: slots held = max(0, open + opening - size).
 */
import type { Clock } from '../clock';
import type { SlotBroker } from './slots';

/** What the account needs to know about its pool. */
export interface SlotAccountPool {
  /** Connections open now. */
  openCount(): number;
  /** The guaranteed size (changes with resize). */
  size(): number;
  /** How long a create may wait for a slot, ms. */
  waitLimitMs(): number;
  /** True while a new connection is still wanted (someone waits, and the pool is open). */
  wantsConnection(): boolean;
}

interface SlotWait {
  /** Ends the wait without a slot. */
  readonly giveUp: () => void;
  /** Ends the wait because the create now fits within the size (no slot needed). */
  readonly admit: () => void;
}

export class SlotAccount {
  readonly #broker: SlotBroker;
  readonly #clock: Clock;
  readonly #pool: SlotAccountPool;
  #held = 0;
  /** Creates past the slot step and not finished: each one is within `size` or backed by a held slot. */
  #opening = 0;
  /** Creates queued for a shared slot, oldest first. */
  readonly #waits = new Set<SlotWait>();

  constructor(broker: SlotBroker, clock: Clock, pool: SlotAccountPool) {
    this.#broker = broker;
    this.#clock = clock;
    this.#pool = pool;
  }

  /** Shared slots held now. */
  get held(): number {
    return this.#held;
  }

  /** Creates counted against the size or a slot, not yet finished (they count in the pool's total). */
  get opening(): number {
    return this.#opening;
  }

  /** Creates of this service queued for a slot. */
  get waitingForSlot(): number {
    return this.#waits.size;
  }

  /** Shared slots this pool would hold with `size`: for checking a resize before it is made. */
  neededWithSize(size: number): number {
    return Math.max(0, this.#pool.openCount() + this.#opening - size);
  }

  #needed(extra = 0): number {
    return Math.max(0, this.#pool.openCount() + this.#opening + extra - this.#pool.size());
  }

  /**
   * Counts one create against the size, or takes a shared slot for it when it goes beyond (waiting for one by
   * priority, see the budget). Resolves false when it gave up: at the wait limit, when nobody wants the
   * connection any more, or when the pool closes. After true, call {@link SlotAccount.finished} exactly once.
   */
  take(): Promise<boolean> | true {
    // Every increment of #opening happens in the same synchronous step as the check or grant backing it (room
    // within `size`, or a held slot), so no reconcile can see the slot as spare in between.
    if (this.#needed(1) <= this.#held) {
      this.#opening++;
      return true;
    }
    if (this.#broker.tryTake()) {
      this.#held++;
      this.#opening++;
      return true;
    }
    return this.#waitForSlot();
  }

  #waitForSlot(): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      let cancelRequest: () => void = () => {};
      const end = (): void => {
        this.#clock.clearTimeout(timer);
        this.#waits.delete(wait);
        cancelRequest();
      };
      const wait: SlotWait = {
        giveUp: () => {
          end();
          resolve(false);
        },
        // After a larger size it may fit within the size: no shared slot needed any more.
        admit: () => {
          end();
          this.#opening++;
          resolve(true);
        },
      };
      const timer = this.#clock.setTimeout(wait.giveUp, this.#pool.waitLimitMs());
      this.#waits.add(wait);
      cancelRequest = this.#broker.request(() => {
        this.#clock.clearTimeout(timer);
        this.#waits.delete(wait);
        // Held from the moment it is granted, and counted for this create in the same step; given back at once
        // if the demand has gone.
        this.#held++;
        const stillWanted = this.#pool.wantsConnection();
        if (stillWanted) this.#opening++;
        else this.reconcile();
        resolve(stillWanted);
      });
    });
  }

  /** A create counted by {@link SlotAccount.take} finished (its connection is open and counted there, or it failed). */
  finished(): void {
    this.#opening--;
    this.reconcile();
  }

  /**
   * Keeps the slots held equal to the slots needed: gives back what no connection needs (after a close, a failed
   * create, a larger size) and takes what open connections need after a smaller size (they became overflow).
   */
  reconcile(): void {
    const needed = this.#needed();
    if (this.#held > needed) {
      const excess = this.#held - needed;
      this.#held = needed;
      this.#broker.release(excess);
    } else if (this.#held < needed) {
      this.#broker.forceTake(needed - this.#held);
      this.#held = needed;
    }
  }

  /** Ends every wait for a slot without one (nobody needs the connections any more, or the pool closes). */
  giveUpWaits(): void {
    for (const wait of [...this.#waits]) wait.giveUp();
  }

  /** After a larger size: creates queued for a slot go ahead, oldest first, while they fit within the size. */
  admitWithinSize(): void {
    for (const wait of [...this.#waits]) {
      if (this.#needed(1) > this.#held) break;
      wait.admit();
    }
  }

  /** Lets waiters of other services ask for an idle connection of ours (we have idle surplus). */
  offerIdle(): void {
    this.#broker.poke();
  }

  /** Requests of this service waiting for a slot, as the budget counts them. */
  brokerWaiting(): number {
    return this.#broker.waiting();
  }

  /** The budget's shared slots and who holds them now. */
  holders(): ReturnType<SlotBroker['holders']> {
    return this.#broker.holders();
  }
}
