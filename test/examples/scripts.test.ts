import { describe, expect, it } from 'vitest';
import { run as runCustomSink } from '../../examples/custom-sink';
import { run as runTuning, suggest } from '../../examples/tuning';
import { adminClient, describePg, pgUrl } from '../helpers/pg';
import { uniquePrefix } from './server-checks';

const expectedTenantRows = [
  { tenant: 'acme', feature: 'completions', hour: '2025-01-01T09:00:00.000Z', calls: 10 },
  { tenant: 'acme', feature: 'embeddings', hour: '2025-01-01T09:00:00.000Z', calls: 25 },
  { tenant: 'globex', feature: 'completions', hour: '2025-01-01T10:00:00.000Z', calls: 2 },
  { tenant: 'initech', feature: 'completions', hour: '2025-01-01T09:00:00.000Z', calls: 1 },
];

describe('examples/custom-sink.ts (pg-mem)', () => {
  it('writes coalesced per-tenant, per-hour counts through its own sink and closes cleanly', async () => {
    const result = await runCustomSink({ connection: undefined });
    expect(result.clean).toBe(true);
    expect(result.rows).toEqual(expectedTenantRows);
  });
});

describe('examples/tuning.ts (pg-mem)', () => {
  it('finds the undersized pool, suggests sizes from the stats, and resize() removes the failures', async () => {
    const result = await runTuning({ connection: undefined, burstMs: 1_000 });
    expect(result.before).toBeGreaterThan(0);
    expect(result.incidents.some((line) => line.startsWith('saturation of llm:'))).toBe(true);
    // real advice, not "none": llm's own overflow, which the registry accepts
    expect(result.recommendations.some((text) => /llm overflow from 1 to \d+/.test(text))).toBe(true);
    const llm = result.suggestions.find((s) => s.service === 'llm')!;
    const auth = result.suggestions.find((s) => s.service === 'auth')!;
    expect(llm.suggested.size + llm.suggested.overflow).toBeGreaterThan(llm.current.size + llm.current.overflow);
    expect(auth.suggested.size).toBeLessThan(auth.current.size);
    expect(result.after).toBe(0);
  });

  it('suggest() applies Little’s law to a stats snapshot', () => {
    const stats = { service: 'llm', guaranteedSize: 1, overflow: 1, acquired: 100, timeouts: 0, utilization: 1, holdTime: { p95: 200 }, acquireWait: { p95: 0 } };
    // 100 acquires in 10 s × 0.2 s held = 2 busy connections: size 2, overflow 1.
    expect(suggest(stats as never, 10).suggested).toEqual({ size: 2, overflow: 1 });
  });
});

describePg('examples/custom-sink.ts (real PostgreSQL)', () => {
  it('writes the same rows on the real server', async () => {
    const prefix = uniquePrefix('sink');
    try {
      const result = await runCustomSink({ connection: pgUrl, prefix });
      expect(result.rows).toEqual(expectedTenantRows);
    } finally {
      const admin = await adminClient();
      await admin.query(`drop table if exists ${prefix}_tenant_hourly, ${prefix}_applied_batches`);
      await admin.end();
    }
  });
});
