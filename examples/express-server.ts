/**
 * An express server on pg-bulkhead: the presets, routes that use auth, extension and llm, usage counting in a
 * middleware, /health and /metrics, incidents logged, and a graceful shutdown on SIGTERM.
 *
 *   node --import tsx examples/express-server.ts                      # pg-mem, port 3000
 *   DATABASE_URL=postgres://… PORT=8080 node --import tsx examples/express-server.ts
 *
 *   curl -X POST localhost:3000/login -H 'content-type: application/json' -d '{"userId":1}'
 *   curl localhost:3000/extensions/1/config
 *   curl -X POST localhost:3000/llm/complete -H 'content-type: application/json' -d '{"prompt":"hi"}'
 *   curl localhost:3000/health; curl localhost:3000/metrics
 *   open http://localhost:3000/board                                  # the live bulkhead board
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import express, { type NextFunction, type Request, type Response } from 'express';
import { createBoardHandler } from '../src/index';
import { createApp, statusOf, type AppOptions } from './app';

export async function start(options: AppOptions & { readonly port?: number; readonly host?: string } = {}) {
  const app = await createApp(options);
  const web = express();
  web.use(express.json());

  // Usage counting: one synchronous increment per finished request, written later in batches.
  web.use((req: Request, res: Response, next: NextFunction) => {
    res.on('finish', () => {
      app.count(req.get('x-tenant') ?? 'anonymous', `${req.method} ${req.route?.path ?? 'unmatched'} ${res.statusCode}`);
      // Shutting down: a keep-alive socket would hold server.close() for its idle timeout (seconds); end it now.
      if (closing !== undefined) setImmediate(() => server.closeIdleConnections());
    });
    next();
  });

  web.post('/login', async (req, res) => {
    const user = await app.login(Number(req.body?.userId));
    if (user === null) res.status(401).json({ error: 'unknown user' });
    else res.json({ user });
  });
  web.get('/extensions/:id/config', async (req, res) => {
    const config = await app.extensionConfig(Number(req.params.id));
    if (config === null) res.status(404).json({ error: 'no such extension' });
    else res.json({ config });
  });
  web.post('/llm/complete', async (req, res) => {
    res.json({ completion: await app.complete(String(req.body?.prompt ?? '')) });
  });
  web.get('/health', app.health);
  // The live board: one page polling its own JSON; read-only, no host, user or SQL on it (includeErrors is off).
  web.get('/board', createBoardHandler({ registry: app.registry, detector: app.detector, usage: app.usage }));
  web.get('/metrics', (_req, res) => {
    res.type(app.metrics.contentType).send(app.metrics.body());
  });

  // Express 5 forwards rejected promises here. Saturation is 503 with Retry-After, so clients back off.
  web.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = statusOf(error);
    if (status === 503) res.set('retry-after', '1');
    res.status(status).json({ error: status === 503 ? 'busy, retry later' : 'internal error' });
  });

  const server: Server = await new Promise((resolve) => {
    const s = web.listen(options.port ?? 3000, options.host ?? '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;

  let closing: Promise<void> | undefined;
  /** Stops accepting, lets requests in flight finish, then closes the app (detector, final usage flush, pools). */
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections(); // keep-alive sockets with no request in flight
      });
      await app.close();
    })());

  return { server, url: `http://127.0.0.1:${port}`, app, close };
}

// Run as a script: start, and shut down gracefully on SIGTERM / SIGINT.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const modelMs = process.env.MODEL_MS ? Number(process.env.MODEL_MS) : undefined; // simulated model latency
  const { url, close } = await start({ port: Number(process.env.PORT ?? 3000), prefix: process.env.APP_PREFIX || undefined, modelMs });
  console.log(`listening on ${url}`);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      console.log(`${signal}: shutting down`);
      close().then(
        () => console.log('shutdown complete'),
        (error: unknown) => {
          console.error('shutdown failed', error);
          process.exitCode = 1;
        },
      );
    });
  }
}
