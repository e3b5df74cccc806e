import { ShapeError, StateError } from '../errors.js';
import type { BackwardSignals } from '../feedback/strategy.js';
import { addRowVector, sumRowsInto } from '../tensor/ops.js';
import { assertShape, type Shape, type Tensor } from '../tensor/tensor.js';
import { checkPositiveInt } from './checks.js';
import { WeightedLayer, type WeightedLayerOptions } from './weighted.js';

/** Options of {@link Dense}. */
export type DenseOptions = WeightedLayerOptions;

/**
 * A fully connected layer, `y = W x + b`, with W of shape `[out, in]`.
 *
 * For a batch X of shape `[N, in]` (one sample per row): forward `Y = X Wᵀ + b`; backward, given
 * `dY = ∂L/∂Y`:
 *
 * ```
 * dW += dYᵀ X          the true weight gradient, whatever the feedback
 * db += Σ_rows dY      the true bias gradient
 * dX  = dY V           the error sent down: V = W is backprop, any other V is asymmetric feedback
 * ```
 *
 * The parameter gradients are `backwardParams`; the error sent down is decided by the bound
 * feedback, which for every layer-wise rule calls `inputGradient(dY, V)`, the one line where V
 * enters (direct feedback sends `e B` instead, the output error through a matrix of its own). The guide
 * [Where the feedback matrix enters](../../docs/dense-backward.md) walks through it.
 *
 * @example
 * ```ts
 * import { Dense, Rng, Tensor, usf } from 'asymprop';
 *
 * const layer = new Dense(784, 256, { rng: new Rng(0), feedback: usf() });
 * const x = Tensor.zeros([100, 784]);
 * const y = layer.forward(x, true);                     // Y = X Wᵀ + b: [100, 256]
 * layer.zeroGrad();
 * const dx = layer.backward(Tensor.full([100, 256], 0.01)); // dX = dY V, with V = sign(W)
 * console.log(y.shape, dx.shape, layer.weight.grad.shape);  // [100, 256] [100, 784] [256, 784]
 * ```
 */
export class Dense extends WeightedLayer {
  /** Backward cache: the input of the last forward pass. */
  private cache: { x: Tensor } | null = null;

  /** The kind of layer, for the rules that apply only to some (`dense`). */
  get feedbackKind(): 'dense' {
    return 'dense';
  }

  /**
   * @param options `rng` (required) draws W and seeds the feedback's generator; `feedback`
   * (default {@link symmetric}), `init` (default He-normal), `bias` (default true), `dtype`.
   * @throws {@link ConfigError} when a size is not a positive integer or `rng` is missing.
   */
  constructor(
    /** Input features per sample (W's columns). */
    readonly inFeatures: number,
    /** Output features per sample (W's rows). */
    readonly outFeatures: number,
    options: DenseOptions,
  ) {
    const label = `Dense(${inFeatures}→${outFeatures})`;
    checkPositiveInt(`${label} inFeatures`, inFeatures);
    checkPositiveInt(`${label} outFeatures`, outFeatures);
    super(label, [outFeatures, inFeatures], inFeatures, outFeatures, options);
  }

  describe(): string {
    return `Dense(${this.inFeatures}→${this.outFeatures})`;
  }

  outputShape(inputShape: Shape): number[] {
    if (inputShape.length !== 1 || inputShape[0] !== this.inFeatures) {
      throw new ShapeError(this.describe(), `per-sample input [${this.inFeatures}]`, inputShape);
    }
    return [this.outFeatures];
  }

  forward(x: Tensor, _training: boolean): Tensor {
    assertShape(`${this.describe()}.forward`, x, [-1, this.inFeatures]);
    this.cache = { x };
    const y = this.workspace.tensor('y', [x.shape[0]!, this.outFeatures], x.dtype, false); // Y's array
    this.matmul(x, this.weight.value, { transB: true, out: y }); // Y = X Wᵀ
    if (this.bias) addRowVector(y, this.bias.value, this.kernels); //  + b
    return y;
  }

  /**
   * The layer's two jobs in the backward pass: its own parameter gradients, always the true ones
   * for the error that arrived; and the error it sends down, which its feedback decides: `dY V`
   * through {@link Dense.inputGradient} for every layer-wise rule (V = W for backprop), `e B` for
   * direct feedback.
   */
  backward(dy: Tensor, signals?: BackwardSignals): Tensor {
    this.backwardParams(dy); //                                    dW += dYᵀ X,  db += Σ dY
    return this.feedback.backward(this, dy, signals); //           the error sent down: dX = dY V (or e B)
  }

  /** The parameter gradients: always the true ones, accumulated (the first half of `backward`). */
  backwardParams(dy: Tensor): void {
    const { x } = this.requireCache();
    assertShape(`${this.describe()}.backward`, dy, [x.shape[0]!, this.outFeatures]);
    this.matmul(dy, x, { transA: true, out: this.weight.grad, accumulate: true }); // dW += dYᵀ X
    if (this.bias) sumRowsInto(dy, this.bias.grad, this.kernels); //             db += Σ dY
  }

  /**
   * The error sent to the input through a matrix V of W's shape: `dX = dY V`. This is where the
   * feedback matrix enters: backprop passes V = W, uSF V = sign(W), feedback alignment a fixed
   * random B, Kolen-Pollack a learned one.
   */
  inputGradient(dy: Tensor, v: Tensor): Tensor {
    this.requireCache();
    assertShape(`${this.describe()}.inputGradient`, dy, [-1, this.outFeatures]);
    const dx = this.workspace.tensor('dx', [dy.shape[0]!, this.inFeatures], dy.dtype, false);
    this.matmul(dy, v, { out: dx }); //                                          dX = dY V
    return dx;
  }

  lastInputShape(): Shape {
    return this.requireCache().x.shape;
  }

  private requireCache(): { x: Tensor } {
    if (!this.cache) throw new StateError(`${this.describe()}.backward called before forward`);
    return this.cache;
  }
}
