import { afterEach, expect, it } from 'vitest';
import { createBoardHandler } from '../../src/board/board-handler';
import type { BoardDetector, BoardSnapshot, BoardUsageSource } from '../../src/board/board-snapshot';
import type { Incident } from '../../src/detector/incident';
import { createInterferenceDetector } from '../../src/detector/interference-detector';
import { createUsageTracker } from '../../src/usage/usage-tracker';
import { FakeClock, latency, presetRegistry, ScriptedRegistry } from '../detector/scripted-registry';
import { waitFor } from '../helpers/wait-for';
import { describeBrowser, launchChromium, outputFile, serveLocal, textContrasts } from './browser';

// Functions passed to page.evaluate run in the browser; the project compiles without the DOM library.
declare const window: any;
declare const document: any;
declare function getComputedStyle(element: unknown): { backgroundColor: string };

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => {});
});

/** Each would run script if it were ever parsed as markup: the flag, a dialog or a CSP violation would show it. */
const SCRIPT = `<script>window.__pwned = 'script'</script>`;
const IMG = `"><img src=x onerror="window.__pwned='img';alert(1)">`;
const SVG = `'><svg/onload=alert(2)>`;
const HOSTILE_SERVICE = `x${IMG}`;

function incident(id: string, type: Incident<string>['type'] | undefined, endedAt: number | null): Incident<string> & { query?: string } {
  const saturation = type === 'saturation';
  return {
    id,
    victim: 'auth',
    victimProtected: true,
    type: type ?? 'interference',
    // A saturation here comes with no advice, and the reason why carries hostile text too.
    noRecommendation: saturation ? `nothing to change: ${SCRIPT} ${IMG}` : null,
    aggressors: [{ service: HOSTILE_SERVICE, priority: 'medium', inUse: 6, share: 0.75, blockedSessions: 1, sharedSlots: 0 }],
    signals: [{ kind: 'lock-blocking', service: 'auth', value: 1, threshold: 0, unit: 'count', message: `auth waits on a lock held by: update t set v = '${SCRIPT}' ${IMG}` }],
    kinds: ['lock-blocking'],
    severity: 'critical',
    recommendations: saturation ? [] : [{ kind: 'shorten-transactions', service: HOSTILE_SERVICE, text: `keep ${SVG} transactions short; blocking query: select '${SCRIPT}'` }],
    startedAt: 1_700_000_000_000,
    updatedAt: 1_700_000_001_000,
    endedAt,
    occurrences: 2,
    mitigations: [],
    // A field of an incident kind the board does not know yet: shown generically, as text.
    query: `select '${IMG}'`,
  };
}

describeBrowser('the bulkhead board in Chromium, without a database', () => {
  it('hostile text from outside the library (error messages, query text in evidence, usage keys, service names) is shown as text and never runs', async () => {
    const registry = new ScriptedRegistry({ auth: { size: 2, overflow: 1, priority: 'highest' }, [HOSTILE_SERVICE]: { size: 2, overflow: 4, priority: 'medium' } });
    registry.budgetMax = 10;
    registry.set(HOSTILE_SERVICE, { inUse: 5, waiting: 2, sharedInUse: 3 });
    const real = createInterferenceDetector({ registry, clock: new FakeClock(), serverProbe: false });
    cleanup.push(() => real.stop());
    await real.check();
    const detector: BoardDetector<string> = {
      running: true,
      health: () => ({ ...real.health(), incidents: [incident('auth-1', undefined, null), incident('auth-2', 'saturation', null)] }),
      check: () => real.check(),
      history: () => [incident('auth-0', 'saturation', 1_700_000_002_000)],
      lastConnectionErrors: () => ({ auth: { message: `password authentication failed for user "${SCRIPT}${IMG}"`, code: '28P01', at: 1_700_000_000_000 } }),
    };
    const usage = createUsageTracker({
      sink: async (batch) => {
        throw new Error(`sink refused key ${batch.rows.map((r) => r.key).join(', ')}`);
      },
      flushIntervalMs: 600_000,
    });
    cleanup.push(() => usage.close({ timeoutMs: 10 }));
    usage.increment(`tenant${SCRIPT}${IMG}${SVG}`);
    await usage.flush();
    expect(usage.stats().lastError?.message).toContain(SCRIPT);

    const board = createBoardHandler({ registry, detector, usage, includeErrors: true, refreshMs: 250 });
    const server = await serveLocal((req, res) => void board(req, res));
    cleanup.push(server.close);
    // The hostile text does reach the page's data.
    const json = await (await fetch(`${server.url}/board?format=json`)).text();
    for (const text of [SCRIPT, IMG, SVG]) expect(json).toContain(JSON.stringify(text).slice(1, -1));

    const browser = await launchChromium();
    cleanup.push(browser.close);
    const { page } = browser;
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // Listening from before the page's own script (an init script is not subject to its CSP): any attempt to
    // run injected script would be a violation even if the CSP stopped it, so escaping is checked independently
    // of the CSP.
    await page.addInitScript(() => {
      const w = window as unknown as { __violations: string[] };
      w.__violations = [];
      document.addEventListener('securitypolicyviolation', (e: { violatedDirective: string; sample: string; blockedURI: string }) => w.__violations.push(`${e.violatedDirective} ${e.sample || e.blockedURI}`));
    });
    await page.goto(`${server.url}/board`);
    await waitFor(async () => Number(await page.getAttribute('body', 'data-polls')) >= 3, 10_000, 'three polls');
    // A positive control instead of a pause: an image with an inline handler, added now, is what the hostile text
    // would have become had it been parsed as markup. Its violations (the image's load and its handler, both
    // refused by the CSP) are queued after any an earlier render caused, so once they are seen, nothing the
    // renders did is still on its way; and seeing them shows the listener would have caught the real thing.
    await page.evaluate(() => {
      const w = window as unknown as { __controlFailed: boolean };
      w.__controlFailed = false;
      const img = document.createElement('img');
      img.addEventListener('error', () => (w.__controlFailed = true));
      img.setAttribute('onerror', "window.__pwned='control'");
      img.setAttribute('src', 'control.png');
      img.id = 'control';
      document.body.appendChild(img);
    });
    await page.waitForFunction(() => {
      const w = window as unknown as { __violations: string[]; __controlFailed: boolean };
      return w.__controlFailed && w.__violations.length >= 2;
    }, undefined, { timeout: 10_000 });
    const control = await page.evaluate(() => {
      const w = window as unknown as { __violations: string[] };
      const seen = w.__violations.splice(0);
      document.getElementById('control').remove();
      return seen;
    });
    expect(control.map((v) => v.replace(/http:\/\/[^/]+/, '')).sort()).toEqual(['img-src /control.png', 'script-src-attr inline']);
    const verdict = await page.evaluate(() => ({
      pwned: (window as unknown as { __pwned?: string }).__pwned ?? null,
      violations: (window as unknown as { __violations: string[] }).__violations,
      injected: document.querySelectorAll('img, iframe, object, embed, svg:not(.hist), [onerror], [onload]').length,
      scripts: document.scripts.length,
      text: document.body.textContent ?? '',
      services: [...document.querySelectorAll('article.svc')].map((e: any) => e.getAttribute('data-service')),
      kinds: [...document.querySelectorAll('article.incident')].map((e: any) => e.getAttribute('data-kind')),
    }));
    expect(verdict.pwned).toBeNull();
    expect(dialogs).toEqual([]);
    expect(verdict.violations).toEqual([]);
    expect(verdict.injected).toBe(0);
    expect(verdict.scripts).toBe(2); // the JSON config block and the board's own script
    expect(errors).toEqual([]);
    // …and every piece of it is on the page, literally, as text.
    expect(verdict.services).toEqual(['auth', HOSTILE_SERVICE]);
    expect(verdict.kinds).toEqual(['interference', 'saturation', 'saturation']);
    for (const text of [
      `password authentication failed for user "${SCRIPT}${IMG}"`,
      `sink refused key tenant${SCRIPT}${IMG}${SVG}`,
      `auth waits on a lock held by: update t set v = '${SCRIPT}' ${IMG}.`,
      `No advice: nothing to change: ${SCRIPT} ${IMG}.`,
      `keep ${SVG} transactions short; blocking query: select '${SCRIPT}'.`,
      `query: select '${IMG}'`,
      `${HOSTILE_SERVICE} (medium) holds 6 connections, 75 % of all, blocking 1 sessions.`,
    ]) {
      expect(verdict.text).toContain(text);
    }
    await page.screenshot({ path: await outputFile('board-hostile.png'), fullPage: true });
  }, 60_000);

  it('shows every figure the issue lists as the JSON has it (p95s, timeouts, circuit, budget reserve and waiters by priority, tracker failures and drops), within 1280 px', async () => {
    const registry = presetRegistry();
    registry.budgetMax = 40;
    registry.budgetReserve = 2;
    const clock = new FakeClock();
    const detector = createInterferenceDetector({ registry, clock, serverProbe: false, intervalMs: 1_000 });
    cleanup.push(() => detector.stop());
    detector.start();
    registry.set('llm', { inUse: 23, waiting: 4, sharedInUse: 15, acquireWait: latency(40), queryTime: latency(900), timeouts: 2, errors: 1 });
    registry.set('auth', { inUse: 8, waiting: 3, waitingForShared: 2, acquireWait: latency(350) });
    registry.set('usage', { waitingForShared: 1 });
    await clock.advance(1_000);
    const usage: BoardUsageSource = {
      stats: () => ({
        state: 'open',
        pendingKeys: 7,
        pendingIncrements: 31,
        frozenKeys: 2,
        failedWrites: 3,
        droppedCalls: 1,
        droppedIncrements: 5,
        rejectedCalls: 4,
        quarantinedRows: 2,
        lastFlushAt: clock.wallNow() - 5_000,
        lastError: { message: 'connect ECONNREFUSED db-primary.internal.example:5432', at: clock.wallNow() - 1_000 },
      }),
    };
    const board = createBoardHandler({ registry, detector, usage, clock });
    const server = await serveLocal((req, res) => void board(req, res));
    cleanup.push(server.close);
    const body = (await (await fetch(`${server.url}/board?format=json`)).json()) as BoardSnapshot;
    const browser = await launchChromium();
    cleanup.push(browser.close);
    const { page } = browser;
    await page.goto(`${server.url}/board`);
    await waitFor(async () => Number(await page.getAttribute('body', 'data-polls')) >= 1, 10_000, 'the first poll');

    const ms = (v: number) => `${v >= 100 ? Math.round(v) : Math.round(v * 10) / 10} ms`;
    const field = (scope: string, name: string) => page.textContent(`${scope} [data-field="${name}"]`);
    expect(body.services.map((s) => s.service)).toEqual(['auth', 'extension', 'llm', 'usage']);
    for (const s of body.services) {
      const card = `article.svc[data-service="${s.service}"]`;
      expect(await field(card, 'acquireWaitP95Ms'), s.service).toBe(ms(s.acquireWaitP95Ms));
      expect(await field(card, 'queryTimeP95Ms'), s.service).toBe(ms(s.queryTimeP95Ms));
      expect(await field(card, 'timeouts'), s.service).toBe(String(s.timeouts));
      expect(await field(card, 'errors'), s.service).toBe(String(s.errors));
      expect(await field(card, 'waiting'), s.service).toBe(String(s.waiting));
      expect(await page.locator(`${card} h3 .pill`).allTextContents()).toEqual([s.priority, s.protected ? 'protected' : 'not protected', s.status, `circuit ${s.circuit}`]);
    }
    // The figures are not all zero: the scripted load shows on the page.
    expect(await field('article.svc[data-service="llm"]', 'timeouts')).toBe('2');
    expect(await field('article.svc[data-service="auth"]', 'acquireWaitP95Ms')).not.toBe('0 ms');
    expect(await page.locator('article.svc[data-service="auth"] h3 .pill').allTextContents()).toEqual(['highest', 'protected', 'unhealthy', 'circuit closed']);
    // The shared budget: slots by service, reserve, waiters by priority.
    expect(await field('#budget', 'total')).toBe('40');
    expect(await field('#budget', 'guaranteed')).toBe('18');
    expect(await field('#budget', 'sharedInUse')).toBe('15 of 22');
    expect(await field('#budget', 'reserve')).toBe('2');
    expect(await field('#budget', 'shared-llm')).toBe('15');
    expect(await field('#budget', 'shared-auth')).toBe('0');
    expect(await field('#budget', 'waiting')).toBe('3 (highest 2, high 0, medium 0, low 1)');
    // The usage tracker: pending keys, last flush age, failures, drops; its error message hidden by default.
    expect(await field('#usage', 'state')).toBe('open');
    expect(await field('#usage', 'pendingKeys')).toBe('7 (+2 being written)');
    expect(await field('#usage', 'pendingIncrements')).toBe('31');
    expect(await field('#usage', 'lastFlushAge')).toBe('5 s ago');
    expect(await field('#usage', 'failedWrites')).toBe('3');
    expect(await field('#usage', 'droppedCalls')).toBe('1 (5 increments)');
    expect(await field('#usage', 'poison')).toBe('4 calls / 2 rows');
    expect(await page.textContent('#usage p.err')).toMatch(/^Last write error at .+ \(message hidden: includeErrors is off\)$/);
    expect(await page.textContent('body')).not.toContain('db-primary');
    // The open incident on auth, with its advice.
    const open = body.incidents.find((i) => i.victim === 'auth');
    expect(open?.recommendations.length).toBeGreaterThan(0);
    expect(await page.locator('#incidents article.incident[data-victim="auth"] ul.advice li').allTextContents()).toEqual(open?.recommendations.map((r) => (/[.!?]$/.test(r.text) ? r.text : `${r.text}.`)));
    // Usable at 1280 px: nothing wider than the window.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1280);
    // Readable in light and dark: every text on the page (the scripted figures include unhealthy and degraded
    // services, an open critical incident and a write error) has at least WCAG AA's 4.5:1 contrast.
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      const contrasts = await page.evaluate(textContrasts);
      expect(contrasts.length).toBeGreaterThan(50);
      expect(contrasts.filter((c) => c.ratio < 4.5), scheme).toEqual([]);
    }
    await page.emulateMedia({ colorScheme: 'light' });
    await page.screenshot({ path: await outputFile('board-figures.png'), fullPage: true });
  }, 60_000);

  it('keeps the last figures on screen, marked stale, while the server cannot be reached, then recovers; pauses while hidden; polls at the rate the viewer sets and remembers it', async () => {
    const registry = new ScriptedRegistry({ auth: { size: 2, overflow: 1, priority: 'highest' }, llm: { size: 2, overflow: 6, priority: 'medium' } });
    registry.budgetMax = 10;
    registry.set('llm', { inUse: 3 });
    const detector = createInterferenceDetector({ registry, clock: new FakeClock(), serverProbe: false });
    cleanup.push(() => detector.stop());
    const board = createBoardHandler({ registry, detector, refreshMs: 250, historyMs: 10_000 });
    let down = false;
    const server = await serveLocal((req, res) => {
      if (down && req.url?.includes('format=json')) {
        req.socket.destroy(); // a connection blip: no answer at all
        return;
      }
      void board(req, res);
    });
    cleanup.push(server.close);
    const browser = await launchChromium({ width: 390, height: 844 });
    cleanup.push(browser.close);
    const { page } = browser;
    // The page's timers and Date run on Playwright's clock, paused: a poll starts only when the test moves the
    // clock (or the page polls at once, on load and on becoming visible). Every call of the page's fetch is
    // counted in the page as it is made, so "no poll" is read at once, without waiting for a request that might
    // still be on its way.
    const T0 = Date.parse('2026-01-01T00:00:00Z');
    await page.clock.install({ time: T0 });
    await page.clock.pauseAt(T0 + 1_000);
    await page.addInitScript(() => {
      const w = window as { __fetches: number; fetch: (...args: unknown[]) => unknown };
      const real = w.fetch.bind(window);
      w.__fetches = 0;
      w.fetch = (...args: unknown[]) => {
        w.__fetches++;
        return real(...args);
      };
    });
    const fetches = async () => Number(await page.evaluate(() => (window as { __fetches: number }).__fetches));
    const rendered = async () => Number(await page.getAttribute('body', 'data-polls'));
    /** Moves the page's clock by `ms` and waits for the poll it starts to be on screen. */
    const pollAfter = async (ms: number) => {
      const before = await rendered();
      await page.clock.runFor(ms);
      await waitFor(async () => (await rendered()) === before + 1, 10_000, `a poll rendered ${ms} ms later`);
    };

    await page.goto(`${server.url}/`);
    const llmInUse = page.locator('article.svc[data-service="llm"] [data-field="inUse"]');
    await waitFor(async () => (await rendered()) === 1, 10_000, 'the poll on load');
    // The next poll is due one refresh later, not before.
    await page.clock.runFor(249);
    expect(await fetches()).toBe(1);
    await pollAfter(1);
    await pollAfter(250);
    expect(await fetches()).toBe(3);
    expect(await llmInUse.textContent()).toBe('3');
    expect(await page.textContent('#conn')).toBe('live, every 0.25 s');
    // Usable on a phone: nothing wider than the screen.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);

    down = true;
    registry.set('llm', { inUse: 6 });
    await page.clock.runFor(250);
    await page.locator('body.stale').waitFor({ timeout: 10_000 });
    // The first retry comes after twice the refresh (500 ms), so in 1 s (rounded up); the figures are 250 ms old.
    expect(await page.textContent('#conn')).toBe('connection lost, showing figures from 0 s ago; retrying in 1 s');
    expect(await llmInUse.textContent()).toBe('3'); // the last figures stay
    expect(await rendered()).toBe(3);
    down = false;
    await page.clock.runFor(499);
    expect(await fetches()).toBe(4); // backing off: no retry before its time
    await pollAfter(1);
    expect(await llmInUse.textContent()).toBe('6');
    expect(await page.locator('body.stale').count()).toBe(0);
    expect(await page.textContent('#conn')).toBe('live, every 0.25 s');
    // The history strip is drawn from the samples the page kept: in use went from 3 to 6, so two levels.
    const points = ((await page.getAttribute('article.svc[data-service="llm"] polyline.lu', 'points')) ?? '').split(' ');
    expect(points).toHaveLength(4);
    expect(new Set(points.map((p) => p.split(',')[1])).size).toBe(2);

    // Hidden tab: no poll however long it stays hidden; visible again: a poll at once.
    const setHidden = (hidden: boolean) =>
      page.evaluate((value) => {
        Object.defineProperty(document, 'hidden', { configurable: true, get: () => value });
        document.dispatchEvent(new Event('visibilitychange'));
      }, hidden);
    await setHidden(true);
    expect(await page.textContent('#conn')).toBe('paused (tab hidden)');
    const hiddenAt = await fetches();
    await page.clock.runFor(60_000); // 240 refresh intervals
    expect(await fetches()).toBe(hiddenAt);
    expect(await page.textContent('#conn')).toBe('paused (tab hidden)');
    await setHidden(false);
    expect(await fetches()).toBe(hiddenAt + 1);
    await waitFor(async () => (await rendered()) === 5, 10_000, 'the poll on becoming visible');
    await pollAfter(250);
    // The strip keeps historyMs (10 s here) of samples: the four from before the pause are gone.
    expect(((await page.getAttribute('article.svc[data-service="llm"] polyline.lu', 'points')) ?? '').split(' ')).toHaveLength(2);

    // The viewer's rate: the next poll is due one new interval later, and the rate is kept across reloads.
    await page.selectOption('#rate', '5000');
    const atRate = await fetches();
    await page.clock.runFor(4_999);
    expect(await fetches()).toBe(atRate);
    await pollAfter(1);
    expect(await page.textContent('#conn')).toBe('live, every 5 s');
    await page.reload();
    expect(await page.inputValue('#rate')).toBe('5000');
    // Dark mode follows the system.
    await page.emulateMedia({ colorScheme: 'dark' });
    const dark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await page.emulateMedia({ colorScheme: 'light' });
    const light = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(dark).toBe('rgb(18, 20, 23)');
    expect(light).toBe('rgb(246, 247, 249)');
  }, 60_000);
});
