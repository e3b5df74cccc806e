import { StateError } from '../errors.js';
import { matrixStats, type FeedbackStats } from '../feedback/stats.js';
import type { Feedback, FeedbackStrategy } from '../feedback/strategy.js';
import { symmetric } from '../feedback/symmetric.js';
import { heNormal, type Initializer } from '../tensor/init.js';
import { matmul } from '../tensor/matmul.js';
import { addRowVector, angleDegrees, sumRowsInto } from '../tensor/ops.js';
import { Param } from '../tensor/param.js';
import type { Rng } from '../tensor/rng.js';
import { Tensor, assertShape, type DType, type Shape } from '../tensor/tensor.js';
import { checkPositiveInt, checkRng } from './checks.js';
import type { FeedbackLayer } from './layer.js';
import { ShapeError } from '../errors.js';

/** Options of {@link Dense}. */
export interface DenseOptions {
  /** Draws the initial weights (and seeds the feedback's own generator). Required: no hidden randomness. */
  rng: Rng;
  /** Weight initialiser (default He-normal, N(0, 2/in)). Biases start at 0. */
  init?: Initializer;
  /** Whether the layer has a bias (default true). */
  bias?: boolean;
  /** Feedback strategy for the backward pass (default symmetric backprop). */
  feedback?: FeedbackStrategy;
  /** Storage type of the parameters (default float32; float64 for gradient checks). */
  dtype?: DType;
}

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
 * The feedback strategy enters in exactly one line of `backward`: where V is obtained.
 *
 * @example
 * ```ts
 * const rng = new Rng(0);
 * const layer = new Dense(784, 256, { rng, feedback: usf() });
 * const y = layer.forward(Tensor.zeros([100, 784]), true); // [100, 256]
 * ```
 */
export class Dense implements FeedbackLayer {
  readonly weight: Param;
  readonly bias: Param | null;
  readonly init: Initializer;
  feedback: Feedback;
  instrument = false;
  stats: FeedbackStats | null = null;

  /** Backward cache: the input of the last forward pass. */
  private cache: { x: Tensor } | null = null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: DenseOptions,
  ) {
    checkPositiveInt(`${this.describe()} inFeatures`, inFeatures);
    checkPositiveInt(`${this.describe()} outFeatures`, outFeatures);
    const rng = checkRng(this.describe(), options.rng);
    const dtype = options.dtype ?? 'float32';
    this.init = options.init ?? heNormal();
    this.weight = new Param('weight', Tensor.zeros([outFeatures, inFeatures], dtype));
    this.init.fill(this.weight.value.data, inFeatures, outFeatures, rng);
    this.bias = options.bias === false ? null : new Param('bias', Tensor.zeros([outFeatures], dtype));
    this.feedback = this.bindFeedback(options.feedback ?? symmetric(), rng.fork());
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
    const y = matmul(x, this.weight.value, { transB: true }); // Y = X Wᵀ
    if (this.bias) addRowVector(y, this.bias.value); //          + b
    return y;
  }

  backward(dy: Tensor): Tensor {
    const { x } = this.requireCache();
    assertShape(`${this.describe()}.backward`, dy, [x.shape[0]!, this.outFeatures]);

    // Parameter gradients: always the true ones, accumulated.
    matmul(dy, x, { transA: true, out: this.weight.grad, accumulate: true }); // dW += dYᵀ X
    if (this.bias) sumRowsInto(dy, this.bias.grad); //                          db += Σ dY

    // The error sent down to the input goes through the feedback matrix V.
    const v = this.feedback.matrix(this.weight.value); //                       V (= W for backprop)
    const dx = matmul(dy, v); //                                                 dX = dY V

    if (this.instrument) this.measure(v, dy, dx);
    return dx;
  }

  trueInputGradient(dy: Tensor): Tensor {
    this.requireCache();
    return matmul(dy, this.weight.value); // dX = dY W
  }

  params(): Param[] {
    return this.bias ? [this.weight, this.bias] : [this.weight];
  }

  zeroGrad(): void {
    for (const p of this.params()) p.zeroGrad();
  }

  setFeedback(strategy: FeedbackStrategy, rng: Rng): void {
    this.feedback = this.bindFeedback(strategy, checkRng(this.describe(), rng));
  }

  recordErrorAngle(angle: number): void {
    if (this.stats) this.stats = { ...this.stats, errorAngle: angle };
  }

  private bindFeedback(strategy: FeedbackStrategy, rng: Rng): Feedback {
    return strategy.bind({
      shape: [this.outFeatures, this.inFeatures],
      fanIn: this.inFeatures,
      fanOut: this.outFeatures,
      init: this.init,
      rng,
      layer: this.describe(),
    });
  }

  private measure(v: Tensor, dy: Tensor, dx: Tensor): void {
    const w = this.weight.value;
    const localErrorAngle = v === w ? 0 : angleDegrees(dx, matmul(dy, w));
    this.stats = { ...matrixStats(v, w), localErrorAngle, errorAngle: NaN };
  }

  private requireCache(): { x: Tensor } {
    if (!this.cache) throw new StateError(`${this.describe()}.backward called before forward`);
    return this.cache;
  }
}
