/**
 * The board's stylesheet, inlined in the page (allowed by its hash in the Content-Security-Policy). Light by
 * default, dark under `prefers-color-scheme: dark`; one column on a phone, a grid from about 640 px up.
 */
export const BOARD_STYLE = String.raw`
:root{--bg:#f6f7f9;--card:#fff;--fg:#1b1f24;--muted:#5b6470;--line:#d5d9df;--use:#2f6fdb;--idle:#9db7e6;--open:#f0b429;
--wait:#d64545;--ok:#17753f;--warn:#975a16;--bad:#c53030;--track:#e8ebef;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#121417;--card:#1c1f24;--fg:#e6e8eb;--muted:#9aa3ad;--line:#333941;
--use:#5b93f0;--idle:#3c5680;--open:#d69e2e;--wait:#f56565;--ok:#48bb78;--warn:#ecc94b;--bad:#fc8181;--track:#2a2f36}}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;padding:.75rem 1rem;border-bottom:1px solid var(--line);background:var(--card);position:sticky;top:0;z-index:1}
h1{font-size:1.1rem;margin:0 auto 0 0}
h2{font-size:1rem;margin:1.25rem 0 .5rem}
h3{font-size:.95rem;margin:0;display:flex;flex-wrap:wrap;gap:.35rem;align-items:center}
h4{font-size:.9rem;margin:0 0 .25rem}
main{padding:0 1rem 2rem;max-width:1400px;margin:0 auto}
label{color:var(--muted)}
select{font:inherit;color:inherit;background:var(--card);border:1px solid var(--line);border-radius:4px;padding:.1rem .25rem}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:.75rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.75rem;min-width:0;overflow-wrap:anywhere}
.pill{display:inline-block;border-radius:999px;padding:0 .5rem;font-size:.75rem;border:1px solid var(--line);color:var(--muted)}
.s-healthy,.c-closed{color:var(--ok);border-color:var(--ok)}
.s-degraded,.c-half-open,.sev-warning{color:var(--warn);border-color:var(--warn)}
.s-unhealthy,.c-open,.sev-critical{color:var(--bad);border-color:var(--bad)}
.bar{position:relative;display:flex;height:14px;background:var(--track);border-radius:3px;overflow:hidden;margin:.5rem 0 .25rem}
.bar span{display:block;height:100%}
.u{background:var(--use)}.i{background:var(--idle)}.o{background:var(--open)}
.mark{position:absolute;top:0;bottom:0;width:2px;background:var(--fg);opacity:.6}
.legend,.meta{color:var(--muted);font-size:.8rem}
.sw{display:inline-block;width:.7em;height:.7em;border-radius:2px;margin-right:.2em;vertical-align:-.05em}
dl{display:grid;grid-template-columns:auto 1fr;gap:.1rem .75rem;margin:.5rem 0 0}
dt{color:var(--muted)}dd{margin:0;font-variant-numeric:tabular-nums}
.hist{width:100%;height:44px;display:block;margin-top:.5rem;background:var(--track);border-radius:3px}
.hist .lu{stroke:var(--use)}.hist .lw{stroke:var(--wait)}
.hist polyline{fill:none;stroke-width:1.5;vector-effect:non-scaling-stroke}
ul{margin:.25rem 0;padding-left:1.2rem}
.err{color:var(--bad)}
.incident{border-left:4px solid var(--warn)}.incident.critical{border-left-color:var(--bad)}.incident.closed{border-left-color:var(--line)}
#conn{font-size:.8rem;color:var(--muted)}
body.stale #conn{color:var(--bad);font-weight:600}
body.stale main{opacity:.6}
.empty{color:var(--muted)}
@media (max-width:640px){header{position:static}main{padding:0 .5rem 1rem}.grid{grid-template-columns:1fr}}
`;
