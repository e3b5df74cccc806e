import { ShapeError, StateError } from '../errors.js';
import { matmul } from '../tensor/matmul.js';
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
 * The feedback strategy enters in exactly one line of `backward`: where V is obtained. The guide
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
    matmul(x, this.weight.value, { transB: true, out: y }); // Y = X Wᵀ
    if (this.bias) addRowVector(y, this.bias.value); //       + b
    return y;
  }

  backward(dy: Tensor): Tensor {
    this.backwardParams(dy);

    // The error sent down to the input goes through the feedback matrix V.
    const v = this.feedback.matrix(this.weight.value); //                       V (= W for backprop)
    const dx = this.workspace.tensor('dx', [dy.shape[0]!, this.inFeatures], dy.dtype, false);
    matmul(dy, v, { out: dx }); //                                              dX = dY V

    if (this.instrument) this.measure(v, dx, () => matmul(dy, this.weight.value));
    return dx;
  }

  /** The parameter gradients: always the true ones, accumulated (the first half of `backward`). */
  backwardParams(dy: Tensor): void {
    const { x } = this.requireCache();
    assertShape(`${this.describe()}.backward`, dy, [x.shape[0]!, this.outFeatures]);
    matmul(dy, x, { transA: true, out: this.weight.grad, accumulate: true }); // dW += dYᵀ X
    if (this.bias) sumRowsInto(dy, this.bias.grad); //                          db += Σ dY
  }

  trueInputGradient(dy: Tensor): Tensor {
    this.requireCache();
    return matmul(dy, this.weight.value); // dX = dY W
  }

  private requireCache(): { x: Tensor } {
    if (!this.cache) throw new StateError(`${this.describe()}.backward called before forward`);
    return this.cache;
  }
}
