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
 * One training step, in the order every strategy relies on:
 *
 * 1. zero the gradients;
 * 2. forward in train mode, softmax cross-entropy (mean over the batch);
 * 3. backward: true parameter gradients, errors sent down through each layer's feedback V (the
 *    first layer computes only its parameter gradients: the data needs no gradient);
 * 4. `shapeGradients`: Batch Manhattan replaces each gradient by its sign (after the batch sum);
 * 5. the optimizer step (weight decay and momentum apply to the shaped gradient);
 * 6. `afterStep`: brSF redraws its magnitudes for the next batch.
 *
 * Steps 2 and 3 run with {@link Sequential.reuseBuffers} on: each layer writes its activations and
 * errors into the arrays of the previous step (bit-identical results, no fresh memory per step).
 */
export function trainStep(model: Sequential, optimizer: Optimizer, x: Tensor, labels: Labels): StepResult {
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
  model.shapeGradients();
  optimizer.step();
  model.afterStep();
  return { loss, correct: correct ?? 0 };
}
