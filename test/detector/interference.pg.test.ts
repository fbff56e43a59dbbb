import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, it } from 'vitest';
import { createInterferenceDetector, type InterferenceDetector } from '../../src/detector/interference-detector';
import type { Incident, MitigationAction } from '../../src/detector/incident';
import { createPoolRegistry } from '../../src/registry/pool-registry';
import { adminClient, countBackends, describePg, pgUrl, uniqueAppName } from '../helpers/pg';
import { waitFor } from '../helpers/wait-for';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => {});
});

/** Calls check() every `intervalMs` (real time) until `done` returns true or `timeoutMs` passes; returns the checks made. */
async function evaluateUntil<S extends string>(detector: InterferenceDetector<S>, intervalMs: number, timeoutMs: number, done: () => boolean, describe: () => unknown = () => ''): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let checks = 0;
  while (Date.now() < deadline) {
    await detector.check();
    checks++;
    if (done()) return checks;
    await sleep(intervalMs);
  }
  throw new Error(`condition not reached within ${timeoutMs} ms (${checks} checks): ${JSON.stringify(describe())}`);
}

describePg('interference detector on a real PostgreSQL', () => {
  it('starvation: llm holds the shared connections while auth needs more than its size; auto mitigation relieves auth during the burst; then recovery', async () => {
    // The registry's shared budget: 8 connections, of which auth 1 and llm 1 are guaranteed; llm may borrow up to 7
    // of the 6 shared slots, and no headroom is reserved, so its burst takes the slots auth needs beyond its size.
    const registry = createPoolRegistry({
      connection: pgUrl,
      applicationName: uniqueAppName('starve'),
      windowMs: 1_000,
      maxConnections: 8,
      reserve: 0,
      services: {
        auth: { size: 1, overflow: 2, priority: 'highest', acquireTimeoutMs: 1_500 },
        llm: { size: 1, overflow: 7, priority: 'medium', acquireTimeoutMs: 30_000 },
      },
    });
    cleanup.push(() => registry.close({ timeoutMs: 2_000 }));
    const intervalMs = 250;
    const detector = createInterferenceDetector({ registry, intervalMs, windowMs: 2_000, calmIntervals: 3, mitigation: 'auto', serverProbe: false, thresholds: { acquireWaitMs: 100 } });
    cleanup.push(() => detector.stop());
    const opened: Incident<string>[] = [];
    const recovered: Incident<string>[] = [];
    const mitigations: MitigationAction<string>[] = [];
    detector.on('interference', (i) => opened.push(i));
    detector.on('recovered', (i) => recovered.push(i));
    detector.on('mitigation', (a) => mitigations.push(a));

    let bursting = true;
    let authRunning = true;
    const loops: Promise<void>[] = [];
    // On a failure too: stop the loops before the registry closes, so none spins on ERR_POOL_CLOSED afterwards.
    cleanup.push(() => {
      bursting = false;
      authRunning = false;
      return Promise.all(loops);
    });
    for (let i = 0; i < 10; i++) {
      loops.push((async () => {
        while (bursting) await registry.query('llm', 'select pg_sleep(0.2)').catch(() => sleep(20));
      })());
    }
    // llm takes every shared slot: its connections open one by one, so wait for them rather than a fixed time.
    await waitFor(() => registry.stats('llm').inUse === 7, 5_000, 'llm to hold its size and every shared slot');
    expect(registry.stats().budget.sharedInUseByService).toMatchObject({ llm: 6, auth: 0 });
    for (let i = 0; i < 3; i++) {
      loops.push((async () => {
        while (authRunning) await registry.query('auth', 'select pg_sleep(0.05)').catch(() => sleep(10));
      })());
    }

    // auth starts waiting; the incident opens within two intervals of that.
    let firstWaitingCheck = -1;
    let checks = 0;
    await evaluateUntil(detector, intervalMs, 5_000, () => {
      checks++;
      if (firstWaitingCheck < 0 && detector.health().services.auth.waiting > 0) firstWaitingCheck = checks;
      return opened.some((i) => i.victim === 'auth' && i.kinds.includes('monopolization'));
    });
    expect(firstWaitingCheck).toBeGreaterThan(0);
    expect(checks - firstWaitingCheck).toBeLessThanOrEqual(2);
    const incident = opened.find((i) => i.victim === 'auth') as Incident<string>;
    expect(incident.aggressors[0]).toMatchObject({ service: 'llm' });
    expect(incident.aggressors[0]?.share).toBeGreaterThan(0.5);
    expect(incident.recommendations).toContainEqual(expect.objectContaining({ kind: 'lower-overflow', service: 'llm', from: 7, to: 4, text: expect.stringMatching(/^lower llm overflow from 7 to 4/) }));
    expect(mitigations[0]).toMatchObject({ action: 'shrink', service: 'llm', previous: { overflow: 7 }, current: { overflow: 4 } });
    expect(registry.serviceOptions('llm').overflow).toBe(4);

    // While the burst goes on, auth gets its connections back and its p95 acquire wait falls under the threshold.
    await evaluateUntil(detector, intervalMs, 8_000, () => {
      const auth = registry.stats('auth');
      return auth.acquireWait.count >= 10 && auth.acquireWait.p95 < 100 && auth.waiting === 0;
    }, () => ({ auth: registry.stats('auth'), llm: registry.stats('llm'), mitigations }));
    expect(bursting).toBe(true);
    expect(registry.stats('llm').inUse).toBeGreaterThanOrEqual(4);

    // The workload stops: the incident closes after its calm intervals and llm's overflow is restored.
    bursting = false;
    authRunning = false;
    await Promise.all(loops);
    await evaluateUntil(detector, intervalMs, 8_000, () => recovered.some((i) => i.victim === 'auth'), () => detector.health());
    expect(recovered.find((i) => i.victim === 'auth')?.endedAt).not.toBeNull();
    expect(registry.serviceOptions('llm').overflow).toBe(7);
    expect(mitigations.map((a) => a.action)).toEqual(['shrink', 'restore']);
  });

  it('blocking: an llm transaction holds a row lock while awaiting a model; auth waits on it; the incident names the lock and the idle transaction', async () => {
    const admin = await adminClient();
    cleanup.push(() => admin.end());
    const table = uniqueAppName('block').replace(/-/g, '_');
    await admin.query(`create table ${table} (id int primary key, v int not null)`);
    await admin.query(`insert into ${table} values (1, 0)`);
    cleanup.push(() => admin.query(`drop table if exists ${table}`));
    const applicationName = uniqueAppName('block');
    const registry = createPoolRegistry({
      connection: pgUrl,
      applicationName,
      windowMs: 1_000,
      services: {
        auth: { size: 2, overflow: 0, priority: 'highest', acquireTimeoutMs: 5_000 },
        llm: { size: 1, overflow: 1, priority: 'medium' },
      },
    });
    cleanup.push(() => registry.close({ timeoutMs: 2_000 }));
    const intervalMs = 200;
    const detector = createInterferenceDetector({ registry, intervalMs, windowMs: 1_500, calmIntervals: 2, thresholds: { idleInTransactionMs: 300, slowQueryMs: 10_000 } });
    cleanup.push(() => detector.stop());
    const recovered: Incident<string>[] = [];
    detector.on('recovered', (i) => recovered.push(i));

    let releaseModel!: () => void;
    const model = new Promise<void>((resolve) => {
      releaseModel = resolve;
    });
    let locked = false;
    const llm = registry.transaction('llm', async (_client, lease) => {
      await lease.query(`update ${table} set v = v + 1 where id = 1`);
      locked = true;
      await model; // "awaiting a model" with the row lock held
    });
    const auth: Promise<unknown>[] = [];
    cleanup.push(async () => {
      releaseModel();
      await Promise.allSettled([llm, ...auth]);
    });
    // llm must hold the row lock before auth asks for it, or auth's updates go first and nothing blocks.
    await waitFor(() => locked, 5_000, 'llm to hold the row lock');
    auth.push(...[1, 2].map(() => registry.query('auth', `update ${table} set v = v + 10 where id = 1`)));
    // Both auth sessions wait on the lock before the first check, so every check sees the two of them blocked.
    await waitFor(
      async () => (await admin.query("select 1 from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock'", [`${applicationName}:auth`])).rowCount === 2,
      5_000,
      "both auth updates to wait on llm's lock",
    );

    await evaluateUntil(detector, intervalMs, 5_000, () => {
      const kinds = detector.incidents().find((i) => i.victim === 'auth')?.kinds ?? [];
      return kinds.includes('lock-blocking') && kinds.includes('idle-in-transaction');
    });
    const incident = detector.incidents().find((i) => i.victim === 'auth') as Incident<string>;
    expect(detector.health().serverProbe).toBe('ok');
    expect(incident.aggressors).toEqual([expect.objectContaining({ service: 'llm', blockedSessions: 2 })]);
    expect(incident.signals).toContainEqual(expect.objectContaining({ kind: 'lock-blocking', service: 'llm', value: 2 }));
    expect(incident.recommendations).toContainEqual(expect.objectContaining({ service: 'llm', option: 'idleInTransactionTimeoutMs', from: 0 }));
    expect(incident.recommendations.map((r) => r.text).join('\n')).toContain('set idleInTransactionTimeoutMs on llm');
    expect(JSON.stringify(incident)).not.toContain(table);

    releaseModel();
    await llm;
    await Promise.all(auth);
    await evaluateUntil(detector, intervalMs, 6_000, () => recovered.some((i) => i.victim === 'auth'));
    expect(recovered.find((i) => i.victim === 'auth')?.kinds).toEqual(expect.arrayContaining(['lock-blocking', 'idle-in-transaction']));
    expect(detector.health().status).toBe('healthy');

    // The probe's own session sits outside every pool and ends on stop.
    expect(await countBackends(admin, `${applicationName}:detector`)).toBe(1);
    await detector.stop();
    // No wait needed: stop() resolves once the probe's socket is closed, and PostgreSQL keeps a backend's socket
    // open until the backend has exited (and left pg_stat_activity), so clients can close synchronously.
    expect(await countBackends(admin, `${applicationName}:detector`)).toBe(0);
  });

});
