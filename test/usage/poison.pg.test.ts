/**
 * Poison input on real PostgreSQL: what the server could never store is rejected by `increment` (NUL bytes, keys
 * past the btree limit, times past timestamptz), and a row the server refuses for good (a bigint overflow, a
 * program limit) is quarantined alone while every other key is written exactly once.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type pg from 'pg';
import type { UsageDropEvent } from '../../src/usage/events';
import { createPoolRegistry, type PoolRegistry } from '../../src/registry/pool-registry';
import { createUsageTracker, type UsageTracker } from '../../src/usage/usage-tracker';
import { adminClient, describePg, pgUrl, uniqueAppName } from '../helpers/pg';

const TABLE = `poison_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
const BIGINT_MAX = 9223372036854775807n;

describePg('poison increments on real PostgreSQL', () => {
  let admin: pg.Client;
  let registry: PoolRegistry<'usage'>;
  let usage: UsageTracker<'usage'>;
  const drops: UsageDropEvent[] = [];

  beforeAll(async () => {
    admin = await adminClient();
    registry = createPoolRegistry({ connection: pgUrl, applicationName: uniqueAppName('poison'), services: { usage: { size: 1, overflow: 1 } } });
    usage = createUsageTracker({ registry, service: 'usage', table: TABLE, bucket: 'day', flushIntervalMs: 60_000, batchSize: 100_000, maxKeyBytes: 2_048 });
    usage.on('drop', (d) => drops.push(d));
    await usage.ensureSchema();
    // A real program-limit error (54000) for one key, raised by the server inside the upsert.
    await admin.query(`create function ${TABLE}_limit() returns trigger language plpgsql as $$
      begin
        if new.key = 'limit-me' then raise exception 'simulated program limit' using errcode = 'program_limit_exceeded'; end if;
        return new;
      end $$`);
    await admin.query(`create trigger ${TABLE}_limit before insert on ${TABLE} for each row execute function ${TABLE}_limit()`);
  });

  afterAll(async () => {
    await usage.close({ timeoutMs: 2_000 });
    await registry.close();
    await admin.query(`drop table if exists ${TABLE}, ${TABLE}_ledger`);
    await admin.query(`drop function if exists ${TABLE}_limit()`);
    await admin.end();
  });

  async function count(key: string): Promise<bigint | null> {
    const { rows } = await admin.query<{ n: string }>(`select sum(count)::text as n from ${TABLE} where key = $1`, [key]);
    return rows[0]?.n === null || rows[0] === undefined ? null : BigInt(rows[0].n);
  }

  it('rejects at once what PostgreSQL could never store, and the keys beside it are written', async () => {
    const rejected = [
      () => usage.increment('nul\u0000key'), // 22021 invalid byte sequence
      () => usage.increment(randomBytes(4_096).toString('hex')), // 54000 index row size exceeds btree maximum
      () => usage.increment('k', 1, 1e16), // RangeError: Invalid time value in the sink
    ];
    for (const call of rejected) expect(call).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    // The documented limit really is storable: 2048 incompressible bytes in the btree-indexed key column.
    const longest = randomBytes(1_024).toString('hex');
    usage.increment(longest, 3);
    usage.increment('plain', 2);
    usage.increment('ancient', 1, Date.parse('0001-01-01T00:00:00Z'));
    usage.increment('far', 1, Date.parse('9999-12-31T23:59:59.999Z'));
    const report = await usage.flush();
    expect(report).toMatchObject({ ok: true, rows: 4, increments: 7 });
    expect(await count(longest)).toBe(3n);
    expect(await count('plain')).toBe(2n);
    expect(await count('ancient')).toBe(1n);
    expect(await count('far')).toBe(1n);
    expect(usage.stats().rejectedCalls).toBe(3);
  });

  it('a bigint overflow (22003) and a program limit (54000) quarantine just their rows; 500 other keys are written exactly', async () => {
    drops.length = 0;
    // One counter already near the top of bigint: adding to it fails the whole upsert statement.
    await admin.query(`insert into ${TABLE} (key, bucket, count) values ('near-max', '2024-05-01', $1)`, [(BIGINT_MAX - 10n).toString()]);
    const at = Date.UTC(2024, 4, 1, 12);
    for (let i = 0; i < 500; i++) usage.increment(`good-${i}`, i + 1, at);
    usage.increment('near-max', Number.MAX_SAFE_INTEGER, at);
    usage.increment('limit-me', 7, at);

    const report = await usage.flush();

    expect(report.ok).toBe(true);
    expect(report.rows).toBe(500);
    const { rows } = await admin.query<{ n: string; total: string }>(`select count(*)::text as n, sum(count)::text as total from ${TABLE} where key like 'good-%'`);
    expect(rows[0]).toEqual({ n: '500', total: String((500 * 501) / 2) });
    expect(await count('near-max')).toBe(BIGINT_MAX - 10n);
    expect(await count('limit-me')).toBeNull();
    expect(drops.map((d) => [d.key, d.reason, d.reason === 'rejected-by-sink' ? (d.error as { code?: string }).code : null]).sort()).toEqual([
      ['limit-me', 'rejected-by-sink', '54000'],
      ['near-max', 'rejected-by-sink', '22003'],
    ]);
    expect(usage.stats()).toMatchObject({ quarantinedRows: 2, quarantinedIncrements: Number.MAX_SAFE_INTEGER + 7, frozenKeys: 0 });

    // Counting goes on: the next flush is a single ordinary batch.
    usage.increment('good-0', 1, at);
    expect(await usage.flush()).toMatchObject({ ok: true, batches: 1, rows: 1 });
    expect(await count('good-0')).toBe(2n);
  });
});
