/**
 * `npm run bench [-- --quick] [-- --only name[,name]]`: runs every bench in its own Node process (with
 * `--expose-gc`, so heap figures are measured after a full collection), one after the other, and exits non-zero
 * if any bench crashed. Targets are reported by each bench, never asserted.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCHES = ['overhead', 'isolation', 'usage', 'detector', 'memory', 'board', 'otel'];
const args = process.argv.slice(2);
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? (args[onlyAt + 1] ?? '').split(',').filter(Boolean) : BENCHES;
const unknown = only.filter((name) => !BENCHES.includes(name));
if (unknown.length > 0) {
  console.error(`unknown bench ${unknown.join(', ')}; expected one of ${BENCHES.join(', ')}`);
  process.exit(2);
}
const forwarded = args.includes('--quick') ? ['--quick'] : [];
const dir = dirname(fileURLToPath(import.meta.url));
const failed: string[] = [];
const started = performance.now();
for (const name of only) {
  const t0 = performance.now();
  const child = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', join(dir, `${name}.bench.ts`), ...forwarded], { stdio: 'inherit', env: process.env });
  const seconds = ((performance.now() - t0) / 1000).toFixed(1);
  if (child.status !== 0) {
    failed.push(name);
    console.error(`  ✗ ${name} failed (exit ${child.status ?? child.signal}) after ${seconds} s`);
  } else {
    console.log(`  ✓ ${name} in ${seconds} s`);
  }
}
console.log(`\n${only.length - failed.length}/${only.length} benches ran in ${((performance.now() - started) / 1000).toFixed(1)} s${failed.length > 0 ? `; failed: ${failed.join(', ')}` : ''}`);
process.exit(failed.length > 0 ? 1 : 0);
