import { afterEach, describe, expect, it } from 'vitest';
import { start as startExpress } from '../../examples/express-server';
import { start as startNodeHttp } from '../../examples/node-http';
import { adminClient, describePg, pgUrl } from '../helpers/pg';
import { waitFor } from '../helpers/wait-for';
import { exerciseServer, lightPresets, uniquePrefix } from './server-checks';

const examples = { 'express-server.ts': startExpress, 'node-http.ts': startNodeHttp } as const;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

for (const [file, start] of Object.entries(examples)) {
  describe(`examples/${file} on pg-mem`, () => {
    it('serves auth, extension and llm routes, /health and /metrics, and counts usage', async () => {
      const prefix = uniquePrefix('mem');
      const server = await start({ port: 0, prefix, connection: undefined, modelMs: 20, log: () => {} });
      closers.push(server.close);
      await exerciseServer(server.url, server.app, prefix);
    });

    it('close() stops accepting, lets a request in flight finish, flushes usage, then closes the pools', async () => {
      const lines: string[] = [];
      const prefix = uniquePrefix('close');
      const server = await start({ port: 0, prefix, connection: undefined, modelMs: 200, log: (l) => lines.push(l) });
      const inFlight = fetch(`${server.url}/llm/complete`, { method: 'POST', headers: { 'content-type': 'application/json', connection: 'close' }, body: '{"prompt":"slow"}' });
      // In flight means its handler holds the llm connection (for the 200 ms model call): wait for that rather
      // than a fixed 50 ms, after which a slow run may not even have accepted the request yet.
      await waitFor(() => server.app.registry.stats('llm').inUse === 1, 5_000, 'the request to reach its handler');
      const closed = server.close();
      const response = await inFlight;
      expect(response.status).toBe(200);
      await closed;
      await expect(fetch(`${server.url}/health`)).rejects.toThrow();
      expect(server.app.registry.closed).toBe(true);
      expect(server.app.usage.stats().state).toBe('closed');
      expect(server.app.usage.stats().flushedIncrements).toBe(1); // the in-flight request, counted on finish
      expect(lines).toEqual(['usage: final flush complete (1 increments written while closing)', 'registry closed cleanly']);
    });
  });
}

describePg('the server examples on real PostgreSQL', () => {
  for (const [file, start] of Object.entries(examples)) {
    it(`examples/${file} answers real requests`, async () => {
      const prefix = uniquePrefix('pg');
      const server = await start({ port: 0, prefix, connection: pgUrl, services: lightPresets, modelMs: 20, log: () => {} });
      try {
        await exerciseServer(server.url, server.app, prefix);
      } finally {
        await server.close();
        const admin = await adminClient();
        try {
          await admin.query(`drop table if exists ${prefix}_users, ${prefix}_extensions, ${prefix}_usage, ${prefix}_usage_ledger`);
        } finally {
          await admin.end();
        }
      }
      expect(server.app.registry.closed).toBe(true);
    });
  }
});
