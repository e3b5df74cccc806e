import { DataFormatError } from '../errors.js';
import type { Param } from '../tensor/param.js';
import { signInto } from '../tensor/ops.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Feedback, FeedbackState, FeedbackStrategy } from './strategy.js';
import { symmetric } from './symmetric.js';

/**
 * The Batch Manhattan (BM) rule composed with any feedback strategy: the backward pass is the
 * inner strategy's, and before the optimizer step every parameter gradient of the layer is
 * replaced by its sign, `g ← sign(g)`. The sign is taken of the gradient of the mini-batch mean
 * loss, i.e. after the batch has been summed; weight decay and momentum then apply as usual
 * (`buf ← μ·buf + (sign(g) + λ·w)`).
 *
 * @param inner the strategy whose feedback matrix V the backward pass uses (default symmetric).
 *
 * @example
 * ```ts
 * import { Rng, SGD, batchManhattan, mlp, usf } from 'asymprop';
 *
 * const strategy = batchManhattan(usf()); // uSF + BM, one strategy value
 * const model = mlp({ rng: new Rng(1), feedback: strategy });
 * // BM gradients are ±1 per entry, so the protocol's learning rates for BM are small (1e-3, 1e-4).
 * const optimizer = new SGD(model.params(), { lr: 1e-4, momentum: 0.9, weightDecay: 1e-4 });
 * console.log(strategy.name, optimizer.lr); // bm+usf 0.0001
 * ```
 */
export function batchManhattan(inner: FeedbackStrategy = symmetric()): FeedbackStrategy {
  const strategy: FeedbackStrategy = {
    name: `bm+${inner.name}`,
    spec: { type: 'batch-manhattan', inner: inner.spec },
    bind: (context) => new BatchManhattanFeedback(strategy, inner.bind(context)),
  };
  return strategy;
}

class BatchManhattanFeedback implements Feedback {
  constructor(
    readonly strategy: FeedbackStrategy,
    private readonly inner: Feedback,
  ) {}

  matrix(weight: Tensor): Tensor {
    return this.inner.matrix(weight);
  }

  shapeGradients(params: readonly Param[]): void {
    this.inner.shapeGradients(params);
    for (const p of params) signInto(p.grad.data, p.grad.data);
  }

  afterStep(): void {
    this.inner.afterStep();
  }

  state(): FeedbackState {
    return { spec: this.strategy.spec, rng: null, arrays: {}, inner: this.inner.state() };
  }

  loadState(state: FeedbackState): void {
    if (state?.spec?.type !== 'batch-manhattan' || !state.inner) {
      throw new DataFormatError('batch-manhattan feedback state', `expected an inner state, received ${JSON.stringify(state?.spec)}`);
    }
    this.inner.loadState(state.inner);
  }
}

/**
 * The feedback of a BatchNorm beside weighted layers that use `weighted`: the exact BN backward
 * (symmetric), with the Batch Manhattan update when the weighted layers have it, because the
 * protocol applies BM to every parameter while keeping BN's backward exact.
 */
export function defaultBatchNormFeedback(weighted: FeedbackStrategy): FeedbackStrategy {
  return weighted.spec.type === 'batch-manhattan' ? batchManhattan(symmetric()) : symmetric();
}
