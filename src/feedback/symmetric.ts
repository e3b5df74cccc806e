import type { Tensor, Storage } from '../tensor/tensor.js';
import { MatrixFeedback, checkFlip } from './base.js';
import { defineStrategy } from './define.js';
import type { FeedbackContext, FeedbackStrategy } from './strategy.js';

/** Options of {@link symmetric}. */
export interface SymmetricOptions {
  /** Fraction of feedback signs flipped by a fixed random mask (default 0). */
  flip?: number;
}

/**
 * Symmetric feedback, V = W: plain backpropagation, the control. It runs through the same code
 * path as every other strategy; without flips `matrix` hands back W itself, so it costs nothing.
 * With `flip`, V is W with a fixed random fraction of its signs flipped (drawn once per layer).
 *
 * @throws {@link ConfigError} unless `flip` is in [0, 1].
 *
 * @example
 * ```ts
 * import { Rng, mlp, symmetric } from 'asymprop';
 *
 * const model = mlp({ rng: new Rng(1), feedback: symmetric() }); // plain backprop (also the default)
 * console.log(symmetric({ flip: 0.1 }).name);                   // bp(flip=0.1)
 * ```
 */
export function symmetric(options: SymmetricOptions = {}): FeedbackStrategy {
  const flip = checkFlip(options.flip ?? 0);
  return defineStrategy({
    name: flip > 0 ? `bp(flip=${flip})` : 'bp',
    spec: { type: 'symmetric', flip },
    bind: (context, strategy) => new SymmetricFeedback(strategy, context, flip),
  });
}

class SymmetricFeedback extends MatrixFeedback {
  constructor(strategy: FeedbackStrategy, context: FeedbackContext, flip: number) {
    super(strategy, context);
    this.drawFlip(flip);
  }

  override matrix(weight: Tensor): Tensor {
    return this.flipMask ? super.matrix(weight) : weight;
  }

  protected fillMatrix(v: Storage, w: Storage): void {
    v.set(w);
  }
}
