/**
 * The core never loads OpenTelemetry: importing `pg-bulkhead` resolves nothing under `@opentelemetry/`, and the
 * bridge itself uses the API for types only, so it loads with no `@opentelemetry/api` installed (the user's meter
 * is all it touches). Checked in a child process whose module resolution fails and reports any such import.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const hooks = fileURLToPath(new URL('./fixtures/forbid-otel.mjs', import.meta.url));

function run(script: string): string {
  return execFileSync(process.execPath, ['--import', 'tsx', '--import', hooks, '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000, stdio: 'pipe' });
}

describe('loading OpenTelemetry only through the bridge', () => {
  it('the hooks do catch an import of @opentelemetry/api (the check can fail)', () => {
    let output = '';
    try {
      run(`await import('@opentelemetry/api');`);
    } catch (error) {
      output = String((error as { stdout?: string }).stdout);
    }
    expect(output).toContain('LOADED @opentelemetry/api');
  });

  it('importing the core entry point resolves nothing under @opentelemetry/', () => {
    const output = run(`const core = await import('./src/index.ts'); console.log('exports', Object.keys(core).length);`);
    expect(output).not.toContain('LOADED');
    expect(output).toMatch(/exports \d+/);
  });

  it('the bridge entry point loads and instruments with only the meter it is given', () => {
    const output = run(`
      const { instrumentRegistry } = await import('./src/otel/index.ts');
      const { createPoolRegistry } = await import('./src/index.ts');
      const created = [];
      const instrument = (name) => { created.push(name); return { record() {} }; };
      const meter = { createHistogram: instrument, createObservableCounter: instrument, createObservableUpDownCounter: instrument, createObservableGauge: instrument, addBatchObservableCallback() {}, removeBatchObservableCallback() {} };
      class Client { connect() { return Promise.resolve(); } query() { return Promise.resolve({ rows: [] }); } end() { return Promise.resolve(); } on() { return this; } }
      const registry = createPoolRegistry({ Client, services: { auth: { size: 0, overflow: 1 } } });
      instrumentRegistry(registry, { meter }).dispose();
      await registry.close();
      console.log('instruments', created.length);`);
    expect(output).not.toContain('LOADED');
    expect(output).toMatch(/instruments \d{2}/);
  });
});
