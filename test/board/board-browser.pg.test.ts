import { setTimeout as sleep } from 'node:timers/promises';
import type { Page } from 'playwright-core';
import { afterEach, expect, it } from 'vitest';
import { createBoardHandler } from '../../src/board/board-handler';
import { createInterferenceDetector } from '../../src/detector/interference-detector';
import { createPoolRegistry, type PoolRegistry } from '../../src/registry/pool-registry';
import { createUsageTracker } from '../../src/usage/usage-tracker';
import { describePg, pgUrl, uniqueAppName } from '../helpers/pg';
import { waitFor } from '../helpers/wait-for';
import { describeBrowser, launchChromium, outputFile, serveLocal } from './browser';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => {});
});

type Service = 'auth' | 'llm' | 'usage';
const FIELDS = ['inUse', 'idle', 'opening', 'waiting', 'size', 'overflow', 'max', 'sharedInUse'] as const;

/** What the page shows per service, read from the DOM (text of the `data-field` elements and the pills). */
async function shown(page: Page): Promise<Record<string, Record<string, string>>> {
  return page.$$eval('article.svc', (cards, fields) => {
    const out: Record<string, Record<string, string>> = {};
    for (const card of cards) {
      const figures: Record<string, string> = {};
      for (const f of fields) figures[f] = card.querySelector(`[data-field="${f}"]`)?.textContent ?? '';
      figures.pills = [...card.querySelectorAll('h3 .pill')].map((p) => p.textContent ?? '').join(' | ');
      out[card.getAttribute('data-service') ?? '?'] = figures;
    }
    return out;
  }, [...FIELDS]);
}

/** The same figures from `registry.stats()`, as the page should print them. */
function expected(registry: PoolRegistry<Service>): Record<string, Record<string, string>> {
  const stats = registry.stats();
  const out: Record<string, Record<string, string>> = {};
  for (const name of registry.services) {
    const s = stats.services[name];
    const figures: Record<string, number> = { inUse: s.inUse, idle: s.idle, opening: s.total - s.inUse - s.idle, waiting: s.waiting, size: s.guaranteedSize, overflow: s.overflow, max: s.max, sharedInUse: s.sharedInUse };
    out[name] = Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, String(v)]));
  }
  return out;
}

function withoutPills(dom: Record<string, Record<string, string>>): Record<string, Record<string, string>> {
  return Object.fromEntries(Object.entries(dom).map(([k, { pills: _pills, ...rest }]) => [k, rest]));
}

async function polls(page: Page): Promise<number> {
  return Number((await page.getAttribute('body', 'data-polls')) ?? 0);
}

describeBrowser('the bulkhead board in Chromium', () => {
  describePg('on a real PostgreSQL under an llm flood', () => {
    it('shows every service as registry.stats() has it within one refresh, the flood incident with its advice, and its recovery', async () => {
      const applicationName = uniqueAppName('17board');
      const registry = createPoolRegistry({
        connection: pgUrl,
        applicationName,
        windowMs: 1_000,
        maxConnections: 9,
        reserve: 0,
        services: {
          auth: { size: 1, overflow: 2, priority: 'highest', acquireTimeoutMs: 1_500 },
          llm: { size: 1, overflow: 7, priority: 'medium', acquireTimeoutMs: 30_000 },
          usage: { size: 1, overflow: 0, priority: 'low' },
        },
      });
      cleanup.push(() => registry.close({ timeoutMs: 3_000 }));
      const table = `${applicationName.replace(/-/g, '_')}_usage`;
      // Flushes only when asked (no timer, no bucket boundary): a flush takes the usage pool's connection, and the
      // figures must hold still.
      const usage = createUsageTracker({ registry, service: 'usage', table, bucket: 'none', flushIntervalMs: 600_000 });
      await usage.ensureSchema();
      cleanup.push(() => registry.query('usage', `drop table if exists ${table}`));
      cleanup.push(() => usage.close({ timeoutMs: 2_000 }));
      const detector = createInterferenceDetector({ registry, intervalMs: 250, windowMs: 2_000, calmIntervals: 3, serverProbe: false, thresholds: { acquireWaitMs: 100 } });
      detector.start();
      cleanup.push(() => detector.stop());
      const refreshMs = 500;
      const board = createBoardHandler({ registry, detector, usage, refreshMs });
      const server = await serveLocal((req, res) => void board(req, res));
      cleanup.push(server.close);
      const browser = await launchChromium();
      cleanup.push(browser.close);
      const { page } = browser;
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`console: ${m.text()}`);
      });

      usage.increment('tenant-a:login', 3);
      usage.increment('tenant-b:login');
      await usage.flush();
      usage.increment('tenant-c:complete', 2);
      expect((await page.goto(`${server.url}/board`))?.status()).toBe(200);
      await waitFor(async () => (await polls(page)) >= 1, 10_000, 'the first poll');

      // The flood: llm takes its size and every shared slot with long queries, more callers queue behind them.
      let flooding = true;
      let authRunning = false;
      const loops: Promise<void>[] = [];
      cleanup.push(() => {
        flooding = false;
        authRunning = false;
        return Promise.all(loops);
      });
      for (let i = 0; i < 10; i++) {
        loops.push((async () => {
          while (flooding) await registry.query('llm', 'select pg_sleep(2)').catch(() => sleep(20));
        })());
      }
      await waitFor(() => registry.stats().services.llm.inUse === 7 && registry.stats().services.llm.waiting === 3, 10_000, 'llm to hold 7 connections with 3 callers waiting');

      // Every service, as registry.stats() has it, within one refresh: a snapshot taken now must be on the page
      // once a poll that started after it has finished (two more polls at most). A comparison where the registry
      // moved meanwhile (an llm query ending) proves nothing and is taken again.
      let compared = 0;
      for (let attempt = 0; attempt < 10 && compared === 0; attempt++) {
        const before = expected(registry);
        const p0 = await polls(page);
        await waitFor(async () => (await polls(page)) >= p0 + 2, 4 * refreshMs + 5_000, 'two refreshes');
        const dom = await shown(page);
        if (JSON.stringify(expected(registry)) !== JSON.stringify(before)) continue;
        expect(withoutPills(dom)).toEqual(before);
        compared++;
      }
      expect(compared).toBe(1);
      const dom = await shown(page);
      expect(Object.keys(dom)).toEqual(['auth', 'llm', 'usage']);
      expect(dom.auth?.pills).toMatch(/^highest \| protected \| \w+ \| circuit closed$/);
      expect(dom.llm?.pills).toMatch(/^medium \| not protected \| \w+ \| circuit closed$/);
      expect(await page.textContent('[data-field="shared-llm"]')).toBe(String(registry.stats().budget.sharedInUseByService.llm));
      expect(await page.textContent('#budget [data-field="total"]')).toBe('9');
      expect(await page.textContent('#usage [data-field="pendingKeys"]')).toBe('1');
      expect(await page.textContent('#usage [data-field="pendingIncrements"]')).toBe('2');
      expect(await page.textContent('#usage [data-field="lastFlushAge"]')).toMatch(/^\d+ s ago$/);

      // auth needs more than its size while llm holds every shared slot: the incident opens, the page shows it.
      authRunning = true;
      for (let i = 0; i < 3; i++) {
        loops.push((async () => {
          while (authRunning) await registry.query('auth', 'select pg_sleep(0.05)').catch(() => sleep(10));
        })());
      }
      await waitFor(() => detector.incidents().some((i) => i.victim === 'auth' && i.recommendations.length > 0), 10_000, 'the detector to open an incident on auth');
      const card = page.locator('#incidents article.incident[data-victim="auth"]');
      await card.first().waitFor({ timeout: 5_000 });
      await waitFor(async () => {
        const advice = await card.first().locator('ul.advice li').allTextContents();
        const open = detector.incidents().find((i) => i.victim === 'auth');
        return open !== undefined && open.recommendations.every((r) => advice.includes(`${r.text}.`));
      }, 5_000, 'the page to show every recommendation of the open incident');
      const advice = await card.first().locator('ul.advice li').allTextContents();
      expect(advice).toContain('lower llm overflow from 7 to 4.');
      expect(await card.first().getAttribute('data-kind')).toBe('interference');
      expect(await card.first().locator('p.who').textContent()).toMatch(/^auth \(protected\) is the victim; llm \(medium\) holds \d+ connections, \d+ % of all\.$/);
      expect((await card.first().locator('ul.evidence li').allTextContents()).join(' ')).toContain('llm');
      await page.screenshot({ path: await outputFile('board-flood.png'), fullPage: true });

      // Recovery: the flood and auth's load stop; the incident closes and moves to the recent list.
      flooding = false;
      authRunning = false;
      await Promise.all(loops);
      await waitFor(() => detector.incidents().length === 0, 15_000, 'the detector to close the incident');
      await page.locator('#incidents .empty', { hasText: 'No open incident.' }).waitFor({ timeout: 5_000 });
      const closed = page.locator('#recent article.incident.closed[data-victim="auth"]');
      await closed.first().waitFor({ timeout: 5_000 });
      expect(await closed.first().locator('ul.advice li').allTextContents()).toContain('lower llm overflow from 7 to 4.');
      await page.screenshot({ path: await outputFile('board-recovered.png'), fullPage: true });
      expect(problems).toEqual([]);
    }, 90_000);
  });
});
