import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { start as startExpress } from '../../examples/express-server';
import { uniquePrefix } from '../examples/server-checks';

const root = fileURLToPath(new URL('../..', import.meta.url));
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

describe('the board in the examples (pg-mem)', () => {
  it('examples/express-server.ts mounts the board at /board: the page, its JSON, and 400 for unknown parameters', async () => {
    const server = await startExpress({ port: 0, prefix: uniquePrefix('board'), connection: undefined, modelMs: 20, log: () => {} });
    closers.push(server.close);
    const page = await fetch(`${server.url}/board`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(await page.text()).toContain('<div id="services"');
    const body = (await (await fetch(`${server.url}/board?format=json`)).json()) as { services: { service: string }[]; usage: unknown };
    expect(body.services.map((s) => s.service)).toEqual(server.app.registry.services);
    expect(body.usage).toMatchObject({ state: 'open' });
    expect((await fetch(`${server.url}/board?format=json&verbose=1`)).status).toBe(400);
  });

  it('npm run demo -- --board prints the board URL and serves it while the bulkheads run', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/demo.ts', '--quick', '--board'], { cwd: root, env: { ...process.env, DATABASE_URL: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    closers.push(async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
    });
    let stdout = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        stdout += chunk;
        const match = /live board: (http:\/\/127\.0\.0\.1:\d+\/board) /.exec(stdout);
        if (match) resolve(match[1]!);
      });
      void exited.then(() => reject(new Error(`the demo exited without a board URL:\n${stdout}`)));
    });
    const response = await fetch(`${url}?format=json`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { services: { service: string }[]; usage: unknown };
    expect(body.services.map((s) => s.service)).toEqual(['auth', 'extension', 'llm', 'usage']);
    expect(body.usage).not.toBeNull();
    expect(await exited).toBe(0);
    // Served during the run only: the port is closed once the bulkheads are.
    await expect(fetch(url)).rejects.toThrow();
  }, 60_000);
});
