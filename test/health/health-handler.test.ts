import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createInterferenceDetector, type InterferenceDetector } from '../../src/detector/interference-detector';
import { createHealthHandler } from '../../src/health/health-handler';
import { createPoolRegistry } from '../../src/registry/pool-registry';
import { FakeClock, presetRegistry } from '../detector/scripted-registry';
import { FakeServer } from '../helpers/fake-client';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** Test bodies are read loosely. */
async function json(response: Response): Promise<any> {
  return response.json();
}

/** Serves the handler on an ephemeral port, as a host application would. */
async function serve(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function scripted() {
  const registry = presetRegistry();
  const detector = createInterferenceDetector({ registry, clock: new FakeClock(), serverProbe: false });
  cleanup.push(() => detector.stop());
  return { registry, detector, handler: createHealthHandler({ registry, detector }) };
}

describe('createHealthHandler', () => {
  it('answers 200 with JSON when healthy, with every service and its figures', async () => {
    const { handler } = scripted();
    const url = await serve(handler);
    const response = await fetch(`${url}/health`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const body = await json(response);
    expect(body.status).toBe('healthy');
    expect(Object.keys(body.services)).toEqual(['auth', 'extension', 'llm', 'usage']);
    expect(body.services.auth).toMatchObject({ status: 'healthy', utilization: 0, waiting: 0, acquireWaitP95Ms: 0, queryTimeP95Ms: 0, errors: 0, circuit: 'closed', incidents: [] });
  });

  it('answers 200 when degraded and 503 when unhealthy', async () => {
    const { registry, handler } = scripted();
    const url = await serve(handler);
    registry.set('llm', { inUse: 23, waiting: 2 }); // exhausted with callers waiting, not protected: degraded
    let response = await fetch(url);
    expect(response.status).toBe(200);
    expect((await json(response)).status).toBe('degraded');
    registry.set('auth', { connectionErrors: 10 }); // a protected service failing to connect: unhealthy
    response = await fetch(url);
    expect(response.status).toBe(503);
    const body = await json(response);
    expect(body.status).toBe('unhealthy');
    expect(body.incidents.map((i: { victim: string }) => i.victim).sort()).toEqual(['auth', 'llm']);
  });

  it('narrows to one service with ?service=, its status deciding the code; 404 for an unknown one', async () => {
    const { registry, handler } = scripted();
    const url = await serve(handler);
    registry.set('auth', { connectionErrors: 10 });
    const auth = await fetch(`${url}/?service=auth`);
    expect(auth.status).toBe(503);
    const authBody = await json(auth);
    expect(Object.keys(authBody.services)).toEqual(['auth']);
    expect(authBody.incidents).toHaveLength(1);
    const llm = await fetch(`${url}/?service=llm`);
    expect(llm.status).toBe(200);
    expect((await json(llm)).incidents).toEqual([]);
    const unknown = await fetch(`${url}/?service=nope`);
    expect(unknown.status).toBe(404);
    expect((await fetch(url, { method: 'POST' })).status).toBe(405);
  });

  it('serves the last evaluation while the detector runs, so polling does not advance hysteresis', async () => {
    const registry = presetRegistry();
    const clock = new FakeClock();
    const detector: InterferenceDetector<'auth' | 'extension' | 'llm' | 'usage'> = createInterferenceDetector({ registry, clock, serverProbe: false, intervalMs: 1_000 });
    cleanup.push(() => detector.stop());
    detector.start();
    registry.set('auth', { inUse: 8, waiting: 1 });
    await clock.advance(1_000);
    registry.set('auth', { inUse: 0, waiting: 0 });
    const url = await serve(createHealthHandler({ registry, detector }));
    for (let i = 0; i < 5; i++) expect((await fetch(url)).status).toBe(200);
    expect(detector.incidents()).toHaveLength(1);
    expect((await json(await fetch(url))).services.auth.status).toBe('degraded');
  });

  it('never reveals connection strings, passwords, host or user names, or SQL text', async () => {
    const server = new FakeServer();
    server.onQuery = (text) => {
      if (text.includes('secret_table')) throw Object.assign(new Error(`relation "secret_table" does not exist in: ${text}`), { code: '42P01' });
      return { command: 'SELECT', rowCount: 0, oid: 0, rows: [], fields: [] };
    };
    const registry = createPoolRegistry({
      connection: 'postgres://alice_admin:Hunter2Password@db-primary.internal.example:5432/payments',
      Client: server.Client,
      services: { auth: { size: 1, overflow: 0, priority: 'highest', acquireTimeoutMs: 100 }, llm: { size: 1, overflow: 1 } },
    });
    cleanup.push(() => registry.close({ timeoutMs: 100 }));
    const detector = createInterferenceDetector({ registry, thresholds: { failures: 1 }, serverProbe: false });
    cleanup.push(() => detector.stop());
    for (let i = 0; i < 3; i++) await registry.query('auth', 'select password_hash from secret_table where user_name = $1', ['bob']).catch(() => {});
    // SQL errors alone are no incident; connections that fail are, and their errors name the host and user.
    server.refuse = Object.assign(new Error('connect ECONNREFUSED db-primary.internal.example:5432 (user alice_admin, password Hunter2Password)'), { code: 'ECONNREFUSED' });
    server.terminateAll();
    for (let i = 0; i < 3; i++) await registry.query('auth', 'select 1').catch(() => {});
    const url = await serve(createHealthHandler({ registry, detector }));
    const response = await fetch(url);
    const text = await response.text();
    expect(response.status).toBe(503);
    expect(JSON.parse(text).services.auth.errors).toBeGreaterThanOrEqual(3);
    expect(JSON.parse(text).services.auth.connectionErrors).toBeGreaterThanOrEqual(2);
    for (const secret of ['Hunter2Password', 'alice_admin', 'db-primary', 'payments', 'postgres://', 'secret_table', 'password_hash', 'select ', 'bob']) {
      expect(text).not.toContain(secret);
    }
  });

  it("includeErrors: off by default (no error text, host or user); on, each service's last connection error without the password", async () => {
    const server = new FakeServer();
    const registry = createPoolRegistry({
      connection: 'postgres://alice_admin:Hunter2Password@db-primary.internal.example:5432/payments',
      Client: server.Client,
      services: { auth: { size: 1, overflow: 0, priority: 'highest', acquireTimeoutMs: 100 }, llm: { size: 1, overflow: 1 } },
    });
    cleanup.push(() => registry.close({ timeoutMs: 100 }));
    const detector = createInterferenceDetector({ registry, serverProbe: false });
    cleanup.push(() => detector.stop());
    await registry.query('auth', 'select 1');
    server.refuse = Object.assign(new Error('connect ECONNREFUSED db-primary.internal.example:5432 (user alice_admin, password Hunter2Password)'), { code: 'ECONNREFUSED' });
    server.terminateAll();
    for (let i = 0; i < 3; i++) await registry.query('auth', 'select 1').catch(() => {});

    const off = await (await fetch(await serve(createHealthHandler({ registry, detector })))).text();
    for (const hidden of ['lastConnectionError', 'ECONNREFUSED', 'db-primary', 'alice_admin', 'Hunter2Password']) expect(off).not.toContain(hidden);

    const on = await serve(createHealthHandler({ registry, detector, includeErrors: true }));
    const text = await (await fetch(on)).text();
    expect(text).not.toContain('Hunter2Password');
    const auth = JSON.parse(text).services.auth.lastConnectionError;
    expect(auth).toMatchObject({ code: 'ECONNREFUSED', at: expect.any(Number) });
    expect(auth.message).toContain('db-primary.internal.example:5432');
    expect(auth.message).toContain('alice_admin');
    expect(auth.message).toContain('***');
    // narrowed to one service, the error stays with it
    const one = await json(await fetch(`${on}/?service=auth`));
    expect(one.services.auth.lastConnectionError).toEqual(auth);
  });

  it('includeErrors: null for a service that never failed, and a detector without lastConnectionErrors is fine', async () => {
    const { registry, detector } = scripted();
    registry.emit('connect-error', { service: 'llm', error: Object.assign(new Error('connect ETIMEDOUT 10.0.0.7:5432'), { code: 'ETIMEDOUT' }), consecutiveFailures: 1 });
    const body = await json(await fetch(await serve(createHealthHandler({ registry, detector, includeErrors: true }))));
    expect(body.services.auth.lastConnectionError).toBeNull();
    expect(body.services.llm.lastConnectionError).toEqual({ message: 'connect ETIMEDOUT 10.0.0.7:5432', code: 'ETIMEDOUT', at: expect.any(Number) });
    const bare = { running: false, health: () => detector.health(), check: () => detector.check() };
    const plain = await json(await fetch(await serve(createHealthHandler({ registry, detector: bare, includeErrors: true }))));
    expect(plain.services.llm.lastConnectionError).toBeNull();
  });

  it('rejects a non-boolean includeErrors and unknown options with ERR_CONFIG', () => {
    const { registry, detector } = scripted();
    expect(() => createHealthHandler({ registry, detector, includeErrors: 'yes' as never })).toThrow(/includeErrors: expected a boolean, got "yes" \(string\)/);
    expect(() => createHealthHandler({ registry, detector, details: true } as never)).toThrow(/details: unknown option/);
  });

  it('mounts as express and fastify do: a sub-path url, and fastify handing over the raw objects', async () => {
    const { handler } = scripted();
    // express strips the mount path from req.url; fastify passes request.raw / reply.raw after reply.hijack().
    const written: { status?: number; headers: Record<string, string>; body?: string } = { headers: {} };
    const res = {
      statusCode: 0,
      setHeader(name: string, value: string) {
        written.headers[name] = value;
      },
      end(body?: string) {
        written.status = this.statusCode;
        written.body = body;
      },
    };
    await handler({ url: '/?service=usage', method: 'GET' }, res);
    expect(written.status).toBe(200);
    expect(Object.keys(JSON.parse(written.body ?? '{}').services)).toEqual(['usage']);
    await handler({ url: '/', method: 'HEAD' }, res);
    expect(written.body).toBeUndefined();
  });

  it('answers 400 JSON to a request target URL cannot parse, and the server keeps serving', async () => {
    const { handler } = scripted();
    const url = await serve(handler);
    const { port } = new URL(url);
    // node:http passes this request line through untouched; `new URL('//[', base)` throws on it.
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => socket.end('GET //[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (text += chunk));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(raw.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    expect(raw).toContain('application/json; charset=utf-8');
    expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4))).toEqual({ error: 'bad request url' });
    expect((await fetch(url)).status).toBe(200);
  });

  it('never rejects: an unexpected failure answers 500 without details, a broken response is swallowed', async () => {
    const detector = {
      running: true,
      // A report that lacks the asked-for service: reading its status throws a TypeError in the handler.
      health: () => ({ status: 'healthy', at: 0, services: {}, incidents: [], serverProbe: 'off' }) as never,
      check: async () => ({}) as never,
    };
    const handler = createHealthHandler<'auth'>({ registry: { services: ['auth'] }, detector });
    const written: { status?: number; body?: string } = {};
    const res = {
      statusCode: 0,
      setHeader() {},
      end(body?: string) {
        written.status = this.statusCode;
        written.body = body;
      },
    };
    await expect(handler({ url: '/?service=auth', method: 'GET' }, res)).resolves.toBeUndefined();
    expect(written).toEqual({ status: 500, body: JSON.stringify({ error: 'internal error' }) });
    const broken = {
      statusCode: 0,
      setHeader() {
        throw new Error('ERR_HTTP_HEADERS_SENT');
      },
      end() {},
    };
    await expect(handler({ url: '/', method: 'GET' }, broken)).resolves.toBeUndefined();
  });
});
