import { defineConfig } from 'vitest/config';

/**
 * Files that need something outside the test process: real PostgreSQL (`*.pg.test.ts`), PgBouncer
 * (`*.pgbouncer.test.ts`), Chromium, or child processes (the examples as scripts, the packed package, exit tests).
 * They share one server and two cores with each other, so they run in a few workers: four, because most of their
 * time is spent waiting (on pg_sleep, timers, child processes), and four of them at once peak at about 66 server
 * sessions, within PostgreSQL's default max_connections of 100. Everything else is a unit test (pg-mem or a fake
 * client, fake time) and runs fully parallel. `npm test` runs the two projects side by side (test/helpers/run-all.ts).
 */
const integration = [
  'test/**/*.pg.test.ts',
  'test/**/*.pgbouncer.test.ts',
  'test/board/board-browser.test.ts',
  'test/board/examples-board.test.ts',
  'test/examples/**/*.test.ts',
  'test/otel/isolation.test.ts',
  'test/package/**/*.test.ts',
  'test/registry/exit.test.ts',
];

export default defineConfig({
  test: {
    globalSetup: ['test/helpers/global-setup.ts', 'test/helpers/pgbouncer-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: integration,
          maxWorkers: '100%',
          // One module cache per worker for all its files: imports once, not once per file.
          isolate: false,
          setupFiles: ['test/helpers/unit-setup.ts'],
          // Projects with different maxWorkers run one after the other, in this order.
          sequence: { groupOrder: 0 },
          // npm test (test/helpers/run-all.ts) sets VITEST_TYPECHECK=0: its whole-project tsc compiles these already.
          typecheck: { enabled: process.env.VITEST_TYPECHECK !== '0', include: ['test/**/*.test-d.ts'], tsconfig: './tsconfig.json' },
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: integration,
          maxWorkers: 4,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
