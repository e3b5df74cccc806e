import { ConfigError } from '../errors.js';
import { batchManhattan } from './batchManhattan.js';
import { checkFlip } from './base.js';
import { directFeedback } from './direct.js';
import { checkMagnitudeLaw } from './magnitude.js';
import { kolenPollack } from './kolenPollack.js';
import { randomFeedback } from './random.js';
import { methodByName, methodOptions, methods } from './registry.js';
import { signConcordant } from './signConcordant.js';
import type { FeedbackSpec, FeedbackStrategy } from './strategy.js';

/** The most wrappers (Batch Manhattan) a spec may nest around its rule. */
const MAX_SPEC_DEPTH = 8;
import { symmetric } from './symmetric.js';
import { weightMirror } from './weightMirror.js';

/** Factories for user-defined strategies, by the `name` of their `{ type: 'custom' }` spec. */
export type CustomFeedbackFactories = Readonly<Record<string, (options: Readonly<Record<string, unknown>>) => FeedbackStrategy>>;

/**
 * Rebuilds a strategy from its {@link FeedbackSpec} (e.g. one read from a checkpoint). Specs of
 * user-defined strategies (`type: 'custom'`) are rebuilt by the factory in `custom` under the
 * spec's `name`, called with the spec's `options` (or `{}`), or else by the method registered
 * under that name with {@link registerMethod}, built with the spec's `options`.
 *
 * @throws {@link ConfigError} for an unknown spec type, a custom name with no registered factory,
 * or invalid parameters (a flip outside [0, 1], an unknown magnitude law).
 *
 * A custom strategy and its registry are shown in
 * [Writing your own feedback strategy](../../docs/custom-strategy.md).
 *
 * @example
 * ```ts
 * import { brsf, feedbackFromSpec } from 'asymprop';
 *
 * const saved = JSON.stringify(brsf({ magnitude: 'lognormal' }).spec); // e.g. inside a checkpoint
 * console.log(feedbackFromSpec(JSON.parse(saved)).name);              // brsf(lognormal)
 * ```
 */
export function feedbackFromSpec(spec: FeedbackSpec, custom: CustomFeedbackFactories = {}): FeedbackStrategy {
  // Wrappers nest (Batch Manhattan around a rule); a spec nested deeper than any real one is damage.
  let depth = 0;
  for (let s: FeedbackSpec | undefined = spec; s?.type === 'batch-manhattan'; s = s.inner) {
    if (++depth > MAX_SPEC_DEPTH) throw new ConfigError('feedback spec', `${depth}+ nested wrappers`, `at most ${MAX_SPEC_DEPTH} wrappers around a rule`);
  }
  switch (spec?.type) {
    case 'symmetric': return symmetric({ flip: spec.flip });
    case 'sign-concordant': return signConcordant({ magnitude: spec.magnitude, redraw: spec.redraw, flip: spec.flip });
    case 'random': return randomFeedback({ flip: spec.flip });
    case 'direct': return directFeedback();
    case 'kolen-pollack': return kolenPollack({ decay: spec.decay });
    case 'weight-mirror': return weightMirror({ mirrorRate: spec.mirrorRate, decay: spec.decay, noise: spec.noise, mirrorBatches: spec.mirrorBatches });
    case 'batch-manhattan': return batchManhattan(feedbackFromSpec(spec.inner, custom));
    case 'custom': {
      const factory = Object.hasOwn(custom, spec.name) ? custom[spec.name] : undefined;
      if (factory) return factory(spec.options ?? {});
      const registered = methods().find((m) => m.name === spec.name);
      if (!registered) {
        const names = [...Object.keys(custom), ...methods().map((m) => m.name)];
        throw new ConfigError('custom feedback strategy', spec.name, `a registered name (${names.join(', ')}); register it with registerMethod, or load its module with --import`);
      }
      // A registered method's spec holds its options, and its flip and magnitude law when it takes them.
      const method = methodByName(spec.name);
      const { flip, magnitude, ...options } = (spec.options ?? {}) as Record<string, unknown>;
      return method.build({
        flip: method.flip && flip !== undefined ? checkFlip(flip) : 0,
        magnitude: method.magnitude && magnitude !== undefined && magnitude !== null ? checkMagnitudeLaw(magnitude) : null,
        options: methodOptions(method, options) ?? {},
      });
    }
    default: throw new ConfigError('feedback spec type', (spec as { type?: unknown })?.type, "'symmetric', 'sign-concordant', 'random', 'direct', 'kolen-pollack', 'weight-mirror', 'batch-manhattan', 'custom'");
  }
}
