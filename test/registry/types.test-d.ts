import type pg from 'pg';
import { describe, expectTypeOf, it } from 'vitest';
import { createPoolRegistry, servicePresets, type AcquireEvent, type Lease, type RemoveReason, type ServiceStats } from '../../src/index';

describe('registry types', () => {
  const registry = createPoolRegistry({
    connection: 'postgres://localhost/db',
    services: { auth: { size: 3, priority: 'highest' }, llm: { size: 8 } },
  });

  it('service names are a literal union: a typo does not compile', () => {
    expectTypeOf(registry.services).toEqualTypeOf<readonly ('auth' | 'llm')[]>();
    void registry.query('auth', 'select 1');
    // @ts-expect-error 'auht' is not a configured service
    void registry.query('auht', 'select 1');
    // @ts-expect-error nor for acquire
    void registry.acquire('extension');
    // @ts-expect-error nor for stats
    registry.stats('usage');
  });

  it('presets give their five names', () => {
    const presets = createPoolRegistry({ services: servicePresets });
    expectTypeOf(presets.services).toEqualTypeOf<readonly ('auth' | 'extension' | 'llm' | 'usage' | 'background')[]>();
    const overridden = createPoolRegistry({ services: { ...servicePresets, llm: { ...servicePresets.llm, overflow: 4 }, reports: { size: 1 } } });
    // @ts-expect-error
    void overridden.query('report', 'select 1');
    void overridden.query('reports', 'select 1');
  });

  it('event payloads are typed and carry the service', () => {
    registry.on('acquire', (event) => {
      expectTypeOf(event).toEqualTypeOf<AcquireEvent<'auth' | 'llm'>>();
      expectTypeOf(event.service).toEqualTypeOf<'auth' | 'llm'>();
      expectTypeOf(event.waitMs).toBeNumber();
    });
    registry.on('remove', (event) => expectTypeOf(event.reason).toEqualTypeOf<RemoveReason>());
    // @ts-expect-error unknown event name
    registry.on('acquired', () => {});
  });

  it('clients, leases and stats are typed', async () => {
    await registry.withClient('llm', (client, lease) => {
      expectTypeOf(client).toEqualTypeOf<pg.Client>();
      expectTypeOf(lease).toEqualTypeOf<Lease<pg.Client>>();
    });
    const result = await registry.query<{ id: number }>('auth', 'select 1 as id');
    expectTypeOf(result.rows).toEqualTypeOf<{ id: number }[]>();
    expectTypeOf(registry.stats('auth')).toEqualTypeOf<ServiceStats>();
    expectTypeOf(registry.stats().services.llm).toEqualTypeOf<ServiceStats>();
  });

  it('options are checked at compile time too', () => {
    // @ts-expect-error priority must be one of the four
    createPoolRegistry({ services: { auth: { priority: 'urgent' } } });
    // @ts-expect-error unknown option
    createPoolRegistry({ services: { auth: { sise: 3 } } });
  });
});
