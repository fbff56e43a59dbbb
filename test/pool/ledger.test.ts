import { describe, expect, it } from 'vitest';
import { ConnectionLedger, OpenFailure } from '../../src/pool/ledger';
import { PooledConnection } from '../../src/pool/pooled-connection';
import type { ClientLike } from '../../src/pool/client';
import { makeFactory } from './pool-fixture';

/** Lets every promise callback queued so far run (generic-pool settles its requests in promise callbacks). */
const afterPendingWork = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const home = { name: 'auth', returnConnection: () => {} };
const connection = (id: number) => new PooledConnection(home, id, {} as ClientLike, 0, Number.POSITIVE_INFINITY);

describe('ConnectionLedger (generic-pool as the ledger of open connections)', () => {
  it('makes exactly one attempt per open: a failure is handed back, never retried, and leaves the ledger', async () => {
    let attempts = 0;
    const ledger = new ConnectionLedger(
      async () => {
        attempts++;
        return new OpenFailure('failed');
      },
      async () => {},
    );
    const results = await Promise.all([ledger.open(), ledger.open(), ledger.open()]);
    expect(results.every((r) => r instanceof OpenFailure && r.reason === 'failed')).toBe(true);
    await afterPendingWork();
    expect(attempts).toBe(3);
    expect(ledger.size).toBe(0);
  });

  it('failures settling together from the connection factory all leave the ledger (one marker per attempt)', async () => {
    const { factory, state } = makeFactory();
    const ledger = new ConnectionLedger(
      () => factory.open(),
      async () => {},
    );
    state.open = false; // every attempt settles at once as 'closed'
    const results = await Promise.all([ledger.open(), ledger.open(), ledger.open()]);
    await afterPendingWork();
    expect(ledger.size).toBe(0);
    expect(results.map((r) => (r as OpenFailure).reason)).toEqual(['closed', 'closed', 'closed']);
  });

  it('counts each connection until it is closed, closing it through the given close', async () => {
    let next = 0;
    const closed: number[] = [];
    const ledger = new ConnectionLedger(
      async () => connection(++next),
      async (c) => {
        closed.push(c.id);
      },
    );
    const a = (await ledger.open()) as PooledConnection;
    const b = (await ledger.open()) as PooledConnection;
    expect([a.id, b.id].sort()).toEqual([1, 2]);
    expect(ledger.size).toBe(2);
    ledger.close(a);
    ledger.close(a); // a second close of the same connection is harmless
    expect(ledger.size).toBe(1);
    expect(closed).toEqual([1]);
  });

  it('drain waits for an open in flight and for the close of what it brought', async () => {
    let finishOpen: (c: PooledConnection) => void = () => {};
    let finishClose: () => void = () => {};
    const ledger = new ConnectionLedger(
      () => new Promise<PooledConnection>((resolve) => (finishOpen = resolve)),
      () => new Promise<void>((resolve) => (finishClose = resolve)),
    );
    const opening = ledger.open();
    let drained = false;
    const draining = ledger.drain().then(() => (drained = true));
    await afterPendingWork();
    expect(drained).toBe(false);
    finishOpen(connection(7));
    ledger.close((await opening) as PooledConnection);
    await afterPendingWork();
    expect(drained).toBe(false);
    finishClose();
    await draining;
    expect(drained).toBe(true);
  });
});
