import { LearnedFeedback, checkRate } from './base.js';
import { defineStrategy } from './define.js';
import type { FeedbackContext, FeedbackSite, FeedbackStrategy, UpdateOptions } from './strategy.js';

/** Options of {@link kolenPollack}. */
export interface KolenPollackOptions {
  /** λ: the decay added to both W's and B's gradients, `g + λ·W` and `g + λ·B` (default {@link KOLEN_POLLACK_DEFAULTS}). */
  decay?: number;
}

/**
 * The defaults of {@link kolenPollack}. B − W shrinks by `1 − lr·λ` a step, so λ sets how fast B
 * aligns: with λ = 0.1, B is within a few degrees of W after one epoch of the mlp or lenet on the
 * embedded digits at lr 0.1 (80 steps), and after a few hundred steps at lr 0.01. A larger λ aligns
 * faster but decays W as much, which costs accuracy without BN.
 */
export const KOLEN_POLLACK_DEFAULTS = {
  /** {@inheritDoc KolenPollackOptions.decay} */
  decay: 0.1,
} as const;

/**
 * Kolen-Pollack learning (KP; Kolen & Pollack 1994, as in Akrout et al., "Deep learning without
 * weight transport", NeurIPS 2019): the error goes down through a feedback matrix B (V = B) that
 * starts random, like feedback alignment's, and *learns*. Before each optimizer step B receives
 * exactly W's update, and both decay at the same rate:
 *
 * ```text
 * ∇B ← ∇W            (the layer's own weight gradient, in W's layout, so no transpose)
 * ∇W ← ∇W + λ·W,   ∇B ← ∇B + λ·B
 * ```
 *
 * The optimizer (with its momentum and weight decay, the same for both) then moves W and B by the
 * same amount, except for the decay, so `B − W` shrinks by the factor `1 − lr·(λ + weightDecay)`
 * every step, and B converges to W without ever reading it. Under Batch Manhattan, ∇W is already
 * its sign when B copies it, so B still receives W's update.
 *
 * KP applies to dense and conv layers; a BatchNorm beside it keeps its exact backward. B is a
 * parameter (`"<layer>.feedback.b"`): `model.params()` lists it, so build the optimizer after the
 * feedback is set.
 *
 * @throws {@link ConfigError} unless `decay` is a finite number ≥ 0.
 *
 * @example
 * ```ts
 * import { Rng, kolenPollack, mlp } from 'asymprop';
 *
 * const model = mlp({ rng: new Rng(1), feedback: kolenPollack() });
 * console.log(model.params().map((p) => p.name).filter((n) => n.includes('feedback'))); // [ '1.feedback.b', '3.feedback.b', '5.feedback.b' ]
 * console.log(kolenPollack({ decay: 0.01 }).name); // kp(decay=0.01)
 * ```
 */
export function kolenPollack(options: KolenPollackOptions = {}): FeedbackStrategy {
  const decay = checkRate('decay', options.decay ?? KOLEN_POLLACK_DEFAULTS.decay);
  return defineStrategy({
    name: decay === KOLEN_POLLACK_DEFAULTS.decay ? 'kp' : `kp(decay=${decay})`,
    spec: { type: 'kolen-pollack', decay },
    appliesTo: ['dense', 'conv'],
    bind: (context, strategy) => new KolenPollackFeedback(strategy, context, decay),
  });
}

class KolenPollackFeedback extends LearnedFeedback {
  constructor(strategy: FeedbackStrategy, context: FeedbackContext, private readonly decay: number) {
    super(strategy, context);
  }

  /** ∇B ← ∇W, then both decay: ∇W += λ·W, ∇B += λ·B. */
  beforeUpdate(site: FeedbackSite, _options: UpdateOptions): void {
    const w = site.weight, b = this.b;
    b.grad.data.set(w.grad.data); //                                   ∇B ← ∇W
    if (this.decay > 0) {
      site.kernels.axpy(this.decay, w.value.data, w.grad.data); //    ∇W += λ·W
      site.kernels.axpy(this.decay, b.value.data, b.grad.data); //    ∇B += λ·B
    }
  }
}
