import { ConfigError } from '../errors.js';
import type { FeedbackStrategy } from '../feedback/strategy.js';
import { ReLU } from '../layers/activation.js';
import { checkRng } from '../layers/checks.js';
import { Dense } from '../layers/dense.js';
import { Flatten } from '../layers/flatten.js';
import type { Layer } from '../layers/layer.js';
import { Sequential } from '../layers/sequential.js';
import { BatchNorm } from '../norm/batchNorm.js';
import type { Initializer } from '../tensor/init.js';
import type { Rng } from '../tensor/rng.js';
import type { Shape } from '../tensor/tensor.js';
import { feedbackAt, type FeedbackChoice } from './common.js';

/** Options of {@link mlp}. */
export interface MlpOptions {
  /** Draws the weights and seeds each layer's feedback generator. */
  rng: Rng;
  /** Per-sample input shape (default `[1, 28, 28]`; flattened first). */
  inputShape?: Shape;
  /** Hidden layer widths (default the protocol's `[256, 256]`). */
  hidden?: readonly number[];
  /** Output classes (default 10). */
  classes?: number;
  /** Batch normalisation after each hidden dense layer, before its ReLU (default false). */
  bn?: boolean;
  /** Feedback for every dense layer, the output layer included; or a function of the dense layer's index. */
  feedback?: FeedbackChoice;
  /** Feedback of the BN layers (default: exact BN backward, with Batch Manhattan when the dense layers use it). */
  bnFeedback?: FeedbackStrategy;
  /** Weight initialiser (default He-normal). */
  init?: Initializer;
}

/**
 * The protocol's `mlp`: flatten → [dense → (BN) → ReLU] per hidden width → dense to the classes
 * (784 → 256 → 256 → 10 by default).
 *
 * Every random draw comes from `options.rng`, in layer order: each dense layer draws its weights
 * and then forks its feedback's generator from it. The dense layers sit at `model.layers` indices
 * 1, 3, 5, … without BN and 1, 4, 7, … with it (the index `setFeedback` and `feedbackStats` use).
 *
 * @throws {@link ConfigError} when `rng` is missing, `hidden` is not an array of positive
 * integers, or a feedback choice is not a strategy.
 *
 * @example
 * ```ts
 * import { Rng, Tensor, batchManhattan, mlp, usf } from 'asymprop';
 *
 * const model = mlp({ rng: new Rng(1), bn: true, feedback: batchManhattan(usf()) });
 * console.log(model.describe());
 * // Sequential(Flatten, Dense(784→256), BatchNorm(256), ReLU, Dense(256→256), BatchNorm(256), ReLU, Dense(256→10))
 * const small = mlp({ rng: new Rng(1), inputShape: [4], hidden: [8], classes: 3 });
 * console.log(small.forward(Tensor.zeros([5, 4]), false).shape); // [5, 3]
 * ```
 */
export function mlp(options: MlpOptions): Sequential {
  const rng = checkRng('mlp', options.rng);
  const inputShape = options.inputShape ?? [1, 28, 28];
  const hidden = options.hidden ?? [256, 256];
  const classes = options.classes ?? 10;
  if (!Array.isArray(hidden)) throw new ConfigError('hidden', hidden, 'an array of positive integers');
  const inFeatures = inputShape.reduce((a, b) => a * b, 1);
  const layers: Layer[] = [new Flatten()];
  const widths = [inFeatures, ...hidden, classes];
  for (let i = 0; i + 1 < widths.length; i++) {
    const feedback = feedbackAt(options.feedback, i);
    layers.push(new Dense(widths[i]!, widths[i + 1]!, { rng, feedback, ...(options.init ? { init: options.init } : {}) }));
    if (i + 2 < widths.length) {
      if (options.bn) layers.push(new BatchNorm(widths[i + 1]!, { rng, feedback: options.bnFeedback ?? feedback.batchNorm }));
      layers.push(new ReLU());
    }
  }
  return new Sequential(layers, inputShape);
}
