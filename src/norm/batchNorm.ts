import { ConfigError, ShapeError, StateError } from '../errors.js';
import type { BackwardSignals, FeedbackContext, FeedbackStrategy } from '../feedback/strategy.js';
import { symmetric } from '../feedback/symmetric.js';
import { checkPositiveInt, checkRng } from '../layers/checks.js';
import { FeedbackLayerBase } from '../layers/feedbackLayer.js';
import type { LayerBuffers } from '../layers/layer.js';
import { Workspace } from '../layers/workspace.js';
import type { Initializer } from '../tensor/init.js';
import { Param } from '../tensor/param.js';
import type { Rng } from '../tensor/rng.js';
import { Tensor, type DType, type Shape, type Storage } from '../tensor/tensor.js';

/** Options of {@link BatchNorm}. */
export interface BatchNormOptions {
  /** Added to the variance before the square root (default 1e-5). */
  eps?: number;
  /** Running-statistics momentum: `running ← (1 − m)·running + m·batch` (default 0.1, PyTorch's). */
  momentum?: number;
  /**
   * Feedback for γ in the backward pass (default symmetric: the exact BN backward). With another
   * strategy the error is sent down through V(γ) instead of γ; γ's and β's own gradients stay true.
   * Batch Manhattan here signs γ's and β's gradients.
   */
  feedback?: FeedbackStrategy;
  /** Seeds the feedback's own generator (required, as for every layer: no hidden randomness). */
  rng: Rng;
  /** Storage type of γ and β (default float32; float64 for gradient checks). The running statistics are always float64. */
  dtype?: DType;
}

/** Random feedback for γ draws B ~ N(0, 1): γ starts at 1, so this is "W-like" in scale. */
const GAMMA_FEEDBACK_INIT: Initializer = { name: 'standard-normal', fill: (out, _i, _o, rng) => { rng.fillNormal(out, 0, 1); } };

/**
 * Batch normalisation over the features of `[N, C]` inputs (`BatchNorm1d`) or the channels of
 * `[N, C, H, W]` inputs (`BatchNorm2d`), with PyTorch's conventions (as the protocol states):
 *
 * ```
 * train:  μ, σ² = mean and biased variance over the batch (and the spatial positions)
 *         x̂ = (x − μ) / √(σ² + ε);   y = γ x̂ + β
 *         running_mean ← 0.9·running_mean + 0.1·μ;  running_var ← 0.9·running_var + 0.1·σ²·m/(m−1)
 * eval:   x̂ uses running_mean and running_var
 * ```
 *
 * Backward (train mode), with m values per channel and `g = dy·V(γ)` (V(γ) = γ for the exact BN):
 *
 * ```
 * dβ += Σ dy;   dγ += Σ dy·x̂
 * dx  = (g − mean(g) − x̂·mean(g·x̂)) / √(σ² + ε)
 * ```
 *
 * @example
 * ```ts
 * import { BatchNorm, Rng, Tensor } from 'asymprop';
 *
 * const bn = new BatchNorm(16, { rng: new Rng(0) }); // over 16 channels ([N,16,H,W]) or 16 features ([N,16])
 * const x = Tensor.zeros([8, 16, 5, 5]);
 * new Rng(1).fillNormal(x.data, 3, 2);               // mean 3, standard deviation 2
 * const y = bn.forward(x, true);                     // train mode: the batch's own statistics
 * // The running statistics moved 10% of the way from 0 and 1 towards the batch's (mean ≈ 3, variance ≈ 4):
 * console.log(y.shape, bn.runningMean[0]!.toFixed(2), bn.runningVar[0]!.toFixed(2)); // [8, 16, 5, 5] 0.33 1.23
 * ```
 */
export class BatchNorm extends FeedbackLayerBase {
  /** γ, the per-channel scale, initialised to 1. Named `weight`, as in PyTorch. */
  readonly gamma: Param;
  /** W for the feedback rules: γ, the scale the exact backward multiplies the error by. */
  get weight(): Param {
    return this.gamma;
  }
  get feedbackKind(): 'batchnorm' {
    return 'batchnorm';
  }
  /** β, the per-channel shift, initialised to 0. Named `bias`, as in PyTorch. */
  readonly beta: Param;
  /**
   * The running mean per channel, which eval mode normalises with: starts at 0, and each
   * train-mode forward pass moves it towards the batch mean by `momentum`. Saved in checkpoints as
   * the buffer `running_mean`.
   */
  readonly runningMean: Float64Array;
  /**
   * The running variance per channel, which eval mode normalises with: starts at 1, and each
   * train-mode forward pass moves it towards the batch's unbiased variance (`σ²·m/(m−1)`) by
   * `momentum`. Saved in checkpoints as the buffer `running_var`.
   */
  readonly runningVar: Float64Array;
  /** ε, added to the variance before the square root (default 1e-5). */
  readonly eps: number;
  /** The running statistics' momentum m: `running ← (1 − m)·running + m·batch` (default 0.1). */
  readonly momentum: number;
  private cache: { xhat: Storage; invStd: Float64Array; shape: Shape; training: boolean } | null = null;
  /** The output, x̂ and input-gradient arrays, reused from step to step inside a training step. */
  private readonly workspace = new Workspace(() => this.kernels);
  /** The channel sums of the last backward pass, for the dy they were summed from. */
  private sums: { dy: Tensor; cache: NonNullable<BatchNorm['cache']>; sumDy: Float64Array; sumDyXhat: Float64Array } | null = null;

  /**
   * @param options `rng` (required) seeds the feedback's generator; `eps` (default 1e-5),
   * `momentum` (default 0.1), `feedback` for γ (default {@link symmetric}), `dtype`.
   * @throws {@link ConfigError} when `numFeatures` is not a positive integer, `eps` is not a
   * finite number > 0, `momentum` is outside [0, 1], or `rng` is missing.
   */
  constructor(
    /** C, the number of channels (`[N, C, H, W]`) or features (`[N, C]`) normalised, each with its own γ and β. */
    readonly numFeatures: number,
    options: BatchNormOptions,
  ) {
    super();
    checkPositiveInt(`BatchNorm numFeatures`, numFeatures);
    if (typeof options !== 'object' || options === null) throw new ConfigError(`BatchNorm(${numFeatures}) options`, options, '{ rng, eps?, momentum?, feedback?, dtype? } (rng: an Rng, e.g. new Rng(seed))');
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum ?? 0.1;
    if (!(this.eps > 0 && Number.isFinite(this.eps))) throw new ConfigError('BatchNorm eps', options.eps, 'a finite number > 0');
    if (!(this.momentum >= 0 && this.momentum <= 1)) throw new ConfigError('BatchNorm momentum', options.momentum, 'a number in [0, 1]');
    const dtype = options.dtype ?? 'float32';
    this.gamma = new Param('weight', Tensor.full([numFeatures], 1, dtype));
    this.beta = new Param('bias', Tensor.zeros([numFeatures], dtype));
    this.runningMean = new Float64Array(numFeatures);
    this.runningVar = new Float64Array(numFeatures).fill(1);
    this.feedback = this.bindFeedback(options.feedback ?? symmetric(), checkRng(this.describe(), options?.rng).fork());
  }

  describe(): string {
    return `BatchNorm(${this.numFeatures})`;
  }

  outputShape(inputShape: Shape): number[] {
    if ((inputShape.length !== 1 && inputShape.length !== 3) || inputShape[0] !== this.numFeatures) {
      throw new ShapeError(this.describe(), `per-sample input [${this.numFeatures}] or [${this.numFeatures}, H, W]`, inputShape);
    }
    return [...inputShape];
  }

  forward(x: Tensor, training: boolean): Tensor {
    if (x.rank !== 2 && x.rank !== 4) throw new ShapeError(`${this.describe()}.forward`, `[N, ${this.numFeatures}] or [N, ${this.numFeatures}, H, W]`, x.shape);
    this.outputShape(x.shape.slice(1));
    const { n, c, s } = this.layout(x.shape);
    const m = n * s;
    if (training && m < 2) throw new ShapeError(`${this.describe()}.forward`, 'at least 2 values per channel in train mode', x.shape);
    const xd = x.data;
    const mean = new Float64Array(c);
    const invStd = new Float64Array(c);
    if (training) {
      const sum = this.kernels.channelSums(xd, n, c, s, null);
      for (let ch = 0; ch < c; ch++) mean[ch] = sum[ch]! / m;
      const sq = this.kernels.channelSums(xd, n, c, s, mean);
      for (let ch = 0; ch < c; ch++) {
        const mu = mean[ch]!;
        const variance = sq[ch]! / m;
        invStd[ch] = 1 / Math.sqrt(variance + this.eps);
        this.runningMean[ch] = (1 - this.momentum) * this.runningMean[ch]! + this.momentum * mu;
        this.runningVar[ch] = (1 - this.momentum) * this.runningVar[ch]! + this.momentum * (sq[ch]! / (m - 1));
      }
    } else {
      for (let ch = 0; ch < c; ch++) {
        mean[ch] = this.runningMean[ch]!;
        invStd[ch] = 1 / Math.sqrt(this.runningVar[ch]! + this.eps);
      }
    }
    const y = this.workspace.tensor('y', x.shape, x.dtype, false); // every value is written
    const xhat = this.workspace.tensor('xhat', x.shape, x.dtype, false).data;
    this.kernels.batchNormNormalize(xd, n, c, s, mean, invStd, this.gamma.value.data, this.beta.value.data, xhat, y.data); // x̂ = (x − μ)/σ, y = γ x̂ + β
    this.cache = { xhat, invStd, shape: x.shape, training };
    return y;
  }

  /**
   * The parameter gradients (dβ, dγ), always the true ones; then the error sent down, which the
   * feedback decides: through {@link BatchNorm.inputGradient} with V(γ) (= γ for the exact backward).
   */
  backward(dy: Tensor, signals?: BackwardSignals): Tensor {
    this.backwardParams(dy); //                            dβ += Σ dy,  dγ += Σ dy·x̂
    return this.feedback.backward(this, dy, signals); //   dx through V(γ)
  }

  /** The parameter gradients alone: dβ += Σ dy, dγ += Σ dy·x̂. */
  backwardParams(dy: Tensor): void {
    const cache = this.requireCache(dy);
    const { c } = this.layout(cache.shape);
    const { sumDy, sumDyXhat } = this.channelSums(dy, cache);
    const dgamma = this.gamma.grad.data, dbeta = this.beta.grad.data;
    for (let ch = 0; ch < c; ch++) {
      dbeta[ch] += sumDy[ch]!; //      dβ += Σ dy
      dgamma[ch] += sumDyXhat[ch]!; // dγ += Σ dy·x̂
    }
  }

  /**
   * The error sent to the input with the per-channel scale `v` in place of γ (V(γ); `v = γ` is
   * the exact BN backward): `dx = (v·dy − mean(v·dy) − x̂·mean(v·dy·x̂)) / σ` in train mode,
   * `dy·v/σ` in eval mode.
   */
  inputGradient(dy: Tensor, v: Tensor): Tensor {
    const cache = this.requireCache(dy);
    if (v.size !== this.numFeatures) throw new ShapeError(`${this.describe()}.inputGradient feedback matrix`, `[${this.numFeatures}]`, v.shape);
    const { sumDy, sumDyXhat } = this.channelSums(dy, cache);
    return this.inputGradientFrom(dy, v.data, cache, sumDy, sumDyXhat);
  }

  lastInputShape(): Shape {
    if (!this.cache) throw new StateError(`${this.describe()}.backward called before forward`);
    return this.cache.shape;
  }

  /** With `on`, passes write into the arrays of the previous pass (see {@link Layer.reuseBuffers}). */
  reuseBuffers(on: boolean): void {
    this.workspace.reuse = on;
  }

  /** Per channel, Σ dy and Σ dy·x̂: the parameter gradients, and the two means the input gradient subtracts. */
  private channelSums(dy: Tensor, cache: NonNullable<BatchNorm['cache']>): { sumDy: Float64Array; sumDyXhat: Float64Array } {
    // The parameter gradients and the input gradient of one backward pass need them for the same dy.
    if (this.sums?.dy === dy && this.sums.cache === cache) return this.sums;
    const sums = this.computeChannelSums(dy, cache);
    this.sums = { dy, cache, ...sums };
    return sums;
  }

  private computeChannelSums(dy: Tensor, cache: NonNullable<BatchNorm['cache']>): { sumDy: Float64Array; sumDyXhat: Float64Array } {
    const { n, c, s } = this.layout(cache.shape);
    return this.kernels.batchNormGradSums(dy.data, cache.xhat, n, c, s); // Σ dy, Σ dy·x̂ per channel
  }

  /**
   * dx for gradient dy and scale v (from the channel sums): the full BN backward in train mode,
   * `dx = (v·dy − mean(v·dy) − x̂·mean(v·dy·x̂)) / σ`, and `dy·v/σ` in eval mode. The means come
   * from the channel sums the parameter gradients already needed (v is constant per channel).
   */
  private inputGradientFrom(dy: Tensor, v: Storage, cache: NonNullable<BatchNorm['cache']>, sumDy: Float64Array, sumDyXhat: Float64Array): Tensor {
    const { n, c, s } = this.layout(cache.shape);
    const m = n * s;
    const dx = this.workspace.tensor('dx', cache.shape, dy.dtype, false); // every value is written
    const meanG = new Float64Array(c), meanGXhat = new Float64Array(c);
    for (let ch = 0; ch < c; ch++) {
      meanG[ch] = cache.training ? (v[ch]! * sumDy[ch]!) / m : 0; //          mean(v·dy)
      meanGXhat[ch] = cache.training ? (v[ch]! * sumDyXhat[ch]!) / m : 0; //  mean(v·dy·x̂)
    }
    this.kernels.batchNormInputGrad(dy.data, cache.xhat, n, c, s, v, cache.invStd, meanG, meanGXhat, dx.data); // (v·dy − meanG − x̂·meanGXhat)/σ
    return dx;
  }

  protected ownParams(): Param[] {
    return [this.gamma, this.beta];
  }

  /** The running mean and variance (state that is not a parameter, saved in checkpoints). */
  buffers(): LayerBuffers {
    return { arrays: { running_mean: this.runningMean, running_var: this.runningVar } };
  }

  protected feedbackContext(rng: Rng): FeedbackContext {
    const kernels = () => this.kernels;
    return { kind: 'batchnorm', shape: [this.numFeatures], dtype: this.gamma.value.dtype, fanIn: 1, fanOut: 1, init: GAMMA_FEEDBACK_INIT, rng, layer: this.describe(), get kernels() { return kernels(); } };
  }

  private layout(shape: Shape): { n: number; c: number; s: number } {
    return { n: shape[0]!, c: shape[1]!, s: shape.length === 4 ? shape[2]! * shape[3]! : 1 };
  }

  private requireCache(dy: Tensor): NonNullable<BatchNorm['cache']> {
    if (!this.cache) throw new StateError(`${this.describe()}.backward called before forward`);
    const shape = this.cache.shape;
    if (dy.rank !== shape.length || shape.some((d, i) => dy.shape[i] !== d)) throw new ShapeError(`${this.describe()}.backward`, `[${shape.join(', ')}]`, dy.shape);
    return this.cache;
  }
}

/** {@link BatchNorm} that accepts only `[N, C]` inputs (PyTorch's `BatchNorm1d` without a length axis). */
export class BatchNorm1d extends BatchNorm {
  override describe(): string {
    return `BatchNorm1d(${this.numFeatures})`;
  }

  override outputShape(inputShape: Shape): number[] {
    if (inputShape.length !== 1) throw new ShapeError(this.describe(), `per-sample input [${this.numFeatures}]`, inputShape);
    return super.outputShape(inputShape);
  }
}

/** {@link BatchNorm} that accepts only `[N, C, H, W]` inputs (PyTorch's `BatchNorm2d`). */
export class BatchNorm2d extends BatchNorm {
  override describe(): string {
    return `BatchNorm2d(${this.numFeatures})`;
  }

  override outputShape(inputShape: Shape): number[] {
    if (inputShape.length !== 3) throw new ShapeError(this.describe(), `per-sample input [${this.numFeatures}, H, W]`, inputShape);
    return super.outputShape(inputShape);
  }
}
