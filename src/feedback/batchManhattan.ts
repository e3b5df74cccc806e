import { DataFormatError } from '../errors.js';
import type { Param } from '../tensor/param.js';
import type { Tensor } from '../tensor/tensor.js';
import { defineStrategy } from './define.js';
import type { BackwardSignals, Feedback, FeedbackSite, FeedbackState, FeedbackStrategy, UpdateOptions } from './strategy.js';
import { symmetric } from './symmetric.js';

/**
 * The Batch Manhattan (BM) rule composed with any feedback strategy: the backward pass is the
 * inner strategy's, and before the optimizer step every parameter gradient of the layer is
 * replaced by its sign, `g ← sign(g)`. The sign is taken of the gradient of the mini-batch mean
 * loss, i.e. after the batch has been summed; weight decay and momentum then apply as usual
 * (`buf ← μ·buf + (sign(g) + λ·w)`).
 *
 * The inner rule's own work before the update runs after the sign and is told so
 * (`manhattan: true`): Kolen-Pollack gives its B the signed update of W, the weight mirror
 * signs its mirror signal. A BatchNorm beside BM layers gets the exact backward with BM.
 *
 * @param inner the strategy whose backward pass is used (default symmetric).
 *
 * @example
 * ```ts
 * import { Rng, SGD, batchManhattan, mlp, usf } from 'asymprop';
 *
 * const strategy = batchManhattan(usf()); // uSF + BM, one strategy value
 * const model = mlp({ rng: new Rng(1), feedback: strategy });
 * // BM gradients are ±1 per entry, so the protocol's learning rates for BM are small (1e-3, 1e-4).
 * const optimizer = new SGD(model.params(), { lr: 1e-4, momentum: 0.9, weightDecay: 1e-4 });
 * console.log(strategy.name, strategy.batchNorm.name, optimizer.lr); // bm+usf bm+bp 0.0001
 * ```
 */
export function batchManhattan(inner: FeedbackStrategy = symmetric()): FeedbackStrategy {
  return defineStrategy({
    name: `bm+${inner.name}`,
    spec: { type: 'batch-manhattan', inner: inner.spec },
    appliesTo: inner.appliesTo,
    readsOutputError: inner.readsOutputError,
    batchNorm: () => batchManhattan(inner.batchNorm),
    bind: (context, strategy) => new BatchManhattanFeedback(strategy, inner.bind(context)),
  });
}

class BatchManhattanFeedback implements Feedback {
  constructor(
    readonly strategy: FeedbackStrategy,
    private readonly inner: Feedback,
  ) {}

  backward(site: FeedbackSite, dy: Tensor, signals: BackwardSignals | undefined): Tensor {
    return this.inner.backward(site, dy, signals);
  }

  matrix(weight: Tensor): Tensor | null {
    return this.inner.matrix(weight);
  }

  params(): Param[] {
    return this.inner.params();
  }

  /** g ← sign(g) for the layer's own parameters, then the inner rule's work, told that BM is on. */
  beforeUpdate(site: FeedbackSite, _options: UpdateOptions): void {
    for (const p of site.params()) if (!p.feedback) site.kernels.sign(p.grad.data, p.grad.data);
    this.inner.beforeUpdate(site, { manhattan: true });
  }

  afterUpdate(site: FeedbackSite): void {
    this.inner.afterUpdate(site);
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
