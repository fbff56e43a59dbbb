/**
 * A `pg.Client` stand-in that answers every query at once, in process: no socket, no protocol, no server. Used to
 * measure what a pool itself costs per query, which on a real connection hides under pg's own protocol work.
 * Both call forms pg uses are served: promises (pg-bulkhead) and callbacks (pg-pool).
 */
import { EventEmitter } from 'node:events';

const RESULT = Object.freeze({ rows: [], rowCount: 0, command: 'SELECT', fields: [], oid: 0 });

type Callback = (error: Error | null, result?: unknown) => void;

export class InstantClient extends EventEmitter {
  connect(callback?: Callback): Promise<void> | undefined {
    if (callback === undefined) return Promise.resolve();
    process.nextTick(callback, null);
    return undefined;
  }

  query(_text: unknown, values?: unknown, callback?: Callback): Promise<unknown> | undefined {
    const done = typeof values === 'function' ? (values as Callback) : callback;
    if (done === undefined) return Promise.resolve(RESULT);
    void Promise.resolve().then(() => done(null, RESULT));
    return undefined;
  }

  end(callback?: () => void): Promise<void> | undefined {
    if (callback === undefined) return Promise.resolve();
    process.nextTick(callback);
    return undefined;
  }
}
