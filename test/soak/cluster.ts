// A throwaway PostgreSQL 15 cluster for the chaos soak: its own data directory under /tmp, its own free loopback
// port, password (SCRAM) authentication over TCP. It can be stopped and started at will (the shared server on 5432
// must never be). `destroy()` stops it and removes the directory; a process 'exit' hook does the same if the soak
// dies half-way, so no cluster is ever left behind.
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** A running (or stopped) throwaway cluster. */
export interface Cluster {
  readonly port: number;
  readonly dataDir: string;
  /** Superuser `postgres`'s password on this cluster. */
  readonly adminPassword: string;
  /** `postgres://postgres:…@127.0.0.1:<port>/<database>`, straight to the server (no proxy). */
  adminUrl(database?: string): string;
  /** Fast shutdown (`pg_ctl stop -m fast`): every session is terminated, new connections are refused. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops (immediate) and removes the data directory. Idempotent, never throws. */
  destroy(): Promise<void>;
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Runs a PostgreSQL binary as the `postgres` OS user (initdb refuses root). */
function asPostgres(binary: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  const asRoot = process.getuid?.() === 0;
  const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(BIN, binary), ...args]] : [join(BIN, binary), args];
  return run(file, argv, { timeout: 60_000 });
}

const live = new Set<string>();
process.once('exit', () => {
  // Last resort, synchronous: a soak that crashed must not leave a server running or a directory behind.
  for (const dataDir of live) {
    try {
      const asRoot = process.getuid?.() === 0;
      const args = ['-D', dataDir, '-m', 'immediate', '-w', 'stop'];
      if (asRoot) execFileSync('runuser', ['-u', 'postgres', '--', join(BIN, 'pg_ctl'), ...args], { stdio: 'ignore', timeout: 20_000 });
      else execFileSync(join(BIN, 'pg_ctl'), args, { stdio: 'ignore', timeout: 20_000 });
    } catch {
      // already stopped
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
});

/** initdb + start on a free port; `database` is created. */
export async function createCluster(options: { adminPassword: string; database: string; maxConnections?: number }): Promise<Cluster> {
  const dataDir = mkdtempSync('/tmp/pg-bulkhead-soak-');
  live.add(dataDir);
  const port = await freePort();
  const pwfile = join(dataDir, '..', `${dataDir.split('/').pop()}.pw`);
  try {
    if (process.getuid?.() === 0) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
      chownSync(dataDir, uid, gid);
      writeFileSync(pwfile, `${options.adminPassword}\n`, { mode: 0o600 });
      chownSync(pwfile, uid, gid);
    } else {
      writeFileSync(pwfile, `${options.adminPassword}\n`, { mode: 0o600 });
    }
    chmodSync(dataDir, 0o700);
    await asPostgres('initdb', ['-D', dataDir, '-U', 'postgres', '--auth-host=scram-sha-256', '--auth-local=trust', `--pwfile=${pwfile}`, '--no-sync', '-E', 'UTF8']);
  } finally {
    rmSync(pwfile, { force: true });
  }
  const serverOptions = [
    `-p ${port}`,
    `-k ${dataDir}`,
    "-c listen_addresses='127.0.0.1'",
    `-c max_connections=${options.maxConnections ?? 200}`,
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c log_min_messages=warning',
  ].join(' ');
  const start = async (): Promise<void> => {
    await asPostgres('pg_ctl', ['-D', dataDir, '-o', serverOptions, '-l', join(dataDir, 'server.log'), '-w', '-t', '30', 'start']);
  };
  const stop = async (mode: 'fast' | 'immediate'): Promise<void> => {
    await asPostgres('pg_ctl', ['-D', dataDir, '-m', mode, '-w', '-t', '30', 'stop']);
  };
  const adminUrl = (database = 'postgres'): string => `postgres://postgres:${encodeURIComponent(options.adminPassword)}@127.0.0.1:${port}/${database}`;
  let destroyed: Promise<void> | null = null;
  const cluster: Cluster = {
    port,
    dataDir,
    adminPassword: options.adminPassword,
    adminUrl,
    stop: () => stop('fast'),
    start,
    destroy() {
      destroyed ??= (async () => {
        if (existsSync(join(dataDir, 'postmaster.pid'))) await stop('immediate').catch(() => {});
        rmSync(dataDir, { recursive: true, force: true });
        live.delete(dataDir);
      })();
      return destroyed;
    },
  };
  try {
    await start();
    await asPostgres('psql', ['-h', dataDir, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-qc', `create database ${options.database}`]);
  } catch (error) {
    await cluster.destroy();
    throw error;
  }
  return cluster;
}
