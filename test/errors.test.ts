import { describe, expect, it } from 'vitest';
import {
  AbortedError,
  AcquireTimeoutError,
  BulkheadError,
  ConfigError,
  ConnectTimeoutError,
  InvalidArgumentError,
  isBulkheadError,
  LeaseReleasedError,
  PoolClosedError,
  QueueFullError,
  UnknownServiceError,
  WriteInDoubtError,
  SettingNotAppliedError,
} from '../src/index';

describe('error classes', () => {
  const cases = [
    { make: () => new ConfigError([{ path: 'services.auth.size', message: 'expected an integer >= 0, got -1 (number)' }]), code: 'ERR_CONFIG', name: 'ConfigError', text: 'services.auth.size: expected an integer >= 0, got -1 (number)' },
    { make: () => new UnknownServiceError('auht', ['auth', 'llm']), code: 'ERR_UNKNOWN_SERVICE', name: 'UnknownServiceError', text: 'unknown service "auht"; configured services: auth, llm' },
    { make: () => new AcquireTimeoutError('auth', { waitedMs: 5000.4, inUse: 3, max: 3, waiting: 12 }), code: 'ERR_ACQUIRE_TIMEOUT', name: 'AcquireTimeoutError', text: 'auth: no connection within 5000 ms (3 in use, 3 max, 12 waiting)' },
    { make: () => new QueueFullError('llm', 100, 100), code: 'ERR_QUEUE_FULL', name: 'QueueFullError', text: 'llm: wait queue is full (100 waiting, maxWaiting 100)' },
    { make: () => new PoolClosedError('auth'), code: 'ERR_POOL_CLOSED', name: 'PoolClosedError', text: 'auth: the registry is closed' },
    { make: () => new LeaseReleasedError('ERR_DOUBLE_RELEASE', 'auth', 'released twice'), code: 'ERR_DOUBLE_RELEASE', name: 'LeaseReleasedError', text: 'auth: released twice' },
    { make: () => new LeaseReleasedError('ERR_LEASE_RELEASED', 'auth', 'used after release'), code: 'ERR_LEASE_RELEASED', name: 'LeaseReleasedError', text: 'auth: used after release' },
    { make: () => new LeaseReleasedError('ERR_RELEASE_IN_TRANSACTION', 'auth', 'release() inside transaction()'), code: 'ERR_RELEASE_IN_TRANSACTION', name: 'LeaseReleasedError', text: 'auth: release() inside transaction()' },
    { make: () => new ConnectTimeoutError('auth', 10_000), code: 'ERR_CONNECT_TIMEOUT', name: 'ConnectTimeoutError', text: 'auth: connecting to PostgreSQL took longer than 10000 ms' },
    { make: () => new AbortedError('api', 'acquire', 'client went away'), code: 'ERR_ABORTED', name: 'AbortError', text: 'api: acquire aborted by its signal' },
    { make: () => new ConnectTimeoutError('auth', 500, 'onConnect'), code: 'ERR_CONNECT_TIMEOUT', name: 'ConnectTimeoutError', text: "auth: the service's onConnect hook took longer than 500 ms" },
    { make: () => new WriteInDoubtError('usage', 'b-1', new Error('Connection terminated unexpectedly')), code: 'ERR_WRITE_IN_DOUBT', name: 'WriteInDoubtError', text: 'usage: batch b-1 may or may not have been committed (lost while committing: Connection terminated unexpectedly)' },
    { make: () => new SettingNotAppliedError('auth', { setting: 'statement_timeout', option: 'statementTimeoutMs', expectedMs: 500, actualMs: 0 }), code: 'ERR_SETTING_NOT_APPLIED', name: 'SettingNotAppliedError', text: 'auth: statement_timeout is 0 ms on the server, expected 500 ms (statementTimeoutMs)' },
  ] as const;

  it.each(cases)('$name has code $code, a readable message and the brand', ({ make, code, name, text }) => {
    const error = make();
    expect(error).toBeInstanceOf(BulkheadError);
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe(code);
    expect(error.name).toBe(name);
    expect(error.message).toContain(text);
    expect(isBulkheadError(error)).toBe(true);
    expect(isBulkheadError(error, code)).toBe(true);
    expect(isBulkheadError(error, code === 'ERR_CONFIG' ? 'ERR_QUEUE_FULL' : 'ERR_CONFIG')).toBe(false);
  });

  it('carries the service and the cause', () => {
    const cause = new Error('connect ECONNREFUSED');
    const error = new AcquireTimeoutError('auth', { waitedMs: 10, inUse: 1, max: 1, waiting: 0 }, cause);
    expect(error.service).toBe('auth');
    expect(error.cause).toBe(cause);
    expect(error.message).toContain('last connection error: connect ECONNREFUSED');
  });

  it('InvalidArgumentError is a TypeError with a stable code', () => {
    const error = new InvalidArgumentError('by: expected a positive safe integer');
    expect(error).toBeInstanceOf(TypeError);
    expect(error.code).toBe('ERR_INVALID_ARGUMENT');
    expect(isBulkheadError(error, 'ERR_INVALID_ARGUMENT')).toBe(true);
  });

  it('the brand survives a second copy of the module (no instanceof needed)', () => {
    const foreign = Object.assign(new Error('x'), { code: 'ERR_QUEUE_FULL' });
    expect(isBulkheadError(foreign)).toBe(false);
    const branded = Object.defineProperty(Object.assign(new Error('x'), { code: 'ERR_QUEUE_FULL' }), Symbol.for('pg-bulkhead.error'), { value: true });
    expect(isBulkheadError(branded, 'ERR_QUEUE_FULL')).toBe(true);
    expect(isBulkheadError(null)).toBe(false);
    expect(isBulkheadError('ERR_QUEUE_FULL')).toBe(false);
  });
});
