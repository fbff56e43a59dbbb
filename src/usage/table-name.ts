/**
 * A validated, quoted table name and the names derived from it. Only plain identifiers are accepted
 * (`[A-Za-z_][A-Za-z0-9_]*`, optionally `schema.table`): anything else is rejected rather than escaped, so no
 * input can ever change the statement. Names are quoted as given, so `Usage` and `usage` are different tables.
 */
export interface TableNames {
  /** The counters table, quoted: `"public"."usage_counters"`. */
  readonly counters: string;
  /** The ledger of applied batch ids, in the same schema: `"public"."usage_counters_ledger"`. */
  readonly ledger: string;
  /** Name of the ledger's `applied_at` index, quoted, without schema (PostgreSQL puts it in the table's schema). */
  readonly ledgerIndex: string;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** NAMEDATALEN - 1, minus the longest suffix we append (`_ledger_at`). */
export const MAX_TABLE_NAME_LENGTH = 63 - '_ledger_at'.length;

/** Why `table` is not acceptable, or null when it is. */
export function tableNameProblem(table: unknown): string | null {
  if (typeof table !== 'string') return 'a string';
  const parts = table.split('.');
  if (parts.length > 2) return 'a table name or schema.table (at most one dot)';
  for (const part of parts) {
    if (!IDENTIFIER.test(part)) return 'identifiers of letters, digits and "_" only, not starting with a digit (schema.table allowed)';
  }
  const name = parts[parts.length - 1] as string;
  if (name.length > MAX_TABLE_NAME_LENGTH) return `a table name of at most ${MAX_TABLE_NAME_LENGTH} characters`;
  if ((parts[0] as string).length > 63) return 'a schema name of at most 63 characters';
  return null;
}

/** Quoted names for a table that passed {@link tableNameProblem}. */
export function tableNames(table: string): TableNames {
  const parts = table.split('.');
  const name = parts[parts.length - 1] as string;
  const schema = parts.length === 2 ? `"${parts[0]}".` : '';
  return { counters: `${schema}"${name}"`, ledger: `${schema}"${name}_ledger"`, ledgerIndex: `"${name}_ledger_at"` };
}
