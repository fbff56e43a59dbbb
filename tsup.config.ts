import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', otel: 'src/otel/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  // Maps without the sources embedded: they point stack traces at src/ line numbers without shipping a second copy
  // of the code (they were most of the tarball). The dist files themselves are readable, not minified.
  sourcemap: true,
  esbuildOptions(options) {
    options.sourcesContent = false;
  },
  target: 'node18',
  splitting: false,
});
