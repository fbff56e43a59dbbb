/**
 * A strict parser for the Prometheus text exposition format 0.0.4, written from the specification
 * (prometheus.io/docs/instrumenting/exposition_formats) for the tests: it throws on anything a Prometheus server
 * would reject, and on the histogram and grouping rules that servers check later (cumulative buckets, a `+Inf`
 * bucket equal to `_count`, one contiguous group per family, no duplicate series).
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help: string | undefined;
  readonly samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(text: string, line: number): number {
  if (text === 'NaN') return Number.NaN;
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw new Error(`line ${line}: invalid value ${JSON.stringify(text)}`);
  return Number(text);
}

function unescape(text: string, allowed: string, line: number): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const next = text[++i];
    if (next === undefined || !allowed.includes(next)) throw new Error(`line ${line}: invalid escape \\${next ?? ''}`);
    out += next === 'n' ? '\n' : next;
  }
  return out;
}

/** The family a sample belongs to: histogram/summary samples carry a suffix. */
function familyOf(name: string, families: Map<string, Family>): Family | undefined {
  const direct = families.get(name);
  if (direct !== undefined) return direct;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const base = families.get(name.slice(0, -suffix.length));
    if (base !== undefined && (base.type === 'histogram' || (base.type === 'summary' && suffix !== '_bucket'))) return base;
  }
  return undefined;
}

export function parseExposition(text: string): Map<string, Family> {
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('the exposition must end with a line feed');
  const families = new Map<string, Family>();
  const finished = new Set<string>();
  const series = new Set<string>();
  let current: Family | undefined;
  const lines = text.split('\n');
  lines.pop();
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '') return;
    if (raw.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(raw);
      if (m === null) return; // a plain comment
      const [, keyword, name = '', rest = ''] = m;
      if (!METRIC_NAME.test(name) || (METRIC_NAME.exec(name) as RegExpExecArray)[0] !== name) throw new Error(`line ${line}: invalid metric name ${name}`);
      let family = families.get(name);
      if (family === undefined) {
        if (finished.has(name)) throw new Error(`line ${line}: ${name} appears in two groups`);
        family = { name, type: 'untyped', help: undefined, samples: [] };
        families.set(name, family);
      }
      if (family.samples.length > 0) throw new Error(`line ${line}: ${keyword} for ${name} after its samples`);
      if (keyword === 'TYPE') {
        if (family.type !== 'untyped' || (family as { typed?: boolean }).typed) throw new Error(`line ${line}: second TYPE for ${name}`);
        if (!TYPES.has(rest)) throw new Error(`line ${line}: unknown type ${rest}`);
        family.type = rest as Family['type'];
        (family as { typed?: boolean }).typed = true;
      } else {
        if (family.help !== undefined) throw new Error(`line ${line}: second HELP for ${name}`);
        family.help = unescape(rest, '\\n', line);
      }
      if (current !== undefined && current !== family) finished.add(current.name);
      current = family;
      return;
    }
    const nameMatch = METRIC_NAME.exec(raw);
    if (nameMatch === null) throw new Error(`line ${line}: no metric name`);
    const name = nameMatch[0];
    let pos = name.length;
    const labels: Record<string, string> = {};
    if (raw[pos] === '{') {
      pos++;
      for (;;) {
        if (raw[pos] === '}') {
          pos++;
          break;
        }
        const labelMatch = LABEL_NAME.exec(raw.slice(pos));
        if (labelMatch === null) throw new Error(`line ${line}: invalid label name at ${pos}`);
        const label = labelMatch[0];
        if (label.startsWith('__')) throw new Error(`line ${line}: reserved label ${label}`);
        if (label in labels) throw new Error(`line ${line}: duplicate label ${label}`);
        pos += label.length;
        if (raw[pos] !== '=' || raw[pos + 1] !== '"') throw new Error(`line ${line}: expected ="`);
        pos += 2;
        let end = pos;
        while (end < raw.length && raw[end] !== '"') end += raw[end] === '\\' ? 2 : 1;
        if (end >= raw.length) throw new Error(`line ${line}: unterminated label value`);
        labels[label] = unescape(raw.slice(pos, end), '\\"n', line);
        pos = end + 1;
        if (raw[pos] === ',') pos++;
        else if (raw[pos] !== '}') throw new Error(`line ${line}: expected , or }`);
      }
    }
    if (raw[pos] !== ' ') throw new Error(`line ${line}: expected a space before the value`);
    const parts = raw.slice(pos + 1).split(' ');
    if (parts.length < 1 || parts.length > 2) throw new Error(`line ${line}: expected a value and an optional timestamp`);
    const value = parseValue(parts[0] as string, line);
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) throw new Error(`line ${line}: invalid timestamp`);
    let family = familyOf(name, families);
    if (family === undefined) {
      family = { name, type: 'untyped', help: undefined, samples: [] };
      families.set(name, family);
    }
    if (finished.has(family.name)) throw new Error(`line ${line}: ${family.name} appears in two groups`);
    if (current !== undefined && current !== family) finished.add(current.name);
    current = family;
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (series.has(key)) throw new Error(`line ${line}: duplicate series ${key}`);
    series.add(key);
    if (family.type === 'counter' && !(value >= 0)) throw new Error(`line ${line}: a counter must be >= 0`);
    if (family.type === 'histogram' && name === `${family.name}_bucket` && labels.le === undefined) throw new Error(`line ${line}: bucket without le`);
    if (family.type === 'histogram' && name === family.name) throw new Error(`line ${line}: a histogram has only _bucket, _sum and _count samples`);
    family.samples.push({ name, labels, value });
  });
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return families;
}

function checkHistogram(family: Family): void {
  const groups = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
  for (const s of family.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const group = groups.get(key) ?? { buckets: [] };
    groups.set(key, group);
    if (s.name.endsWith('_bucket')) group.buckets.push([parseValue(le as string, 0), s.value]);
    else if (s.name.endsWith('_count')) group.count = s.value;
    else group.sum = s.value;
  }
  for (const [key, g] of groups) {
    if (g.count === undefined || g.sum === undefined) throw new Error(`${family.name}${key}: _count and _sum are required`);
    const last = g.buckets[g.buckets.length - 1];
    if (last === undefined || last[0] !== Infinity) throw new Error(`${family.name}${key}: the last bucket must be le="+Inf"`);
    if (last[1] !== g.count) throw new Error(`${family.name}${key}: +Inf bucket ${last[1]} differs from _count ${g.count}`);
    for (let i = 1; i < g.buckets.length; i++) {
      const [le, v] = g.buckets[i] as [number, number];
      const [prevLe, prevV] = g.buckets[i - 1] as [number, number];
      if (!(le > prevLe)) throw new Error(`${family.name}${key}: buckets not sorted by le`);
      if (v < prevV) throw new Error(`${family.name}${key}: buckets not cumulative`);
    }
  }
}

/** The value of one series, or undefined. */
export function valueOf(families: Map<string, Family>, name: string, labels: Record<string, string>): number | undefined {
  for (const family of families.values()) {
    for (const s of family.samples) {
      if (s.name !== name) continue;
      const keys = Object.keys(labels);
      if (keys.length === Object.keys(s.labels).length && keys.every((k) => s.labels[k] === labels[k])) return s.value;
    }
  }
  return undefined;
}
