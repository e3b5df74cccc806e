import { ConfigError } from '../errors.js';
import { batchManhattan } from './batchManhattan.js';
import { parseMagnitudeLaw, type MagnitudeLaw } from './magnitude.js';
import { randomFeedback } from './random.js';
import { signConcordant } from './signConcordant.js';
import type { FeedbackSpec, FeedbackStrategy } from './strategy.js';
import { symmetric } from './symmetric.js';

/** Factories for user-defined strategies, by the `name` of their `{ type: 'custom' }` spec. */
export type CustomFeedbackFactories = Readonly<Record<string, (options: Readonly<Record<string, unknown>>) => FeedbackStrategy>>;

/**
 * Rebuilds a strategy from its {@link FeedbackSpec} (e.g. one read from a checkpoint). Specs of
 * user-defined strategies (`type: 'custom'`) are rebuilt by the factory registered in `custom`
 * under the spec's `name`, called with the spec's `options` (or `{}`).
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
  switch (spec?.type) {
    case 'symmetric': return symmetric({ flip: spec.flip });
    case 'sign-concordant': return signConcordant({ magnitude: spec.magnitude, redraw: spec.redraw, flip: spec.flip });
    case 'random': return randomFeedback({ flip: spec.flip });
    case 'batch-manhattan': return batchManhattan(feedbackFromSpec(spec.inner, custom));
    case 'custom': {
      const factory = Object.hasOwn(custom, spec.name) ? custom[spec.name] : undefined;
      if (!factory) throw new ConfigError('custom feedback strategy', spec.name, `a registered name (${Object.keys(custom).join(', ') || 'none registered'})`);
      return factory(spec.options ?? {});
    }
    default: throw new ConfigError('feedback spec type', (spec as { type?: unknown })?.type, "'symmetric', 'sign-concordant', 'random', 'batch-manhattan', 'custom'");
  }
}

/** The feedback method names of the protocol and the command line. */
export const FEEDBACK_NAMES = ['bp', 'symmetric', 'usf', 'brsf', 'frsf', 'fa', 'random'] as const;
/** One of {@link FEEDBACK_NAMES}. */
export type FeedbackName = (typeof FEEDBACK_NAMES)[number];

/** Options of {@link feedbackByName}: the command line's `--bm`, `--flip` and `--magnitude`. */
export interface FeedbackByNameOptions {
  /** Batch Manhattan on top of the method. */
  bm?: boolean;
  /** Fraction of feedback signs flipped. */
  flip?: number;
  /** Magnitude law for brsf/frsf (a {@link MagnitudeLaw} or its command-line name). */
  magnitude?: MagnitudeLaw | string;
}

/**
 * Builds a strategy from a protocol name: `bp` (alias `symmetric`), `usf`, `brsf`, `frsf`, `fa`
 * (alias `random`), optionally with Batch Manhattan, a flip fraction and a magnitude law.
 *
 * @throws {@link ConfigError} for an unknown name, a magnitude law with a method other than brsf
 * or frsf, or an invalid flip or law.
 *
 * @example
 * ```ts
 * import { feedbackByName } from 'asymprop';
 *
 * console.log(feedbackByName('brsf', { bm: true, magnitude: 'lognormal' }).name); // bm+brsf(lognormal)
 * console.log(feedbackByName('fa', { flip: 0.5 }).name);                         // fa(flip=0.5)
 * ```
 */
export function feedbackByName(name: string, options: FeedbackByNameOptions = {}): FeedbackStrategy {
  const flip = options.flip ?? 0;
  const magnitude = typeof options.magnitude === 'string' ? parseMagnitudeLaw(options.magnitude) : options.magnitude;
  if (magnitude !== undefined && name !== 'brsf' && name !== 'frsf') {
    throw new ConfigError('magnitude', options.magnitude, `only with feedback 'brsf' or 'frsf' (feedback is ${JSON.stringify(name)})`);
  }
  let base: FeedbackStrategy;
  switch (name) {
    case 'bp':
    case 'symmetric': base = symmetric({ flip }); break;
    case 'usf': base = signConcordant({ flip }); break;
    case 'brsf': base = signConcordant({ magnitude: magnitude ?? 'uniform', redraw: 'batch', flip }); break;
    case 'frsf': base = signConcordant({ magnitude: magnitude ?? 'uniform', redraw: 'fixed', flip }); break;
    case 'fa':
    case 'random': base = randomFeedback({ flip }); break;
    default: throw new ConfigError('feedback', name, FEEDBACK_NAMES.map((n) => `'${n}'`).join(', '));
  }
  return options.bm ? batchManhattan(base) : base;
}
