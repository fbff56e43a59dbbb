/**
 * The core never loads OpenTelemetry: importing `pg-bulkhead` resolves nothing under `@opentelemetry/`, and the
 * bridge itself uses the API for types only, so it loads with no `@opentelemetry/api` installed (the user's meter
 * is all it touches). Checked in a child process whose module resolution fails and reports any such import.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const hooks = fileURLToPath(new URL('./fixtures/forbid-otel.mjs', import.meta.url));

/** Runs `script` under the hooks; returns its exit status and everything it printed, stdout and stderr together. */
function run(script: string): { status: number | null; output: string } {
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--import', hooks, '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return { status: child.status, output: `${child.stdout}${child.stderr}` };
}

describe('loading OpenTelemetry only through the bridge', () => {
  it('the hooks do catch an import of @opentelemetry/api (the check can fail)', () => {
    const { status, output } = run(`await import('@opentelemetry/api');`);
    expect(output).toContain('LOADED @opentelemetry/api');
    expect(status).not.toBe(0);
  });

  it('importing the core entry point resolves nothing under @opentelemetry/', () => {
    const { status, output } = run(`const core = await import('./src/index.ts'); console.log('exports', Object.keys(core).length);`);
    expect(output).not.toContain('LOADED');
    expect(status).toBe(0);
    expect(output).toMatch(/exports \d+/);
  });

  it('the bridge entry point loads and instruments with only the meter it is given', () => {
    const { status, output } = run(`
      const { instrumentRegistry, createHistogramProducer } = await import('./src/otel/index.ts');
      const { createPoolRegistry } = await import('./src/index.ts');
      const created = [];
      const instrument = (name) => { created.push(name); return { record() {} }; };
      const meter = { createHistogram: instrument, createObservableCounter: instrument, createObservableUpDownCounter: instrument, createObservableGauge: instrument, addBatchObservableCallback() {}, removeBatchObservableCallback() {} };
      class Client { connect() { return Promise.resolve(); } query() { return Promise.resolve({ rows: [] }); } end() { return Promise.resolve(); } on() { return this; } }
      const registry = createPoolRegistry({ Client, services: { auth: { size: 0, overflow: 1 } } });
      instrumentRegistry(registry, { meter }).dispose();
      const producer = createHistogramProducer();
      const viaProducer = instrumentRegistry(registry, { meter, histograms: producer });
      const collected = await producer.collect();
      viaProducer.dispose();
      console.log('produced', collected.resourceMetrics.scopeMetrics[0].metrics.length);
      await registry.close();
      console.log('instruments', created.length);`);
    expect(output).not.toContain('LOADED');
    expect(output).toMatch(/instruments \d{2}/);
    expect(output).toContain('produced 3');
    expect(status).toBe(0);
  });
});
