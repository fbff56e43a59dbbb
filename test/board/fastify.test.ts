// The Fastify recipe (docs/recipes.md, and the board handler's JSDoc) run as written in a real Fastify app: /health
// and /board through `reply.hijack()` and the raw request and response, /metrics through `reply.send`, the usage
// hook and the shutdown hook. Requests go through `fastify.inject` (no port).
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createBoardHandler } from '../../src/board/board-handler';
import { createInterferenceDetector } from '../../src/detector/interference-detector';
import { createHealthHandler } from '../../src/health/health-handler';
import { PROMETHEUS_CONTENT_TYPE, toPrometheus } from '../../src/metrics/prometheus';
import { createPoolRegistry } from '../../src/registry/pool-registry';
import { createUsageTracker } from '../../src/usage/usage-tracker';
import { FakeServer, result } from '../helpers/fake-client';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function app() {
  const server = new FakeServer();
  server.onQuery = (text) => result('SELECT', text === 'select 1 as ok' ? [{ ok: 1 }] : []);
  const registry = createPoolRegistry({
    connection: 'postgres://alice:Hunter2Password@db.internal.example:5432/app',
    Client: server.Client,
    applicationName: 'shop',
    services: { auth: { size: 1, overflow: 0, priority: 'highest' }, usage: { size: 1, overflow: 0 } },
  });
  const detector = createInterferenceDetector({ registry, serverProbe: false });
  const usage = createUsageTracker({ registry, service: 'usage', flushIntervalMs: 60_000 });
  const fastify = Fastify();
  const health = createHealthHandler({ registry, detector });
  const board = createBoardHandler({ registry, detector, usage });
  fastify.get('/health', (request, reply) => {
    reply.hijack();
    return health(request.raw, reply.raw);
  });
  fastify.get('/board', (request, reply) => {
    reply.hijack();
    return board(request.raw, reply.raw);
  });
  fastify.get('/metrics', (_request, reply) => reply.type(PROMETHEUS_CONTENT_TYPE).send(toPrometheus({ registry, detector, usage })));
  fastify.get('/login', async () => (await registry.query('auth', 'select 1 as ok')).rows[0]);
  fastify.addHook('onResponse', (request, reply, done) => {
    usage.increment(`${request.routeOptions.url}:${reply.statusCode}`);
    done();
  });
  fastify.addHook('onClose', async () => {
    await detector.stop();
    await usage.close({ timeoutMs: 100 }).catch(() => {}); // nothing to write it to: the fake server has no table
    await registry.close({ timeoutMs: 100 });
  });
  let closed = false;
  cleanup.push(async () => {
    if (!closed) await fastify.close();
  });
  return { fastify, registry, usage, close: async () => ((closed = true), await fastify.close()) };
}

describe('the Fastify recipe, in a real Fastify app', () => {
  it('serves /health, /board (page and JSON) and /metrics, counts usage per route, and closes everything on close', async () => {
    const { fastify, registry, usage, close } = app();
    expect((await fastify.inject({ method: 'GET', url: '/login' })).json()).toEqual({ ok: 1 });

    const health = await fastify.inject({ method: 'GET', url: '/health' });
    expect(health.statusCode).toBe(200);
    expect(health.headers['content-type']).toMatch(/^application\/json/);
    expect(Object.keys(health.json().services)).toEqual(['auth', 'usage']);

    const page = await fastify.inject({ method: 'GET', url: '/board' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.body).toContain('<!doctype html>');
    const json = await fastify.inject({ method: 'GET', url: '/board?format=json' });
    expect(json.statusCode).toBe(200);
    const snapshot = json.json();
    expect(snapshot.services.map((s: { service: string }) => s.service)).toEqual(['auth', 'usage']);
    expect(snapshot.services[0]).toMatchObject({ size: 1, max: 1, idle: registry.stats('auth').idle, inUse: 0, priority: 'highest' });
    expect(json.body).not.toContain('Hunter2Password');
    expect(json.body).not.toContain('db.internal.example');
    expect((await fastify.inject({ method: 'POST', url: '/board' })).statusCode).toBe(404); // only GET is routed
    expect((await fastify.inject({ method: 'GET', url: '/board?debug=1' })).statusCode).toBe(400);

    const metrics = await fastify.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.headers['content-type']).toBe(PROMETHEUS_CONTENT_TYPE);
    expect(metrics.body).toMatch(/^db_client_connection_count\{[^}]*db_client_connection_pool_name="shop:auth"[^}]*\} \d+$/m);

    // the onResponse hook counted each route once per status (the last /metrics response included)
    expect(usage.stats().pendingKeys).toBeGreaterThanOrEqual(4);
    await close();
    expect(registry.closed).toBe(true);
  });
});
