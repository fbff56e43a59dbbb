import type { HealthReport, LastConnectionError, ServiceHealth } from '../detector/incident';
import { ConfigChecker } from '../options/check';
import { jsonListener, sendJson, type SendJson } from './json-handler';

/** The part of a Node request the handler reads (`http.IncomingMessage`, express' and fastify's raw request fit). */
export interface HealthRequest {
  readonly url?: string;
  readonly method?: string;
}

/** The part of a Node response the handler writes (`http.ServerResponse`, express' response, fastify's `reply.raw`). */
export interface HealthResponse {
  /** HTTP status: 200 healthy or degraded, 503 unhealthy, 400/404/405/500 for bad requests. */
  statusCode: number;
  /** Sets a response header (`content-type`, `cache-control`). */
  setHeader(name: string, value: string): unknown;
  /** Sends the JSON body and ends the response. */
  end(body?: string): unknown;
}

/** What the handler needs from the detector. */
export interface HealthSource<S extends string> {
  /** True between `start()` and `stop()`: the handler then serves the last evaluation instead of evaluating. */
  readonly running: boolean;
  /** The last evaluation. */
  health(): HealthReport<S>;
  /** Evaluates now (when the detector is not running on its own timer). */
  check(): Promise<HealthReport<S>>;
  /** Each service's last connection failure, password removed; read only with `includeErrors: true`. */
  lastConnectionErrors?(): { readonly [K in S]?: LastConnectionError };
}

/** Options of {@link createHealthHandler}. */
export interface HealthHandlerOptions<S extends string> {
  /** Only its `services` are read, to answer `?service=` for names it does not have with 404. */
  readonly registry: { readonly services: readonly S[] };
  readonly detector: HealthSource<S>;
  /**
   * Add each service's last connection error (`lastConnectionError`: message, code, time; `null` when none) to
   * the body. Connection errors name the host, port, user and database (never the password, which the registry
   * removes), so this is off by default: turn it on only where the endpoint is not public.
   * @default false
   */
  readonly includeErrors?: boolean;
}

/** One service in the body: its health, plus its last connection error when the handler has `includeErrors: true`. */
export type HealthBodyService<S extends string> = ServiceHealth<S> & { readonly lastConnectionError?: LastConnectionError | null };

/** The JSON body: the health report, or one service's part of it with that service's incidents. */
export type HealthBody<S extends string> = Pick<HealthReport<S>, 'status' | 'at' | 'incidents' | 'serverProbe'> & {
  readonly services: { readonly [K in S]?: HealthBodyService<S> };
};

const OPTION_KEYS = ['registry', 'detector', 'includeErrors'];

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
 * password, host or user name, or SQL text. With `includeErrors: true` (the host opts in) it adds each service's
 * last connection error, which may name the host, user and database, never the password.
 *
 * @throws ConfigError `ERR_CONFIG` for an unknown option or an `includeErrors` that is not a boolean.
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
  const check = new ConfigChecker();
  if (check.object('', options, OPTION_KEYS)) {
    if (options.includeErrors !== undefined && typeof options.includeErrors !== 'boolean') check.fail('includeErrors', 'a boolean', options.includeErrors);
  }
  check.throwIfAny();
  const { registry, detector } = options;
  const includeErrors = options.includeErrors ?? false;
  return jsonListener(send, answer);

  async function answer(req: HealthRequest, res: HealthResponse, method: string): Promise<void> {
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
    let services: HealthBody<S>['services'] = report.services;
    if (includeErrors) {
      const errors: { readonly [K in S]?: LastConnectionError } = detector.lastConnectionErrors?.() ?? {};
      const withErrors: { [K in S]?: HealthBodyService<S> } = {};
      for (const name of registry.services) {
        const health = report.services[name];
        if (health !== undefined) withErrors[name] = { ...health, lastConnectionError: errors[name] ?? null };
      }
      services = withErrors;
    }
    let body: HealthBody<S> = { ...report, services };
    if (service !== null) {
      const one = report.services[service as S];
      body = {
        status: one.status,
        at: report.at,
        services: { [service]: services[service as S] } as HealthBody<S>['services'],
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

const send: SendJson = (res, status, body, method) => sendJson(res, status, body, method);
