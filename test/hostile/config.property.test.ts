// Hostile input, part 1: random configurations (seeded). Every invalid one is rejected with ERR_CONFIG listing the
// path of each problem; every valid one builds and closes cleanly. The generator tags every value it makes as
// valid or invalid, so the expected paths are known without re-implementing the validator.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, createPoolRegistry, createUsageTracker, isBulkheadError } from '../../src/index';
import { FakeServer } from '../helpers/fake-client';

const SEED = 0x8b0_1d;
/** A value and whether the validator must accept it. `undefined` means "leave the key out". */
type Tagged = { readonly value: unknown; readonly valid: boolean };

const junk = fc.oneof(fc.constant(null), fc.string({ maxLength: 5 }), fc.boolean(), fc.constant([]), fc.constant({}), fc.constant(Number.NaN), fc.constant(() => 1));
/** With `hostile` false, only valid values (so valid configurations are common too). */
function configArbitrary(hostile: boolean) {
  const tag = (valid: fc.Arbitrary<unknown>, invalid: fc.Arbitrary<unknown>): fc.Arbitrary<Tagged> =>
    fc.oneof(
      { weight: 3, arbitrary: fc.constant<Tagged>({ value: undefined, valid: true }) },
      { weight: 4, arbitrary: valid.map((value) => ({ value, valid: true })) },
      { weight: hostile ? 1 : 0, arbitrary: invalid.map((value) => ({ value, valid: false })) },
    );
  const maybe = <T,>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => (hostile ? fc.option(arb, { nil: undefined }) : fc.constant(undefined));
  const duration = tag(fc.integer({ min: 1, max: 60_000 }), fc.oneof(fc.constant(0), fc.integer({ max: -1 }), fc.constant(Infinity), fc.double({ min: -1e6, max: -0.001, noNaN: true }), junk));
  const durationOrZero = tag(fc.integer({ min: 0, max: 60_000 }), fc.oneof(fc.integer({ max: -1 }), fc.constant(-Infinity), junk));
  // Sizes stay small and overflow >= 1, so "size + overflow >= 1" and the budget never bind on valid values.
  const size = tag(fc.integer({ min: 0, max: 3 }), fc.oneof(fc.integer({ max: -1 }), fc.constant(1.5), fc.integer({ min: 10_001, max: 1e6 }), junk));
  const overflow = tag(fc.integer({ min: 1, max: 3 }), fc.oneof(fc.integer({ max: -1 }), fc.constant(2.5), fc.integer({ min: 10_001, max: 1e6 }), junk));
  const priority = tag(fc.constantFrom('highest', 'high', 'medium', 'low'), fc.oneof(fc.constantFrom('urgent', 'HIGH', ''), junk));
  const maxWaiting = tag(fc.oneof(fc.integer({ min: 0, max: 100 }), fc.constant(Infinity)), fc.oneof(fc.integer({ max: -1 }), fc.constant(0.5), junk));

  const SERVICE_FIELDS = {
    size,
    overflow,
    acquireTimeoutMs: duration,
    recycleMs: durationOrZero,
    idleTimeoutMs: duration,
    maxWaiting,
    priority,
    statementTimeoutMs: durationOrZero,
    idleInTransactionTimeoutMs: durationOrZero,
    queryTimeoutMs: durationOrZero,
    validateAfterIdleMs: durationOrZero,
    leakDetectionMs: durationOrZero,
  };
  const service = fc.record({
    fields: fc.record(SERVICE_FIELDS),
    // An unknown key (a typo) is always a problem at its own path.
    typo: maybe(fc.constantFrom('sizes', 'acquireTimeout', 'Priority', 'max')),
  });
  const serviceName = tag(
    fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,11}$/),
    fc.oneof(fc.constantFrom('1auth', 'a b', "x'; drop table t; --", 'ü', '_x', '-x', 'a.b'), fc.stringMatching(/^[0-9 .;'"]{1,5}$/)),
  );
  return fc.record({
    services: fc.uniqueArray(fc.tuple(serviceName, service), { minLength: hostile ? 0 : 1, maxLength: 5, selector: ([name]) => String(name.value) }),
    // (null is left out here: `applicationName: null` falls back to the default through `??`, unlike every other
    // option, where null is rejected. An inconsistency reported with the findings, not a safety problem.)
    applicationName: tag(fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/), fc.oneof(fc.constantFrom('', 'app\u0000', 'ünicode', 'tab\there', 'line\nbreak'), junk.filter((v) => v !== null && !(typeof v === 'string' && /^[\x20-\x7e]+$/.test(v))))),
    connectTimeoutMs: duration,
    windowMs: duration,
    maintenanceIntervalMs: duration,
    priorityAgingMs: durationOrZero,
    preemptGraceMs: durationOrZero,
    breaker: fc.option(fc.record({ failureThreshold: tag(fc.integer({ min: 1, max: 5 }), fc.oneof(fc.constant(0), fc.constant(1.5), junk)) }), { nil: undefined }),
    typo: maybe(fc.constantFrom('service', 'applicationname', 'maxConnection')),
  });
}
const config = fc.oneof(configArbitrary(true), configArbitrary(false));

type Config = ReturnType<typeof configArbitrary> extends fc.Arbitrary<infer T> ? T : never;

function build(c: Config): { options: Record<string, unknown>; invalidPaths: Set<string> } {
  const invalidPaths = new Set<string>();
  const options: Record<string, unknown> = {};
  const services: Record<string, unknown> = {};
  const put = (target: Record<string, unknown>, path: string, key: string, t: Tagged): void => {
    if (t.value === undefined) return;
    target[key] = t.value;
    if (!t.valid) invalidPaths.add(path);
  };
  for (const [name, s] of c.services) {
    const n = String(name.value);
    const path = `services.${n}`;
    const fields: Record<string, unknown> = {};
    for (const [key, t] of Object.entries(s.fields) as [string, Tagged][]) put(fields, `${path}.${key}`, key, t);
    if (s.typo !== undefined) {
      fields[s.typo] = 1;
      invalidPaths.add(`${path}.${s.typo}`);
    }
    services[n] = fields;
    if (!name.valid) invalidPaths.add(path);
  }
  options.services = services;
  if (c.services.length === 0) invalidPaths.add('services');
  put(options, 'applicationName', 'applicationName', c.applicationName);
  put(options, 'connectTimeoutMs', 'connectTimeoutMs', c.connectTimeoutMs);
  put(options, 'windowMs', 'windowMs', c.windowMs);
  put(options, 'maintenanceIntervalMs', 'maintenanceIntervalMs', c.maintenanceIntervalMs);
  put(options, 'priorityAgingMs', 'priorityAgingMs', c.priorityAgingMs);
  put(options, 'preemptGraceMs', 'preemptGraceMs', c.preemptGraceMs);
  if (c.breaker !== undefined) {
    const breaker: Record<string, unknown> = {};
    put(breaker, 'breaker.failureThreshold', 'failureThreshold', c.breaker.failureThreshold);
    options.breaker = breaker;
  }
  if (c.typo !== undefined) {
    options[c.typo] = true;
    invalidPaths.add(c.typo);
  }
  return { options, invalidPaths };
}

describe('random registry configurations (seeded)', () => {
  it('invalid ones are rejected with ERR_CONFIG naming every bad path; valid ones build and close cleanly', async () => {
    let valid = 0;
    let invalid = 0;
    await fc.assert(
      fc.asyncProperty(config, async (c) => {
        const { options, invalidPaths } = build(c);
        const server = new FakeServer();
        let registry: ReturnType<typeof createPoolRegistry> | null = null;
        let thrown: unknown = null;
        try {
          registry = createPoolRegistry({ ...(options as { services: Record<string, object> }), Client: server.Client } as Parameters<typeof createPoolRegistry>[0]);
        } catch (error) {
          thrown = error;
        }
        if (invalidPaths.size === 0) {
          valid++;
          expect(thrown).toBeNull();
          // a valid registry serves and closes cleanly, leaving no connection open
          const first = registry!.services[0]!;
          await registry!.query(first, 'select 1');
          const report = await registry!.close({ timeoutMs: 1_000 });
          expect(report.clean).toBe(true);
          expect(server.open()).toEqual([]);
          await expect(registry!.acquire(first)).rejects.toMatchObject({ code: 'ERR_POOL_CLOSED' });
        } else {
          invalid++;
          expect(registry).toBeNull();
          expect(isBulkheadError(thrown, 'ERR_CONFIG')).toBe(true);
          const problems = (thrown as ConfigError).problems.map((p) => p.path);
          // Each bad path is named (an invalid service name is reported once, at the service).
          for (const path of invalidPaths) {
            const named = problems.includes(path) || [...invalidPaths].some((p) => path.startsWith(`${p}.`) && problems.includes(p));
            expect(named, `${path} in ${JSON.stringify(problems)}`).toBe(true);
          }
          // and nothing valid is blamed
          for (const path of problems) expect(invalidPaths.has(path), `${path} blamed in ${JSON.stringify([...invalidPaths])}`).toBe(true);
          expect(server.clients).toEqual([]); // nothing was opened
        }
      }),
      { seed: SEED, numRuns: 300 },
    );
    expect(valid).toBeGreaterThan(20);
    expect(invalid).toBeGreaterThan(20);
  });
});

describe('random usage table names (seeded)', () => {
  const PLAIN = /^[A-Za-z_][A-Za-z0-9_]*$/;
  it('accepts exactly plain identifiers (optionally schema.table), rejects everything else with ERR_CONFIG at `table`', () => {
    const name = fc.oneof(
      fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,20}(\.[A-Za-z_][A-Za-z0-9_]{0,20})?$/),
      fc.string({ maxLength: 30 }),
      fc.constantFrom('usage"; drop table x; --', 'a.b.c', 'usage counters', 'x$1', '"quoted"', 'ok\u0000', 'ünïcode', '1abc', '', 'a'.repeat(54)),
    );
    fc.assert(
      fc.property(name, (table) => {
        const parts = table.split('.');
        const expectedValid = parts.length <= 2 && parts.every((p) => PLAIN.test(p)) && (parts.at(-1) as string).length <= 53 && (parts[0] as string).length <= 63;
        let thrown: unknown = null;
        try {
          createUsageTracker({ sink: async () => {}, table }).close();
        } catch (error) {
          thrown = error;
        }
        if (expectedValid) expect(thrown).toBeNull();
        else {
          expect(isBulkheadError(thrown, 'ERR_CONFIG')).toBe(true);
          expect((thrown as ConfigError).problems.map((p) => p.path)).toEqual(['table']);
        }
      }),
      { seed: SEED, numRuns: 500 },
    );
  });
});
