import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { OpenFailure } from '../../src/pool/ledger';
import { PooledConnection } from '../../src/pool/pooled-connection';
import { advance, useFakeTime } from '../helpers/fake-time';
import { makeFactory } from './pool-fixture';

describe('ConnectionFactory', () => {
  beforeEach(() => useFakeTime());
  afterEach(() => vi.useRealTimers());

  it('opens a connection, registers it with its pool and leaves nothing counted as opening', async () => {
    const { factory, open, slots } = makeFactory();
    const connection = await factory.open();
    expect(connection).toBeInstanceOf(PooledConnection);
    expect(open.has(connection as PooledConnection)).toBe(true);
    expect(slots.opening).toBe(0);
  });

  it('settles a failed connect with a failure marker, counts it, and spaces the next attempt', async () => {
    const { factory, server, meters, events } = makeFactory();
    const errors: unknown[] = [];
    events.on('connect-error', (e) => errors.push(e));
    server.refuse = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const failed = factory.open();
    await advance(0);
    expect(await failed).toEqual(new OpenFailure('failed'));
    expect(meters.connectFailures).toBe(1);
    expect(errors).toHaveLength(1);
    expect(factory.lastError?.message).toContain('ECONNREFUSED');
    // the next attempt waits for the breaker's pause instead of connecting at once
    const next = factory.open();
    await advance(0);
    expect(server.connectAttempts).toBe(1);
    await advance(500);
    await next;
    expect(server.connectAttempts).toBe(2);
  });

  it('tells its pool when the circuit opens, so waiters can fail at once', async () => {
    const { factory, server, state } = makeFactory({}, 1);
    server.refuse = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const failed = factory.open();
    await advance(0);
    await failed;
    expect(state.circuitOpened).toBe(1);
    expect(factory.breaker.state).toBe('open');
    expect(factory.unavailableError().code).toBe('ERR_DATABASE_UNAVAILABLE');
  });

  it('a failing onConnect hook fails the attempt and ends the half-set-up client', async () => {
    const { factory, server, open } = makeFactory({ onConnect: () => Promise.reject(new Error('hook failed')) });
    expect(await factory.open()).toEqual(new OpenFailure('failed'));
    await advance(0);
    expect(server.clients[0]?.ended).toBe(true);
    expect(open.size).toBe(0);
  });

  it('a connect that finishes after the pool closed ends the client before settling, and opens nothing', async () => {
    const { factory, server, state, open } = makeFactory();
    server.connectDelayMs = 50;
    server.endDelayMs = 20;
    const opening = factory.open();
    await advance(10);
    state.open = false;
    let settled = false;
    void opening.then(() => (settled = true));
    await advance(40);
    expect(settled).toBe(false); // waiting for the socket to close
    await advance(20);
    expect(await opening).toEqual(new OpenFailure('closed'));
    expect(server.clients[0]?.ended).toBe(true);
    expect(open.size).toBe(0);
  });

  it('a capacity refusal while the service has working connections keeps the circuit closed and warns once', async () => {
    const { factory, server, events } = makeFactory({}, 1);
    const warnings: unknown[] = [];
    events.on('server-warning', (w) => warnings.push(w));
    await factory.open(); // one working connection
    server.refuse = Object.assign(new Error('sorry, too many clients already'), { code: '53300' });
    for (let i = 0; i < 3; i++) {
      const attempt = factory.open();
      await advance(1_000);
      await attempt;
    }
    expect(factory.breaker.state).toBe('closed');
    expect(warnings).toHaveLength(1);
  });

  // PgBouncer answers its own client limits with 08P01 (the error a real PgBouncer 1.18 sends at max_client_conn);
  // it sends every error of its own as 08P01, so only its limit refusals are capacity, its outages are failures.
  const refusals: [string, Error & { code: string }, 'closed' | 'open'][] = [
    ['PostgreSQL: too many clients (53300)', Object.assign(new Error('sorry, too many clients already'), { code: '53300' }), 'closed'],
    ['PgBouncer: max_client_conn (08P01)', Object.assign(new Error('no more connections allowed (max_client_conn)'), { code: '08P01' }), 'closed'],
    ['PgBouncer 1.24: max_db_client_connections (08P01)', Object.assign(new Error('client connections exceeded (max_db_client_connections)'), { code: '08P01' }), 'closed'],
    ['PgBouncer: cannot connect to the server (08P01), an outage', Object.assign(new Error('pgbouncer cannot connect to server'), { code: '08P01' }), 'open'],
  ];
  for (const [what, refusal, circuit] of refusals) {
    it(`with a working connection, ${what}: the circuit stays ${circuit}`, async () => {
      const { factory, server, events, meters } = makeFactory({}, 2);
      const warnings: { kind: string; code: string }[] = [];
      events.on('server-warning', (w: { kind: string; code: string }) => warnings.push(w));
      await factory.open(); // one working connection
      server.refuse = refusal;
      for (let i = 0; i < 3; i++) {
        const attempt = factory.open();
        await advance(5_000);
        await attempt;
      }
      expect(factory.breaker.state === 'closed' ? 'closed' : 'open').toBe(circuit); // open, or half-open probing
      expect(warnings).toEqual(circuit === 'closed' ? [expect.objectContaining({ kind: 'capacity', code: refusal.code })] : []);
      expect(meters.capacityRefusals > 0).toBe(circuit === 'closed');
    });
  }

  it('ping answers false (and marks the connection broken) when the check gets no answer in time', async () => {
    const { factory, server } = makeFactory();
    const connection = (await factory.open()) as PooledConnection;
    expect(await factory.ping(connection, 100)).toBe(true);
    server.onQuery = () => new Promise(() => {});
    const check = factory.ping(connection, 100);
    await advance(100);
    expect(await check).toBe(false);
    expect(connection.broken).not.toBeNull();
  });
});
