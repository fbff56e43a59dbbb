// `npm test`: the type check (`tsc --noEmit`, all of src, test, examples and bench) and vitest's two projects, all
// side by side. The unit project keeps every core busy for a short while; the integration project mostly waits on
// servers, timers and child processes, so running the two one after the other (as one vitest run does, since their
// worker counts differ) would leave the cores idle for most of a minute. The unit run's and the type check's output
// are held until they are done, so nothing interleaves with the integration run's live output. The type check covers
// the type tests (`*.test-d.ts`: an `expectTypeOf` that fails is a compile error), so the unit run here skips
// vitest's own second compilation of them (`npm run test:unit` still runs it).
// With arguments, one vitest run with exactly those (`npm test -- --project unit`, `npm test -- test/usage`).
// Exits non-zero when anything failed.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');

/** Runs `node <args>` from the repository root; resolves with its exit code (1 when a signal ended it). */
function run(args: string[], output: 'inherit' | 'capture', env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; text: string }> {
  const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', output === 'inherit' ? 'inherit' : 'pipe', output === 'inherit' ? 'inherit' : 'pipe'] });
  let text = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code: code ?? 1, text })));
}

const typecheck = run([join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', root], 'capture');
const given = process.argv.slice(2);
let codes: number[];
if (given.length > 0) {
  codes = [(await run([vitest, 'run', ...given], 'inherit')).code];
} else {
  const unit = run([vitest, 'run', '--project', 'unit'], 'capture', { ...process.env, VITEST_TYPECHECK: '0' }).then((result) => {
    process.stdout.write(`\n──── unit project ────\n${result.text}\n──── end of the unit project ────\n`);
    return result;
  });
  const integration = run([vitest, 'run', '--project', 'integration'], 'inherit');
  codes = (await Promise.all([unit, integration])).map((result) => result.code);
}
const types = await typecheck;
if (types.code === 0) {
  console.log('typecheck (tsc --noEmit): no errors');
} else {
  console.error(`typecheck (tsc --noEmit) failed:\n${types.text}`);
}
process.exit([types.code, ...codes].find((code) => code !== 0) ?? 0);
