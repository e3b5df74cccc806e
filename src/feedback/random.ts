import { allocate, type Storage } from '../tensor/tensor.js';
import { MatrixFeedback, checkFlip } from './base.js';
import { defineStrategy } from './define.js';
import type { FeedbackContext, FeedbackStrategy } from './strategy.js';

/**
 * Random feedback (feedback alignment, Lillicrap et al.): V = B, a fixed random matrix drawn once
 * with the layer's own weight initialiser, so B has W's scale but no relation to W's signs.
 *
 * @param options `flip`: fraction of B's signs flipped by a fixed random mask (default 0; it
 * changes little, since B's signs are already random).
 * @throws {@link ConfigError} unless `flip` is in [0, 1].
 *
 * @example
 * ```ts
 * import { Rng, mlp, randomFeedback } from 'asymprop';
 *
 * const model = mlp({ rng: new Rng(3), feedback: randomFeedback() });
 * const stats = model.instrument().feedbackStats(); // filled in by the next backward pass
 * console.log(randomFeedback().name, Object.keys(stats)); // fa [ '1', '3', '5' ]
 * ```
 */
export function randomFeedback(options: { flip?: number } = {}): FeedbackStrategy {
  const flip = checkFlip(options.flip ?? 0);
  return defineStrategy({
    name: flip > 0 ? `fa(flip=${flip})` : 'fa',
    spec: { type: 'random', flip },
    bind: (context, strategy) => new RandomFeedback(strategy, context, flip),
  });
}

/** Alias of {@link randomFeedback}. */
export const feedbackAlignment = randomFeedback;

class RandomFeedback extends MatrixFeedback {
  private readonly b: Float32Array;

  constructor(strategy: FeedbackStrategy, context: FeedbackContext, flip: number) {
    super(strategy, context);
    this.b = allocate('float32', this.size) as Float32Array;
    context.init.fill(this.b, context.fanIn, context.fanOut, this.rng);
    this.drawFlip(flip);
  }

  /** V = B: W is not read at all. */
  protected fillMatrix(v: Storage, _w: Storage): void {
    v.set(this.b);
  }

  protected override arrays(): Record<string, Float32Array> {
    return { b: this.b };
  }
}
