import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock';
import { LeaseReleasedError } from '../../src/errors';
import { PostgresSink } from '../../src/usage/postgres-sink';
import type { UsageLease, UsageRegistry } from '../../src/usage/registry-port';
import { tableNames } from '../../src/usage/table-name';

/** A registry whose transaction runs the sink's body on a lease that answers every statement, then fails its COMMIT with `commitError`. */
function registryFailingCommit(commitError: Error, claimReturnsRow = true): UsageRegistry<'usage'> {
  const lease: UsageLease = {
    query: async (text: string) => ({ rows: text.includes('RETURNING') && claimReturnsRow ? [{ batch_id: 'b' }] : [], rowCount: 1, command: '', oid: 0, fields: [] }) as never,
  };
  return {
    services: ['usage'],
    closed: false,
    transaction: async (_service, fn) => {
      await fn({} as never, lease);
      throw commitError;
    },
    query: async () => ({ rows: [], rowCount: 0, command: '', oid: 0, fields: [] }) as never,
  };
}

function sink(registry: UsageRegistry<'usage'>): PostgresSink<'usage'> {
  return new PostgresSink({ registry, service: 'usage', names: tableNames('usage_counters'), chunkSize: 5_000, writeMode: 'values', ledgerRetentionMs: 86_400_000, clock: systemClock });
}

const batch = { id: 'batch-1', rows: [{ key: 'k', bucket: new Date(0), count: 2 }], increments: 2, attempt: 1 };

describe('PostgresSink: which failed commits are in doubt', () => {
  it.each([
    ['the connection was lost', Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' }), true],
    ['the backend was terminated', Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }), true],
    ['the reply timed out on the client', new Error('Query read timeout'), true],
    ['the server answered with a serialization failure', Object.assign(new Error('could not serialize access'), { code: '40001' }), false],
    ['the lease was taken back before COMMIT was sent', new LeaseReleasedError('ERR_LEASE_RELEASED', 'usage', 'used after release'), false],
  ])('%s: in doubt = %s', async (_, error, inDoubt) => {
    const failure = await sink(registryFailingCommit(error)).write(batch).then(
      () => null,
      (e: unknown) => e,
    );
    if (inDoubt) expect(failure).toMatchObject({ code: 'ERR_WRITE_IN_DOUBT', batchId: 'batch-1', cause: error });
    else expect(failure).toBe(error);
  });

  it('a retry that finds its batch already in the ledger succeeds whatever becomes of its own empty transaction', async () => {
    const lost = Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
    await expect(sink(registryFailingCommit(lost, false)).write({ ...batch, attempt: 2 })).resolves.toBeUndefined();
  });
});
