import { expect } from 'vitest';
import { servicePresets, type ServiceOptions } from '../../src/index';
import type { App } from '../../examples/app';

/** A unique table/application prefix per test (letters, digits and _ only). */
export function uniquePrefix(label: string): string {
  return `ex_${label}_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
}

/** The presets with every guaranteed size at 1, so suites sharing one real server stay far below max_connections. */
export const lightPresets = Object.fromEntries(
  Object.entries(servicePresets).map(([name, options]) => [name, { ...options, size: 1 }]),
) as { readonly [K in keyof typeof servicePresets]: ServiceOptions };

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

/** Real HTTP requests against a running example server, checking the real responses and the usage written. */
export async function exerciseServer(url: string, app: App, prefix: string): Promise<void> {
  const login = await post(`${url}/login`, { userId: 1 }, { 'x-tenant': 'acme' });
  expect(login.status).toBe(200);
  expect(await login.json()).toEqual({ user: { id: 1, name: 'ada' } });

  const unknown = await post(`${url}/login`, { userId: 99 }, { 'x-tenant': 'acme' });
  expect(unknown.status).toBe(401);

  const config = await fetch(`${url}/extensions/1/config`);
  expect(config.status).toBe(200);
  expect(await config.json()).toEqual({ config: { theme: 'dark' } });
  expect((await fetch(`${url}/extensions/7/config`)).status).toBe(404);

  const completion = await post(`${url}/llm/complete`, { prompt: 'hello' });
  expect(completion.status).toBe(200);
  expect(await completion.json()).toEqual({ completion: 'echo(hello) from a model that knows 2 users' });

  const health = await fetch(`${url}/health`);
  expect(health.status).toBe(200);
  expect(health.headers.get('content-type')).toMatch(/^application\/json/);
  const report = (await health.json()) as { status: string; services: Record<string, { status: string; priority: string }> };
  expect(['healthy', 'degraded']).toContain(report.status);
  expect(Object.keys(report.services).sort()).toEqual(['auth', 'background', 'extension', 'llm', 'usage']);
  expect(report.services.auth).toMatchObject({ status: 'healthy', priority: 'highest' });
  expect((await fetch(`${url}/health?service=auth`)).status).toBe(200);
  expect((await fetch(`${url}/health?service=nope`)).status).toBe(404);

  const metrics = await fetch(`${url}/metrics`);
  expect(metrics.status).toBe(200);
  expect(metrics.headers.get('content-type')).toContain('version=0.0.4');
  const text = await metrics.text();
  expect(text).toContain(`db_client_connection_max{db_client_connection_pool_name="${app.registry.applicationName}:auth"} ${app.registry.serviceOptions('auth').size + app.registry.serviceOptions('auth').overflow}`);
  expect(text).toMatch(new RegExp(`db_client_connection_use_time_seconds_count\\{db_client_connection_pool_name="${app.registry.applicationName}:llm"\\} [1-9]`));
  expect(text).toContain('pg_bulkhead_usage_pending_keys');

  // The middleware counted each finished request; a flush writes them through the usage pool.
  const flushed = await app.usage.flush();
  expect(flushed.ok).toBe(true);
  const { rows } = await app.registry.query<{ key: string; count: string | number }>('usage', `select key, count from ${prefix}_usage order by key`);
  const counts = Object.fromEntries(rows.map((r) => [r.key, Number(r.count)]));
  expect(counts).toMatchObject({
    'acme:POST /login 200': 1,
    'acme:POST /login 401': 1,
    'anonymous:GET /extensions/:id/config 200': 1,
    'anonymous:GET /extensions/:id/config 404': 1,
    'anonymous:POST /llm/complete 200': 1,
  });
}
