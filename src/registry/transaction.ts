/**
 * How the registry runs a transaction on a lease: BEGIN (or the pooler's BEGIN with SET LOCAL), the caller's
 * work, COMMIT; on an error ROLLBACK, and a connection in an unknown state is destroyed rather than reused.
 */
import { isConnectionError } from '../pool/client';
import type { ClientLike } from '../pool/client';
import type { Lease } from '../pool/lease';

/**
 * Runs `fn` between `begin` and COMMIT on `lease`. On any error it rolls back and rethrows. If the rollback itself
 * fails, or the error was the connection's (lost, or a query timeout), the lease is released with that error so
 * its connection is destroyed.
 */
export async function runInTransaction<C extends ClientLike, T>(lease: Lease<C>, begin: string, fn: (client: C, lease: Lease<C>) => Promise<T> | T): Promise<T> {
  await lease.query(begin);
  lease.inTransaction = true;
  try {
    const result = await fn(lease.client, lease);
    await lease.query('COMMIT');
    lease.inTransaction = false;
    return result;
  } catch (error) {
    lease.inTransaction = false;
    // The connection is gone or its reply stalled (query timeout): a ROLLBACK could only wait behind the stuck
    // query. Destroying the connection ends the transaction on the server (it rolls back when the session ends).
    if (isConnectionError(error)) {
      if (!lease.released) lease.release(error as Error);
      throw error;
    }
    try {
      await lease.query('ROLLBACK');
    } catch (rollbackError) {
      if (!lease.released) lease.release(rollbackError instanceof Error ? rollbackError : new Error('ROLLBACK failed'));
    }
    throw error;
  }
}
