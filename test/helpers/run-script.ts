// Runs a TypeScript script in a child Node process, for the tests that a host process can exit (or is held).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface ScriptRun {
  /** Exit code, or null when a signal ended the process. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** True when `killWhen` matched and this helper ended the process; false when it exited by itself. */
  readonly killedOnCue: boolean;
  /** True when it was still running at `timeoutMs` and was killed for that. */
  readonly timedOut: boolean;
}

export interface ScriptOptions {
  /** Added to this process's environment. */
  readonly env?: Record<string, string>;
  /** Kills a process still running after this long, ms (a safety net, not a measure). @default 20000 */
  readonly timeoutMs?: number;
  /** Kills the process as soon as its stdout so far satisfies this (it has said what the test needed). */
  readonly killWhen?: (stdout: string) => boolean;
}

/** Runs `script` (a path from the repository root) with `node --import tsx` and resolves once the process is gone. */
export function runScript(script: string, options: ScriptOptions = {}): Promise<ScriptRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: root, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let killedOnCue = false;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs ?? 20_000);
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    if (!killedOnCue && options.killWhen?.(stdout) === true) {
      killedOnCue = true;
      child.kill('SIGKILL');
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, killedOnCue, timedOut });
    });
  });
}
