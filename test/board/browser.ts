import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { describe } from 'vitest';

/** Debian's Chromium (`apt-get install chromium`); `.ci/run` installs it when missing. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * `describe` for real-browser suites: skipped on a machine without Chromium, except where a CI run requires the
 * real back ends (`PG_REQUIRED=1`): there a missing browser fails the suite instead of passing it silently.
 */
export const describeBrowser = describe.skipIf(!existsSync(CHROMIUM_PATH) && process.env.PG_REQUIRED !== '1');

/** Screenshots and other files the browser suites leave behind (git-ignored). */
export const OUTPUT_DIR = join(dirname(fileURLToPath(import.meta.url)), 'output');

/** A headless Chromium with a fresh profile: everything a test needs to close it again. */
export interface BrowserSession {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/** Launches Debian's Chromium headless with a fresh `--user-data-dir` (playwright passes it as the profile). */
export async function launchChromium(viewport = { width: 1280, height: 900 }): Promise<BrowserSession> {
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`Chromium not found at ${CHROMIUM_PATH}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  const profile = await mkdtemp(join(tmpdir(), 'pg-bulkhead-17-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    viewport,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    close: async () => {
      await context.close().catch(() => {});
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** Serves a handler on an ephemeral local port; returns its base URL and a close function. */
export async function serveLocal(handler: http.RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Creates the output folder and returns the path of a file in it. */
export async function outputFile(name: string): Promise<string> {
  await mkdir(OUTPUT_DIR, { recursive: true });
  return join(OUTPUT_DIR, name);
}

/** One element's own text, its colour and the background behind it, and their contrast ratio. */
export interface TextContrast {
  readonly ratio: number;
  readonly text: string;
  readonly color: string;
  readonly background: string;
}

/**
 * For `page.evaluate`: the WCAG 2 contrast ratio of every visible element with text of its own against the first
 * opaque background among it and its ancestors, lowest first. (Runs in the browser: no closure, no import.)
 */
export function textContrasts(): TextContrast[] {
  const d = (globalThis as any).document;
  const style = (e: unknown) => (globalThis as any).getComputedStyle(e);
  const rgba = (c: string) => (c.match(/[\d.]+/g) ?? []).map(Number);
  const luminance = ([r = 0, g = 0, b = 0]: number[]) => {
    const f = (v: number) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const out: TextContrast[] = [];
  for (const e of d.querySelectorAll('body *')) {
    const text = [...e.childNodes].filter((n: any) => n.nodeType === 3 && n.textContent.trim() !== '').map((n: any) => n.textContent.trim()).join(' ');
    if (text === '' || e.getClientRects().length === 0) continue;
    let background = 'rgb(255, 255, 255)';
    for (let a = e; a !== null; a = a.parentElement) {
      const c = style(a).backgroundColor;
      const parts = rgba(c);
      if (parts.length === 3 || parts[3] === 1) {
        background = c;
        break;
      }
    }
    const color = style(e).color;
    const [hi, lo] = [luminance(rgba(color)), luminance(rgba(background))].sort((x, y) => y - x);
    out.push({ ratio: Math.round(((hi! + 0.05) / (lo! + 0.05)) * 100) / 100, text: text.slice(0, 40), color, background });
  }
  return out.sort((x, y) => x.ratio - y.ratio);
}
