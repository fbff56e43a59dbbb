import type { ResizeCheck } from '../registry/resize-check';
import type { Recommendation } from './incident';
import { keepReserve } from './recommendations';

/** What the advice check needs from the registry: its own, side-effect-free resize validation. */
export type ValidateResize<S extends string> = (service: S, limits: { readonly size?: number; readonly overflow?: number }) => ResizeCheck;

/**
 * Puts a recommendation through the registry's own validation before it is offered, so that advice with
 * `option`/`from`/`to` on `size` or `overflow` is never one the registry refuses without saying so:
 * - accepted now: `validation: 'ok'` (or `needs-registry-change` when the advice already carries a `registryChange`
 *   it depends on);
 * - refused by the budget: the `maxConnections` that makes it possible is added as `registryChange`, and the text
 *   says so;
 * - refused while other services borrow the shared slots: `after-others-shrink`, naming them;
 * - invalid limits: dropped (null), never offered.
 * Advice about other options (timeouts, server settings) is returned as it is.
 */
export function checkAdvice<S extends string>(
  r: Recommendation<S>,
  validate: ValidateResize<S>,
  budget: { readonly maxConnections: number; readonly reserve: number },
): Recommendation<S> | null {
  if ((r.option !== 'size' && r.option !== 'overflow') || r.to === undefined) return r;
  let verdict: ResizeCheck;
  try {
    verdict = validate(r.service, { [r.option]: r.to });
  } catch {
    return null; // unknown service or a closed registry: nothing anybody could apply
  }
  if (verdict.ok) return { ...r, validation: r.registryChange === undefined ? 'ok' : 'needs-registry-change' };
  if (verdict.reason === 'invalid') return null;
  const why = verdict.problems.map((p) => `${p.path}: ${p.message}`).join('; ');
  if (verdict.reason === 'budget') {
    const required = verdict.requiredMaxConnections;
    if (required === undefined) return null;
    const to = Math.max(required, r.registryChange?.to ?? 0);
    const keep = budget.reserve > 0 ? keepReserve(budget.reserve) : '';
    return {
      ...r,
      registryChange: { option: 'maxConnections', from: r.registryChange?.from ?? budget.maxConnections, to },
      validation: 'needs-registry-change',
      text: `${r.text}; the registry refuses it as configured (${why}): raise maxConnections to ${to}${keep} first`,
    };
  }
  const borrowers = Object.entries(verdict.borrowedBy ?? {})
    .map(([name, n]) => `${name} ${n}`)
    .join(', ');
  const text =
    `${r.text}; the registry accepts it once the services borrowing shared slots (${borrowers}) give them back: ` +
    'lower their overflow first';
  return { ...r, validation: 'after-others-shrink', text };
}
