import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { createBoardHandler } from '../../src/board/board-handler';
import { createInterferenceDetector } from '../../src/detector/interference-detector';
import { createPoolRegistry } from '../../src/registry/pool-registry';
import { FakeClock, latency, presetRegistry } from '../detector/scripted-registry';
import { FakeServer } from '../helpers/fake-client';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function serve(handler: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>): Promise<string> {
  const server = http.createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Test bodies are read loosely. */
async function json(response: Response): Promise<any> {
  return response.json();
}

function scripted() {
  const registry = presetRegistry();
  registry.budgetMax = 40;
  registry.budgetReserve = 2;
  const clock = new FakeClock();
  const detector = createInterferenceDetector({ registry, clock, serverProbe: false, intervalMs: 1_000 });
  cleanup.push(() => detector.stop());
  return { registry, detector, clock };
}

const usageFigures = {
  state: 'open' as const,
  pendingKeys: 7,
  pendingIncrements: 31,
  frozenKeys: 2,
  failedWrites: 3,
  droppedCalls: 1,
  droppedIncrements: 5,
  rejectedCalls: 4,
  quarantinedRows: 2,
  lastFlushAt: 1_700_000_000_000 - 4_000,
  lastError: { message: 'connect ECONNREFUSED db-primary.internal.example:5432', at: 1_700_000_000_000 - 1_000 },
};

describe('createBoardHandler: the page', () => {
  it('serves one self-contained HTML page whose CSP allows exactly its inline style and script by hash', async () => {
    const { registry, detector } = scripted();
    const response = await fetch(await serve(createBoardHandler({ registry, detector, title: 'Ops <board> & "co"' })));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await response.text();
    const csp = response.headers.get('content-security-policy') ?? '';
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1] ?? '';
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1] ?? '';
    const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
    expect(script.length).toBeGreaterThan(1000);
    expect(csp).toContain(`script-src ${hash(script)}`);
    expect(csp).toContain(`style-src ${hash(style)}`);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    // No external asset, no inline event handler attribute, no eval-like call.
    expect(html).not.toMatch(/\s(src|href)\s*=/i);
    expect(html).not.toMatch(/<[^>]+\son[a-z]+\s*=/i);
    expect(script).not.toMatch(/\beval\(|new Function|innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
    // The host's title is text, not markup.
    expect(html).toContain('<title>Ops &#60;board&#62; &#38; &#34;co&#34;</title>');
    expect(html).toContain('prefers-color-scheme:dark');
    expect(gzipSync(html).length).toBeLessThan(30_000);
  });

  it('GET and HEAD only; any query other than format=json|html answers 400 on both answers', async () => {
    const { registry, detector } = scripted();
    const url = await serve(createBoardHandler({ registry, detector }));
    expect((await fetch(`${url}/?format=html`)).headers.get('content-type')).toBe('text/html; charset=utf-8');
    const head = await fetch(`${url}/board?format=json`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    for (const query of ['?service=auth', '?format=json&x=1', '?format=xml', '?format=json&format=json', '?format=', '?refreshMs=1']) {
      const response = await fetch(`${url}/board${query}`);
      expect(response.status, query).toBe(400);
      expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(await json(response)).toEqual({ error: 'bad request: the board accepts only format=json or format=html' });
    }
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const response = await fetch(`${url}/?format=json`, { method });
      expect(response.status, method).toBe(405);
      expect(response.headers.get('allow')).toBe('GET, HEAD');
    }
  });
});

describe('createBoardHandler: the JSON endpoint', () => {
  it('has every service in configuration order with the registry figures, the budget, incidents and the tracker', async () => {
    const { registry, detector, clock } = scripted();
    detector.start();
    registry.set('llm', { inUse: 23, waiting: 4, sharedInUse: 15, acquireWait: latency(40), queryTime: latency(900), timeouts: 2 });
    registry.set('auth', { inUse: 8, waiting: 3, waitingForShared: 2, acquireWait: latency(350) });
    registry.set('usage', { waitingForShared: 1 });
    await clock.advance(1_000);
    const url = await serve(createBoardHandler({ registry, detector, usage: { stats: () => usageFigures }, clock }));
    const body = await json(await fetch(`${url}/?format=json`));
    const stats = registry.stats();
    expect(body.version).toBe(1);
    expect(body.services.map((s: { service: string }) => s.service)).toEqual(['auth', 'extension', 'llm', 'usage']);
    for (const s of body.services) {
      const st = stats.services[s.service as 'auth'];
      expect(s).toMatchObject({
        priority: st.priority,
        size: st.guaranteedSize,
        overflow: st.overflow,
        max: st.max,
        inUse: st.inUse,
        idle: st.idle,
        opening: st.total - st.inUse - st.idle,
        waiting: st.waiting,
        sharedInUse: st.sharedInUse,
        acquireWaitP95Ms: st.acquireWait.p95,
        queryTimeP95Ms: st.queryTime.p95,
        circuit: st.circuit,
      });
      expect(s).not.toHaveProperty('lastConnectionError');
    }
    const auth = body.services[0];
    expect(auth).toMatchObject({ protected: true, status: 'unhealthy' });
    expect(auth.reasons.length).toBeGreaterThan(0);
    expect(body.services[2]).toMatchObject({ service: 'llm', protected: false, timeouts: 2 });
    expect(body.budget).toEqual({
      total: 40,
      guaranteed: 18,
      shared: 22,
      reserve: 2,
      sharedInUse: 15,
      sharedInUseByService: { auth: 0, extension: 0, llm: 15, usage: 0 },
      waiting: 3,
      waitingByPriority: { highest: 2, high: 0, medium: 0, low: 1 },
    });
    expect(body.incidents.map((i: { victim: string }) => i.victim)).toContain('auth');
    expect(body.incidents[0].recommendations.length).toBeGreaterThan(0);
    expect(body.recentIncidents).toEqual([]);
    expect(body.usage).toEqual({
      state: 'open',
      pendingKeys: 7,
      pendingIncrements: 31,
      frozenKeys: 2,
      failedWrites: 3,
      droppedCalls: 1,
      droppedIncrements: 5,
      rejectedCalls: 4,
      quarantinedRows: 2,
      lastFlushAt: usageFigures.lastFlushAt,
      lastFlushAgeMs: 5_000, // the fake clock's wall time is 1_700_000_001_000 after one interval
      lastError: { at: usageFigures.lastError.at },
    });
  });

  it('lists the newest closed incidents first, at most recentIncidents; usage is null without a tracker', async () => {
    const { registry, detector, clock } = scripted();
    detector.start();
    for (let round = 0; round < 3; round++) {
      registry.set('auth', { inUse: 8, waiting: 2 });
      await clock.advance(1_000);
      registry.set('auth', { inUse: 0, waiting: 0 });
      await clock.advance(5_000); // calm intervals: the incident closes
    }
    expect(detector.history()).toHaveLength(3);
    const url = await serve(createBoardHandler({ registry, detector, recentIncidents: 2 }));
    const body = await json(await fetch(`${url}/?format=json`));
    expect(body.recentIncidents.map((i: { id: string }) => i.id)).toEqual(detector.history().slice(1).reverse().map((i) => i.id));
    expect(body.incidents).toEqual([]);
    expect(body.usage).toBeNull();
  });

  it('never reveals connection strings, passwords, host or user names or SQL; includeErrors opts in to error messages', async () => {
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
    server.refuse = Object.assign(new Error('connect ECONNREFUSED db-primary.internal.example:5432 (user alice_admin, password Hunter2Password)'), { code: 'ECONNREFUSED' });
    server.terminateAll();
    for (let i = 0; i < 3; i++) await registry.query('auth', 'select 1').catch(() => {});
    const usage = { stats: () => ({ ...usageFigures, lastError: { message: 'write to db-primary.internal.example as alice_admin failed', at: 1 } }) };

    const off = await (await fetch(`${await serve(createBoardHandler({ registry, detector, usage }))}/?format=json`)).text();
    expect(JSON.parse(off).services[0].errors).toBeGreaterThanOrEqual(3);
    for (const secret of ['Hunter2Password', 'alice_admin', 'db-primary', 'payments', 'postgres://', 'secret_table', 'password_hash', 'select ', 'bob', 'ECONNREFUSED', 'lastConnectionError']) {
      expect(off).not.toContain(secret);
    }

    const on = await (await fetch(`${await serve(createBoardHandler({ registry, detector, usage, includeErrors: true }))}/?format=json`)).text();
    expect(on).not.toContain('Hunter2Password');
    const body = JSON.parse(on);
    expect(body.services[0].lastConnectionError).toMatchObject({ code: 'ECONNREFUSED', message: expect.stringContaining('alice_admin') });
    expect(body.usage.lastError).toEqual({ at: 1, message: 'write to db-primary.internal.example as alice_admin failed' });
  });

  it('is read-only: only read methods of the registry, detector and tracker are called, and a running detector is never evaluated', async () => {
    const { registry, detector, clock } = scripted();
    detector.start();
    registry.set('llm', { inUse: 23, waiting: 2 });
    await clock.advance(1_000);
    const calls: string[] = [];
    function recording<T extends object>(name: string, target: T): T {
      return new Proxy(target, {
        get(t, key, receiver) {
          const value = Reflect.get(t, key, t);
          if (typeof key !== 'string') return value;
          calls.push(`${name}.${key}`);
          return typeof value === 'function' ? (...args: unknown[]) => (value as (...a: unknown[]) => unknown).apply(t, args) : value;
        },
      });
    }
    const usage = recording('usage', { stats: () => usageFigures, flush: () => calls.push('FLUSHED') });
    const handler = createBoardHandler({ registry: recording('registry', registry), detector: recording('detector', detector), usage, includeErrors: true });
    calls.length = 0;
    const url = await serve(handler);
    const evaluationsBefore = detector.health().at;
    for (let i = 0; i < 3; i++) expect((await fetch(`${url}/?format=json`)).status).toBe(200);
    expect((await fetch(url)).status).toBe(200);
    expect(new Set(calls)).toEqual(new Set(['registry.services', 'registry.stats', 'detector.running', 'detector.health', 'detector.history', 'detector.lastConnectionErrors', 'usage.stats']));
    expect(registry.resizes).toEqual([]);
    expect(detector.health().at).toBe(evaluationsBefore);
    expect(detector.incidents()).toHaveLength(1);
  });

  it('evaluates with check() when the detector is not running, as the health handler does', async () => {
    const { registry, detector } = scripted();
    registry.set('auth', { inUse: 8, waiting: 1 });
    const body = await json(await fetch(`${await serve(createBoardHandler({ registry, detector }))}/?format=json`));
    expect(body.services[0].status).not.toBe('healthy');
    expect(body.incidents.map((i: { victim: string }) => i.victim)).toEqual(['auth']);
  });

  it('never rejects: a failing source answers 503 without details, a broken response is swallowed, a bad target is 400', async () => {
    const { registry, detector } = scripted();
    const broken = { services: registry.services, stats: () => { throw new Error('secret detail Hunter2Password'); } };
    const url = await serve(createBoardHandler({ registry: broken, detector }));
    const response = await fetch(`${url}/?format=json`);
    expect(response.status).toBe(503);
    expect(await response.text()).toBe('{"error":"board snapshot failed"}');
    const handler = createBoardHandler({ registry, detector });
    const res = { statusCode: 0, setHeader: () => { throw new Error('headers already sent'); }, end: () => undefined };
    await expect(handler({ url: '/', method: 'GET' }, res)).resolves.toBeUndefined();
    const written: { status?: number; body?: string } = {};
    const capture = { statusCode: 0, setHeader: () => undefined, end(body?: string) { written.status = this.statusCode; written.body = body; } };
    await handler({ url: '//[', method: 'GET' }, capture);
    expect(written.status).toBe(400);
  });

  it('mounts as express and fastify do: any path, the raw request and response objects', async () => {
    const { registry, detector } = scripted();
    const handler = createBoardHandler({ registry, detector });
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
    await handler({ url: '/ops/board?format=json', method: 'GET' }, res);
    expect(written.status).toBe(200);
    expect(JSON.parse(written.body ?? '{}').services).toHaveLength(4);
    await handler({ url: '/', method: 'GET' }, res);
    expect(written.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(written.body).toContain('<!doctype html>');
  });

  it('rejects bad options with ERR_CONFIG naming each path', () => {
    const { registry, detector } = scripted();
    expect(() => createBoardHandler({ registry, detector, refreshMs: 10, historyMs: 1.5, recentIncidents: -1, includeErrors: 'yes' as never, title: '' })).toThrow(
      /includeErrors: expected a boolean[\s\S]*refreshMs: expected an integer from 250 to 60000, got 10[\s\S]*historyMs: expected an integer[\s\S]*recentIncidents: expected an integer from 0 to 100, got -1[\s\S]*title: expected a string of 1 to 200 characters/,
    );
    expect(() => createBoardHandler({ registry, detector, pollMs: 1 } as never)).toThrow(/pollMs: unknown option/);
    expect(() => createBoardHandler({ registry: {} as never, detector })).toThrow(/registry: expected a registry with stats\(\)/);
    expect(() => createBoardHandler({ registry, detector, refreshMs: 10 })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG', name: 'ConfigError' }));
  });
});
