import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createPoolRegistry, type CircuitEvent } from '../../src/index';
import { adminClient, describePg, pgUrl, uniqueAppName } from '../helpers/pg';
import { startProxy, type TcpProxy } from '../helpers/tcp-proxy';
import { waitFor } from '../helpers/wait-for';

async function backendsByApp(admin: pg.Client, prefix: string): Promise<Record<string, number>> {
  const { rows } = await admin.query<{ app: string; n: number }>(
    "select application_name as app, count(*)::int as n from pg_stat_activity where application_name like $1 || ':%' group by 1",
    [prefix],
  );
  return Object.fromEntries(rows.map((r) => [r.app.slice(prefix.length + 1), r.n]));
}

describePg('shared budget and recovery on real PostgreSQL', () => {
  let admin: pg.Client;
  beforeAll(async () => {
    admin = await adminClient();
  });
  afterAll(async () => {
    await admin?.end();
  });

  it('headroom: while llm holds everything it may borrow, auth gets an overflow connection well within its timeout', async () => {
    const app = uniqueAppName('headroom');
    const registry = createPoolRegistry({
      connection: pgUrl,
      applicationName: app,
      maxConnections: 10,
      reserve: 2,
      services: {
        auth: { size: 1, overflow: 3, priority: 'highest', acquireTimeoutMs: 2_000 },
        llm: { size: 2, overflow: 10, priority: 'medium', acquireTimeoutMs: 30_000 },
      },
    });
    const release: (() => void)[] = [];
    let peakTotal = 0;
    let peakLlm = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const counts = await backendsByApp(admin, app);
        peakTotal = Math.max(peakTotal, (counts.auth ?? 0) + (counts.llm ?? 0));
        peakLlm = Math.max(peakLlm, counts.llm ?? 0);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    try {
      // llm floods: 20 handlers in transactions awaiting a model
      const llm = Array.from({ length: 20 }, () =>
        registry.transaction('llm', async (client) => {
          await client.query('select 1');
          await new Promise<void>((resolve) => release.push(resolve));
        }),
      );
      // 2 guaranteed + (7 shared - 2 reserve) = 7 connections, the other 13 wait
      await waitFor(() => registry.stats('llm').inUse === 7, 5_000, 'llm to borrow all it may');
      expect(registry.stats().budget).toMatchObject({ total: 10, guaranteed: 3, shared: 7, reserve: 2, sharedInUse: 5 });
      // auth needs 3 at once: its guaranteed one plus the two reserved slots. llm releases nothing until auth is
      // done, so these can only be served by the headroom, within auth's 2 s acquire timeout.
      const auth = await Promise.all([registry.acquire('auth'), registry.acquire('auth'), registry.acquire('auth')]);
      for (const lease of auth) expect((await lease.query<{ one: number }>('select 1 as one')).rows[0]?.one).toBe(1);
      expect(registry.stats('auth')).toMatchObject({ inUse: 3, sharedInUse: 2, timeouts: 0 });
      auth.forEach((lease) => lease.release());
      while (release.length > 0 || registry.stats('llm').inUse > 0 || registry.stats('llm').waiting > 0) {
        release.splice(0).forEach((r) => r());
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await Promise.all(llm);
    } finally {
      sampling = false;
      await sampler;
      release.splice(0).forEach((r) => r());
    }
    // nothing left waiting for a slot, so close() has nothing to wait for
    await waitFor(() => registry.stats().budget.waiting === 0, 3_000, 'no waiters');
    expect((await registry.close()).clean).toBe(true);
    // the server never saw more than the budget, nor llm more than it may hold
    expect(peakTotal).toBeLessThanOrEqual(10);
    expect(peakLlm).toBeLessThanOrEqual(7);
  });

  it('priority under contention: freed shared slots go to the higher-priority waiter first', async () => {
    const app = uniqueAppName('prio');
    const registry = createPoolRegistry({
      connection: pgUrl,
      applicationName: app,
      maxConnections: 4,
      reserve: 0,
      priorityAgingMs: 0,
      // bg may take medium hog's idle connections once they have been idle 1 s (by default: hog's idleTimeoutMs)
      preemptGraceMs: 1_000,
      services: {
        hog: { size: 0, overflow: 4, priority: 'medium', acquireTimeoutMs: 10_000, idleTimeoutMs: 600_000 },
        bg: { size: 0, overflow: 2, priority: 'low', acquireTimeoutMs: 10_000 },
        ext: { size: 0, overflow: 2, priority: 'high', acquireTimeoutMs: 10_000 },
      },
    });
    try {
      const hog = await Promise.all([1, 2, 3, 4].map(() => registry.acquire('hog')));
      const order: string[] = [];
      // bg asks first, ext later: both wait for a shared slot
      const bg = [registry.acquire('bg'), registry.acquire('bg')].map((p) => p.then((l) => (order.push('bg'), l)));
      await waitFor(() => registry.stats().budget.waitingByService.bg === 2, 5_000, 'bg to wait for slots');
      const ext = [registry.acquire('ext'), registry.acquire('ext')].map((p) => p.then((l) => (order.push('ext'), l)));
      await waitFor(() => registry.stats().budget.waitingByService.ext === 2, 5_000, 'ext to wait for slots');
      // hog's burst ends one connection at a time; each idle connection is closed to make room for a waiter
      for (const lease of hog) {
        lease.release();
        await waitFor(() => order.length === hog.indexOf(lease) + 1, 5_000, 'the next waiter to be served');
      }
      expect(order).toEqual(['ext', 'ext', 'bg', 'bg']);
      for (const lease of await Promise.all([...bg, ...ext])) lease.release();
      const counts = await backendsByApp(admin, app);
      expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(4);
    } finally {
      await registry.close();
    }
  });

  it('terminating every backend, idle and under load, crashes nothing and the next queries succeed', async () => {
    const app = uniqueAppName('killall');
    const registry = createPoolRegistry({
      connection: pgUrl,
      applicationName: app,
      services: { auth: { size: 2, overflow: 2 }, llm: { size: 2, overflow: 4, acquireTimeoutMs: 10_000 } },
    });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      await waitFor(async () => Object.values(await backendsByApp(admin, app)).reduce((a, b) => a + b, 0) === 4, 5_000, 'warm pools');
      await admin.query("select pg_terminate_backend(pid) from pg_stat_activity where application_name like $1 || ':%'", [app]);
      // under load
      const load = Array.from({ length: 30 }, (_, i) => registry.query(i % 2 ? 'auth' : 'llm', 'select pg_sleep(0.2)').then(() => 'ok', (e: { code?: string }) => e.code ?? 'error'));
      await waitFor(
        async () => (await admin.query("select 1 from pg_stat_activity where application_name like $1 || ':%' and query like 'select pg_sleep%'", [app])).rowCount! > 0,
        5_000,
        'the load to be running',
      );
      await admin.query("select pg_terminate_backend(pid) from pg_stat_activity where application_name like $1 || ':%'", [app]);
      const outcomes = await Promise.all(load);
      // the queries in flight when their backend died fail with 57P01; everything else is served
      expect(outcomes.every((o) => o === 'ok' || o === '57P01')).toBe(true);
      expect(outcomes.filter((o) => o === 'ok').length).toBeGreaterThan(0);
      for (let i = 0; i < 10; i++) {
        expect((await registry.query<{ one: number }>('auth', 'select 1 as one')).rows[0]?.one).toBe(1);
        expect((await registry.query<{ one: number }>('llm', 'select 1 as one')).rows[0]?.one).toBe(1);
      }
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await registry.close();
    }
  });

  it('a real outage: acquires fail fast with ERR_DATABASE_UNAVAILABLE while it is down, and every service recovers by itself', async () => {
    const proxy: TcpProxy = await startProxy({ host: '127.0.0.1', port: Number(new URL(pgUrl).port || 5432) });
    const app = uniqueAppName('outage');
    const registry = createPoolRegistry({
      connection: proxy.url(pgUrl),
      applicationName: app,
      maxConnections: 9,
      maintenanceIntervalMs: 100,
      breaker: { failureThreshold: 2, initialBackoffMs: 200, maxBackoffMs: 1_000 },
      services: {
        auth: { size: 2, overflow: 1, acquireTimeoutMs: 5_000, priority: 'highest' },
        llm: { size: 2, overflow: 2, acquireTimeoutMs: 5_000 },
        usage: { size: 1, overflow: 1, acquireTimeoutMs: 5_000, priority: 'low' },
      },
    });
    const circuit: CircuitEvent[] = [];
    registry.on('circuit', (e) => circuit.push(e));
    let peakTotal = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const counts = await backendsByApp(admin, app);
        peakTotal = Math.max(peakTotal, Object.values(counts).reduce((a, b) => a + b, 0));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    try {
      await Promise.all(registry.services.map((s) => registry.query(s, 'select 1')));
      // the database goes away: every connection is cut and new ones are refused
      proxy.refuse(true);
      proxy.cutAll();
      await waitFor(() => registry.services.every((s) => registry.stats(s).circuit === 'open'), 5_000, 'every circuit to open');
      const openedAt = circuit.length;
      // Fail fast: ERR_DATABASE_UNAVAILABLE, not ERR_ACQUIRE_TIMEOUT after the 5 s acquire timeout.
      const errors = await Promise.all(registry.services.map((s) => registry.query(s, 'select 1').catch((e: unknown) => e)));
      for (const error of errors) expect(error).toMatchObject({ code: 'ERR_DATABASE_UNAVAILABLE' });
      // No retry loop while it is down: through two more backoffs per service, each probe is one connection attempt,
      // and the process stays well under a quarter of a core (the sampler included).
      const probesBefore = circuit.filter((e) => e.to === 'half-open').length;
      const refusedBefore = proxy.refused;
      const cpuBefore = process.cpuUsage();
      const downSince = performance.now();
      const failedProbes = (s: string): number => circuit.filter((e, i) => i >= openedAt && e.service === s && e.from === 'half-open' && e.to === 'open').length;
      await waitFor(() => registry.services.every((s) => failedProbes(s) >= 2), 10_000, 'two failed probes per service');
      const cpu = process.cpuUsage(cpuBefore);
      const downMs = performance.now() - downSince;
      const probes = circuit.filter((e) => e.to === 'half-open').length - probesBefore;
      expect(proxy.refused - refusedBefore).toBeLessThanOrEqual(probes + registry.services.length);
      expect((cpu.user + cpu.system) / 1_000).toBeLessThan(downMs / 4);
      // it comes back: without any call from us, every service serves again and refills its size
      proxy.refuse(false);
      const backAt = circuit.length;
      await waitFor(() => registry.services.every((s) => registry.stats(s).circuit === 'closed' && registry.stats(s).total >= registry.stats(s).guaranteedSize), 5_000, 'recovery');
      // at its first probe once the database is back: at most a probe already refused before then fails again
      for (const s of registry.services) expect(circuit.slice(backAt).filter((e) => e.service === s && e.to === 'open').length).toBeLessThanOrEqual(1);
      for (const s of registry.services) expect((await registry.query<{ one: number }>(s, 'select 1 as one')).rows[0]?.one).toBe(1);
      expect(circuit.filter((e) => e.to === 'open').map((e) => e.service).sort()).toEqual(expect.arrayContaining(['auth', 'llm', 'usage']));
    } finally {
      sampling = false;
      await sampler;
      await registry.close();
      await proxy.close();
    }
    expect(peakTotal).toBeLessThanOrEqual(9);
  });

  it('checkServer reads max_connections and warns when the budget cannot fit', async () => {
    const registry = createPoolRegistry({ connection: pgUrl, applicationName: uniqueAppName('check'), maxConnections: 10_000, services: { auth: { size: 1, overflow: 9_999 } } });
    const warnings: unknown[] = [];
    registry.on('server-warning', (r) => warnings.push(r));
    try {
      const { rows } = await admin.query<{ max: number; reserved: number }>(
        "select current_setting('max_connections')::int as max, current_setting('superuser_reserved_connections')::int as reserved",
      );
      // auth's guaranteed connection opens in the background after creation: count it once it is there.
      await waitFor(() => registry.stats('auth').idle === 1, 5_000, "auth's guaranteed connection");
      const report = await registry.checkServer();
      expect(report).toMatchObject({ maxConnections: rows[0]!.max, superuserReservedConnections: rows[0]!.reserved, budget: 10_000, fits: false });
      expect(report.currentConnections).toBeGreaterThanOrEqual(2);
      expect(report.ownConnections).toBe(1); // auth's guaranteed connection
      expect(report.warning).toMatch(/may open 10000 connections but the server has room for \d+/);
      expect(warnings).toEqual([report]);
    } finally {
      await registry.close();
    }
    const small = createPoolRegistry({ connection: pgUrl, applicationName: uniqueAppName('check2'), services: { auth: { size: 1, overflow: 1 } } });
    try {
      const report = await small.checkServer();
      expect(report).toMatchObject({ budget: 2, fits: true, warning: undefined });
    } finally {
      await small.close();
    }
  });
});
