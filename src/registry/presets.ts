import type { ServiceOptions } from '../pool/options';

/**
 * The five service types of the original design, with its numbers. Use them as is
 * (`services: servicePresets`), or spread and override:
 * `services: { ...servicePresets, llm: { ...servicePresets.llm, overflow: 8 } }`.
 *
 * | service   | size | overflow | recycle | acquire timeout | priority |
 * |-----------|------|----------|---------|-----------------|----------|
 * | auth      | 3    | 5        | 15 min  | 5 s             | highest  |
 * | extension | 5    | 10       | 30 min  | 10 s            | high     |
 * | llm       | 8    | 15       | 1 h     | 30 s            | medium   |
 * | usage     | 2    | 4        | 30 min  | 15 s            | low      |
 * | background| 3    | 6        | 40 min  | 20 s            | low      |
 *
 * `usage` also sets `queryTimeoutMs: 30_000`: a usage write on a stalled connection fails and is retried under the
 * same batch id instead of hanging the tracker.
 */
export const servicePresets = Object.freeze({
  auth: Object.freeze({ size: 3, overflow: 5, recycleMs: 15 * 60_000, acquireTimeoutMs: 5_000, priority: 'highest' }),
  extension: Object.freeze({ size: 5, overflow: 10, recycleMs: 30 * 60_000, acquireTimeoutMs: 10_000, priority: 'high' }),
  llm: Object.freeze({ size: 8, overflow: 15, recycleMs: 60 * 60_000, acquireTimeoutMs: 30_000, priority: 'medium' }),
  usage: Object.freeze({ size: 2, overflow: 4, recycleMs: 30 * 60_000, acquireTimeoutMs: 15_000, priority: 'low', queryTimeoutMs: 30_000 }),
  background: Object.freeze({ size: 3, overflow: 6, recycleMs: 40 * 60_000, acquireTimeoutMs: 20_000, priority: 'low' }),
} as const satisfies Record<string, ServiceOptions>);

/** Names of the preset services. */
export type PresetService = keyof typeof servicePresets;
