/**
 * The express example's wiring with node:http alone: same routes, usage counting, /health, /metrics and SIGTERM
 * shutdown. `node --import tsx examples/node-http.ts` (pg-mem; set DATABASE_URL for a real server, PORT for the port).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { createApp, statusOf, type AppOptions } from './app';

async function json(req: IncomingMessage): Promise<Record<string, unknown>> {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body === '' ? {} : (JSON.parse(body) as Record<string, unknown>);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

export async function start(options: AppOptions & { readonly port?: number } = {}) {
  const app = await createApp(options);
  const server = createServer(async (req, res) => {
    const { pathname } = new URL(req.url ?? '/', 'http://localhost');
    const extension = /^\/extensions\/(\d+)\/config$/.exec(pathname);
    res.on('finish', () => {
      app.count(String(req.headers['x-tenant'] ?? 'anonymous'), `${req.method} ${extension ? '/extensions/:id/config' : pathname} ${res.statusCode}`);
      // Shutting down: a keep-alive socket would hold server.close() for its idle timeout (seconds); end it now.
      if (closing !== undefined) setImmediate(() => server.closeIdleConnections());
    });
    try {
      if (req.method === 'POST' && pathname === '/login') {
        const user = await app.login(Number((await json(req)).userId));
        return user === null ? send(res, 401, { error: 'unknown user' }) : send(res, 200, { user });
      }
      if (req.method === 'GET' && extension) {
        const config = await app.extensionConfig(Number(extension[1]));
        return config === null ? send(res, 404, { error: 'no such extension' }) : send(res, 200, { config });
      }
      if (req.method === 'POST' && pathname === '/llm/complete') return send(res, 200, { completion: await app.complete(String((await json(req)).prompt ?? '')) });
      if (pathname === '/health') return await app.health(req, res);
      if (pathname === '/metrics') return void res.writeHead(200, { 'content-type': app.metrics.contentType }).end(app.metrics.body());
      send(res, 404, { error: 'not found' });
    } catch (error) {
      const status = statusOf(error);
      send(res, status, { error: status === 503 ? 'busy, retry later' : 'internal error' });
    }
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 3000, '127.0.0.1', resolve));
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    }).then(() => app.close()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, app, close };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { url, close } = await start({ port: Number(process.env.PORT ?? 3000) });
  console.log(`listening on ${url}`);
  process.once('SIGTERM', () => void close().then(() => console.log('shutdown complete')));
}
