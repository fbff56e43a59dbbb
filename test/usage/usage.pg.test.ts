import { afterAll, beforeAll, expect, it } from 'vitest';
import pg from 'pg';
import { createPoolRegistry, type PoolRegistry } from '../../src/registry/pool-registry';
import type { UsageRegistry } from '../../src/usage/registry-port';
import { createUsageTracker, type UsageTracker } from '../../src/usage/usage-tracker';
import { systemClock } from '../../src/clock';
import { PostgresSink } from '../../src/usage/postgres-sink';
import { tableNames } from '../../src/usage/table-name';
import { adminClient, describePg, pgUrl } from '../helpers/pg';
import { startProxy, type TcpProxy } from '../helpers/tcp-proxy';
import { waitFor } from '../helpers/wait-for';

const TABLE = `usage_pg_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
const services = { usage: { size: 2, overflow: 2, acquireTimeoutMs: 5_000 }, auth: { size: 1, overflow: 0 } } as const;

let admin: pg.Client;
const cleanup: (() => Promise<unknown>)[] = [];

function registry(connection = pgUrl, extra: { connectTimeoutMs?: number } = {}): PoolRegistry<'usage' | 'auth'> {
  const r = createPoolRegistry({ connection, applicationName: 'usage-pg-test', services, ...extra });
  cleanup.push(() => r.close({ timeoutMs: 1_000 }));
  return r;
}

function tracked<S extends string>(t: UsageTracker<S>): UsageTracker<S> {
  cleanup.push(() => t.close({ timeoutMs: 1_000 }));
  return t;
}

async function reset(): Promise<void> {
  await admin.query(`truncate ${TABLE}, ${TABLE}_ledger`);
}

async function totals(): Promise<{ keys: number; sum: string; min: string; max: string }> {
  const result = await admin.query(`select count(*)::int as keys, coalesce(sum(count), 0)::text as sum, min(count)::text as min, max(count)::text as max from ${TABLE}`);
  return result.rows[0];
}

/** Calls flush until everything is written, or fails the test after `limit` attempts. */
async function drain<S extends string>(usage: UsageTracker<S>, limit = 200): Promise<void> {
  for (let i = 0; i < limit; i++) {
    const report = await usage.flush();
    const s = usage.stats();
    if (report.ok && s.pendingKeys === 0 && s.frozenKeys === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50)); // waiting for the database to come back, not timing logic
  }
  throw new Error(`not drained: ${JSON.stringify(usage.stats())}`);
}

describePg('usage tracker on real PostgreSQL', () => {
  beforeAll(async () => {
    admin = await adminClient();
    const setup = tracked(createUsageTracker({ registry: registry(), service: 'usage', table: TABLE }));
    await setup.ensureSchema();
    await setup.ensureSchema(); // idempotent
    expect(setup.stats().writeMode).toBe('unnest');
  });

  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => {});
    if (admin !== undefined) {
      await admin.query(`drop table if exists ${TABLE}, ${TABLE}_ledger`);
      await admin.end();
    }
  });

  it('totals are exact after 1,000,000 increments over 10,000 keys, in chunked array statements', async () => {
    await reset();
    const usage = tracked(createUsageTracker({ registry: registry(), service: 'usage', table: TABLE, chunkSize: 3_000, bucket: 'day' }));
    const keys = Array.from({ length: 10_000 }, (_, i) => `ext:${i}:calls`);
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 100_000; i++) usage.increment(keys[i % 10_000] as string);
      await new Promise((resolve) => setImmediate(resolve)); // let the batch-size trigger run between bursts
    }
    const report = await usage.close({ timeoutMs: 20_000 });
    expect(report).toMatchObject({ clean: true, unwrittenIncrements: 0 });
    expect(usage.stats()).toMatchObject({ flushedIncrements: 1_000_000, failedWrites: 0, droppedCalls: 0 });
    expect(await totals()).toEqual({ keys: 10_000, sum: '1000000', min: '100', max: '100' });
  });

  it('writes a batch as one transaction with one array statement per chunk of keys, however many keys', async () => {
    await reset();
    const statements: string[] = [];
    class CountingClient extends pg.Client {
      override query(...args: unknown[]): never {
        if (typeof args[0] === 'string') statements.push(args[0]);
        return (super.query as (...a: unknown[]) => never).apply(this, args);
      }
    }
    const r = createPoolRegistry({ connection: pgUrl, Client: CountingClient, applicationName: 'usage-pg-test', services });
    cleanup.push(() => r.close({ timeoutMs: 1_000 }));
    const usage = tracked(createUsageTracker({ registry: r, service: 'usage', table: TABLE, chunkSize: 5_000, batchSize: 100_000 }));
    await usage.ensureSchema();
    for (let i = 0; i < 12_001; i++) usage.increment(`chunk:${i}`, 2);
    statements.length = 0;
    expect(await usage.flush()).toMatchObject({ ok: true, batches: 1, rows: 12_001 });
    const kinds = statements.map((text) => (text.includes('unnest(') ? 'upsert' : text.includes('_ledger') ? text.split(' ')[0]!.toLowerCase() : text));
    // 12,001 keys in chunks of 5,000: three statements, each binding three arrays (not 36,003 parameters)
    expect(kinds).toEqual(['BEGIN', 'insert', 'upsert', 'upsert', 'upsert', 'COMMIT', 'delete']);
    expect(await totals()).toEqual({ keys: 12_001, sum: '24002', min: '2', max: '2' });
  });

  it('stores counts beyond 2^31 as bigint and returns them as strings', async () => {
    await reset();
    const usage = tracked(createUsageTracker({ registry: registry(), service: 'usage', table: TABLE }));
    usage.increment('tokens', 2 ** 31 + 1);
    usage.increment('tokens', 2 ** 33);
    await drain(usage);
    const row = await admin.query(`select count from ${TABLE} where key = 'tokens'`);
    expect(row.rows[0].count).toBe(String(2 ** 31 + 1 + 2 ** 33));
  });

  it('keeps counting through a database outage and catches up with exact totals', async () => {
    await reset();
    const proxy: TcpProxy = await startProxy({ host: new URL(pgUrl).hostname, port: Number(new URL(pgUrl).port || 5432) });
    cleanup.push(() => proxy.close());
    const usage = tracked(
      createUsageTracker({ registry: registry(proxy.url(pgUrl), { connectTimeoutMs: 1_000 }), service: 'usage', table: TABLE, retryBaseMs: 20, retryMaxMs: 200 }),
    );
    let expected = 0;
    const burst = (n: number): void => {
      for (let i = 0; i < n; i++) usage.increment(`tenant:${i % 500}`, 1 + (i % 4));
      for (let i = 0; i < n; i++) expected += 1 + (i % 4);
    };
    burst(20_000);
    await drain(usage);

    proxy.refuse(true);
    proxy.cutAll(); // the database goes away mid-run
    burst(20_000);
    const failed = await usage.flush();
    expect(failed.ok).toBe(false);
    burst(20_000); // requests keep counting while it is down
    expect(usage.stats().frozenKeys + usage.stats().pendingKeys).toBeGreaterThan(0);
    expect(usage.stats().failedWrites).toBeGreaterThan(0);

    proxy.refuse(false);
    await drain(usage);
    burst(1_000);
    await drain(usage);
    expect(usage.stats()).toMatchObject({ droppedCalls: 0, flushedIncrements: expected });
    expect(await totals()).toMatchObject({ keys: 500, sum: String(expected) });
  });

  it('four trackers flushing the same keys concurrently neither deadlock nor lose a count', async () => {
    await reset();
    const trackers = Array.from({ length: 4 }, () => tracked(createUsageTracker({ registry: registry(), service: 'usage', table: TABLE, batchSize: 1_000_000, chunkSize: 500 })));
    const keys = Array.from({ length: 3_000 }, (_, i) => `shared:${i}`);
    let expected = 0;
    for (let round = 0; round < 5; round++) {
      trackers.forEach((usage, t) => {
        // each tracker touches the keys in a different order: sorting in the batch is what prevents deadlocks
        const order = t % 2 === 0 ? keys : [...keys].reverse();
        for (let i = 0; i < order.length; i++) {
          usage.increment(order[(i * (t + 1) * 7) % order.length] as string, t + 1);
          expected += t + 1;
        }
      });
      const reports = await Promise.all(trackers.map((usage) => usage.flush()));
      expect(reports.map((r) => r.error?.message ?? null)).toEqual([null, null, null, null]);
    }
    for (const usage of trackers) expect(usage.stats().failedWrites).toBe(0);
    expect(await totals()).toMatchObject({ keys: 3_000, sum: String(expected) });
  });

  it('a retry after a lost reply (the commit succeeded) does not count twice', async () => {
    await reset();
    const real = registry();
    let lose = 1;
    const lossy: UsageRegistry<'usage' | 'auth'> = {
      services: real.services,
      get closed() {
        return real.closed;
      },
      query: (service, text, values) => real.query(service, text, values),
      async transaction(service, fn) {
        const result = await real.transaction(service, fn);
        if (lose-- > 0) throw Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
        return result;
      },
    };
    const usage = tracked(createUsageTracker({ registry: lossy, service: 'usage', table: TABLE }));
    usage.increment('once', 5);
    usage.increment('twice', 7);
    const first = await usage.flush();
    expect(first.ok).toBe(false);
    expect(await totals()).toMatchObject({ sum: '12' }); // committed despite the error
    const second = await usage.flush();
    expect(second).toMatchObject({ ok: true, batches: 1 });
    expect(usage.stats()).toMatchObject({ retriedBatches: 1, frozenKeys: 0 });
    expect(await totals()).toMatchObject({ keys: 2, sum: '12' });
    const ledger = await admin.query(`select count(*)::int as n from ${TABLE}_ledger`);
    expect(ledger.rows[0].n).toBe(1);
  });

  /**
   * A pg.Client that, while `lose.commit` is set, sends COMMIT and then drops the socket unread: the server commits
   * (it reads the whole message before the end of the stream) and the client never sees the reply.
   */
  const lose = { commit: false };
  class CommitReplyLosingClient extends pg.Client {
    override query(...args: unknown[]): never {
      const call = () => (super.query as (...a: unknown[]) => never).apply(this, args);
      if (!lose.commit || typeof args[0] !== 'string' || args[0].trim().toUpperCase() !== 'COMMIT') return call();
      const stream = (this as unknown as { connection: { stream: import('node:net').Socket } }).connection.stream;
      stream.pause(); // the reply may arrive; nobody reads it
      const result = call();
      stream.end();
      stream.once('finish', () => stream.destroy());
      return result;
    }
  }

  function losingRegistry(): PoolRegistry<'usage' | 'auth'> {
    const r = createPoolRegistry({ connection: pgUrl, Client: CommitReplyLosingClient, applicationName: 'usage-pg-test', services });
    cleanup.push(() => r.close({ timeoutMs: 1_000 }));
    return r;
  }

  it('a COMMIT whose reply is lost on the wire fails as ERR_WRITE_IN_DOUBT; the retry under the same id confirms it, counted once', async () => {
    await reset();
    const usage = tracked(createUsageTracker({ registry: losingRegistry(), service: 'usage', table: TABLE }));
    await usage.ensureSchema();
    const errors: unknown[] = [];
    usage.on('flush-error', (e) => errors.push(e.error));
    usage.increment('lost-commit', 5);
    lose.commit = true;
    try {
      const first = await usage.flush();
      expect(first.ok).toBe(false);
      expect(errors).toEqual([expect.objectContaining({ code: 'ERR_WRITE_IN_DOUBT', batchId: expect.any(String) })]);
      // The server commits after the client gave up on the reply (a moment later, on its own).
      await waitFor(async () => (await totals()).sum === '5', 5_000, 'the server to commit the batch');
      // The retry finds its id in the ledger and writes nothing; losing that (empty) COMMIT's reply too changes nothing.
      const second = await usage.flush();
      expect(second).toMatchObject({ ok: true, batches: 1, increments: 5 });
    } finally {
      lose.commit = false;
    }
    expect(await totals()).toMatchObject({ keys: 1, sum: '5' });
    expect(usage.stats()).toMatchObject({ frozenKeys: 0, retriedBatches: 1 });
  });

  it('when close() cannot retry a batch whose COMMIT reply was lost, it reports it in doubt with its id, never as unwritten', async () => {
    await reset();
    const reg = losingRegistry();
    const usage = createUsageTracker({ registry: reg, service: 'usage', table: TABLE });
    await usage.ensureSchema();
    usage.increment('lost-at-close', 3);
    lose.commit = true;
    try {
      expect((await usage.flush()).error).toMatchObject({ code: 'ERR_WRITE_IN_DOUBT' });
    } finally {
      lose.commit = false;
    }
    await waitFor(async () => (await totals()).sum === '3', 5_000, 'the server to commit the batch');
    usage.increment('never-sent', 2);
    await reg.close({ timeoutMs: 1_000 }); // the host closed the registry first: nothing can be retried
    const report = await usage.close({ timeoutMs: 5_000 });
    expect(report).toMatchObject({ clean: false, inDoubt: { batchId: expect.any(String), increments: 3 }, unwrittenIncrements: 2 });
    expect(report.unwritten.map((r) => [r.key, r.count])).toEqual([['never-sent', 2]]);
    // It had committed, so replaying `unwritten` (as the report says is safe) counts every increment exactly once.
    expect(await totals()).toMatchObject({ keys: 1, sum: '3' });
    const ledger = await admin.query(`select batch_id from ${TABLE}_ledger`);
    expect(ledger.rows.map((r) => r.batch_id)).toEqual([report.inDoubt?.batchId]);
  });

  it('a retry racing the original attempt still applies the batch once (the ledger row lock serialises them)', async () => {
    await reset();
    const real = registry();
    const sink = new PostgresSink({ registry: real, service: 'usage', names: tableNames(TABLE), chunkSize: 5_000, writeMode: 'auto', ledgerRetentionMs: 86_400_000, clock: systemClock });
    const batch = { id: 'raced-batch', rows: [{ key: 'raced', bucket: new Date(0), count: 3 }], increments: 3, attempt: 1 };
    // the same batch written by two sessions at once, as a retry would while the first reply is still in flight
    await Promise.all([sink.write(batch), sink.write({ ...batch, attempt: 2 })]);
    await sink.write({ ...batch, attempt: 3 });
    expect(await totals()).toMatchObject({ keys: 1, sum: '3' });
  });
});
