import { EventEmitter } from 'eventemitter3';

/** eventemitter3's record of one listener (5.0.4, pinned exactly). */
interface Registration {
  readonly fn: (...args: unknown[]) => void;
  readonly context: unknown;
  readonly once: boolean;
}

/**
 * An eventemitter3 emitter whose `emit` runs each listener in its own try/catch: a throwing listener never
 * breaks the component that emits (a pool, the tracker, the detector) nor the listeners after it. What it threw
 * becomes a process warning (`PgBulkheadListenerWarning`). `once` listeners and listener contexts behave as in
 * eventemitter3.
 */
export class SafeEventEmitter<Events extends EventEmitter.ValidEventTypes> extends EventEmitter<Events> {
  override emit<E extends EventEmitter.EventNames<Events>>(event: E, ...args: EventEmitter.EventArgs<Events, E>): boolean {
    // eventemitter3 keeps one registration as an object and several as an array; neither is public API, but
    // its own emit cannot isolate listeners, and `listeners()` loses `once` and the context.
    const stored = (this as unknown as { _events: Record<string | symbol, Registration | Registration[] | undefined> })._events[event as string | symbol];
    if (stored === undefined) return false;
    const registrations = Array.isArray(stored) ? stored.slice() : [stored];
    for (const registration of registrations) {
      if (registration.once) this.removeListener(event, registration.fn as never, registration.context as never, true);
      try {
        registration.fn.apply(registration.context, args as unknown[]);
      } catch (error) {
        process.emitWarning(`pg-bulkhead: a listener of '${String(event)}' threw: ${error instanceof Error ? error.message : String(error)}`, 'PgBulkheadListenerWarning');
      }
    }
    return true;
  }
}
