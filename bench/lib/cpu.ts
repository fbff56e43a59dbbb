/**
 * Where the machine's CPU went during a window (Linux only, from /proc): the whole machine, PostgreSQL's
 * processes and this process. The benches run PostgreSQL on the same cores, and the host is shared, so a latency
 * rise can come from any of the three; this tells them apart. Elsewhere every figure is NaN.
 *
 * The /proc reads happen in a small child process, so the bench's own event loop (whose latency is what is being
 * measured) never pays for them: `mark()` costs one pipe write.
 */
import { spawn } from 'node:child_process';

export interface CpuShares {
  /** Share of the whole machine (all cores) that was busy, 0..1. */
  readonly machineBusy: number;
  /** PostgreSQL's processes, in cores (1 = one core fully used). Backends that exited during the window are missed. */
  readonly postgresCores: number;
  /** This process, in cores. */
  readonly selfCores: number;
  /** Everything else that ran on the machine (other processes, the kernel, the sampler), in cores. */
  readonly otherCores: number;
  readonly cores: number;
}

/** One reading: time (ms, shared clock), machine busy and total jiffies, ticks per PostgreSQL pid, ticks of the bench. */
export interface CpuSnapshot {
  readonly at: number;
  readonly busy: number;
  readonly total: number;
  readonly postgres: Record<string, number>;
  readonly self: number;
}

/** The sampler: CommonJS, run with `node -e`; reads a line per snapshot on stdin, prints them all at "end". */
const SAMPLER = `
const fs = require('node:fs');
const parent = process.argv[1];
const snapshots = [];
function ticks(pid) {
  const stat = fs.readFileSync('/proc/' + pid + '/stat', 'utf8');
  const close = stat.lastIndexOf(')');
  const fields = stat.slice(close + 2).split(' ');
  return { comm: stat.slice(stat.indexOf('(') + 1, close), ticks: Number(fields[11]) + Number(fields[12]) };
}
function snapshot() {
  const at = performance.timeOrigin + performance.now();
  let busy = NaN, total = NaN, self = NaN;
  const postgres = {};
  try {
    const v = fs.readFileSync('/proc/stat', 'utf8').split('\\n', 1)[0].trim().split(/\\s+/).slice(1).map(Number);
    total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    busy = total - v[3] - v[4];
    self = ticks(parent).ticks;
    for (const pid of fs.readdirSync('/proc')) {
      if (!/^\\d+$/.test(pid)) continue;
      try {
        const t = ticks(pid);
        if (t.comm === 'postgres') postgres[pid] = t.ticks;
      } catch {}
    }
  } catch {}
  snapshots.push({ at, busy, total, postgres, self });
}
let buffer = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffer += chunk;
  let nl;
  while ((nl = buffer.indexOf('\\n')) >= 0) {
    const line = buffer.slice(0, nl);
    buffer = buffer.slice(nl + 1);
    if (line === 's') snapshot();
    else if (line === 'e') { process.stdout.write(JSON.stringify(snapshots)); process.exit(0); }
  }
});
`;

/** Clock ticks per second of /proc (USER_HZ), 100 on every mainstream Linux. */
const TICKS_PER_S = 100;

export interface CpuSampler {
  /** Takes a snapshot now (in the child); snapshots come back from `stop()` in the order marked. */
  mark(): void;
  stop(): Promise<CpuSnapshot[]>;
}

export function startCpuSampler(): CpuSampler {
  const child = spawn(process.execPath, ['-e', SAMPLER, String(process.pid)], { stdio: ['pipe', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => (out += chunk));
  const done = new Promise<CpuSnapshot[]>((resolve) => {
    child.on('close', () => {
      try {
        resolve(JSON.parse(out) as CpuSnapshot[]);
      } catch {
        resolve([]);
      }
    });
    child.on('error', () => resolve([]));
  });
  return {
    mark: () => void child.stdin.write('s\n'),
    stop: () => {
      child.stdin.write('e\n');
      return done;
    },
  };
}

const NONE: CpuShares = { machineBusy: Number.NaN, postgresCores: Number.NaN, selfCores: Number.NaN, otherCores: Number.NaN, cores: 0 };

/** CPU use between two snapshots (NaN figures when either is missing). */
export function cpuBetween(a: CpuSnapshot | undefined, b: CpuSnapshot | undefined, cores: number): CpuShares {
  if (a === undefined || b === undefined) return { ...NONE, cores };
  const seconds = (b.at - a.at) / 1000;
  let pgTicks = 0;
  for (const [pid, ticks] of Object.entries(b.postgres)) pgTicks += ticks - (a.postgres[pid] ?? 0);
  const machineBusy = (b.busy - a.busy) / (b.total - a.total);
  const postgresCores = pgTicks / TICKS_PER_S / seconds;
  const selfCores = (b.self - a.self) / TICKS_PER_S / seconds;
  return { machineBusy, postgresCores, selfCores, otherCores: machineBusy * cores - postgresCores - selfCores, cores };
}
