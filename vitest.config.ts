import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts', 'test/helpers/pgbouncer-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Real-PostgreSQL suites share one server: keep files in a small number of workers.
    maxWorkers: 2,
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'], tsconfig: './tsconfig.json' },
  },
});
