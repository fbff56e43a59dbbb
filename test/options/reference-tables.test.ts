import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { OptionSpecs } from '../../src/options/spec';
import { SERVICE_OPTION_SPECS } from '../../src/pool/options';
import { BREAKER_OPTION_SPECS, REGISTRY_OPTION_SPECS } from '../../src/registry/options';
import { USAGE_OPTION_SPECS } from '../../src/usage/options';

// docs/reference.md's option tables are written for people; the specs are what the code validates and defaults
// with. This keeps the two from drifting: same options, same order, same defaults, same unit for durations.

interface Row {
  readonly option: string;
  readonly unit: string;
  readonly defaultValue: string;
}

const reference = readFileSync(new URL('../../docs/reference.md', import.meta.url), 'utf8');

/** The rows of the first table after the line that starts with `intro`. */
function tableAfter(intro: string): Row[] {
  const lines = reference.split('\n');
  const start = lines.findIndex((line) => line.startsWith(intro));
  expect(start, `a line starting with ${intro}`).toBeGreaterThanOrEqual(0);
  const rows: Row[] = [];
  let inTable = false;
  for (const line of lines.slice(start + 1)) {
    if (!line.startsWith('|')) {
      if (inTable) break;
      continue;
    }
    inTable = true;
    // Split on | not escaped as \| (the unit column holds unions like 'none' \| 'minute').
    const cells = line
      .split(/(?<!\\)\|/)
      .slice(1, -1)
      .map((cell) => cell.trim().replace(/\\\|/g, '|'));
    if (cells[0] === 'option' || /^-+$/.test(cells[0] ?? '')) continue;
    rows.push({ option: (cells[0] ?? '').replace(/`/g, ''), unit: cells[1] ?? '', defaultValue: (cells[2] ?? '').replace(/`/g, '') });
  }
  return rows;
}

/** How the reference writes a plain default, or null for one it describes in words. */
function shown(value: unknown): string | null {
  if (typeof value === 'number') return value === Number.POSITIVE_INFINITY ? 'Infinity' : String(value);
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'boolean') return String(value);
  return null;
}

function expectTableMatches(rows: Row[], specs: OptionSpecs, prefix = ''): void {
  for (const [name, spec] of Object.entries(specs)) {
    const row = rows.find((r) => r.option === `${prefix}${name}`);
    expect(row, `a row for ${prefix}${name}`).toBeDefined();
    const value = shown(spec.default);
    if (value !== null) expect(row?.defaultValue, `default of ${prefix}${name}`).toMatch(new RegExp(`^${value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b|^${value}$`));
    expect(row?.unit.startsWith('ms'), `unit of ${prefix}${name}`).toBe(spec.unit === 'ms');
  }
}

describe('docs/reference.md option tables match the option specs', () => {
  it('registry options (with breaker.*)', () => {
    const rows = tableAfter('Registry options');
    const expected = Object.keys(REGISTRY_OPTION_SPECS).flatMap((name) => (name === 'breaker' ? Object.keys(BREAKER_OPTION_SPECS).map((b) => `breaker.${b}`) : [name]));
    expect(rows.map((r) => r.option)).toEqual(expected);
    const { breaker: _breaker, ...flat } = REGISTRY_OPTION_SPECS;
    expectTableMatches(rows, flat);
    expectTableMatches(rows, BREAKER_OPTION_SPECS, 'breaker.');
  });

  it('service options', () => {
    const rows = tableAfter('Per-service options');
    expect(rows.map((r) => r.option)).toEqual(Object.keys(SERVICE_OPTION_SPECS));
    expectTableMatches(rows, SERVICE_OPTION_SPECS);
  });

  it('usage tracker options', () => {
    const rows = tableAfter('Usage tracker options');
    expect(rows.map((r) => r.option)).toEqual(Object.keys(USAGE_OPTION_SPECS));
    expectTableMatches(rows, USAGE_OPTION_SPECS);
  });
});
