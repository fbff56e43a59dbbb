import { describe, expect, it } from 'vitest';
import { createPoolRegistry } from '../../src/registry/pool-registry';
import { instanceTag, MAX_APPLICATION_NAME, parseSessionName } from '../../src/registry/instance-name';
import { ServerProbe } from '../../src/detector/server-probe';
import { systemClock } from '../../src/clock';
import { ConfigError } from '../../src/errors';
import { FakeServer } from '../helpers/fake-client';

function configProblems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((p) => `${p.path}: ${p.message}`);
    throw error;
  }
  return [];
}

describe('instance identity in application_name', () => {
  it('sessions connect as <app>:<service>@<instance>, the standalone clients too', async () => {
    const server = new FakeServer();
    const registry = createPoolRegistry({ Client: server.Client, applicationName: 'shop', instanceId: 'web-7d9f-1234', services: { auth: { size: 1, overflow: 0 } } });
    try {
      await registry.query('auth', 'select 1');
      const probe = await registry.openClient('detector');
      await probe.end();
      expect(server.clients.map((c) => c.config.application_name)).toEqual(['shop:auth@web-7d9f-1234', 'shop:detector@web-7d9f-1234']);
      expect(registry.instanceId).toBe('web-7d9f-1234');
    } finally {
      await registry.close();
    }
  });

  it('a long instanceId is cut from the front, the same for every label, within 63 bytes', () => {
    const id = `pod-${'x'.repeat(80)}-9f3k2`;
    const tag = instanceTag('checkout-api', ['auth', 'background'], id);
    expect(id.endsWith(tag)).toBe(true);
    for (const label of ['auth', 'background', 'detector', 'check', 'probe']) expect(Buffer.byteLength(`checkout-api:${label}@${tag}`)).toBeLessThanOrEqual(MAX_APPLICATION_NAME);
    expect(Buffer.byteLength(`checkout-api:background@${tag}`)).toBe(MAX_APPLICATION_NAME);
  });

  it('parses names back into label and tag', () => {
    expect(parseSessionName('auth@web-1')).toEqual({ label: 'auth', tag: 'web-1' });
    expect(parseSessionName('auth@a@b')).toEqual({ label: 'auth', tag: 'a@b' });
    expect(parseSessionName('auth')).toEqual({ label: 'auth', tag: undefined });
  });

  it('rejects an instanceId that is not printable ASCII, or that would not fit', () => {
    expect(configProblems(() => createPoolRegistry({ instanceId: '', services: { auth: {} } }))).toEqual(['instanceId: expected a non-empty string of printable ASCII characters, got "" (string)']);
    expect(configProblems(() => createPoolRegistry({ instanceId: 'pod\n1', services: { auth: {} } }))[0]).toContain('instanceId: expected a non-empty string of printable ASCII');
    const app = 'a'.repeat(50);
    expect(configProblems(() => createPoolRegistry({ applicationName: app, instanceId: 'web-123456', services: { background: {} } }))).toEqual([
      `instanceId: only 1 characters of it fit in PostgreSQL's 63-byte application_name after "${app}:<service>@": shorten applicationName or the service names`,
    ]);
  });

  it("rejects an unknown pooler and a service connection that is not one, without echoing it", () => {
    const problems = configProblems(() =>
      createPoolRegistry({ pooler: 'pgbouncer' as never, services: { auth: { connection: 'not a url with secret-pw' }, llm: { connection: 42 as never } } }),
    );
    expect(problems).toEqual([
      "pooler: expected one of 'none', 'pgbouncer-session', 'pgbouncer-transaction', got \"pgbouncer\" (string)",
      'services.auth.connection: expected a postgres:// or postgresql:// connection string, got a string that does not parse as one (value not shown)',
      'services.llm.connection: expected a connection string or a pg.ClientConfig object, got 42 (number)',
    ]);
    expect(problems.join('\n')).not.toContain('secret-pw');
  });
});

describe('per-service connection', () => {
  it('each service connects with its own connection (its own PgBouncer alias), the others with the registry one', async () => {
    const server = new FakeServer();
    const registry = createPoolRegistry({
      Client: server.Client,
      connection: 'postgres://app@bouncer:6432/app',
      services: { auth: { size: 1, overflow: 0, connection: 'postgres://app_auth@bouncer:6432/app_auth' }, api: { size: 1, overflow: 0 } },
    });
    try {
      await Promise.all([registry.query('auth', 'select 1'), registry.query('api', 'select 1')]);
      const byName = Object.fromEntries(server.clients.map((c) => [c.config.application_name, c.config.connectionString]));
      expect(byName).toEqual({ 'pg-bulkhead:auth': 'postgres://app_auth@bouncer:6432/app_auth', 'pg-bulkhead:api': 'postgres://app@bouncer:6432/app' });
      // Options snapshots never carry the connection (it may hold a password).
      expect(Object.keys(registry.serviceOptions('auth'))).not.toContain('connection');
    } finally {
      await registry.close();
    }
  });

  it("a service's own password never appears in errors or events", async () => {
    const server = new FakeServer();
    const secret = 'S3rvice-only-pw';
    server.refuse = new Error(`password authentication failed: postgres://llm:${secret}@bouncer/llm`);
    const registry = createPoolRegistry({
      Client: server.Client,
      connection: 'postgres://app:shared-pw@bouncer/app',
      breaker: { failureThreshold: 1, initialBackoffMs: 10, maxBackoffMs: 10 },
      services: { llm: { size: 0, overflow: 1, acquireTimeoutMs: 200, connection: `postgres://llm:${secret}@bouncer/llm` } },
    });
    const seen: unknown[] = [];
    registry.on('connect-error', (e) => seen.push(e.error.message, e.error.stack));
    try {
      const error = await registry.query('llm', 'select 1').catch((e: unknown) => e);
      seen.push((error as Error).message, String((error as Error).cause), JSON.stringify(registry.stats()));
      expect(seen.length).toBeGreaterThan(2);
      expect(seen.join('\n')).not.toContain(secret);
      expect(seen.join('\n')).toContain('***');
    } finally {
      await registry.close();
    }
  });
});

describe('PgBouncer admin connection', () => {
  it('its password never appears in checkServer() errors or connect-error events', async () => {
    const server = new FakeServer();
    const secret = 'Adm1n-only-secret';
    server.refuse = new Error(`connection refused for postgres://admin:${secret}@bouncer:6432/pgbouncer`);
    const registry = createPoolRegistry({ Client: server.Client, pgbouncerAdmin: `postgres://admin:${secret}@bouncer:6432/pgbouncer`, services: { auth: { size: 0, overflow: 1 } } });
    try {
      const viaOption = await registry.checkServer().then(() => new Error('checkServer resolved'), (e: unknown) => e as Error);
      // A registry that does not know this password: only the argument tells checkServer() what to remove.
      const other = createPoolRegistry({ Client: server.Client, services: { auth: { size: 0, overflow: 1 } } });
      const viaArgument = await other.checkServer({ pgbouncerAdmin: { connectionString: 'postgres://admin@bouncer/pgbouncer', password: secret } }).then(() => new Error('checkServer resolved'), (e: unknown) => e as Error);
      await other.close();
      for (const error of [viaOption, viaArgument]) {
        expect(error).toBeInstanceOf(Error);
        expect(`${error.message}\n${error.stack}`).not.toContain(secret);
      }
      expect(viaOption.message).toContain('***');
    } finally {
      await registry.close();
    }
  });
});

describe('server probe across instances', () => {
  const rows = [
    // this instance (a): two auth sessions, one blocked by instance c's llm, one queued behind it
    { pid: 1, application_name: 'shop:auth@a', state: 'active', state_ms: 900, blocked_by: [3] },
    { pid: 5, application_name: 'shop:auth@a', state: 'active', state_ms: 800, blocked_by: [1] },
    // another instance's auth, blocked by d's llm: that instance's detector speaks for it
    { pid: 2, application_name: 'shop:auth@b', state: 'active', state_ms: 900, blocked_by: [4] },
    { pid: 3, application_name: 'shop:llm@c', state: 'idle in transaction', state_ms: 5_000, blocked_by: [] },
    { pid: 4, application_name: 'shop:llm@d', state: 'idle in transaction', state_ms: 4_000, blocked_by: [] },
    { pid: 6, application_name: 'shop:llm@c', state: 'active', state_ms: 10, blocked_by: [] },
    { pid: 7, application_name: 'other:llm@c', state: 'active', state_ms: 10, blocked_by: [] },
  ];
  function probeOf(instanceId: string | undefined) {
    const texts: string[] = [];
    const probe = new ServerProbe(
      async () => ({
        query: async (text: string, values?: readonly unknown[]) => {
          texts.push(text);
          if (!text.includes('pg_stat_activity')) return { rows: [] };
          const [prefix, length] = values as [string, number];
          return { rows: rows.filter((r) => r.application_name.slice(0, length) === prefix) };
        },
        end: () => {},
      }),
      'shop',
      ['auth', 'llm'],
      { clock: systemClock, timeoutMs: 1_000, instanceId },
    );
    return { probe, texts };
  }

  it("reports this instance's victims with the blocking service and the instances that hold the locks", async () => {
    const { probe, texts } = probeOf('a');
    const result = await probe.sample(1_000);
    await probe.close();
    expect(result?.blocking).toEqual([
      // (issue 14) the blocking sessions with their state, once each, the chain followed: pid 5 waits behind pid 1
      { victim: 'auth', aggressor: 'llm', sessions: 2, aggressorInstances: ['c'], blockers: [{ pid: 3, state: 'idle in transaction', stateMs: 5_000 }] },
    ]);
    expect(result?.idleInTransaction).toEqual([{ service: 'llm', sessions: 2, longestMs: 5_000, instances: ['c', 'd'] }]);
    expect(result?.holders).toEqual([
      { service: 'auth', instance: 'a', sessions: 2, active: 2 },
      { service: 'llm', instance: 'c', sessions: 2, active: 1 },
      { service: 'auth', instance: 'b', sessions: 1, active: 1 },
      { service: 'llm', instance: 'd', sessions: 1, active: 0 },
    ]);
    // Its statement_timeout is for its own transaction only: nothing stays on a shared server connection.
    expect(texts[0]).toBe('BEGIN READ ONLY; SET LOCAL statement_timeout = 1000');
    expect(texts.at(-1)).toBe('COMMIT');
  });

  it('another instance sees its own victims only', async () => {
    const { probe } = probeOf('b');
    const result = await probe.sample(1_000);
    await probe.close();
    expect(result?.blocking).toEqual([{ victim: 'auth', aggressor: 'llm', sessions: 1, aggressorInstances: ['d'], blockers: [{ pid: 4, state: 'idle in transaction', stateMs: 4_000 }] }]);
  });
});
