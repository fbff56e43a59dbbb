/**
 * The database side of the example servers, with no web framework in it: a registry with the presets, a usage
 * tracker, an interference detector, the three kinds of work (auth, extension, llm), health, metrics and an
 * orderly shutdown. `express-server.ts` and `node-http.ts` only add HTTP around it.
 *
 * Without DATABASE_URL (and without `connection`) it runs on pg-mem, so every example starts on a fresh clone.
 */
import {
  createHealthHandler,
  createInterferenceDetector,
  createPoolRegistry,
  createUsageTracker,
  isBulkheadError,
  PROMETHEUS_CONTENT_TYPE,
  servicePresets,
  toPrometheus,
  type ClientConstructor,
  type ServiceOptions,
} from '../src/index';

export interface AppOptions {
  /** Connection string; `undefined` given explicitly means embedded pg-mem. @default process.env.DATABASE_URL, else pg-mem */
  readonly connection?: string;
  /** Services; default {@link servicePresets} (auth, extension, llm, usage, background). */
  readonly services?: { readonly [K in keyof typeof servicePresets]: ServiceOptions };
  /** Prefix of the example's tables and application_name, so several instances can share one database. @default 'app' */
  readonly prefix?: string;
  /** Simulated model latency: an llm request holds its connection this long, ms. @default 300 */
  readonly modelMs?: number;
  /** How often the detector evaluates, ms. @default 5000 */
  readonly detectorIntervalMs?: number;
  /** Where log lines go. @default console.log */
  readonly log?: (line: string) => void;
}

export type App = Awaited<ReturnType<typeof createApp>>;

/** Maps an error to an HTTP status: saturation and outages are 503 (retry later), anything else 500. */
export function statusOf(error: unknown): number {
  return isBulkheadError(error, 'ERR_ACQUIRE_TIMEOUT') || isBulkheadError(error, 'ERR_QUEUE_FULL') || isBulkheadError(error, 'ERR_DATABASE_UNAVAILABLE') || isBulkheadError(error, 'ERR_POOL_CLOSED') ? 503 : 500;
}

export async function createApp(options: AppOptions = {}) {
  const log = options.log ?? ((line: string) => console.log(line));
  const prefix = options.prefix ?? 'app';
  const connection = 'connection' in options ? options.connection : process.env.DATABASE_URL || undefined;
  let Client: ClientConstructor | undefined;
  if (connection === undefined) {
    const { newDb } = await import('pg-mem'); // a dev dependency; a real app always has a connection string
    Client = newDb().adapters.createPg().Client as ClientConstructor;
  }

  const registry = createPoolRegistry({ connection, Client, applicationName: prefix, services: options.services ?? servicePresets });
  const usage = createUsageTracker({ registry, service: 'usage', table: `${prefix}_usage`, bucket: 'hour', flushIntervalMs: 5_000 });
  const detector = createInterferenceDetector({ registry, intervalMs: options.detectorIntervalMs ?? 5_000 });
  detector.on('interference', (i) => log(`interference: ${i.victim} ${i.kinds.join(', ')} (${i.severity}); aggressors: ${i.aggressors.map((a) => a.service).join(', ') || 'none'}; ${i.recommendations.map((r) => r.text).join('; ')}`));
  detector.on('recovered', (i) => log(`recovered: ${i.victim} after ${i.occurrences} noisy evaluations`));
  registry.on('circuit', (e) => log(`circuit ${e.service}: ${e.from} -> ${e.to}`));

  // Schema and seed data of the example (a real app has migrations for this).
  await registry.transaction('background', async (client) => {
    await client.query(`create table if not exists ${prefix}_users (id int primary key, name text not null)`);
    await client.query(`create table if not exists ${prefix}_extensions (id int primary key, config text not null)`);
    await client.query(`insert into ${prefix}_users (id, name) values (1, 'ada'), (2, 'grace') on conflict (id) do nothing`);
    await client.query(`insert into ${prefix}_extensions (id, config) values (1, '{"theme":"dark"}') on conflict (id) do nothing`);
  });
  await usage.ensureSchema();
  detector.start();
  const modelMs = options.modelMs ?? 300;

  return {
    registry,
    usage,
    detector,
    /** auth: one short query on the highest-priority pool. */
    async login(userId: number): Promise<{ id: number; name: string } | null> {
      const { rows } = await registry.query<{ id: number; name: string }>('auth', `select id, name from ${prefix}_users where id = $1`, [userId]);
      return rows[0] ?? null;
    },
    /** extension: its own pool, so a burst of extension calls never touches auth either. */
    async extensionConfig(extensionId: number): Promise<unknown> {
      const { rows } = await registry.query<{ config: string }>('extension', `select config from ${prefix}_extensions where id = $1`, [extensionId]);
      return rows[0] === undefined ? null : JSON.parse(rows[0].config);
    },
    /** llm: holds a connection while it awaits the model; only llm's pool pays for that. */
    complete(prompt: string): Promise<string> {
      return registry.withClient('llm', async (client) => {
        const { rows } = await client.query(`select count(*)::int as n from ${prefix}_users`);
        await new Promise((resolve) => setTimeout(resolve, modelMs)); // the model call
        return `echo(${prompt}) from a model that knows ${String(rows[0]?.n)} users`;
      });
    },
    /** Counts one request; synchronous and free of I/O, safe in a hot middleware. */
    count(tenant: string, route: string): void {
      usage.increment(`${tenant}:${route}`);
    },
    health: createHealthHandler({ registry, detector }),
    metrics: { contentType: PROMETHEUS_CONTENT_TYPE, body: () => toPrometheus({ registry, detector, usage }) },
    /** Stops the detector, writes the last usage counts, then closes every pool: in that order. */
    async close(): Promise<void> {
      await detector.stop();
      const flushed = await usage.close({ timeoutMs: 10_000 });
      log(`usage: final flush ${flushed.clean ? 'complete' : `left ${flushed.unwrittenIncrements} increments unwritten`} (${flushed.increments} increments written while closing)`);
      const closed = await registry.close({ timeoutMs: 5_000 });
      log(`registry closed ${closed.clean ? 'cleanly' : 'with forced leases'}`);
    },
  };
}
