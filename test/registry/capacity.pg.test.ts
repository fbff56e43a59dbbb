/**
 * "Too many clients" is not "database unavailable". A role with `CONNECTION LIMIT 3` makes the real server answer
 * a 4th connection with SQLSTATE 53300, exactly as a full `max_connections` does. A service that already has
 * working connections keeps its circuit closed: its callers wait for a connection to come back (or time out with
 * the cause named), none fails fast with ERR_DATABASE_UNAVAILABLE.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type pg from 'pg';
import { isBulkheadError } from '../../src/errors';
import type { ServerWarning } from '../../src/pool/events';
import { createPoolRegistry } from '../../src/registry/pool-registry';
import { adminClient, describePg, pgUrl, uniqueAppName } from '../helpers/pg';
import { waitFor } from '../helpers/wait-for';

const ROLE = `cap_${process.pid}_${Math.floor(Math.random() * 1e6)}`;

function urlAs(role: string): string {
  const url = new URL(pgUrl);
  url.username = role;
  url.password = '';
  return url.toString();
}

describePg('server capacity refusals (53300) on real PostgreSQL', () => {
  let admin: pg.Client;

  beforeAll(async () => {
    admin = await adminClient();
    await admin.query(`create role ${ROLE} login connection limit 3`);
  });

  afterAll(async () => {
    await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where usename = $1`, [ROLE]);
    await admin.query(`drop role if exists ${ROLE}`);
    await admin.end();
  });

  it('with working connections: the circuit stays closed, every caller is served by the connections it has, one capacity warning', async () => {
    const registry = createPoolRegistry({
      connection: urlAs(ROLE),
      applicationName: uniqueAppName('cap'),
      breaker: { failureThreshold: 2, initialBackoffMs: 200, maxBackoffMs: 1_000 },
      services: { llm: { size: 1, overflow: 7, acquireTimeoutMs: 10_000 } },
    });
    const circuits: string[] = [];
    const warnings: ServerWarning[] = [];
    registry.on('circuit', (e) => circuits.push(e.to));
    registry.on('server-warning', (w) => warnings.push(w));
    try {
      // Three sessions are all the role may have: hold them so the next connect is refused.
      const held = await Promise.all([registry.acquire('llm'), registry.acquire('llm'), registry.acquire('llm')]);
      // 30 callers on 3 connections: the pool tries to grow toward 8 and is refused again and again.
      const calls = Array.from({ length: 30 }, (_, i) => registry.query<{ i: number }>('llm', 'select $1::int as i', [i]));
      await waitFor(() => registry.stats('llm').capacityRefusals >= 2, 10_000, 'two capacity refusals');
      for (const lease of held) lease.release();
      const results = await Promise.allSettled(calls);
      const failures = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as Error);
      expect(failures).toEqual([]);
      expect(results.map((r) => (r as PromiseFulfilledResult<{ rows: { i: number }[] }>).value.rows[0]!.i)).toEqual(Array.from({ length: 30 }, (_, i) => i));

      const stats = registry.stats('llm');
      expect(stats.circuit).toBe('closed');
      expect(circuits).not.toContain('open');
      expect(stats.capacityRefusals).toBeGreaterThanOrEqual(2);
      expect(stats.inUse).toBe(0);
      const capacity = warnings.filter((w) => w.kind === 'capacity');
      expect(capacity).toHaveLength(1);
      expect(capacity[0]).toMatchObject({ kind: 'capacity', service: 'llm', code: '53300', open: 3, max: 8, headroomShortfall: 5 });
      expect(capacity[0]!.kind === 'capacity' && capacity[0]!.warning).toMatch(/llm: the server refused a new connection \(53300 .*too many connections/);
    } finally {
      await registry.close();
    }
  });

  it('a caller that cannot be served in time gets ERR_ACQUIRE_TIMEOUT naming the refusal, not ERR_DATABASE_UNAVAILABLE', async () => {
    const registry = createPoolRegistry({
      connection: urlAs(ROLE),
      applicationName: uniqueAppName('cap2'),
      breaker: { failureThreshold: 1, initialBackoffMs: 200, maxBackoffMs: 1_000 },
      services: { llm: { size: 1, overflow: 3, acquireTimeoutMs: 600 } },
    });
    try {
      const held = await Promise.all([registry.acquire('llm'), registry.acquire('llm'), registry.acquire('llm')]);
      const error = await registry.acquire('llm').then(
        (lease) => {
          lease.release();
          return null;
        },
        (e: unknown) => e,
      );
      expect(isBulkheadError(error, 'ERR_ACQUIRE_TIMEOUT')).toBe(true);
      expect((error as Error).message).toMatch(/too many connections/);
      expect(registry.stats('llm').circuit).toBe('closed');
      for (const lease of held) lease.release();
      await expect(registry.query('llm', 'select 1')).resolves.toMatchObject({ rowCount: 1 });
    } finally {
      await registry.close();
    }
  });

  it('without a single working connection, a refusal still counts as an outage (the circuit opens as before)', async () => {
    await admin.query(`alter role ${ROLE} connection limit 0`);
    const registry = createPoolRegistry({
      connection: urlAs(ROLE),
      applicationName: uniqueAppName('cap3'),
      breaker: { failureThreshold: 1, initialBackoffMs: 5_000, maxBackoffMs: 5_000 },
      services: { llm: { size: 0, overflow: 2, acquireTimeoutMs: 3_000 } },
    });
    try {
      const first = await registry.query('llm', 'select 1').catch((e: unknown) => e);
      expect((first as { code?: string }).code === 'ERR_DATABASE_UNAVAILABLE' || (first as { code?: string }).code === 'ERR_ACQUIRE_TIMEOUT').toBe(true);
      expect(registry.stats('llm')).toMatchObject({ circuit: 'open', capacityRefusals: 0 });
      await expect(registry.query('llm', 'select 1')).rejects.toMatchObject({ code: 'ERR_DATABASE_UNAVAILABLE' });
    } finally {
      await registry.close();
      await admin.query(`alter role ${ROLE} connection limit 3`);
    }
  });
});
