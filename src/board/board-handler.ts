import { systemClock, type Clock } from '../clock';
import { ConfigChecker } from '../options/check';
import type { HealthRequest, HealthResponse } from '../health/health-handler';
import { jsonListener, sendJson, type SendJson } from '../health/json-handler';
import { renderBoardPage, type BoardPage } from './board-page';
import { buildBoardSnapshot, type BoardDetector, type BoardRegistry, type BoardUsageSource } from './board-snapshot';

/** Options of {@link createBoardHandler}. */
export interface BoardHandlerOptions<S extends string> {
  /** Read through `services` and `stats()` only. */
  readonly registry: BoardRegistry<S>;
  /** Read through `running`, `health()`, `check()`, `history()` (and `lastConnectionErrors()` with `includeErrors`). */
  readonly detector: BoardDetector<S>;
  /** Adds the usage tracker's section (pending keys, last flush age, failures, drops). Without it, left out. */
  readonly usage?: BoardUsageSource;
  /**
   * Show each service's last connection error and the usage tracker's last write error message. They may name
   * the host, port, user and database (never the password, which the registry removes), so this is off by
   * default, as for the health handler: turn it on only where the board is not public.
   * @default false
   */
  readonly includeErrors?: boolean;
  /** How often the page polls at first, ms; the viewer can change it on the page. From 250 to 60000. @default 2000 */
  readonly refreshMs?: number;
  /** How much history the page keeps for its strip, ms (samples live in the browser only). From 10000 to 3600000. @default 300000 */
  readonly historyMs?: number;
  /** Closed incidents shown, newest first. Integer from 0 to 100. @default 5 */
  readonly recentIncidents?: number;
  /** The page's title and heading (plain text, escaped). @default 'pg-bulkhead board' */
  readonly title?: string;
  /** Wall clock for the usage tracker's last-flush age; inject a fake one in tests. @default systemClock */
  readonly clock?: Clock;
}

/** Defaults of {@link createBoardHandler}. */
export const BOARD_DEFAULTS = Object.freeze({
  includeErrors: false,
  refreshMs: 2_000,
  historyMs: 300_000,
  recentIncidents: 5,
  title: 'pg-bulkhead board',
});

const OPTION_KEYS = ['registry', 'detector', 'usage', 'includeErrors', 'refreshMs', 'historyMs', 'recentIncidents', 'title', 'clock'];
/** The only query parameter either answer accepts. */
const FORMATS = ['json', 'html'];

/**
 * Creates a plain `(req, res)` handler that serves the live bulkhead board: one self-contained HTML page (inline
 * CSS and script, no external asset, a strict `Content-Security-Policy` with hashes, light and dark) that polls
 * the same handler's JSON (`?format=json`, a {@link BoardSnapshot}) and shows per service the connections in use,
 * idle and opening against `size` and `size + overflow`, waiters, p95 acquire wait and query time, timeouts in the
 * window, circuit, priority and protection; the shared budget; a history strip kept by the page; open and recent
 * incidents of every kind with their evidence and advice; and the usage tracker. The page pauses while its tab is
 * hidden and keeps the last figures on screen, marked stale, while the server cannot be reached.
 *
 * The handler is read-only (it changes nothing; mitigation stays with the detector) and mounts like
 * {@link createHealthHandler}: on any path (the page polls its own path), GET and HEAD only (405), any query
 * parameter other than `format=json` or `format=html` answers 400, and it never rejects (500 without details).
 * Redaction is the health handler's: no connection string, password, host, user or SQL unless `includeErrors`.
 * Text from outside the library reaches the page as data only and is rendered as text, never as markup.
 *
 * @throws ConfigError `ERR_CONFIG` for an unknown option or one out of range.
 *
 * @example
 * const board = createBoardHandler({ registry, detector, usage });
 * app.get('/board', board);                                                     // express
 * fastify.get('/board', (request, reply) => { reply.hijack(); return board(request.raw, reply.raw); });
 */
export function createBoardHandler<S extends string>(options: BoardHandlerOptions<S>): (req: HealthRequest, res: HealthResponse) => Promise<void> {
  const check = new ConfigChecker();
  if (check.object('', options, OPTION_KEYS)) {
    if (typeof options.registry !== 'object' || options.registry === null || typeof options.registry.stats !== 'function') check.fail('registry', 'a registry with stats()', options.registry);
    if (typeof options.detector !== 'object' || options.detector === null || typeof options.detector.health !== 'function') check.fail('detector', 'a detector with health()', options.detector);
    if (options.usage !== undefined && (typeof options.usage !== 'object' || options.usage === null || typeof options.usage.stats !== 'function')) check.fail('usage', 'a usage tracker with stats()', options.usage);
    if (options.includeErrors !== undefined && typeof options.includeErrors !== 'boolean') check.fail('includeErrors', 'a boolean', options.includeErrors);
    check.integer('refreshMs', options.refreshMs, 250, 60_000);
    check.integer('historyMs', options.historyMs, 10_000, 3_600_000);
    check.integer('recentIncidents', options.recentIncidents, 0, 100);
    if (options.clock !== undefined && (typeof options.clock !== 'object' || options.clock === null || typeof options.clock.wallNow !== 'function')) check.fail('clock', 'a clock with wallNow()', options.clock);
    if (options.title !== undefined && (typeof options.title !== 'string' || options.title.length === 0 || options.title.length > 200)) check.fail('title', 'a string of 1 to 200 characters', options.title);
  }
  check.throwIfAny();
  const { registry, detector, usage } = options;
  const clock = options.clock ?? systemClock;
  const includeErrors = options.includeErrors ?? BOARD_DEFAULTS.includeErrors;
  const recentIncidents = options.recentIncidents ?? BOARD_DEFAULTS.recentIncidents;
  const page: BoardPage = renderBoardPage({
    title: options.title ?? BOARD_DEFAULTS.title,
    refreshMs: options.refreshMs ?? BOARD_DEFAULTS.refreshMs,
    historyMs: options.historyMs ?? BOARD_DEFAULTS.historyMs,
  });

  return jsonListener(send, answer);

  async function answer(req: HealthRequest, res: HealthResponse, method: string): Promise<void> {
    const format = formatOf(req.url);
    if (format === undefined) return send(res, 400, { error: 'bad request: the board accepts only format=json or format=html' }, method);
    if (format === 'html') {
      res.statusCode = 200;
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.setHeader('cache-control', 'no-store');
      res.setHeader('content-security-policy', page.csp);
      res.setHeader('x-content-type-options', 'nosniff');
      res.setHeader('referrer-policy', 'no-referrer');
      res.setHeader('x-frame-options', 'DENY');
      res.end(method === 'HEAD' ? undefined : page.html);
      return;
    }
    let body;
    try {
      body = await buildBoardSnapshot({ registry, detector, usage, includeErrors, recentIncidents, now: () => clock.wallNow() });
    } catch {
      return send(res, 503, { error: 'board snapshot failed' }, method);
    }
    return send(res, 200, body, method);
  }
}

/**
 * `json` or `html` for a request target with no query or only `format=json|html`; `undefined` for anything
 * else (an unknown or repeated parameter, a target URL cannot parse).
 */
function formatOf(url: unknown): 'json' | 'html' | undefined {
  let params: URLSearchParams;
  try {
    params = new URL(typeof url === 'string' ? url : '/', 'http://board.invalid').searchParams;
  } catch {
    return undefined;
  }
  const keys = [...params.keys()];
  if (keys.length === 0) return 'html';
  if (keys.length !== 1 || keys[0] !== 'format') return undefined;
  const value = params.get('format') ?? '';
  return FORMATS.includes(value) ? (value as 'json' | 'html') : undefined;
}

/** JSON answers of the board, which also forbid content sniffing, as its page does. */
const send: SendJson = (res, status, body, method) => sendJson(res, status, body, method, { 'x-content-type-options': 'nosniff' });
