import { describe, expect, it } from 'vitest';
import { SessionSettings, type Pooler } from '../../src/pool/session-settings';
import { isBulkheadError } from '../../src/errors';
import { createPoolRegistry } from '../../src/registry/pool-registry';
import type { SettingWarningEvent } from '../../src/pool/events';
import { FakeServer, result } from '../helpers/fake-client';

/** A client whose session has `values` (ms by setting name), recording every statement. */
function sessionClient(values: Record<string, number> | Error) {
  const texts: string[] = [];
  return {
    texts,
    connect: () => {},
    end: () => {},
    on: () => undefined,
    query: async (text: string) => {
      texts.push(text);
      if (!text.includes('pg_settings')) return result();
      if (values instanceof Error) throw values;
      return result('SELECT', Object.entries(values).map(([name, setting]) => ({ name, setting: String(setting) })));
    },
  };
}

function sink() {
  const events: SettingWarningEvent[] = [];
  return {
    events,
    listenerCount: () => 1,
    emit: (_event: string, payload: SettingWarningEvent) => {
      events.push(payload);
      return true;
    },
  };
}

const wanted = { statementTimeoutMs: 500, idleInTransactionTimeoutMs: 20_000 };
const applied = { statement_timeout: 500, idle_in_transaction_session_timeout: 20_000 };
const dropped = { statement_timeout: 0, idle_in_transaction_session_timeout: 0 };

describe('per-service settings under each pooler', () => {
  it("'none': startup parameters, read back once, and a dropped one fails the connect with ERR_SETTING_NOT_APPLIED", async () => {
    const events = sink();
    const settings = new SessionSettings('auth', 'none', wanted, events as never);
    expect(settings.startupParameters()).toEqual(applied);
    expect(settings.begin).toBe('BEGIN');
    const bad = sessionClient({ statement_timeout: 0, idle_in_transaction_session_timeout: 20_000 });
    const error = await settings.afterConnect(bad).catch((e: unknown) => e);
    expect(isBulkheadError(error, 'ERR_SETTING_NOT_APPLIED')).toBe(true);
    expect(error).toMatchObject({ service: 'auth', setting: 'statement_timeout', expectedMs: 500, actualMs: 0 });
    // Still unverified: the next connection is checked again; once one passes, no more read-backs.
    const good = sessionClient(applied);
    await settings.afterConnect(good);
    expect(good.texts).toHaveLength(1);
    const later = sessionClient(dropped);
    await settings.afterConnect(later);
    expect(later.texts).toEqual([]);
    expect(events.events).toEqual([]);
  });

  it("'pgbouncer-session': no startup parameters; SET on every new connection, then one read-back", async () => {
    const settings = new SessionSettings('auth', 'pgbouncer-session', wanted, sink() as never);
    expect(settings.startupParameters()).toEqual({});
    expect(settings.begin).toBe('BEGIN');
    const first = sessionClient(applied);
    await settings.afterConnect(first);
    expect(first.texts[0]).toBe('SET statement_timeout = 500; SET idle_in_transaction_session_timeout = 20000');
    expect(first.texts).toHaveLength(2);
    const second = sessionClient(applied);
    await settings.afterConnect(second);
    expect(second.texts).toEqual(['SET statement_timeout = 500; SET idle_in_transaction_session_timeout = 20000']);
  });

  it("'pgbouncer-session': a SET the server did not keep still fails loudly", async () => {
    const settings = new SessionSettings('auth', 'pgbouncer-session', wanted, sink() as never);
    await expect(settings.afterConnect(sessionClient(dropped))).rejects.toMatchObject({ code: 'ERR_SETTING_NOT_APPLIED', setting: 'statement_timeout' });
  });

  it("'pgbouncer-transaction': never a session SET; SET LOCAL per transaction and a warning per setting the role lacks", async () => {
    const events = sink();
    const settings = new SessionSettings('auth', 'pgbouncer-transaction', wanted, events as never);
    expect(settings.startupParameters()).toEqual({});
    expect(settings.perTransaction).toBe(true);
    expect(settings.begin).toBe('BEGIN; SET LOCAL statement_timeout = 500; SET LOCAL idle_in_transaction_session_timeout = 20000');
    const client = sessionClient({ statement_timeout: 0, idle_in_transaction_session_timeout: 20_000 });
    await settings.afterConnect(client);
    expect(client.texts.some((t) => /^set /i.test(t))).toBe(false);
    expect(settings.perTransaction).toBe(true);
    expect(events.events).toEqual([expect.objectContaining({ service: 'auth', setting: 'statement_timeout', option: 'statementTimeoutMs', expectedMs: 500, actualMs: 0 })]);
  });

  it("'pgbouncer-transaction': settings already on the role (ALTER ROLE … SET) need no SET LOCAL", async () => {
    const events = sink();
    const settings = new SessionSettings('auth', 'pgbouncer-transaction', wanted, events as never);
    await settings.afterConnect(sessionClient(applied));
    expect(settings.perTransaction).toBe(false);
    expect(settings.begin).toBe('BEGIN');
    expect(events.events).toEqual([]);
  });

  it.each<Pooler>(['none', 'pgbouncer-session', 'pgbouncer-transaction'])("%s: settings that cannot be read back are warned about, not fatal (pg-mem, fakes)", async (pooler) => {
    const events = sink();
    const settings = new SessionSettings('auth', pooler, { statementTimeoutMs: 500, idleInTransactionTimeoutMs: 0 }, events as never);
    await settings.afterConnect(sessionClient(new Error('relation "pg_settings" does not exist')));
    expect(events.events).toEqual([expect.objectContaining({ service: 'auth', setting: 'statement_timeout', actualMs: null })]);
    expect(events.events[0]?.message).toContain('could not read statement_timeout back');
  });

  it('no timeouts: nothing is set, read or warned', async () => {
    const events = sink();
    const settings = new SessionSettings('auth', 'pgbouncer-transaction', { statementTimeoutMs: 0, idleInTransactionTimeoutMs: 0 }, events as never);
    const client = sessionClient(dropped);
    await settings.afterConnect(client);
    expect(settings.needsSetup).toBe(false);
    expect(settings.begin).toBe('BEGIN');
    expect(client.texts).toEqual([]);
  });
});

describe('the registry under transaction pooling', () => {
  it('query() and transaction() set the settings per transaction; withClient is the raw client', async () => {
    const server = new FakeServer();
    server.onQuery = (text) => (text.includes('pg_settings') ? result('SELECT', [{ name: 'statement_timeout', setting: '0' }, { name: 'idle_in_transaction_session_timeout', setting: '0' }]) : result());
    const registry = createPoolRegistry({ Client: server.Client, pooler: 'pgbouncer-transaction', services: { auth: { size: 0, overflow: 1, statementTimeoutMs: 250 } } });
    try {
      await registry.query('auth', 'select 1');
      await registry.transaction('auth', (_c, lease) => lease.query('select 2'));
      await registry.withClient('auth', (client) => client.query('select 3'));
      const client = server.clients[0];
      expect(client?.config.statement_timeout).toBeUndefined();
      expect(client?.queries.filter((q) => !q.includes('pg_settings'))).toEqual([
        'BEGIN; SET LOCAL statement_timeout = 250',
        'select 1',
        'COMMIT',
        'BEGIN; SET LOCAL statement_timeout = 250',
        'select 2',
        'COMMIT',
        'select 3',
      ]);
    } finally {
      await registry.close();
    }
  });

  it('without a pooler the settings are startup parameters, as before', async () => {
    const server = new FakeServer();
    server.onQuery = (text) => (text.includes('pg_settings') ? result('SELECT', [{ name: 'statement_timeout', setting: '250' }, { name: 'idle_in_transaction_session_timeout', setting: '0' }]) : result());
    const registry = createPoolRegistry({ Client: server.Client, services: { auth: { size: 0, overflow: 1, statementTimeoutMs: 250 } } });
    try {
      await registry.query('auth', 'select 1');
      expect(server.clients[0]?.config.statement_timeout).toBe(250);
      expect(server.clients[0]?.queries.filter((q) => !q.includes('pg_settings'))).toEqual(['select 1']);
    } finally {
      await registry.close();
    }
  });
});

describe('a startup parameter PgBouncer refuses', () => {
  const refusal = (setting: string) => Object.assign(new Error(`unsupported startup parameter: ${setting}`), { code: '08P01', severity: 'FATAL' });

  it("becomes ERR_SETTING_NOT_APPLIED naming the service, option and fix, with PgBouncer's error as cause", () => {
    const settings = new SessionSettings('auth', 'none', { statementTimeoutMs: 500, idleInTransactionTimeoutMs: 0 }, sink() as never);
    const original = refusal('statement_timeout');
    const explained = settings.explainConnectError(original) as Error & { actualMs: unknown; setting: unknown; cause: unknown };
    expect(isBulkheadError(explained, 'ERR_SETTING_NOT_APPLIED')).toBe(true);
    expect(explained.message).toMatch(/^auth: the connection was refused for statement_timeout \(statementTimeoutMs 500 ms\), sent as a startup parameter: unsupported startup parameter: statement_timeout\. Behind PgBouncer set the registry's pooler option/);
    expect(explained).toMatchObject({ setting: 'statement_timeout', actualMs: null, expectedMs: 500 });
    expect(explained.cause).toBe(original);
  });

  it('leaves every other error as it is: another 08P01, a parameter this service does not send, a pooler that sends none', () => {
    const none = new SessionSettings('auth', 'none', { statementTimeoutMs: 500, idleInTransactionTimeoutMs: 0 }, sink() as never);
    const other = Object.assign(new Error('no more connections allowed (max_client_conn)'), { code: '08P01' });
    expect(none.explainConnectError(other)).toBe(other);
    const idle = refusal('idle_in_transaction_session_timeout');
    expect(none.explainConnectError(idle)).toBe(idle); // not set on this service, so not what it sent
    const pooled = new SessionSettings('auth', 'pgbouncer-transaction', { statementTimeoutMs: 500, idleInTransactionTimeoutMs: 0 }, sink() as never);
    const refused = refusal('statement_timeout');
    expect(pooled.explainConnectError(refused)).toBe(refused);
    expect(none.explainConnectError('a string')).toBe('a string');
  });
});
