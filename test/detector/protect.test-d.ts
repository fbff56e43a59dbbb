import { describe, expectTypeOf, it } from 'vitest';
import { createInterferenceDetector, createPoolRegistry, type DetectorOptions } from '../../src/index';

const registry = createPoolRegistry({ services: { auth: { size: 1, priority: 'highest' }, llm: { size: 1 } } });

describe('detector options are typed by the registry\'s service names', () => {
  it('protect takes only configured service names: a typo is a compile error at protect', () => {
    createInterferenceDetector({ registry, protect: ['auth'] });
    // @ts-expect-error 'atuh' is not a service of this registry
    createInterferenceDetector({ registry, protect: ['atuh'] });
    // @ts-expect-error one typo among valid names
    createInterferenceDetector({ registry, protect: ['auth', 'lml'] });
    expectTypeOf<DetectorOptions<'auth' | 'llm'>['protect']>().toEqualTypeOf<readonly ('auth' | 'llm')[] | undefined>();
  });
  it('mitigation is a closed set of modes', () => {
    // @ts-expect-error 'fix' is not a mitigation mode
    createInterferenceDetector({ registry, mitigation: 'fix' });
    expectTypeOf(createInterferenceDetector({ registry }).options.protect).toEqualTypeOf<readonly ('auth' | 'llm')[]>();
  });
});
