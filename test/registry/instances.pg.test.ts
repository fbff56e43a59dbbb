import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type pg from 'pg';
import { createPoolRegistry } from '../../src/registry/pool-registry';
import { createUsageTracker } from '../../src/usage/usage-tracker';
import type { ServerCheckReport } from '../../src/pool/events';
import type { Incident } from '../../src/detector/incident';
import { ServerProbe } from '../../src/detector/server-probe';
import { systemClock } from '../../src/clock';
import { adminClient, describePg, pgUrl } from '../helpers/pg';

const root = fileURLToPath(new URL('../..', import.meta.url));
const script = fileURLToPath(new URL('../fixtures/instance.ts', import.meta.url));
const suffix = `${process.pid}_${Math.floor(Math.random() * 1e6)}`;
const APP = `i15-multi-${suffix}`.slice(0, 30);
const TABLE = `i15_usage_${suffix}`;
const LOCK_TABLE = `i15_lock_${suffix}`;

/** One instance in its own process, driven over IPC. */
class Instance {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #next = 1;
  readonly ready: Promise<unknown>;

  constructor(readonly id: string) {
    this.#child = fork(script, [], {
      cwd: root,
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, DATABASE_URL: pgUrl, APP, INSTANCE: id, TABLE, LOCK_TABLE },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.ready = new Promise((resolve, reject) => {
      this.#pending.set(0, { resolve, reject });
      this.#child.once('exit', (code) => {
        for (const p of this.#pending.values()) p.reject(new Error(`instance ${id} exited (${code})`));
        this.#pending.clear();
      });
    });
    this.#child.on('message', (raw) => {
      const message = raw as { id: number; result?: unknown; error?: string };
      const pending = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      if (message.error !== undefined) pending?.reject(new Error(`instance ${id}: ${message.error}`));
      else pending?.resolve(message.result);
    });
  }

  send<T>(cmd: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#child.send({ id, cmd, ...args });
    });
  }

  kill(): void {
    if (this.#child.exitCode === null) this.#child.kill();
  }
}

describePg('four instances of one application on one database', () => {
  let admin: pg.Client;
  const instances: Instance[] = [];

  beforeAll(async () => {
    admin = await adminClient();
    await admin.query(`create table ${LOCK_TABLE} (id int primary key, v int not null)`);
    await admin.query(`insert into ${LOCK_TABLE} values (1, 0)`);
    // The usage table, created once (the instances would race on it otherwise).
    const setup = createPoolRegistry({ connection: pgUrl, applicationName: `${APP}-setup`, services: { usage: { size: 0, overflow: 1 } } });
    await createUsageTracker({ registry: setup, service: 'usage', table: TABLE }).ensureSchema();
    await setup.close();
    for (const id of ['api-a-101', 'api-b-102', 'api-c-103', 'api-d-104']) instances.push(new Instance(id));
    await Promise.all(instances.map((i) => i.ready));
    await Promise.all(instances.map((i) => i.send('warm')));
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(instances.map((i) => i.send('unlock')));
    await Promise.allSettled(instances.map((i) => i.send('exit')));
    for (const i of instances) i.kill();
    if (admin !== undefined) {
      await admin.query(`drop table if exists ${TABLE}, ${TABLE}_ledger, ${LOCK_TABLE}`);
      await admin.end();
    }
  }, 30_000);

  it('pg_stat_activity shows <app>:<service>@<instance> for every instance', async () => {
    const { rows } = await admin.query<{ name: string; n: number }>(
      `select application_name as name, count(*)::int as n from pg_stat_activity where application_name like $1 group by 1 order by 1`,
      [`${APP}:%`],
    );
    // Each instance holds its warm connections: auth 2, llm 1, usage 1.
    const expected = instances.flatMap((i) => [
      { name: `${APP}:auth@${i.id}`, n: 2 },
      { name: `${APP}:llm@${i.id}`, n: 1 },
      { name: `${APP}:usage@${i.id}`, n: 1 },
    ]);
    expect(rows).toEqual(expected.sort((a, b) => (a.name < b.name ? -1 : 1)));
  });

  it("the server probe of one instance sees every instance's sessions, by service and instance", async () => {
    const probe = new ServerProbe(adminClient, APP, ['auth', 'llm', 'usage'], { clock: systemClock, timeoutMs: 5_000, instanceId: instances[0]?.id });
    const result = await probe.sample(60_000);
    await probe.close();
    const holders = [...(result?.holders ?? [])].map((h) => `${h.service}@${h.instance ?? '-'} ${h.sessions}`).sort();
    expect(holders).toEqual(instances.flatMap((i) => [`auth@${i.id} 2`, `llm@${i.id} 1`, `usage@${i.id} 1`]).sort());
  });

  it('usage totals are exact across the four instances', async () => {
    const results = await Promise.all(instances.map((i) => i.send<{ ok: boolean }>('usage', { keys: 40, increments: 10_000 })));
    expect(results.every((r) => r.ok)).toBe(true);
    const { rows } = await admin.query(`select count(*)::int as keys, sum(count)::text as sum, min(count)::text as min, max(count)::text as max from ${TABLE}`);
    expect(rows[0]).toEqual({ keys: 40, sum: '40000', min: '1000', max: '1000' });
  });

  it('checkServer() in one instance counts the other three and reports the combined budget', async () => {
    const report = await (instances[0] as Instance).send<ServerCheckReport>('check');
    expect(report).toMatchObject({ instances: 4, budget: 6, combinedBudget: 24, ownConnections: 4, otherInstanceConnections: 12 });
    const { rows } = await admin.query(
      `select current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int
         - (select count(*) from pg_stat_activity where backend_type = 'client backend' and application_name not like $1)::int as room`,
      [`${APP}:%`],
    );
    // The admin session of this test is another application's load; the check's own session is not (both as the server sees it now).
    expect(Math.abs(report.available - Number(rows[0].room))).toBeLessThanOrEqual(2);
    expect(report.fits).toBe(report.combinedBudget <= report.available);
  });

  it("a detector in one instance names the instance and service holding the locks that block its auth", async () => {
    const [victim, , holder] = instances as [Instance, Instance, Instance, Instance];
    await holder.send('lock');
    const found = await victim.send<{ incident: Incident<string> | null; probe: string }>('blockedAuth', { timeoutMs: 10_000 });
    expect(found.probe).toBe('ok');
    const incident = found.incident as Incident<string>;
    expect(incident).not.toBeNull();
    expect(incident.victim).toBe('auth');
    expect(incident.aggressors).toEqual([expect.objectContaining({ service: 'llm', blockedSessions: 2 })]);
    const blocking = incident.signals.find((s) => s.kind === 'lock-blocking');
    expect(blocking?.service).toBe('llm');
    expect(blocking?.message).toBe(`2 auth session(s) wait on locks held by llm (instance ${holder.id})`);
    await holder.send('unlock');
    await victim.send('authDone');
  });

  it('with probeIntervalMs, the detector sees one auth session blocked by another instance, though no figure of its own shows it', async () => {
    const [, victim, , holder] = instances as [Instance, Instance, Instance, Instance];
    await holder.send('lock');
    const found = await victim.send<{ incident: Incident<string> | null; probe: string; auth: { inUse: number; max: number; waiting: number } }>('blockedAuth', {
      timeoutMs: 10_000,
      sessions: 1,
      probeIntervalMs: 200,
    });
    expect(found.probe).toBe('ok');
    // auth uses 1 of its 2 connections, nobody waits: no client-side signal (the unit tests show no probe then).
    expect(found.auth).toMatchObject({ inUse: 1, max: 2, waiting: 0 });
    expect(found.incident?.signals.find((s) => s.kind === 'lock-blocking')?.message).toBe(`1 auth session(s) wait on locks held by llm (instance ${holder.id})`);
    await holder.send('unlock');
    await victim.send('authDone');
  });
});
