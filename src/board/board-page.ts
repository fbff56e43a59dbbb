import { createHash } from 'node:crypto';
import { BOARD_SCRIPT } from './board-script';
import { BOARD_STYLE } from './board-style';

/** The rendered page and the Content-Security-Policy that allows exactly its inline style and script. */
export interface BoardPage {
  readonly html: string;
  readonly csp: string;
}

/** What the page is built from (all validated by the handler). */
export interface BoardPageOptions {
  readonly title: string;
  readonly refreshMs: number;
  readonly historyMs: number;
}

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/** Escapes text for an HTML text node or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Builds the page once per handler: a static document (the data arrives by polling), so its style and script are
 * allowed by hash and nothing else runs: no `unsafe-inline`, no `eval`, connections to the same origin only.
 */
export function renderBoardPage(options: BoardPageOptions): BoardPage {
  // A JSON data block is never executed; `<` is escaped so no value can close the element.
  const config = JSON.stringify({ refreshMs: options.refreshMs, historyMs: options.historyMs }).replace(/</g, '\\u003c');
  const title = escapeHtml(options.title);
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title}</title>
<style>${BOARD_STYLE}</style>
</head>
<body>
<header>
<h1>${title} <span id="status" class="pill">…</span></h1>
<span id="updated" class="meta"></span>
<span id="conn">connecting…</span>
<label for="rate">refresh</label> <select id="rate"></select>
</header>
<main>
<h2>Services</h2>
<div id="services" class="grid"></div>
<h2>Shared budget</h2>
<div id="budget"></div>
<h2>Open incidents</h2>
<div id="incidents" class="grid"></div>
<h2>Recently closed</h2>
<div id="recent" class="grid"></div>
<h2>Usage tracker</h2>
<div id="usage"></div>
</main>
<script type="application/json" id="board-config">${config}</script>
<script>${BOARD_SCRIPT}</script>
</body>
</html>
`;
  const csp = [
    "default-src 'none'",
    `script-src ${sha256(BOARD_SCRIPT)}`,
    `style-src ${sha256(BOARD_STYLE)}`,
    "connect-src 'self'",
    "img-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { html, csp };
}
