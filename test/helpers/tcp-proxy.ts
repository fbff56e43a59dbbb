import net from 'node:net';

/** A running fault proxy. Every method is synchronous except `close`. */
export interface TcpProxy {
  /** The loopback port the proxy listens on (127.0.0.1). */
  readonly port: number;
  /** `baseUrl` (for example a `postgres://` connection string) with host and port replaced by the proxy's. */
  url(baseUrl: string): string;
  /** While on, new connections are accepted and reset at once (as if the server were down). Existing ones live on. */
  refuse(on: boolean): void;
  /** While on, no byte moves in either direction (a hung network); data is held and flows again when turned off. */
  stall(on: boolean): void;
  /** Resets every open connection in both directions (a crash or a network cut). New ones are still accepted. */
  cutAll(): void;
  /** Number of connection pairs currently open. */
  readonly open: number;
  /** Cuts everything and stops listening; resolves once the listening socket is closed. Idempotent. */
  close(): Promise<void>;
}

interface Pair {
  readonly client: net.Socket;
  readonly server: net.Socket;
}

function reset(socket: net.Socket): void {
  if (socket.destroyed) return;
  if (typeof socket.resetAndDestroy === 'function' && socket.readyState !== 'opening') socket.resetAndDestroy();
  else socket.destroy();
}

/**
 * Starts a TCP proxy on 127.0.0.1 (never another interface) in front of `host:port`, for fault injection in
 * integration tests: refuse new connections, stall traffic, cut every connection. Every socket it opens is
 * tracked and destroyed by `cutAll`/`close`, so a test leaks nothing.
 * @example
 * const proxy = await startProxy({ host: '127.0.0.1', port: 5432 });
 * const registry = createPoolRegistry({ connection: proxy.url(pgUrl), services: … });
 * proxy.refuse(true); proxy.cutAll();   // the database "goes down"
 * proxy.refuse(false);                  // and comes back
 * await proxy.close();
 */
export async function startProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let refusing = false;
  let stalled = false;
  let closing: Promise<void> | null = null;

  const server = net.createServer((client) => {
    if (refusing || closing !== null) {
      client.on('error', () => {});
      reset(client);
      return;
    }
    const upstream = net.connect({ host: target.host, port: target.port });
    const pair: Pair = { client, server: upstream };
    pairs.add(pair);
    const teardown = (): void => {
      if (!pairs.delete(pair)) return;
      reset(client);
      reset(upstream);
    };
    for (const socket of [client, upstream]) {
      socket.on('error', teardown);
      socket.on('close', teardown);
      socket.setNoDelay(true);
    }
    if (stalled) hold(pair);
    else release(pair);
  });
  server.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;

  // Unpipe as well as pause: pipe() would resume a paused source on its next 'drain'.
  const hold = (pair: Pair): void => {
    pair.client.unpipe(pair.server);
    pair.server.unpipe(pair.client);
    pair.client.pause();
    pair.server.pause();
  };
  const release = (pair: Pair): void => {
    pair.client.pipe(pair.server);
    pair.server.pipe(pair.client);
  };

  const cutAll = (): void => {
    for (const pair of [...pairs]) {
      pairs.delete(pair);
      reset(pair.client);
      reset(pair.server);
    }
  };

  return {
    port,
    url(baseUrl: string): string {
      const url = new URL(baseUrl);
      url.hostname = '127.0.0.1';
      url.port = String(port);
      return url.toString();
    },
    refuse(on: boolean): void {
      refusing = on;
    },
    stall(on: boolean): void {
      if (stalled === on) return;
      stalled = on;
      for (const pair of pairs) (on ? hold : release)(pair);
    },
    cutAll,
    get open(): number {
      return pairs.size;
    },
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        cutAll();
        server.close(() => resolve());
      });
      return closing;
    },
  };
}
