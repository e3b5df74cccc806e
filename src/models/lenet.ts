import type { FeedbackStrategy } from '../feedback/strategy.js';
import { ReLU } from '../layers/activation.js';
import { checkRng } from '../layers/checks.js';
import { Conv2d } from '../layers/conv2d.js';
import { Dense } from '../layers/dense.js';
import { Flatten } from '../layers/flatten.js';
import type { Layer } from '../layers/layer.js';
import { MaxPool2d } from '../layers/pool.js';
import { Sequential } from '../layers/sequential.js';
import { BatchNorm } from '../norm/batchNorm.js';
import type { Initializer } from '../tensor/init.js';
import type { Rng } from '../tensor/rng.js';
import type { Shape } from '../tensor/tensor.js';
import { feedbackAt, type FeedbackChoice } from './common.js';

/** Options of {@link lenet}. */
export interface LenetOptions {
  /** Draws the weights and seeds each layer's feedback generator. */
  rng: Rng;
  /** Per-sample input shape `[channels, height, width]` (default `[1, 28, 28]`). */
  inputShape?: Shape;
  /** Output classes (default 10). */
  classes?: number;
  /** Batch normalisation after every conv and hidden dense layer, before its ReLU (default false). */
  bn?: boolean;
  /** Feedback for the five weighted layers (conv1, conv2, dense 120, dense 84, dense out), or a function of their index 0–4. */
  feedback?: FeedbackChoice;
  /** Feedback of the BN layers (default: the weighted layer's strategy's `batchNorm`: the exact BN backward, with Batch Manhattan when the weighted layers use it). */
  bnFeedback?: FeedbackStrategy;
  /** Weight initialiser of the conv and dense layers (default He-normal). */
  init?: Initializer;
}

/**
 * The protocol's `lenet`: conv 5×5, 6 filters, padding 2 → [BN] → ReLU → max-pool 2 → conv 5×5,
 * 16 filters → [BN] → ReLU → max-pool 2 → flatten (400 for 28×28 inputs) → dense 120 → [BN] →
 * ReLU → dense 84 → [BN] → ReLU → dense to the classes.
 *
 * Every random draw comes from `options.rng`, in layer order: each weighted layer draws its weights
 * and then forks its feedback's generator from it.
 *
 * @throws {@link ConfigError} when `rng` is missing or a feedback choice is not a strategy.
 * @throws {@link ShapeError} when `inputShape` is too small for the two 5×5 convolutions and pools.
 *
 * @example
 * ```ts
 * import { Rng, Tensor, brsf, lenet, symmetric, usf } from 'asymprop';
 *
 * const model = lenet({ rng: new Rng(1), bn: true, feedback: brsf() });
 * console.log(model.forward(Tensor.zeros([2, 1, 28, 28]), false).shape); // [2, 10]
 *
 * // uSF in the two conv layers (weighted layers 0 and 1), backprop in the dense layers.
 * const mixed = lenet({ rng: new Rng(1), feedback: (i) => (i < 2 ? usf() : symmetric()) });
 * console.log(mixed.feedbackLayers().map(({ index, layer }) => `${index}: ${layer.feedback.strategy.name}`).join(', '));
 * // 0: usf, 3: usf, 7: bp, 9: bp, 11: bp
 * ```
 */
export function lenet(options: LenetOptions): Sequential {
  const rng = checkRng('lenet', options.rng);
  const inputShape = options.inputShape ?? [1, 28, 28];
  const classes = options.classes ?? 10;
  const init = options.init ? { init: options.init } : {};
  const layers: Layer[] = [];
  let shape: number[] = [...inputShape];
  let weighted = 0;
  const add = (layer: Layer) => {
    shape = layer.outputShape(shape);
    layers.push(layer);
  };
  /** A weighted layer, then BN (when asked) and ReLU. */
  const block = (make: (feedback: FeedbackStrategy) => Layer, relu: boolean) => {
    const feedback = feedbackAt(options.feedback, weighted++);
    add(make(feedback));
    if (!relu) return;
    if (options.bn) add(new BatchNorm(shape[0]!, { rng, feedback: options.bnFeedback ?? feedback.batchNorm }));
    add(new ReLU());
  };
  block((feedback) => new Conv2d(shape[0]!, 6, 5, { rng, padding: 2, feedback, ...init }), true);
  add(new MaxPool2d(2));
  block((feedback) => new Conv2d(6, 16, 5, { rng, feedback, ...init }), true);
  add(new MaxPool2d(2));
  add(new Flatten());
  block((feedback) => new Dense(shape[0]!, 120, { rng, feedback, ...init }), true);
  block((feedback) => new Dense(120, 84, { rng, feedback, ...init }), true);
  block((feedback) => new Dense(84, classes, { rng, feedback, ...init }), false);
  return new Sequential(layers, inputShape);
}
