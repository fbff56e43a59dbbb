/**
 * Shared method of every bench: peers measured in the same process, alternating A B … B A over rounds (the order
 * is reversed every other round, so neither peer always runs first on a warmer or quieter machine), min / median
 * / max per peer and the ratio per pair computed round by round. Ratios are the result: the machine is shared.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

/** `--quick`: small enough for CI (seconds per bench), results written to `bench/results/quick/`. */
export const quick = process.argv.includes('--quick');

/** The real PostgreSQL every bench runs against. */
export const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const benchDir = dirname(dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);

/** A suffix unique to this process, for table and application names that never collide with other runs. */
export const runId = `${process.pid}_${Math.floor(Math.random() * 1e6)}`;

export interface Summary {
  readonly min: number;
  readonly median: number;
  readonly max: number;
}

export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { min: Number.NaN, median: Number.NaN, max: Number.NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { min: sorted[0] as number, median, max: sorted[sorted.length - 1] as number };
}

/** The value at quantile `q` (0..1) of an ascending array, nearest rank. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

/** One peer: a name and a trial that returns named figures (higher or lower is better depending on the figure). */
export interface Peer<F extends Record<string, number>> {
  readonly name: string;
  readonly trial: () => Promise<F>;
}

export interface RoundsResult<F extends Record<string, number>> {
  /** Per peer, per figure: the value of each round, in round order. */
  readonly perRound: Record<string, { [K in keyof F]: number[] }>;
  /** Per peer, per figure: min / median / max over rounds. */
  readonly summary: Record<string, { [K in keyof F]: Summary }>;
  /** The order each round ran in. */
  readonly orders: string[][];
}

/**
 * The order of round `round`: forward on even rounds and reversed on odd ones (A B C, C B A, A B C …). With
 * `rotate`, the starting peer also moves on every second round (A B C, C B A, B C A, A C B, C A B, B A C), so
 * with three peers six rounds run every order once and no peer is always in the middle.
 */
export function roundOrder<T>(peers: readonly T[], round: number, rotate = false): T[] {
  const shift = rotate && peers.length > 0 ? Math.floor(round / 2) % peers.length : 0;
  const order = [...peers.slice(shift), ...peers.slice(0, shift)];
  return round % 2 === 0 ? order : order.reverse();
}

/**
 * Runs every peer once per round in {@link roundOrder}. `between` runs after every trial (e.g. to let the server
 * settle).
 */
export async function alternate<F extends Record<string, number>>(
  peers: readonly Peer<F>[],
  rounds: number,
  between?: () => Promise<void>,
  options: { readonly rotate?: boolean } = {},
): Promise<RoundsResult<F>> {
  const perRound = {} as Record<string, { [K in keyof F]: number[] }>;
  const orders: string[][] = [];
  for (const peer of peers) perRound[peer.name] = {} as { [K in keyof F]: number[] };
  for (let round = 0; round < rounds; round++) {
    const order = roundOrder(peers, round, options.rotate);
    orders.push(order.map((p) => p.name));
    for (const peer of order) {
      const figures = await peer.trial();
      const slot = perRound[peer.name] as Record<string, number[]>;
      for (const [key, value] of Object.entries(figures)) (slot[key] ??= []).push(value);
      if (between) await between();
    }
  }
  const summary = {} as Record<string, { [K in keyof F]: Summary }>;
  for (const [name, figures] of Object.entries(perRound)) {
    const s = {} as Record<string, Summary>;
    for (const [key, values] of Object.entries(figures as Record<string, number[]>)) s[key] = summarize(values);
    summary[name] = s as { [K in keyof F]: Summary };
  }
  return { perRound, summary, orders };
}

/** `b / a` round by round (same round, so the same machine conditions), summarized. */
export function ratio(result: RoundsResult<Record<string, number>>, b: string, a: string, figure: string): Summary & { readonly perRound: number[] } {
  const bs = (result.perRound[b] as Record<string, number[]>)[figure] ?? [];
  const as = (result.perRound[a] as Record<string, number[]>)[figure] ?? [];
  const values = bs.map((v, i) => v / (as[i] as number));
  return { ...summarize(values), perRound: values };
}

// ---- output -------------------------------------------------------------------------------------------------

export function fmt(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${(value / 1e6).toFixed(2)} M`;
  if (abs >= 1e4) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(digits);
}

export function fmtSummary(s: Summary, digits = 3): string {
  return `${fmt(s.median, digits)} (${fmt(s.min, digits)}…${fmt(s.max, digits)})`;
}

/** Prints a compact table: first row is the header. */
export function table(rows: readonly (readonly string[])[]): void {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  rows.forEach((row, r) => {
    console.log(`  ${row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number))).join('  ')}`);
    if (r === 0) console.log(`  ${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  });
}

export function heading(title: string): void {
  console.log(`\n== ${title}${quick ? ' (quick: small sizes, figures not meaningful)' : ''}`);
}

// ---- environment and results ----------------------------------------------------------------------------

function versionOf(name: string): string {
  try {
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

let serverVersion: string | null = null;

/** Runs `fn` with a plain admin client on {@link databaseUrl} (setup and teardown of a bench), then ends it. */
export async function withAdminClient<T>(label: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: `bench-${label}-admin-${runId}`.slice(0, 40) });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** `server_version` of the PostgreSQL at {@link databaseUrl}, or the error text when it is unreachable. */
export async function postgresVersion(): Promise<string> {
  if (serverVersion !== null) return serverVersion;
  const client = new pg.Client({ connectionString: databaseUrl, application_name: `pg-bulkhead-bench-${runId}` });
  client.on('error', () => {});
  try {
    await client.connect();
    const { rows } = await client.query<{ v: string }>("select current_setting('server_version') as v");
    serverVersion = rows[0]?.v ?? 'unknown';
  } catch (error) {
    serverVersion = `unreachable (${error instanceof Error ? error.message : String(error)})`;
  } finally {
    await client.end().catch(() => {});
  }
  return serverVersion;
}

/** Writes `bench/results/<name>.json` (or `bench/results/quick/<name>.json` with `--quick`) and returns the path. */
export async function writeResults(name: string, settings: Record<string, unknown>, figures: Record<string, unknown>): Promise<string> {
  const dir = quick ? join(benchDir, 'results', 'quick') : join(benchDir, 'results');
  mkdirSync(dir, { recursive: true });
  const pkg = JSON.parse(readFileSync(join(dirname(benchDir), 'package.json'), 'utf8')) as { version: string };
  const body = {
    bench: name,
    quick,
    date: new Date().toISOString(),
    command: `npm run bench -- --only ${name}${quick ? ' --quick' : ''}`,
    environment: {
      node: process.version,
      postgres: await postgresVersion(),
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown'}`,
      versions: { 'pg-bulkhead': pkg.version, pg: versionOf('pg'), 'generic-pool': versionOf('generic-pool'), eventemitter3: versionOf('eventemitter3') },
    },
    settings,
    figures,
  };
  const path = join(dir, `${name}.json`);
  writeFileSync(path, `${JSON.stringify(body, null, 2)}\n`);
  console.log(`  → ${path.slice(dirname(benchDir).length + 1)}`);
  return path;
}

/** Target line: reported, never asserted. */
export function target(label: string, met: boolean, detail: string): { label: string; met: boolean; detail: string } {
  console.log(`  target ${met ? 'MET   ' : 'MISSED'} ${label}: ${detail}`);
  return { label, met, detail };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs `main`, exiting 0 on success and 1 (with the stack) if it threw. */
export function run(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
