/**
 * The package as a user installs it: `npm pack`, install the tarball with `pg` into a temporary project, and use
 * it from ESM, from CommonJS, and from TypeScript with moduleResolution node16 and bundler (strict, skipLibCheck
 * off, so the shipped declarations are type-checked too). Needs a fresh `npm run build`.
 *
 * Slow (an npm install and three compilations), so it runs when CI is set or PACKAGE_TEST=1 (.ci/run sets it).
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const enabled = Boolean(process.env.CI) || process.env.PACKAGE_TEST === '1';
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string; devDependencies: Record<string, string> };
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

/** A tiny pg.Client stand-in: the consumer test checks packaging, not PostgreSQL. */
const fakeClient = `class FakeClient {
  constructor(config) { this.config = config; }
  connect() { return Promise.resolve(); }
  query(text) { return Promise.resolve({ rows: [{ answer: 42, text, app: this.config.application_name }], rowCount: 1, command: 'SELECT', oid: 0, fields: [] }); }
  end() { return Promise.resolve(); }
  on() { return this; }
}`;

const usage = (importLine: string) => `${importLine}
${fakeClient}
const registry = createPoolRegistry({ Client: FakeClient, applicationName: 'consumer', services: { auth: servicePresets.auth, llm: { size: 0, overflow: 1 } } });
const { rows } = await registry.query('auth', 'select 42 as answer');
let unknown;
try { await registry.query('nope', 'select 1'); } catch (error) { unknown = isBulkheadError(error, 'ERR_UNKNOWN_SERVICE'); }
const report = await registry.close();
console.log(JSON.stringify({ answer: rows[0].answer, app: rows[0].app, unknown, clean: report.clean, services: registry.services }));`;

const expected = { answer: 42, app: 'consumer:auth', unknown: true, clean: true, services: ['auth', 'llm'] };

const typed = `import { createPoolRegistry, createUsageTracker, createInterferenceDetector, servicePresets, isBulkheadError, toPrometheus, type Incident, type ServiceStats, type RegistryEvents, type PresetService } from 'pg-bulkhead';
import pg from 'pg';

type IsAny<T> = 0 extends 1 & T ? true : false;
type AssertNotAny<T> = IsAny<T> extends true ? never : true;

export async function main(): Promise<number> {
  const registry = createPoolRegistry({ connection: 'postgres://localhost/db', applicationName: 'typed', services: servicePresets });
  // @ts-expect-error 'auht' is not a configured service
  void registry.query('auht', 'select 1');
  const stats: ServiceStats = registry.stats('auth');
  const lease = await registry.acquire('llm');
  const client: pg.Client = lease.client;
  lease.release();
  const usage = createUsageTracker({ registry, service: 'usage' });
  usage.increment('tenant:calls');
  const detector = createInterferenceDetector({ registry, protect: ['auth'] });
  detector.on('interference', (incident: Incident<PresetService>) => void incident.victim);
  registry.on('acquire-timeout', (event: RegistryEvents<PresetService>['acquire-timeout'][0]) => void event.waitedMs);
  const checks: [
    AssertNotAny<typeof stats>, AssertNotAny<typeof client>, AssertNotAny<ReturnType<typeof detector.health>>,
    AssertNotAny<ReturnType<typeof usage.stats>>, AssertNotAny<Parameters<typeof registry.withClient>[1]>,
  ] = [true, true, true, true, true];
  void checks;
  void toPrometheus({ registry, detector, usage });
  try { await usage.close(); } catch (error) { if (isBulkheadError(error, 'ERR_POOL_CLOSED')) return 1; }
  return stats.max;
}
`;

describe.skipIf(!enabled)('the packed package, installed in a fresh project', () => {
  let dir = '';
  let tarball = '';

  beforeAll(() => {
    expect(existsSync(join(root, 'dist', 'index.js')), 'run `npm run build` first').toBe(true);
    dir = mkdtempSync(join(tmpdir(), 'pg-bulkhead-consumer-'));
    const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: root, encoding: 'utf8' })) as { filename: string }[];
    tarball = join(dir, packed[0]!.filename);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    execFileSync(
      'npm',
      ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error', tarball, `pg@${pkg.devDependencies.pg}`, `@types/pg@${pkg.devDependencies['@types/pg']}`, `@types/node@${pkg.devDependencies['@types/node']}`],
      { cwd: dir, encoding: 'utf8', timeout: 240_000 },
    );
  }, 300_000);

  afterAll(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('contains only what a user needs', () => {
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n').sort();
    // tsup puts the declarations both entry points share in one chunk, named with a hash of its content
    const chunks = files.filter((f) => /^package\/dist\/[\w-]+-[\w-]{8}\.d\.c?ts$/.test(f));
    expect(chunks.length).toBeLessThanOrEqual(2);
    expect(files.filter((f) => !chunks.includes(f))).toEqual(
      [
        'LICENSE', 'README.md', 'dist/index.cjs', 'dist/index.cjs.map', 'dist/index.d.cts', 'dist/index.d.ts', 'dist/index.js', 'dist/index.js.map',
        'dist/otel.cjs', 'dist/otel.cjs.map', 'dist/otel.d.cts', 'dist/otel.d.ts', 'dist/otel.js', 'dist/otel.js.map', 'otel/package.json', 'package.json',
      ].map((f) => `package/${f}`),
    );
  });

  it('works from ESM', () => {
    writeFileSync(join(dir, 'esm.mjs'), usage(`import { createPoolRegistry, servicePresets, isBulkheadError } from 'pg-bulkhead';`));
    expect(JSON.parse(execFileSync(process.execPath, ['esm.mjs'], { cwd: dir, encoding: 'utf8' }))).toEqual(expected);
  });

  it('works from CommonJS', () => {
    writeFileSync(join(dir, 'cjs.cjs'), `(async () => {\n${usage(`const { createPoolRegistry, servicePresets, isBulkheadError } = require('pg-bulkhead');`)}\n})().catch((e) => { console.error(e); process.exit(1); });`);
    expect(JSON.parse(execFileSync(process.execPath, ['cjs.cjs'], { cwd: dir, encoding: 'utf8' }))).toEqual(expected);
  });

  it('recognises its errors across the ESM and CommonJS copies', () => {
    writeFileSync(
      join(dir, 'dual.mjs'),
      `import { createRequire } from 'node:module';
import { ConfigError } from 'pg-bulkhead';
const { isBulkheadError } = createRequire(import.meta.url)('pg-bulkhead');
console.log(JSON.stringify(isBulkheadError(new ConfigError([{ path: 'x', message: 'y' }]), 'ERR_CONFIG')));`,
    );
    expect(execFileSync(process.execPath, ['dual.mjs'], { cwd: dir, encoding: 'utf8' }).trim()).toBe('true');
  });

  // Three compilations that wait on nothing but the CPU: they run side by side, each with its own tsconfig.
  for (const [label, compilerOptions, file, project] of [
    ['node16 (CommonJS)', { module: 'node16', moduleResolution: 'node16' }, 'typed-node16.ts', 'tsconfig.node16-cjs.json'],
    ['node16 (ESM)', { module: 'node16', moduleResolution: 'node16' }, 'typed.mts', 'tsconfig.node16-esm.json'],
    ['bundler', { module: 'esnext', moduleResolution: 'bundler' }, 'typed-bundler.ts', 'tsconfig.bundler.json'],
  ] as const) {
    it.concurrent(`type-checks from TypeScript, moduleResolution ${label}, strict, without skipLibCheck`, async () => {
      writeFileSync(join(dir, file), typed);
      const config = { compilerOptions: { ...compilerOptions, target: 'es2022', strict: true, noEmit: true, skipLibCheck: false, esModuleInterop: true, types: ['node'] }, files: [file] };
      writeFileSync(join(dir, project), JSON.stringify(config));
      let output = '';
      try {
        await promisify(execFile)(process.execPath, [tsc, '-p', project], { cwd: dir, encoding: 'utf8' });
      } catch (error) {
        output = String((error as { stdout?: string }).stdout);
      }
      expect(output).toBe('');
    }, 60_000);
  }

  it('loads the OpenTelemetry bridge from ESM and CommonJS with no @opentelemetry/api installed (types only)', () => {
    const bridge = (load: string) => `${load}
const created = [];
const instrument = (name) => { created.push(name); return { record() {} }; };
const meter = { createHistogram: instrument, createObservableCounter: instrument, createObservableUpDownCounter: instrument, createObservableGauge: instrument, addBatchObservableCallback() {}, removeBatchObservableCallback() {} };
${fakeClient}
const registry = createPoolRegistry({ Client: FakeClient, services: { auth: { size: 0, overflow: 1 } } });
instrumentRegistry(registry, { meter }).dispose();
registry.close().then(() => console.log(JSON.stringify(created.filter((n) => n.startsWith('db.client.connection.')).sort())));`;
    expect(existsSync(join(dir, 'node_modules', '@opentelemetry', 'api'))).toBe(false);
    writeFileSync(join(dir, 'otel.mjs'), bridge(`import { createPoolRegistry } from 'pg-bulkhead';\nimport { instrumentRegistry } from 'pg-bulkhead/otel';`));
    writeFileSync(join(dir, 'otel.cjs'), bridge(`const { createPoolRegistry } = require('pg-bulkhead');\nconst { instrumentRegistry } = require('pg-bulkhead/otel');`));
    for (const file of ['otel.mjs', 'otel.cjs']) {
      const names = JSON.parse(execFileSync(process.execPath, [file], { cwd: dir, encoding: 'utf8' })) as string[];
      expect(names, file).toContain('db.client.connection.wait_time');
      expect(names, file).toHaveLength(9);
    }
  });

  it('ships declarations without `any` outside comments', () => {
    const declarations = readdirSync(join(root, 'dist'))
      .filter((f) => f.endsWith('.d.ts'))
      .map((f) => readFileSync(join(root, 'dist', f), 'utf8'))
      .join('\n').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
    // One exception on purpose: PgRow, pg's own default row type (`any`), so code written against pg.Pool compiles
    // unchanged (issue 13). Every other use of it must name PgRow, which keeps it visible and searchable.
    expect(declarations.replace(/type PgRow = any;/g, '').match(/\bany\b/g) ?? []).toEqual([]);
  });
});
