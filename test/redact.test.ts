import { describe, expect, it } from 'vitest';
import { Redactor } from '../src/redact';

describe('Redactor', () => {
  const redactor = new Redactor(['s3cr3t/pass']);

  it('returns an error untouched when it carries no secret', () => {
    const error = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(redactor.error(error)).toBe(error);
  });

  it('removes the secret, plain or URL-encoded, from message, stack and other fields', () => {
    const error = Object.assign(new TypeError('Invalid URL postgres://u:s3cr3t%2Fpass@h/db'), { code: 'ERR_INVALID_URL', input: 'postgres://u:s3cr3t/pass@h/db' });
    const safe = redactor.error(error);
    expect(safe).not.toBe(error);
    expect(safe.message).toBe('Invalid URL postgres://u:***@h/db');
    expect(safe).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_URL' });
    expect(JSON.stringify({ ...safe, stack: safe.stack })).not.toContain('s3cr3t');
  });

  it('follows the cause chain and AggregateError.errors', () => {
    const inner = new Error('auth failed for s3cr3t/pass');
    const outer = new Error('wrapper', { cause: new Error('middle', { cause: inner }) });
    const safe = redactor.error(outer);
    expect(safe).not.toBe(outer);
    const middle = safe.cause as Error;
    expect(middle.message).toBe('middle');
    expect((middle.cause as Error).message).toBe('auth failed for ***');
    const aggregate = new AggregateError([new Error('ok'), new Error('bad s3cr3t/pass')], 'several');
    const safeAggregate = redactor.error(aggregate) as Error & { errors: Error[] };
    expect(safeAggregate.errors.map((e) => e.message)).toEqual(['ok', 'bad ***']);
  });

  it('withholds a whole message when a very short password appears in it', () => {
    const short = new Redactor(['pw']);
    expect(short.text('password authentication failed: pw')).toBe('[message withheld: it may contain the database password]');
    expect(short.text('connect ECONNREFUSED')).toBe('connect ECONNREFUSED');
  });
});
