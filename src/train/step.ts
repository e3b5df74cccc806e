import { ConfigError } from '../errors.js';
import type { Sequential } from '../layers/sequential.js';
import { softmaxCrossEntropy, type Labels } from '../layers/loss.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { Tensor } from '../tensor/tensor.js';

/** What one training step reports. */
export interface StepResult {
  /** Mean loss over the batch (non-finite when training diverged). */
  readonly loss: number;
  /** Correctly classified samples in the batch. */
  readonly correct: number;
}

/**
 * One training step, in the order every rule relies on:
 *
 * 1. zero the gradients (the rules' own parameters' too);
 * 2. forward in train mode, softmax cross-entropy (mean over the batch);
 * 3. backward: true parameter gradients, and each layer's feedback deciding what goes down (dY V,
 *    or e B for direct feedback; the first layer computes only its parameter gradients: the data
 *    needs no gradient);
 * 4. `model.beforeUpdate()`: each rule's work before the update (Batch Manhattan replaces each
 *    gradient by its sign, after the batch sum; Kolen-Pollack gives B W's update; the weight
 *    mirror runs its mirror phase);
 * 5. the optimizer step, over every parameter, the rules' own included (weight decay and
 *    momentum apply to the shaped gradient);
 * 6. `model.afterUpdate()`: each rule's work after it (brSF redraws its magnitudes).
 *
 * Steps 2 and 3 run with {@link Sequential.reuseBuffers} on: each layer writes its activations and
 * errors into the arrays of the previous step (bit-identical results, no fresh memory per step).
 *
 * @throws {@link ConfigError} when the optimizer does not hold every parameter of the model (a
 * rule with parameters of its own was set after the optimizer was built).
 */
export function trainStep(model: Sequential, optimizer: Optimizer, x: Tensor, labels: Labels): StepResult {
  checkOptimizer(model, optimizer);
  model.zeroGrad();
  model.reuseBuffers(true); // the step's activations and errors go into the previous step's arrays
  let loss: number, correct: number | undefined;
  try {
    const logits = model.forward(x, true);
    const result = softmaxCrossEntropy(logits, labels);
    ({ loss, correct } = result);
    if (!Number.isFinite(loss)) return { loss, correct: correct ?? 0 };
    model.backwardParams(result.grad);
  } finally {
    model.reuseBuffers(false);
  }
  model.beforeUpdate();
  optimizer.step();
  model.afterUpdate();
  return { loss, correct: correct ?? 0 };
}

/** Refuses an optimizer that misses a parameter of the model: it would silently never learn. */
function checkOptimizer(model: Sequential, optimizer: Optimizer): void {
  const held = optimizer.params;
  for (const p of model.params()) {
    if (!held.includes(p)) {
      throw new ConfigError('optimizer', `one without parameter "${p.name}"`, 'an optimizer built on model.params() after the last setFeedback (a rule with parameters of its own adds them)');
    }
  }
}
