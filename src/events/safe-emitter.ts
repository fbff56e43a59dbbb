/** The emitter every component extends: eventemitter3, with each listener isolated so a throwing one breaks nothing. */
import { EventEmitter } from 'eventemitter3';

type Listener = (...args: unknown[]) => void;

/**
 * An eventemitter3 emitter whose listeners each run in their own try/catch: a throwing listener never breaks the
 * component that emits (a pool, the tracker, the detector) nor the listeners after it. What it threw becomes a
 * process warning (`PgBulkheadListenerWarning`). `once` listeners and listener contexts behave as in eventemitter3.
 *
 * Built on eventemitter3's public API only: each listener is registered as a guard that calls it inside a
 * try/catch, so eventemitter3's own `emit` keeps `once`, contexts and its snapshot of the listeners. One guard per
 * (event, listener), so `off(event, fn, …)` finds it by equality exactly as eventemitter3 finds `fn`, and
 * `listeners()` hands back what was registered, not the guards.
 */
export class SafeEventEmitter<Events extends EventEmitter.ValidEventTypes> extends EventEmitter<Events> {
  /** event → listener → its guard. */
  readonly #guards = new Map<string | symbol, WeakMap<Listener, Listener>>();
  /** guard → the listener it calls, for {@link SafeEventEmitter.listeners}. */
  readonly #guarded = new WeakMap<Listener, Listener>();

  /** Adds `fn` for `event`; if it throws, the error is reported and the other listeners still run. */
  override on<E extends EventEmitter.EventNames<Events>>(event: E, fn: EventEmitter.EventListener<Events, E>, context?: unknown): this {
    return super.on(event, this.#guardOf(event, fn as Listener, true) as EventEmitter.EventListener<Events, E>, context);
  }

  /** Same as `on`: adds `fn` for `event`, isolated so that a throwing listener breaks nothing. */
  override addListener<E extends EventEmitter.EventNames<Events>>(event: E, fn: EventEmitter.EventListener<Events, E>, context?: unknown): this {
    return this.on(event, fn, context);
  }

  /** Adds `fn` for the next `event` only; if it throws, the error is reported and the other listeners still run. */
  override once<E extends EventEmitter.EventNames<Events>>(event: E, fn: EventEmitter.EventListener<Events, E>, context?: unknown): this {
    return super.once(event, this.#guardOf(event, fn as Listener, true) as EventEmitter.EventListener<Events, E>, context);
  }

  /** Removes `fn` (the function you added) for `event`, or every listener of `event` when `fn` is omitted. */
  override removeListener<E extends EventEmitter.EventNames<Events>>(event: E, fn?: EventEmitter.EventListener<Events, E>, context?: unknown, once?: boolean): this {
    const guard = fn === undefined ? undefined : (this.#guardOf(event, fn as Listener, false) ?? fn);
    return super.removeListener(event, guard as EventEmitter.EventListener<Events, E> | undefined, context, once);
  }

  /** Same as `removeListener`: removes `fn` (the function you added), or every listener of `event`. */
  override off<E extends EventEmitter.EventNames<Events>>(event: E, fn?: EventEmitter.EventListener<Events, E>, context?: unknown, once?: boolean): this {
    return this.removeListener(event, fn, context, once);
  }

  /** The functions added for `event`, as you added them. */
  override listeners<E extends EventEmitter.EventNames<Events>>(event: E): Array<EventEmitter.EventListener<Events, E>> {
    return super.listeners(event).map((guard) => (this.#guarded.get(guard as Listener) ?? guard) as EventEmitter.EventListener<Events, E>);
  }

  /** The guard of `fn` for `event`, made on first use when `create` is set (a non-function is passed through). */
  #guardOf(event: string | symbol | number, fn: Listener, create: true): Listener;
  #guardOf(event: string | symbol | number, fn: Listener, create: false): Listener | undefined;
  #guardOf(event: string | symbol | number, fn: Listener, create: boolean): Listener | undefined {
    // eventemitter3 throws its own TypeError for a listener that is not a function: leave that to it.
    if (typeof fn !== 'function') return fn;
    const key = event as string | symbol;
    let byListener = this.#guards.get(key);
    const existing = byListener?.get(fn);
    if (existing !== undefined || !create) return existing;
    const name = String(event);
    const guard = function (this: unknown, ...args: unknown[]): void {
      try {
        fn.apply(this, args);
      } catch (error) {
        process.emitWarning(`pg-bulkhead: a listener of '${name}' threw: ${error instanceof Error ? error.message : String(error)}`, 'PgBulkheadListenerWarning');
      }
    };
    if (byListener === undefined) {
      byListener = new WeakMap();
      this.#guards.set(key, byListener);
    }
    byListener.set(fn, guard);
    this.#guarded.set(guard, fn);
    return guard;
  }
}
