// `npm test`: the type check (`tsc --noEmit`, all of src, test, examples and bench) and vitest (every project, or
// the arguments given: `npm test -- --project unit`) side by side. The type check keeps one core busy for a while;
// vitest's integration project mostly waits on servers and child processes. Exits non-zero when either fails.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Runs `node <args>` from the repository root; resolves with its exit code (1 when a signal ended it). */
function run(args: string[], output: 'inherit' | 'capture'): Promise<{ code: number; text: string }> {
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', output === 'inherit' ? 'inherit' : 'pipe', output === 'inherit' ? 'inherit' : 'pipe'] });
  let text = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code: code ?? 1, text })));
}

// The type check's output is held until vitest is done, so the two never interleave.
const typecheck = run([join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', root], 'capture');
const tests = await run([join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...process.argv.slice(2)], 'inherit');
const types = await typecheck;
if (types.code === 0) {
  console.log('typecheck (tsc --noEmit): no errors');
} else {
  console.error(`typecheck (tsc --noEmit) failed:\n${types.text}`);
}
process.exit(types.code !== 0 ? types.code : tests.code);
