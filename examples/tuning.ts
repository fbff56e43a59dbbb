/**
 * Sizing pools from what they report. Runs a burst of traffic against deliberately wrong sizes (auth too big,
 * llm too small), reads `registry.stats()` and the detector's incidents and recommendations, derives a size per
 * service from the measured concurrency (Little's law: connections needed ≈ acquires per second × hold time),
 * applies it with `registry.resize()` at run time, and runs the same burst again.
 *
 *   npx tsx examples/tuning.ts          # pg-mem; DATABASE_URL for a real server
 */
import { pathToFileURL } from 'node:url';
import { createInterferenceDetector, createPoolRegistry, type ClientConstructor, type ServiceStats } from '../src/index';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface Suggestion {
  readonly service: string;
  readonly current: { readonly size: number; readonly overflow: number };
  readonly suggested: { readonly size: number; readonly overflow: number };
  readonly why: string;
}

/** Connections a service needs: acquires per second × p95 hold time, plus what waited, rounded up, at least 1. */
export function suggest(s: ServiceStats, seconds: number): Suggestion {
  const rate = s.acquired / seconds;
  const busy = Math.max(1, Math.ceil((rate * s.holdTime.p95) / 1_000 + (s.timeouts > 0 ? 1 : 0)));
  const size = Math.max(1, Math.ceil(busy * 0.75));
  const overflow = Math.max(1, busy - size + Math.ceil(busy * 0.25));
  return {
    service: s.service,
    current: { size: s.guaranteedSize, overflow: s.overflow },
    suggested: { size, overflow },
    why: `${rate.toFixed(1)} acquires/s × p95 hold ${s.holdTime.p95.toFixed(0)} ms ≈ ${busy} busy; p95 wait ${s.acquireWait.p95.toFixed(0)} ms, ${s.timeouts} timeouts, utilization now ${(s.utilization * 100).toFixed(0)} %`,
  };
}

export async function run(options: { readonly connection?: string; readonly prefix?: string; readonly burstMs?: number } = {}) {
  const connection = 'connection' in options ? options.connection : process.env.DATABASE_URL || undefined; // explicit undefined: pg-mem
  const Client = connection === undefined ? ((await import('pg-mem')).newDb().adapters.createPg().Client as ClientConstructor) : undefined;
  const registry = createPoolRegistry({
    connection,
    Client,
    applicationName: options.prefix ?? 'tuning',
    services: {
      auth: { size: 6, overflow: 4, acquireTimeoutMs: 300, priority: 'highest' },
      llm: { size: 1, overflow: 1, acquireTimeoutMs: 300, priority: 'medium' },
    },
  });
  const detector = createInterferenceDetector({ registry, intervalMs: 200, windowMs: 5_000 });
  const burstMs = options.burstMs ?? 1_500;

  /** 8 llm callers holding a connection 100 ms each, and auth lookups every 10 ms. Returns failed requests. */
  const burst = async (): Promise<{ failed: number; seconds: number }> => {
    const started = performance.now();
    const stopAt = started + burstMs;
    let failed = 0;
    const llm = async (): Promise<void> => {
      while (performance.now() < stopAt) {
        await registry.withClient('llm', async (c) => void (await c.query('select 1'), await sleep(100))).catch(() => failed++);
      }
    };
    const auth = async (): Promise<void> => {
      while (performance.now() < stopAt) {
        await registry.query('auth', 'select 1').catch(() => failed++);
        await sleep(10);
      }
    };
    await Promise.all([auth(), ...Array.from({ length: 8 }, llm)]);
    await detector.check();
    return { failed, seconds: (performance.now() - started) / 1_000 };
  };

  // Evaluating during the burst (every 200 ms) sees the pools while they are full, not only after.
  detector.start();
  const first = await burst();
  const stats = registry.stats();
  const incidents = detector.incidents().map((i) => `${i.type} of ${i.victim}: ${i.signals.map((s) => s.message).join('; ')}`);
  const recommendations = detector.recommendations().map((r) => r.text);
  // Why an incident has no advice, when it has none: the detector says so rather than staying silent.
  const unadvised = detector.incidents().flatMap((i) => (i.noRecommendation === null ? [] : [`${i.victim}: ${i.noRecommendation}`]));
  const suggestions = registry.services.map((service) => suggest(stats.services[service], first.seconds));
  for (const s of suggestions) registry.resize(s.service as 'auth' | 'llm', s.suggested, 'tuning example');
  const second = await burst();
  await detector.stop();
  await registry.close();
  return { before: first.failed, after: second.failed, incidents, recommendations, unadvised, suggestions };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await run();
  console.log('Incidents seen with the first sizes:', result.incidents.length > 0 ? `\n  ${result.incidents.join('\n  ')}` : 'none');
  console.log('Detector recommendations:', result.recommendations.length > 0 ? `\n  ${result.recommendations.join('\n  ')}` : 'none');
  for (const line of result.unadvised) console.log(`No advice for ${line}`);
  for (const s of result.suggestions) {
    console.log(`${s.service}: size ${s.current.size} → ${s.suggested.size}, overflow ${s.current.overflow} → ${s.suggested.overflow} (${s.why})`);
  }
  console.log(`failed requests: ${result.before} with the first sizes, ${result.after} after resize()`);
}
