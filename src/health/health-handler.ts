import type { HealthReport } from '../detector/incident';

/** The part of a Node request the handler reads (`http.IncomingMessage`, express' and fastify's raw request fit). */
export interface HealthRequest {
  readonly url?: string;
  readonly method?: string;
}

/** The part of a Node response the handler writes (`http.ServerResponse`, express' response, fastify's `reply.raw`). */
export interface HealthResponse {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(body?: string): unknown;
}

/** What the handler needs from the detector. */
export interface HealthSource<S extends string> {
  readonly running: boolean;
  health(): HealthReport<S>;
  check(): Promise<HealthReport<S>>;
}

/** Options of {@link createHealthHandler}. */
export interface HealthHandlerOptions<S extends string> {
  /** Only its `services` are read, to answer `?service=` for names it does not have with 404. */
  readonly registry: { readonly services: readonly S[] };
  readonly detector: HealthSource<S>;
}

/** The JSON body: the health report, or one service's part of it with that service's incidents. */
export type HealthBody<S extends string> = Pick<HealthReport<S>, 'status' | 'at' | 'incidents' | 'serverProbe'> & {
  readonly services: Partial<HealthReport<S>['services']>;
};

/**
 * Creates a plain `(req, res)` handler for `node:http` that answers with the detector's health report as
 * JSON: status 200 when `healthy` or `degraded`, 503 when `unhealthy`. `?service=auth` narrows it to one
 * service (its status decides the code); an unknown service answers 404. Only GET and HEAD are allowed (405).
 *
 * While the detector runs, the handler serves its last evaluation (so frequent polling never changes the
 * hysteresis); otherwise it evaluates once per request with `detector.check()`.
 *
 * A request target that cannot be parsed answers 400. The returned promise never rejects: an unexpected failure
 * answers 500 with a body that names no detail, so a hostile request cannot crash the host process.
 *
 * The body holds service names, figures and the detector's own messages only: never a connection string,
 * password, host or user name, or SQL text.
 *
 * @example
 * http.createServer(createHealthHandler({ registry, detector })).listen(9090);
 * app.get('/health', createHealthHandler({ registry, detector }));            // express
 * fastify.get('/health', (request, reply) => {                                 // fastify
 *   reply.hijack();
 *   return handler(request.raw, reply.raw);
 * });
 */
export function createHealthHandler<S extends string>(options: HealthHandlerOptions<S>): (req: HealthRequest, res: HealthResponse) => Promise<void> {
  const { registry, detector } = options;
  // The returned promise never rejects and the handler never throws: `node:http` ignores a listener's promise,
  // so a rejection here would be unhandled and, by default, end the host process.
  return async (req, res) => {
    try {
      await answer(req, res);
    } catch {
      // No detail of the failure in the body: it could carry anything the host's code put in a message.
      try {
        send(res, 500, { error: 'internal error' }, 'GET');
      } catch {
        // The response is unusable (headers already sent, socket gone): nothing left to answer.
      }
    }
  };

  async function answer(req: HealthRequest, res: HealthResponse): Promise<void> {
    const method = typeof req.method === 'string' ? req.method : 'GET';
    if (method !== 'GET' && method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(res, 405, { error: 'method not allowed' }, method);
    }
    const service = serviceParameter(req.url);
    if (service === undefined) return send(res, 400, { error: 'bad request url' }, method);
    if (service !== null && !registry.services.includes(service as S)) {
      return send(res, 404, { error: 'unknown service', services: registry.services }, method);
    }
    let report: HealthReport<S>;
    try {
      report = detector.running ? detector.health() : await detector.check();
    } catch {
      return send(res, 503, { status: 'unhealthy', error: 'health evaluation failed' }, method);
    }
    let body: HealthBody<S> = report;
    if (service !== null) {
      const one = report.services[service as S];
      body = {
        status: one.status,
        at: report.at,
        services: { [service]: one } as Partial<HealthReport<S>['services']>,
        incidents: report.incidents.filter((i) => i.victim === service || i.aggressors.some((a) => a.service === service)),
        serverProbe: report.serverProbe,
      };
    }
    return send(res, body.status === 'unhealthy' ? 503 : 200, body, method);
  }
}

/**
 * The `?service=` parameter of a request target: its value, `null` when absent, `undefined` when the target
 * cannot be parsed (`node:http` passes request lines like `GET //[ HTTP/1.1` through untouched).
 */
function serviceParameter(url: unknown): string | null | undefined {
  try {
    return new URL(typeof url === 'string' ? url : '/', 'http://health.invalid').searchParams.get('service');
  } catch {
    return undefined;
  }
}

function send(res: HealthResponse, status: number, body: unknown, method: string): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('cache-control', 'no-store');
  res.end(method === 'HEAD' ? undefined : JSON.stringify(body));
}
