/**
 * The board's browser script, inlined in the page (allowed by its hash in the Content-Security-Policy).
 *
 * Plain ES2017 for any current browser, no eval, no inline handlers. Everything that comes from the JSON (service
 * names, detector messages, error messages, advice) is put in the page with `textContent` or as an attribute value,
 * never parsed as markup. It polls `<its own path>?format=json` every `refreshMs` (the viewer may change the rate;
 * kept in localStorage), stops while the tab is hidden, and on a failed poll keeps the last figures on screen,
 * marked stale, and retries with a growing delay (at most 30 s).
 */
export const BOARD_SCRIPT = String.raw`(function () {
'use strict';
var cfg = JSON.parse(document.getElementById('board-config').textContent);
var RATES = [1000, 2000, 5000, 10000, 30000];
var KEY = 'pg-bulkhead-board-refresh-ms';
var rate = cfg.refreshMs;
try { var saved = Number(localStorage.getItem(KEY)); if (RATES.indexOf(saved) >= 0) rate = saved; } catch (e) { /* storage off */ }
if (RATES.indexOf(rate) < 0) { RATES.push(rate); RATES.sort(function (a, b) { return a - b; }); }
var endpoint = location.pathname + '?format=json';
var samples = [];
var timer = null, failures = 0, lastOkAt = 0, retryAt = 0, polling = false, polls = 0;
var $ = function (id) { return document.getElementById(id); };

function el(tag, cls, text) {
  var e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function add(parent) { for (var i = 1; i < arguments.length; i++) if (arguments[i]) parent.appendChild(arguments[i]); return parent; }
function num(v) { return typeof v === 'number' && isFinite(v) ? v : 0; }
function ms(v) { v = num(v); return (v >= 100 ? Math.round(v) : Math.round(v * 10) / 10) + ' ms'; }
function pct(v) { return Math.round(num(v) * 100) + ' %'; }
function time(at) { return typeof at === 'number' ? new Date(at).toLocaleTimeString() : 'never'; }
function age(v) { if (typeof v !== 'number') return 'never'; v = Math.max(0, v) / 1000; return v < 60 ? Math.round(v) + ' s ago' : Math.round(v / 60) + ' min ago'; }
function str(v) { return typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v); }
// Service names start many messages ('llm holds …'): their case is kept, only the full stop is added.
function sentence(t) { t = str(t).trim(); return !t || /[.!?]$/.test(t) ? t : t + '.'; }
function fig(name, value) { var e = el('span', null, value); e.setAttribute('data-field', name); return e; }
function pill(text, cls) { return el('span', 'pill ' + (cls || ''), text); }
function row(dl, label, name, value) { add(dl, el('dt', null, label), add(el('dd'), fig(name, value))); }
function list(cls, items) { var ul = el('ul', cls); items.forEach(function (t) { add(ul, el('li', null, t)); }); return ul; }
function hue(i) { return 'hsl(' + ((i * 67 + 210) % 360) + ' 60% 50%)'; }
function svg(tag) { return document.createElementNS('http://www.w3.org/2000/svg', tag); }

function bar(parts, total, markAt) {
  var b = el('div', 'bar');
  b.setAttribute('role', 'img');
  parts.forEach(function (p) {
    var s = el('span', p.cls);
    s.style.width = (total > 0 ? Math.min(100, (100 * num(p.value)) / total) : 0) + '%';
    if (p.color) s.style.background = p.color;
    s.title = p.label + ': ' + num(p.value);
    add(b, s);
  });
  if (markAt !== undefined && total > 0 && markAt < total) {
    var m = el('span', 'mark');
    m.style.left = (100 * markAt) / total + '%';
    m.title = 'size ' + markAt;
    add(b, m);
  }
  b.setAttribute('aria-label', parts.map(function (p) { return p.label + ' ' + num(p.value); }).join(', ') + ' of ' + total);
  return b;
}

function history(name, max) {
  var box = svg('svg');
  box.setAttribute('class', 'hist');
  box.setAttribute('viewBox', '0 0 300 40');
  box.setAttribute('preserveAspectRatio', 'none');
  box.setAttribute('role', 'img');
  box.setAttribute('aria-label', 'in use (blue) and waiting (red), up to the last ' + Math.round(cfg.historyMs / 60000) + ' min');
  if (samples.length === 0) return box;
  // The strip spans what the page has seen (at least 30 s), up to historyMs: a fresh page is not mostly empty.
  var end = samples[samples.length - 1].at, top = Math.max(1, max);
  var span = Math.min(cfg.historyMs, Math.max(30000, end - samples[0].at));
  samples.forEach(function (s) { var v = s.v[name]; if (v) top = Math.max(top, v[0], v[1]); });
  [[0, 'lu'], [1, 'lw']].forEach(function (k) {
    var pts = [];
    samples.forEach(function (s) {
      var v = s.v[name]; if (!v) return;
      var x = 300 - (300 * (end - s.at)) / span;
      pts.push(x.toFixed(1) + ',' + (39 - (37 * v[k[0]]) / top).toFixed(1));
    });
    var line = svg('polyline');
    line.setAttribute('class', k[1]);
    line.setAttribute('points', pts.join(' '));
    box.appendChild(line);
  });
  return box;
}

function service(s, i) {
  var card = el('article', 'card svc');
  card.setAttribute('data-service', str(s.service));
  // The service's colour (the same as its part of the budget bar) is a swatch: as text colour, some hues would be
  // unreadable on a light or a dark card.
  var swatch = el('span', 'sw');
  swatch.style.background = hue(i);
  var name = fig('service', s.service);
  add(card, add(el('h3'), add(el('span'), swatch, name), pill(s.priority, 'prio'), pill(s.protected ? 'protected' : 'not protected'), pill(s.status, 's-' + str(s.status)), pill('circuit ' + str(s.circuit), 'c-' + str(s.circuit))));
  add(card, bar([
    { cls: 'u', value: s.inUse, label: 'in use' },
    { cls: 'i', value: s.idle, label: 'idle' },
    { cls: 'o', value: s.opening, label: 'opening' },
  ], num(s.max), num(s.size)));
  add(card, add(el('div', 'legend'),
    el('span', 'sw u'), document.createTextNode('in use '), fig('inUse', num(s.inUse)),
    document.createTextNode(' · '), el('span', 'sw i'), document.createTextNode('idle '), fig('idle', num(s.idle)),
    document.createTextNode(' · '), el('span', 'sw o'), document.createTextNode('opening '), fig('opening', num(s.opening)),
    document.createTextNode(' of size '), fig('size', num(s.size)), document.createTextNode(' + overflow '), fig('overflow', num(s.overflow)),
    document.createTextNode(' = '), fig('max', num(s.max))));
  var dl = el('dl');
  row(dl, 'waiting', 'waiting', num(s.waiting));
  row(dl, 'acquire wait p95', 'acquireWaitP95Ms', ms(s.acquireWaitP95Ms));
  row(dl, 'query p95', 'queryTimeP95Ms', ms(s.queryTimeP95Ms));
  row(dl, 'timeouts (window)', 'timeouts', num(s.timeouts));
  row(dl, 'errors (window)', 'errors', num(s.errors));
  row(dl, 'shared slots held', 'sharedInUse', num(s.sharedInUse));
  add(card, dl);
  if (s.reasons && s.reasons.length) add(card, list('reasons', s.reasons.map(sentence)));
  if (s.lastConnectionError) add(card, el('p', 'err', 'Last connection error (' + time(s.lastConnectionError.at) + '): ' + str(s.lastConnectionError.message)));
  add(card, history(s.service, num(s.max)));
  return card;
}

function budget(b, services) {
  var card = el('div', 'card');
  var parts = [];
  services.forEach(function (s, i) {
    var n = num(b.sharedInUseByService && b.sharedInUseByService[s.service]);
    parts.push({ value: n, label: str(s.service), color: hue(i) });
  });
  add(card, bar(parts, num(b.shared), undefined));
  var dl = el('dl');
  row(dl, 'connections in all', 'total', num(b.total));
  row(dl, 'guaranteed (sum of sizes)', 'guaranteed', num(b.guaranteed));
  row(dl, 'shared slots in use', 'sharedInUse', num(b.sharedInUse) + ' of ' + num(b.shared));
  row(dl, 'reserve (high and highest only)', 'reserve', num(b.reserve));
  services.forEach(function (s) {
    var n = num(b.sharedInUseByService && b.sharedInUseByService[s.service]);
    var dt = add(el('dt'), el('span', 'sw'), document.createTextNode('held by ' + str(s.service)));
    dt.firstChild.style.background = hue(services.indexOf(s));
    var dd = add(el('dd'), fig('shared-' + str(s.service), n));
    add(dl, dt, dd);
  });
  var w = b.waitingByPriority || {};
  row(dl, 'waiting for a shared slot', 'waiting', num(b.waiting) + ' (highest ' + num(w.highest) + ', high ' + num(w.high) + ', medium ' + num(w.medium) + ', low ' + num(w.low) + ')');
  add(card, dl);
  return card;
}

var KNOWN = ['id', 'kind', 'type', 'noRecommendation', 'victim', 'victimProtected', 'aggressors', 'signals', 'kinds', 'severity', 'recommendations', 'startedAt', 'updatedAt', 'endedAt', 'occurrences', 'mitigations'];
function incident(x, closed) {
  var kind = typeof x.type === 'string' ? x.type : typeof x.kind === 'string' ? x.kind : 'interference';
  var card = el('article', 'card incident' + (x.severity === 'critical' ? ' critical' : '') + (closed ? ' closed' : ''));
  card.setAttribute('data-incident', str(x.id));
  card.setAttribute('data-kind', kind);
  card.setAttribute('data-victim', str(x.victim));
  add(card, add(el('h4'), el('span', null, kind + ' · ' + str(x.victim) + ' '), pill(str(x.severity), 'sev-' + str(x.severity)), closed ? pill('closed') : pill('open')));
  var aggressors = Array.isArray(x.aggressors) ? x.aggressors : [];
  var who = str(x.victim) + (x.victimProtected ? ' (protected)' : '') + ' is the victim';
  who += aggressors.length === 0 ? '; no other service is involved.' : '; ' + aggressors.map(function (a) {
    return str(a.service) + ' (' + str(a.priority) + ') holds ' + num(a.inUse) + ' connections, ' + pct(a.share) + ' of all' + (num(a.blockedSessions) > 0 ? ', blocking ' + num(a.blockedSessions) + ' sessions' : '');
  }).join('; ') + '.';
  add(card, el('p', 'who', who));
  if (Array.isArray(x.kinds) && x.kinds.length) add(card, el('p', 'meta', 'Signals seen: ' + x.kinds.map(str).join(', ') + '.'));
  var signals = Array.isArray(x.signals) ? x.signals : [];
  if (signals.length) { add(card, el('div', 'meta', 'Evidence')); add(card, list('evidence', signals.map(function (s) { return sentence(s && typeof s === 'object' ? s.message : s); }))); }
  var recs = Array.isArray(x.recommendations) ? x.recommendations : [];
  add(card, el('div', 'meta', recs.length ? 'Advice' : 'No advice' + (typeof x.noRecommendation === 'string' ? ': ' + sentence(x.noRecommendation) : '')));
  if (recs.length) add(card, list('advice', recs.map(function (r) { return sentence(r && typeof r === 'object' ? r.text : r); })));
  var other = [];
  Object.keys(x).forEach(function (k) {
    if (KNOWN.indexOf(k) >= 0) return;
    var v = x[k];
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') other.push(k + ': ' + String(v));
    else if (Array.isArray(v) && v.every(function (e) { return typeof e === 'string'; })) other.push(k + ': ' + v.join('; '));
  });
  if (other.length) add(card, list('other', other));
  var mit = Array.isArray(x.mitigations) ? x.mitigations : [];
  if (mit.length) add(card, list('mitigations', mit.map(function (m) { return 'Mitigation at ' + time(m.at) + ': ' + str(m.action) + ' ' + str(m.service) + ' overflow ' + num(m.previous && m.previous.overflow) + ' → ' + num(m.current && m.current.overflow) + '.'; })));
  add(card, el('p', 'meta', 'Since ' + time(x.startedAt) + (closed ? ', closed ' + time(x.endedAt) : ', last seen ' + time(x.updatedAt)) + ' · ' + num(x.occurrences) + ' noisy evaluations · ' + str(x.id)));
  return card;
}

function usage(u) {
  var card = el('div', 'card');
  if (!u) return add(card, el('p', 'empty', 'No usage tracker on this board.'));
  var dl = el('dl');
  row(dl, 'state', 'state', str(u.state));
  row(dl, 'pending keys', 'pendingKeys', num(u.pendingKeys) + (num(u.frozenKeys) > 0 ? ' (+' + num(u.frozenKeys) + ' being written)' : ''));
  row(dl, 'pending increments', 'pendingIncrements', num(u.pendingIncrements));
  row(dl, 'last flush', 'lastFlushAge', age(u.lastFlushAgeMs));
  row(dl, 'failed writes', 'failedWrites', num(u.failedWrites));
  row(dl, 'dropped calls', 'droppedCalls', num(u.droppedCalls) + ' (' + num(u.droppedIncrements) + ' increments)');
  row(dl, 'refused / quarantined', 'poison', num(u.rejectedCalls) + ' calls / ' + num(u.quarantinedRows) + ' rows');
  add(card, dl);
  if (u.lastError) add(card, el('p', 'err', 'Last write error at ' + time(u.lastError.at) + (typeof u.lastError.message === 'string' ? ': ' + u.lastError.message : ' (message hidden: includeErrors is off)')));
  return card;
}

function record(d) {
  var v = {};
  (d.services || []).forEach(function (s) { v[str(s.service)] = [num(s.inUse), num(s.waiting)]; });
  // Times of arrival by the browser's clock: the strip is what this page saw, whatever the server's clock says.
  var now = Date.now();
  samples.push({ at: now, v: v });
  var from = now - cfg.historyMs;
  while (samples.length > 0 && samples[0].at < from) samples.shift();
  if (samples.length > 2000) samples.splice(0, samples.length - 2000);
}

function section(id, nodes, empty) {
  var box = $(id);
  box.replaceChildren.apply(box, nodes.length ? nodes : [el('p', 'empty', empty)]);
}

function render(d) {
  var services = Array.isArray(d.services) ? d.services : [];
  var st = $('status');
  st.textContent = str(d.status);
  st.className = 'pill s-' + str(d.status);
  $('updated').textContent = 'updated ' + time(d.at);
  section('services', services.map(service), 'No services.');
  section('budget', [budget(d.budget || {}, services)], '');
  section('incidents', (d.incidents || []).map(function (x) { return incident(x, false); }), 'No open incident.');
  section('recent', (d.recentIncidents || []).map(function (x) { return incident(x, true); }), 'No closed incident yet.');
  section('usage', [usage(d.usage)], '');
  document.body.setAttribute('data-polls', String(++polls));
  document.body.setAttribute('data-at', String(num(d.at)));
}

function connection() {
  var c = $('conn');
  if (document.hidden) { c.textContent = 'paused (tab hidden)'; return; }
  if (failures === 0) { c.textContent = lastOkAt ? 'live, every ' + rate / 1000 + ' s' : 'connecting…'; document.body.classList.remove('stale'); return; }
  document.body.classList.add('stale');
  var wait = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
  c.textContent = 'connection lost' + (lastOkAt ? ', showing figures from ' + age(Date.now() - lastOkAt) : '') + '; retrying in ' + wait + ' s';
}

function schedule(delay) {
  clearTimeout(timer);
  timer = null;
  if (document.hidden) return;
  retryAt = Date.now() + delay;
  timer = setTimeout(poll, delay);
}

function poll() {
  if (polling || document.hidden) return;
  polling = true;
  var ctrl = typeof AbortController === 'function' ? new AbortController() : null;
  var guard = setTimeout(function () { if (ctrl) ctrl.abort(); }, Math.max(5000, 2 * rate));
  fetch(endpoint, { cache: 'no-store', credentials: 'same-origin', headers: { accept: 'application/json' }, signal: ctrl ? ctrl.signal : undefined })
    .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
    .then(function (d) { failures = 0; lastOkAt = Date.now(); record(d); render(d); schedule(rate); },
      function () { failures++; schedule(Math.min(30000, rate * Math.pow(2, Math.min(failures, 5)))); })
    .then(function () { clearTimeout(guard); polling = false; connection(); });
}

var pick = $('rate');
RATES.forEach(function (r) { var o = el('option', null, r < 1000 ? r + ' ms' : r / 1000 + ' s'); o.value = String(r); if (r === rate) o.selected = true; pick.appendChild(o); });
pick.addEventListener('change', function () {
  rate = Number(pick.value);
  try { localStorage.setItem(KEY, String(rate)); } catch (e) { /* storage off */ }
  if (failures === 0) schedule(rate);
  connection();
});
document.addEventListener('visibilitychange', function () {
  if (document.hidden) { clearTimeout(timer); timer = null; connection(); } else poll();
});
setInterval(connection, 1000);
poll();
})();
`;
