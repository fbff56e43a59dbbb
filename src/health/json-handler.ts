/**
 * What the health and board handlers share: a request listener that answers only GET and HEAD, never throws and
 * never rejects (`node:http` ignores a listener's promise, so a rejection would be unhandled and, by default, end
 * the host process), and JSON bodies that are never cached.
 */
import type { HealthRequest, HealthResponse } from './health-handler';

/** Writes one JSON answer; `HEAD` gets the headers only. */
export type SendJson = (res: HealthResponse, status: number, body: unknown, method: string) => void;

/** Writes `body` as uncached JSON, plus `headers`; for `HEAD`, the headers only. */
export function sendJson(res: HealthResponse, status: number, body: unknown, method: string, headers: Readonly<Record<string, string>> = {}): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('cache-control', 'no-store');
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.end(method === 'HEAD' ? undefined : JSON.stringify(body));
}

/**
 * A listener that refuses methods other than GET and HEAD (405 with `allow`), passes the rest to `answer` with
 * the method, and answers 500 `internal error` when `answer` throws, with no detail of the failure in the body
 * (it could carry anything the host's code put in a message).
 */
export function jsonListener(send: SendJson, answer: (req: HealthRequest, res: HealthResponse, method: string) => Promise<void>): (req: HealthRequest, res: HealthResponse) => Promise<void> {
  return async (req, res) => {
    try {
      const method = typeof req.method === 'string' ? req.method : 'GET';
      if (method !== 'GET' && method !== 'HEAD') {
        res.setHeader('allow', 'GET, HEAD');
        return send(res, 405, { error: 'method not allowed' }, method);
      }
      await answer(req, res, method);
    } catch {
      try {
        send(res, 500, { error: 'internal error' }, 'GET');
      } catch {
        // The response is unusable (headers already sent, socket gone): nothing left to answer.
      }
    }
  };
}
