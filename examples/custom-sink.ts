/**
 * Usage counts written somewhere else: a custom `sink` receives each frozen batch and must make writing it
 * idempotent, because a batch can be retried after a failure that happened once the write had taken effect
 * (a lost reply). Here the batches go to a per-tenant, per-hour table of our own design, and the batch id is
 * claimed in the same transaction; the same pattern works for any store with transactions or unique keys.
 *
 *   npx tsx examples/custom-sink.ts          # pg-mem; DATABASE_URL for a real server
 */
import { pathToFileURL } from 'node:url';
import { createPoolRegistry, createUsageTracker, type ClientConstructor, type UsageBatch } from '../src/index';

export async function run(options: { readonly connection?: string; readonly prefix?: string } = {}) {
  const prefix = options.prefix ?? 'sink';
  const connection = 'connection' in options ? options.connection : process.env.DATABASE_URL || undefined; // explicit undefined: pg-mem
  const Client = connection === undefined ? ((await import('pg-mem')).newDb().adapters.createPg().Client as ClientConstructor) : undefined;
  const registry = createPoolRegistry({ connection, Client, applicationName: prefix, services: { usage: { size: 1, overflow: 1 } } });
  await registry.query('usage', `create table if not exists ${prefix}_tenant_hourly (tenant text, feature text, hour timestamptz, calls bigint, primary key (tenant, feature, hour))`);
  await registry.query('usage', `create table if not exists ${prefix}_applied_batches (id text primary key, applied_at timestamptz not null default now())`);

  let attempts = 0;
  const sink = async (batch: UsageBatch): Promise<void> => {
    attempts++;
    await registry.transaction('usage', async (client) => {
      // Claim the batch id first: a retry of a batch that was already written does nothing.
      const seen = await client.query(`select 1 from ${prefix}_applied_batches where id = $1`, [batch.id]);
      if (seen.rows.length > 0) return;
      await client.query(`insert into ${prefix}_applied_batches (id) values ($1)`, [batch.id]);
      // Rows come sorted by key then bucket, so concurrent writers lock rows in one order (no deadlocks).
      for (const row of batch.rows) {
        const [tenant, feature] = row.key.split(':') as [string, string];
        await client.query(
          `insert into ${prefix}_tenant_hourly (tenant, feature, hour, calls) values ($1, $2, $3, $4)
           on conflict (tenant, feature, hour) do update set calls = ${prefix}_tenant_hourly.calls + excluded.calls`,
          [tenant, feature, row.bucket, row.count],
        );
      }
    });
  };

  const usage = createUsageTracker({ sink, bucket: 'hour', batchSize: 3 });
  usage.on('flush', (e) => console.log(`flush: batch ${e.batchId.slice(0, 8)}… ${e.rows} rows, ${e.increments} increments`));
  const hour = Date.UTC(2025, 0, 1, 9);
  for (let i = 0; i < 10; i++) usage.increment('acme:completions', 1, hour + i * 60_000);
  usage.increment('acme:embeddings', 25, hour);
  usage.increment('globex:completions', 2, hour + 3_600_000);
  usage.increment('initech:completions', 1, hour);
  const report = await usage.close({ timeoutMs: 5_000 });

  const { rows } = await registry.query<{ tenant: string; feature: string; hour: Date; calls: string | number }>(
    'usage',
    `select tenant, feature, hour, calls from ${prefix}_tenant_hourly order by tenant, feature, hour`,
  );
  await registry.close();
  return { clean: report.clean, attempts, rows: rows.map((r) => ({ tenant: r.tenant, feature: r.feature, hour: new Date(r.hour).toISOString(), calls: Number(r.calls) })) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await run();
  console.table(result.rows);
  console.log(`${result.attempts} sink calls, closed ${result.clean ? 'cleanly' : 'with unwritten counts'}`);
}
