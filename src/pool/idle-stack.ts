/**
 * A service's idle connections, most recently used on top (LIFO): the hot path reuses the warmest connection, so
 * surplus ones really go idle at the bottom, where maintenance and preemption find them.
 */
import type { PooledConnection } from './pooled-connection';

export class IdleStack {
  /** Bottom (least recently used) first. */
  readonly #items: PooledConnection[] = [];

  get length(): number {
    return this.#items.length;
  }

  /** The connection the next acquire gets, without taking it. */
  peek(): PooledConnection | undefined {
    return this.#items[this.#items.length - 1];
  }

  pop(): PooledConnection | undefined {
    return this.#items.pop();
  }

  /** Puts a connection on top: the next one handed out. */
  push(connection: PooledConnection): void {
    this.#items.push(connection);
  }

  /** Puts a never-used connection at the bottom, under the ones in use, in the order they were opened. */
  pushUnder(connection: PooledConnection): void {
    this.#items.unshift(connection);
  }

  /** Takes one connection out wherever it is; true if it was here. */
  remove(connection: PooledConnection): boolean {
    const index = this.#items.indexOf(connection);
    if (index < 0) return false;
    this.#items.splice(index, 1);
    return true;
  }

  /** The connection idle the longest (mostly the bottom, but one checked and put back keeps its idleSince). */
  leastRecentlyIdle(): PooledConnection | undefined {
    let best: PooledConnection | undefined;
    for (const connection of this.#items) if (best === undefined || connection.idleSince < best.idleSince) best = connection;
    return best;
  }

  /** Takes out, least recently used first, every connection `shouldGo` picks; returns them in that order. */
  takeWhere(shouldGo: (connection: PooledConnection) => boolean): PooledConnection[] {
    const taken: PooledConnection[] = [];
    for (let i = 0; i < this.#items.length; ) {
      const connection = this.#items[i] as PooledConnection;
      if (shouldGo(connection)) {
        this.#items.splice(i, 1);
        taken.push(connection);
      } else {
        i++;
      }
    }
    return taken;
  }

  /** Takes out everything. */
  takeAll(): PooledConnection[] {
    return this.#items.splice(0);
  }
}
