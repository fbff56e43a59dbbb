import type { QueryArrayConfig, QueryConfig, Submittable } from 'pg';
import { InvalidArgumentError } from '../errors';
import { describe } from '../options/check';

/**
 * What pg's `client.query` takes as its first argument, apart from a submittable: the SQL text, or a query
 * config (`text`, `values`, `name` for a prepared statement, `rowMode: 'array'`, `types`).
 */
export type QueryTextOrConfig = string | QueryConfig | QueryArrayConfig;

/**
 * The row type pg's own typings default to (`any`), and so the default of `registry.query`, `lease.query` and the
 * pg.Pool view when no row type is named: code written against `pg.Pool` compiles unchanged. Name a row type
 * (`query<{ id: number }>(…)`) to have rows checked. The one `any` in the public types, on purpose.
 */
export type PgRow = any;

/** True for an object pg treats as a submittable (pg-cursor, pg-query-stream): it has a `submit` method. */
export function isSubmittable(value: unknown): value is Submittable {
  return typeof value === 'object' && value !== null && typeof (value as { submit?: unknown }).submit === 'function';
}

/**
 * Rejects a query that is a programming error before it reaches pg (whose own errors carry no code and would be
 * counted as database failures). Accepts what pg accepts: a string, a query config with a string `text`, or,
 * where `submittable` is allowed, an object with a `submit` method.
 * @throws InvalidArgumentError `ERR_INVALID_ARGUMENT`, naming the argument (`query`, `query config`, `values`).
 */
export function checkQueryArguments(service: string, query: unknown, values: unknown, allowSubmittable = false): void {
  if (typeof query !== 'string') {
    if (typeof query !== 'object' || query === null || Array.isArray(query)) {
      throw new InvalidArgumentError(`${service}: query: expected SQL text (a string) or a query config { text, values }, got ${describe(query)}`);
    }
    if (isSubmittable(query)) {
      if (!allowSubmittable) {
        throw new InvalidArgumentError(
          `${service}: query: a submittable (cursor, stream) needs a connection held until it ends: use withClient, lease.client.query or the pg.Pool view's query`,
        );
      }
      return;
    }
    const config = query as { text?: unknown; values?: unknown };
    if (typeof config.text !== 'string') {
      const keys = Object.keys(query).slice(0, 8).join(', ');
      throw new InvalidArgumentError(
        `${service}: query config: expected text (a string) or a submittable (an object with submit()), got an object with neither (keys: ${keys === '' ? 'none' : keys}; text is ${describe(config.text)})`,
      );
    }
    if (config.values !== undefined && !Array.isArray(config.values)) {
      throw new InvalidArgumentError(`${service}: query config values: expected an array or undefined, got ${describe(config.values)}`);
    }
  }
  if (values !== undefined && !Array.isArray(values)) throw new InvalidArgumentError(`${service}: query values: expected an array or undefined, got ${describe(values)}`);
}

/**
 * @throws InvalidArgumentError `ERR_INVALID_ARGUMENT` when `callback` is given and is not a function.
 */
export function checkCallbackArgument(service: string, what: string, callback: unknown): void {
  if (callback !== undefined && typeof callback !== 'function') {
    throw new InvalidArgumentError(`${service}: ${what} callback: expected a function (err, result) => … or undefined, got ${describe(callback)}`);
  }
}
