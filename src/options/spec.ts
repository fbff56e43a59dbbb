/**
 * Option specs: each option of a component declared once (its rule, unit, default and a one-line doc), and the
 * helpers that turn a table of them into validation, the defaults object and the resolved options. The option
 * interfaces with their TSDoc stay beside each table (users read those); a test checks docs/reference.md's
 * option tables against these specs.
 */
import type { ConfigChecker } from './check';

/** How one option's value is checked. Messages are those of {@link ConfigChecker}. */
export type OptionRule =
  /** An integer in [min, max]; `Infinity` too with `orInfinity`. `expected` replaces the message's expectation. */
  | { readonly type: 'integer'; readonly min: number; readonly max?: number; readonly orInfinity?: boolean; readonly expected?: string }
  /** A number of ms (see {@link ConfigChecker.duration}). */
  | { readonly type: 'duration'; readonly allowZero?: boolean; readonly min?: number }
  | { readonly type: 'oneOf'; readonly values: readonly string[] }
  | { readonly type: 'boolean' }
  /** A function; `expected` says which. */
  | { readonly type: 'function'; readonly expected: string }
  /** A non-empty string of printable ASCII. */
  | { readonly type: 'printable' }
  /** A connection string or a pg.ClientConfig (never echoed). */
  | { readonly type: 'connection' }
  | { readonly type: 'clock' }
  /** Checked by the component itself (nested objects, references to other components). */
  | { readonly type: 'custom' };

/** One option, declared once. */
export interface OptionSpec {
  readonly rule: OptionRule;
  /** The unit or kind of value, as the reference's tables show it: `ms`, `connections`, `boolean`, … */
  readonly unit: string;
  /** The default; absent when there is none (required, or derived from other options). */
  readonly default?: unknown;
  /** One line for people: what the option does. The interface's TSDoc says it at length. */
  readonly doc: string;
}

/** A component's options, in the order they are documented and checked. */
export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/** The option names of `specs`, in order (for the unknown-key check). */
export function optionNames(specs: OptionSpecs): string[] {
  return Object.keys(specs);
}

/**
 * Checks every option of `values` that `specs` declares with a rule of its own (not `custom`), in order, reporting
 * under `<path>.<name>` (or `<name>` when `path` is empty). `undefined` always passes: every option is optional here.
 */
export function checkBySpec(check: ConfigChecker, path: string, values: Record<string, unknown>, specs: OptionSpecs): void {
  for (const [name, spec] of Object.entries(specs)) checkOne(check, path === '' ? name : `${path}.${name}`, values[name], spec.rule);
}

function checkOne(check: ConfigChecker, path: string, value: unknown, rule: OptionRule): void {
  if (value === undefined) return;
  switch (rule.type) {
    case 'integer': {
      if (rule.orInfinity === true && value === Number.POSITIVE_INFINITY) return;
      if (rule.expected === undefined) return check.integer(path, value, rule.min, rule.max);
      if (typeof value !== 'number' || !Number.isInteger(value) || value < rule.min || value > (rule.max ?? Number.POSITIVE_INFINITY)) check.fail(path, rule.expected, value);
      return;
    }
    case 'duration':
      return check.duration(path, value, rule.allowZero ?? false, rule.min ?? 0);
    case 'oneOf':
      return check.oneOf(path, value, rule.values);
    case 'boolean':
      if (typeof value !== 'boolean') check.fail(path, 'a boolean', value);
      return;
    case 'function':
      if (typeof value !== 'function') check.fail(path, rule.expected, value);
      return;
    case 'printable':
      return check.printable(path, value);
    case 'connection':
      return check.connection(path, value);
    case 'clock':
      return check.clock(path, value);
    case 'custom':
      return;
  }
}

/** The defaults of `specs` as an object: every option that has one (a default of `undefined` included). */
export function defaultsOf(specs: OptionSpecs): Record<string, unknown> {
  const defaults: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) if ('default' in spec) defaults[name] = spec.default;
  return defaults;
}

/** `options` with every default of `defaults` applied by `??` (an explicit `0` or `false` is kept), frozen. */
export function withDefaults<T>(defaults: Readonly<Record<string, unknown>>, options: Readonly<Record<string, unknown>>): T {
  const resolved: Record<string, unknown> = {};
  for (const name of Object.keys(defaults)) resolved[name] = options[name] ?? defaults[name];
  return Object.freeze(resolved) as T;
}
