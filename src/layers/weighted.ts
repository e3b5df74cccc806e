import type { FeedbackContext, FeedbackLayerKind, FeedbackStrategy } from '../feedback/strategy.js';
import { symmetric } from '../feedback/symmetric.js';
import { heNormal, type Initializer } from '../tensor/init.js';
import { matmul, type MatmulOptions } from '../tensor/matmul.js';
import { Param } from '../tensor/param.js';
import type { Rng } from '../tensor/rng.js';
import { Tensor, sizeOf, type DType, type Shape } from '../tensor/tensor.js';
import { checkRng } from './checks.js';
import { FeedbackLayerBase } from './feedbackLayer.js';
import { Workspace } from './workspace.js';

/** Options shared by the weighted layers ({@link Dense}, {@link Conv2d}). */
export interface WeightedLayerOptions {
  /** Draws the initial weights (and seeds the feedback's own generator). Required: no hidden randomness. */
  rng: Rng;
  /** Weight initialiser (default He-normal, N(0, 2/fanIn)). Biases start at 0. */
  init?: Initializer;
  /** Whether the layer has a bias (default true). */
  bias?: boolean;
  /** Feedback strategy for the backward pass (default symmetric backprop). */
  feedback?: FeedbackStrategy;
  /** Storage type of the parameters (default float32; float64 for gradient checks). */
  dtype?: DType;
}

/**
 * What dense and convolutional layers share: a weight W and bias b, and the bound feedback
 * strategy that decides what the backward pass sends down. Each subclass writes its own forward,
 * parameter gradients and input gradient, side by side, in its own file.
 */
export abstract class WeightedLayer extends FeedbackLayerBase {
  /** `dense` or `conv` (a getter in each subclass, so that it is readable while this constructor binds the feedback). */
  abstract override get feedbackKind(): Extract<FeedbackLayerKind, 'dense' | 'conv'>;
  /** W: `[out, in]` for a dense layer, `[out, in, kh, kw]` for a convolution. Named `weight`. */
  readonly weight: Param;
  /** b, one per output unit or channel, initialised to 0; null when built with `bias: false`. Named `bias`. */
  readonly bias: Param | null;
  /** The initialiser that drew W (and that feedback alignment uses to draw B). */
  readonly init: Initializer;
  /**
   * The output and input-gradient arrays, reused from step to step inside a training step.
   *
   * @internal
   */
  protected readonly workspace = new Workspace(() => this.kernels);

  /**
   * Draws W with `options.init` from `options.rng`, then binds the feedback strategy to a generator
   * forked from that same `rng`.
   *
   * @param label the layer's description (subclass fields are not set yet while this runs).
   * @param weightShape W's shape (`[out, in]` or `[out, in, kh, kw]`).
   * @param fanIn inputs feeding one output unit; `fanOut`: outputs fed by one input unit.
   * @throws {@link ConfigError} when `options.rng` is not an {@link Rng}, or the strategy does not apply to this kind of layer.
   */
  protected constructor(
    private readonly label: string,
    weightShape: Shape,
    private readonly fanIn: number,
    private readonly fanOut: number,
    options: WeightedLayerOptions,
  ) {
    super();
    const rng = checkRng(label, options?.rng);
    const dtype = options.dtype ?? 'float32';
    this.init = options.init ?? heNormal();
    // W, b and their gradients in the kernels' memory, where the kernels use them in place.
    const inKernels = (d: DType, size: number) => this.kernels.allocate(d, size);
    this.weight = new Param('weight', new Tensor(inKernels(dtype, sizeOf(weightShape)), weightShape), { allocate: inKernels });
    this.init.fill(this.weight.value.data, fanIn, fanOut, rng);
    this.bias = options.bias === false ? null : new Param('bias', new Tensor(inKernels(dtype, weightShape[0]!), [weightShape[0]!]), { allocate: inKernels });
    this.feedback = this.bindFeedback(options.feedback ?? symmetric(), rng.fork());
  }

  protected ownParams(): Param[] {
    return this.bias ? [this.weight, this.bias] : [this.weight];
  }

  /** {@link matmul} on this layer's kernels. */
  protected matmul(a: Tensor, b: Tensor, options: Omit<MatmulOptions, 'kernels'>): Tensor {
    return matmul(a, b, { ...options, kernels: this.kernels });
  }

  /** With `on`, passes write into the arrays of the previous pass (see {@link Layer.reuseBuffers}). */
  reuseBuffers(on: boolean): void {
    this.workspace.reuse = on;
  }

  protected feedbackContext(rng: Rng): FeedbackContext {
    const w = this.weight.value;
    // While the subclass constructor runs, describe() may not work yet: the label stands in.
    const layer = this.feedback ? this.describe() : this.label;
    const kernels = () => this.kernels;
    return { kind: this.feedbackKind, shape: w.shape, dtype: w.dtype, fanIn: this.fanIn, fanOut: this.fanOut, init: this.init, rng, layer, get kernels() { return kernels(); } };
  }

}
