import { describe, expect, it, vi } from 'vitest';
import { createInterferenceDetector, createPoolRegistry, isBulkheadError, toPrometheus, type ConnectErrorEvent, type RemoveEvent, type ServiceOptions } from '../../src/index';
import { FakeServer, result, type FakeClient } from '../helpers/fake-client';
import { advance } from '../helpers/fake-time';
import { useFakeRegistries } from '../helpers/fake-registries';

const track = useFakeRegistries();

function setup(api: ServiceOptions, extra: { connectTimeoutMs?: number } = {}) {
  const server = new FakeServer();
  const registry = createPoolRegistry({ Client: server.Client, applicationName: 'cs', breaker: { failureThreshold: 1_000 }, services: { api }, ...extra });
  track(registry);
  return { server, registry };
}

describe('onConnect', () => {
  it('runs once on every new connection, awaited, before it is handed out and before the connect event; not on reuse', async () => {
    const order: string[] = [];
    const { registry, server } = setup({
      size: 0,
      overflow: 2,
      onConnect: async (client) => {
        order.push('hook start');
        await new Promise((resolve) => setTimeout(resolve, 50));
        await client.query('set search_path to app');
        order.push('hook done');
      },
    });
    registry.on('connect', () => order.push('connect event'));
    const pending = registry.acquire('api').then((lease) => {
      order.push('leased');
      return lease;
    });
    await advance(49);
    expect(order).toEqual(['hook start']);
    await advance(1);
    const lease = await pending;
    expect(order).toEqual(['hook start', 'hook done', 'connect event', 'leased']);
    await lease.query('select 1');
    lease.release();
    (await registry.acquire('api')).release();
    expect((server.clients[0] as FakeClient).queries).toEqual(['set search_path to app', 'select 1']);
    expect(order.filter((step) => step === 'hook start')).toHaveLength(1);
    // the hook's own query is not counted as the service's work
    expect(registry.stats('api').queryTime.count).toBe(1);
  });

  it('a hook that throws or rejects fails that connection like a failed connect: counted, evented, closed, never handed out', async () => {
    let calls = 0;
    const { registry, server } = setup({
      size: 0,
      overflow: 1,
      acquireTimeoutMs: 2_000,
      onConnect: (client) => {
        calls++;
        if (calls === 1) throw new Error('role app does not exist');
        return Promise.reject(new Error('search_path failed'));
      },
    });
    const events: ConnectErrorEvent[] = [];
    registry.on('connect-error', (event) => events.push(event));
    const leased = vi.fn();
    const pending = registry
      .acquire('api')
      .then(leased)
      .catch((e: unknown) => e);
    await advance(2_000);
    const error = await pending;
    expect(leased).not.toHaveBeenCalled();
    expect(isBulkheadError(error, 'ERR_ACQUIRE_TIMEOUT')).toBe(true);
    expect((error as Error).cause).toMatchObject({ message: expect.stringMatching(/search_path failed|role app/) });
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(events[0]?.error.message).toBe('role app does not exist');
    expect(events[1]?.error.message).toBe('search_path failed');
    const stats = registry.stats('api');
    expect(stats.connectionErrors).toBe(events.length);
    expect(stats.consecutiveConnectFailures).toBe(events.length);
    expect(stats).toMatchObject({ created: 0, total: 0, inUse: 0 });
    // every client the hook failed on was closed
    expect(server.clients.length).toBe(calls);
    expect(server.open()).toHaveLength(0);
  });

  it('enough hook failures open the circuit breaker, as failed connects do', async () => {
    const server = new FakeServer();
    const registry = createPoolRegistry({
      Client: server.Client,
      breaker: { failureThreshold: 2, initialBackoffMs: 100, maxBackoffMs: 1_000 },
      services: { api: { size: 0, overflow: 1, acquireTimeoutMs: 5_000, onConnect: () => Promise.reject(new Error('setup failed')) } },
    });
    track(registry);
    const pending = registry.acquire('api').catch((e: unknown) => e);
    await advance(1_000);
    expect(registry.stats('api').circuit).toBe('open');
    expect(isBulkheadError(await pending, 'ERR_DATABASE_UNAVAILABLE')).toBe(true);
  });

  it('a hook that never settles is given up after connectTimeoutMs, and its connection closed', async () => {
    const { registry, server } = setup({ size: 0, overflow: 1, acquireTimeoutMs: 3_000, onConnect: () => new Promise(() => {}) }, { connectTimeoutMs: 500 });
    const events: ConnectErrorEvent[] = [];
    registry.on('connect-error', (event) => events.push(event));
    const pending = registry.acquire('api').catch((e: unknown) => e);
    await advance(500);
    expect(events[0]?.error).toMatchObject({ code: 'ERR_CONNECT_TIMEOUT', message: expect.stringContaining('onConnect') });
    expect(server.clients[0]?.ended).toBe(true);
    await advance(3_000);
    expect(isBulkheadError(await pending, 'ERR_ACQUIRE_TIMEOUT')).toBe(true);
  });

  it('onConnect that is not a function is ERR_CONFIG naming the option', () => {
    const server = new FakeServer();
    expect(() => createPoolRegistry({ Client: server.Client, services: { api: { onConnect: 'set role app' as never } } })).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG', problems: [expect.objectContaining({ path: 'services.api.onConnect' })] }),
    );
    expect(server.connectAttempts).toBe(0);
  });
});

describe('maxUses', () => {
  it('closes a connection after it was leased maxUses times (reason recycled) and opens a fresh one when needed', async () => {
    const { registry, server } = setup({ size: 1, overflow: 0, maxUses: 3 });
    const removed: RemoveEvent[] = [];
    registry.on('remove', (event) => removed.push(event));
    const ids: number[] = [];
    for (let i = 0; i < 7; i++) {
      const lease = await registry.acquire('api');
      ids.push(lease.connectionId);
      lease.release();
      await advance();
    }
    expect(ids[0]).toBe(ids[2]);
    expect(ids[3]).not.toBe(ids[2]);
    expect(ids[3]).toBe(ids[5]);
    expect(ids[6]).not.toBe(ids[5]);
    expect(removed.map((e) => e.reason)).toEqual(['recycled', 'recycled']);
    expect(server.clients.filter((c) => c.ended)).toHaveLength(2);
  });

  it('maxUses <= 0, fractional or not a number is ERR_CONFIG naming the option; Infinity is allowed', () => {
    const server = new FakeServer();
    for (const bad of [0, -1, 1.5, '10', Number.NaN]) {
      expect(() => createPoolRegistry({ Client: server.Client, services: { api: { maxUses: bad as number } } })).toThrow(
        expect.objectContaining({ code: 'ERR_CONFIG', problems: [expect.objectContaining({ path: 'services.api.maxUses' })] }),
      );
    }
    const ok = createPoolRegistry({ Client: server.Client, services: { api: { size: 0, maxUses: Number.POSITIVE_INFINITY } } });
    track(ok);
    expect(ok.serviceOptions('api').maxUses).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('queries on the raw client are seen', () => {
  it('withClient, transaction and the pg.Pool view: every query on the raw client counts in queryTime, failures in errors', async () => {
    const { registry, server } = setup({ size: 1, overflow: 0 });
    server.onQuery = async (text) => {
      if (text.startsWith('slow')) await new Promise((resolve) => setTimeout(resolve, 500));
      if (text === 'bad') throw Object.assign(new Error('boom'), { code: '42P01' });
      return result();
    };
    await registry.withClient('api', async (client) => {
      const slow = client.query('slow 1');
      await advance(500);
      await slow;
      await client.query('select 2');
    });
    await registry
      .transaction('api', async (client) => {
        await client.query('select 3');
        await client.query('bad');
      })
      .catch(() => {});
    const viewClient = await registry.pgPool('api').connect();
    const slow = viewClient.query('slow 2');
    await advance(500);
    await slow;
    viewClient.release();
    const stats = registry.stats('api');
    // withClient 2, transaction BEGIN + 2 + ROLLBACK, view 1
    expect(stats.queryTime.count).toBe(7);
    expect(stats.queryTime.max).toBeGreaterThanOrEqual(500);
    expect(stats.errors).toBe(1);
  });

  it("the detector's health sees them: 500 ms queries on withClient's raw client give queryTimeP95Ms ≈ 500, not 0", async () => {
    const { registry, server } = setup({ size: 2, overflow: 0 });
    server.onQuery = async () => {
      await new Promise((resolve) => setTimeout(resolve, 500));
      return result();
    };
    const detector = createInterferenceDetector({ registry, serverProbe: false });
    try {
      for (let i = 0; i < 4; i++) {
        const call = registry.withClient('api', (client) => client.query('select model_call()'));
        await advance(500);
        await call;
      }
      await detector.check();
      expect(detector.health().services.api.queryTimeP95Ms).toBeGreaterThanOrEqual(500);
    } finally {
      await detector.stop();
    }
  });

  it("the detector's slow-queries rule and the metrics see them: 500 ms queries only on raw clients (withClient, the pg.Pool view) open a slow-queries incident and show in query_time_p95", async () => {
    const { registry, server } = setup({ size: 2, overflow: 0 });
    server.onQuery = async () => {
      await new Promise((resolve) => setTimeout(resolve, 500));
      return result();
    };
    const detector = createInterferenceDetector({ registry, serverProbe: false, thresholds: { slowQueryMs: 200 } });
    try {
      for (let i = 0; i < 2; i++) {
        const call = registry.withClient('api', (client) => client.query('select model_call()'));
        await advance(500);
        await call;
        const client = await registry.pgPool('api').connect();
        const viaView = client.query('select model_call()');
        await advance(500);
        await viaView;
        client.release();
      }
      await detector.check();
      const incident = detector.incidents().find((i) => i.victim === 'api');
      expect(incident?.signals).toContainEqual(expect.objectContaining({ kind: 'slow-queries', service: 'api', threshold: 200 }));
      const p95 = /^pg_bulkhead_query_time_p95_seconds\{db_client_connection_pool_name="cs:api"\} (\S+)$/m.exec(toPrometheus({ registry, detector }));
      expect(Number(p95?.[1])).toBeGreaterThanOrEqual(0.5);
    } finally {
      await detector.stop();
    }
  });

  it('a connection-level failure of a raw-client query marks the connection; it is destroyed on release', async () => {
    const { registry, server } = setup({ size: 1, overflow: 0 });
    server.onQuery = (text) => {
      if (text === 'die') throw Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
      return result();
    };
    const removed: RemoveEvent[] = [];
    registry.on('remove', (event) => removed.push(event));
    const lease = await registry.acquire('api');
    await expect(lease.client.query('die')).rejects.toMatchObject({ code: '57P01' });
    lease.release();
    await advance();
    expect(removed.map((e) => e.reason)).toEqual(['broken']);
    expect(registry.stats('api')).toMatchObject({ connectionErrors: 1, errors: 1 });
  });
});
