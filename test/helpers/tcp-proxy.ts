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
  /**
   * Adds `ms` of one-way delay to every chunk in both directions, on open and new connections (a slow network);
   * `0` (the default) forwards at once. Order within a connection is kept when the delay changes.
   */
  latency(ms: number): void;
  /** Number of connection pairs currently open. */
  readonly open: number;
  /** Connection attempts reset by `refuse` since the proxy started (each one a client that tried to connect). */
  readonly refused: number;
  /**
   * Local ports of the proxy's open upstream sockets: `client_port` in `pg_stat_activity` of the backends that
   * still have a live client, to tell them from backends orphaned by a cut that the server has not noticed yet.
   */
  upstreamPorts(): Set<number>;
  /** Cuts everything and stops listening; resolves once the listening socket is closed. Idempotent. */
  close(): Promise<void>;
}

interface Pair {
  readonly client: net.Socket;
  readonly server: net.Socket;
  readonly timers: Set<NodeJS.Timeout>;
}

function reset(socket: net.Socket): void {
  if (socket.destroyed) return;
  if (typeof socket.resetAndDestroy === 'function' && socket.readyState !== 'opening') socket.resetAndDestroy();
  else socket.destroy();
}

/**
 * Starts a TCP proxy on 127.0.0.1 (never another interface) in front of `host:port`, for fault injection in
 * integration tests: refuse new connections, stall traffic, cut every connection, add latency. Every socket it opens is
 * tracked and destroyed by `cutAll`/`close`, so a test leaks nothing.
 * @example
 * const proxy = await startProxy({ host: '127.0.0.1', port: 5432 });
 * const registry = createPoolRegistry({ connection: proxy.url(pgUrl), services: … });
 * proxy.refuse(true); proxy.cutAll();   // the database "goes down"
 * proxy.refuse(false);                  // and comes back
 * proxy.latency(50);                     // every chunk now takes 50 ms more each way
 * await proxy.close();
 */
export async function startProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let refusing = false;
  let stalled = false;
  let latencyMs = 0;
  let closing: Promise<void> | null = null;
  let refused = 0;

  const server = net.createServer((client) => {
    if (refusing || closing !== null) {
      if (refusing) refused++;
      client.on('error', () => {});
      reset(client);
      return;
    }
    const upstream = net.connect({ host: target.host, port: target.port });
    const pair: Pair = { client, server: upstream, timers: new Set() };
    pairs.add(pair);
    const teardown = (): void => {
      if (!pairs.delete(pair)) return;
      for (const timer of pair.timers) clearTimeout(timer);
      reset(client);
      reset(upstream);
    };
    for (const socket of [client, upstream]) {
      socket.on('error', teardown);
      socket.on('close', teardown);
      socket.setNoDelay(true);
    }
    forward(pair, client, upstream);
    forward(pair, upstream, client);
    if (stalled) hold(pair);
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

  // Forwarding by hand rather than pipe(): pipe() would resume a stalled source on its next 'drain', and it
  // cannot delay chunks. Each direction delivers in order: a chunk never overtakes the one before it.
  const forward = (pair: Pair, from: net.Socket, to: net.Socket): void => {
    let lastDeliveryAt = 0;
    const deliver = (chunk: Buffer): void => {
      if (to.destroyed) return;
      if (!to.write(chunk) && !from.destroyed) {
        from.pause();
        to.once('drain', () => {
          if (!stalled) from.resume();
        });
      }
    };
    from.on('data', (chunk: Buffer) => {
      const now = Date.now();
      const at = Math.max(now + latencyMs, lastDeliveryAt);
      lastDeliveryAt = at;
      if (at <= now) return deliver(chunk);
      const timer = setTimeout(() => {
        pair.timers.delete(timer);
        deliver(chunk);
      }, at - now);
      pair.timers.add(timer);
    });
    // A half-close (the client's Terminate, then FIN) follows the last delayed chunk.
    from.on('end', () => {
      const wait = lastDeliveryAt - Date.now();
      if (wait <= 0) return void to.end();
      const timer = setTimeout(() => {
        pair.timers.delete(timer);
        to.end();
      }, wait);
      pair.timers.add(timer);
    });
  };
  const hold = (pair: Pair): void => {
    pair.client.pause();
    pair.server.pause();
  };
  const release = (pair: Pair): void => {
    pair.client.resume();
    pair.server.resume();
  };

  const cutAll = (): void => {
    for (const pair of [...pairs]) {
      pairs.delete(pair);
      for (const timer of pair.timers) clearTimeout(timer);
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
    latency(ms: number): void {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`latency: expected a finite number of ms >= 0, got ${ms}`);
      latencyMs = ms;
    },
    get open(): number {
      return pairs.size;
    },
    get refused(): number {
      return refused;
    },
    upstreamPorts(): Set<number> {
      const ports = new Set<number>();
      for (const pair of pairs) if (pair.server.localPort !== undefined && !pair.server.destroyed) ports.add(pair.server.localPort);
      return ports;
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
