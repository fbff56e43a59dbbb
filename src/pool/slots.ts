/**
 * A pool's view of the shared connection budget: the registry binds one per service. A slot is needed for
 * every connection beyond the service's guaranteed size.
 */
export interface SlotBroker {
  /** Takes a shared slot at once if one is free for this service; true if taken. */
  tryTake(): boolean;
  /** Queues for a slot; `grant` runs when it is taken for us. Returns a cancel function. */
  request(grant: () => void): () => void;
  /** Gives slots back. */
  release(count: number): void;
  /** Takes slots beyond capacity (after a size decrease), to be given back as the surplus closes. */
  forceTake(count: number): void;
  /** Lets waiters elsewhere ask for an idle connection of ours (called when we have idle surplus). */
  poke(): void;
  /** Requests of this service waiting for a slot. */
  waiting(): number;
  /** The budget's shared slots (`maxConnections - sum of sizes`) and who holds them now, per service holding any. */
  holders(): { readonly shared: number; readonly byService: Readonly<Record<string, number>> };
}
