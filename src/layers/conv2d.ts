import { ShapeError, StateError, formatShape } from '../errors.js';
import type { BackwardSignals } from '../feedback/strategy.js';
import type { Shape, Storage, Tensor } from '../tensor/tensor.js';
import { checkPositiveInt } from './checks.js';
import { geometry2d, pair, type Geometry2d, type Size2 } from '../tensor/geometry.js';
import { WeightedLayer, type WeightedLayerOptions } from './weighted.js';

/** Options of {@link Conv2d}. */
export interface Conv2dOptions extends WeightedLayerOptions {
  /** Stride (default 1). */
  stride?: Size2;
  /** Zero padding on each side (default 0). */
  padding?: Size2;
}

/**
 * A 2-D convolution over NCHW batches, `y[o] = Σ_c W[o, c] ⋆ x[c] + b[o]`, with W of shape
 * `[out, in, kh, kw]`.
 *
 * It is lowered to one matrix product (im2col): each output position's receptive field becomes a
 * row of a patch matrix P (`[N·oh·ow, in·kh·kw]`), and with W viewed as a matrix `[out, in·kh·kw]`:
 *
 * ```
 * forward    Yᵗ  = P Wᵀ (+ b)       Yᵗ is Y with positions as rows: [N·oh·ow, out]
 * backward   dW += dYᵗᵀ P           the true weight gradient
 *            db += Σ_rows dYᵗ       the true bias gradient
 *            dP  = dYᵗ V            the error sent down, through the feedback V (= W for backprop)
 *            dX  = col2im(dP)       each patch entry goes back to the pixel it was copied from
 * ```
 *
 * P is kept transposed, Pᵀ, as the kernels' im2col writes it, and the products are formed in the
 * orientation that reads the large operands in place: `Yᵗ = (Pᵀ)ᵀ Wᵀ`, the weight gradient as its
 * transpose `(dYᵗᵀ P)ᵀ = Pᵀ dYᵗ`, and the error as `dPᵀ = Vᵀ dYᵗᵀ`. Every element is the same sum
 * in the same order either way.
 *
 * `dX = col2im(dYᵗ V)` is the transposed convolution with V in place of W, so every feedback
 * strategy acts on a conv layer exactly as on a dense one.
 *
 * @example
 * ```ts
 * import { Conv2d, Rng, Tensor, usf } from 'asymprop';
 *
 * const conv = new Conv2d(1, 6, 5, { rng: new Rng(0), padding: 2, feedback: usf() });
 * const y = conv.forward(Tensor.zeros([100, 1, 28, 28]), true);
 * conv.zeroGrad();
 * const dx = conv.backward(Tensor.full(y.shape, 0.01)); // dX = col2im(dYᵗ V), with V = sign(W)
 * console.log(y.shape, dx.shape, conv.weight.grad.shape); // [100, 6, 28, 28] [100, 1, 28, 28] [6, 1, 5, 5]
 * ```
 */
export class Conv2d extends WeightedLayer {
  /** The kernel's size `[kh, kw]` (W's last two axes). */
  readonly kernel: [number, number];
  /** The step `[sh, sw]` between neighbouring windows, vertically and horizontally. */
  readonly stride: [number, number];
  /** The zero padding `[ph, pw]` added at the top and bottom, and at the left and right. */
  readonly padding: [number, number];
  /** Backward cache: input shape, geometry and the patch matrix of the last forward pass. */
  private cache: { n: number; g: Geometry2d; patches: Storage | null; x: Tensor; inputShape: Shape } | null = null;
  /** Work arrays reused from step to step (the patch matrix and dYᵗ: megabytes per batch). */
  private work: { patches: Storage | null; dyt: Storage | null; dytOf: Tensor | null } = { patches: null, dyt: null, dytOf: null };

  /** The kind of layer, for the rules that apply only to some (`conv`). */
  get feedbackKind(): 'conv' {
    return 'conv';
  }

  /**
   * @param kernel the kernel's size, `k` or `[kh, kw]`.
   * @param options `rng` (required) draws W and seeds the feedback's generator; `stride` (default
   * 1), `padding` (default 0), `feedback` (default {@link symmetric}), `init` (default He-normal),
   * `bias` (default true), `dtype`.
   * @throws {@link ConfigError} when a channel count, the kernel or the stride is not a positive
   * integer, the padding is not a non-negative integer, or `rng` is missing.
   */
  constructor(
    /** Input channels per sample (W's second axis). */
    readonly inChannels: number,
    /** Output channels per sample, one per filter (W's first axis). */
    readonly outChannels: number,
    kernel: Size2,
    options: Conv2dOptions,
  ) {
    const label = `Conv2d(${inChannels}→${outChannels}, ${typeof kernel === 'number' ? `${kernel}×${kernel}` : kernel.join('×')})`;
    checkPositiveInt(`${label} inChannels`, inChannels);
    checkPositiveInt(`${label} outChannels`, outChannels);
    const [kh, kw] = pair(`${label} kernel`, kernel, 1);
    super(label, [outChannels, inChannels, kh, kw], inChannels * kh * kw, outChannels * kh * kw, options);
    this.kernel = [kh, kw];
    this.stride = pair(`${label} stride`, options.stride ?? 1, 1);
    this.padding = pair(`${label} padding`, options.padding ?? 0, 0);
  }

  describe(): string {
    const [kh, kw] = this.kernel ?? [];
    const extra = [this.stride?.some((s) => s !== 1) ? `stride ${this.stride.join(',')}` : '', this.padding?.some((p) => p !== 0) ? `padding ${this.padding.join(',')}` : '']
      .filter(Boolean)
      .join(', ');
    return `Conv2d(${this.inChannels}→${this.outChannels}, ${kh}×${kw}${extra ? `, ${extra}` : ''})`;
  }

  /** The window geometry for a per-sample input `[in, h, w]`. */
  geometry(inputShape: Shape): Geometry2d {
    const g = geometry2d(this.describe(), inputShape, { kernel: this.kernel, stride: this.stride, padding: this.padding }, 1);
    if (g.c !== this.inChannels) throw new ShapeError(this.describe(), `per-sample input [${this.inChannels}, H, W]`, inputShape);
    return g;
  }

  outputShape(inputShape: Shape): number[] {
    const g = this.geometry(inputShape);
    return [this.outChannels, g.oh, g.ow];
  }

  /**
   * `Y = W ⋆ X + b`. In training the patch matrix is kept for the weight gradient; in evaluation
   * it lives only for this product, and a backward pass after it (a gradient check in evaluation
   * mode) builds it again from the same input.
   */
  forward(x: Tensor, training: boolean): Tensor {
    if (x.rank !== 4) throw new ShapeError(`${this.describe()}.forward`, `[N, ${this.inChannels}, H, W]`, x.shape);
    const n = x.shape[0]!;
    const g = this.geometry(x.shape.slice(1));
    const rows = n * g.oh * g.ow;
    const k = this.inChannels * g.kh * g.kw;
    const kernels = this.kernels;
    const patches = training ? (this.work.patches = this.reuse(this.work.patches, x.dtype, rows * k)) : kernels.scratch(x.dtype, rows * k);
    kernels.im2col(x.data, n, g, patches); //                                                             Pᵀ
    const yt = kernels.gemmProduct(true, true, rows, this.outChannels, k, patches, this.weight.value.data); // Yᵗ = P Wᵀ
    const y = this.workspace.tensor('y', [n, this.outChannels, g.oh, g.ow], x.dtype, false); //     every value is written
    kernels.positionsToChannels(yt, n, this.outChannels, g.oh * g.ow, y.data, this.bias?.value.data ?? null); // Y (+ b)
    this.cache = { n, g, patches: training ? patches : null, x, inputShape: x.shape };
    this.work.dytOf = null;
    return y;
  }

  /**
   * The parameter gradients, always the true ones; then the error sent down, which the feedback
   * decides: `col2im(dYᵗ V)` through {@link Conv2d.inputGradient} for every layer-wise rule.
   */
  backward(dy: Tensor, signals?: BackwardSignals): Tensor {
    this.backwardParams(dy); //                                                                dW, db
    return this.feedback.backward(this, dy, signals); //                                       dX = col2im(dYᵗ V) (or e B)
  }

  /** The parameter gradients alone (the first half of `backward`), for a first layer. */
  backwardParams(dy: Tensor): void {
    const cache = this.requireCache();
    const { n, g } = cache;
    this.checkGradShape(dy, n, g);
    const rows = n * g.oh * g.ow;
    const k = this.inChannels * g.kh * g.kw;
    const kernels = this.kernels;
    const patches = (cache.patches ??= this.patchesOf(cache.x, n, g)); //                            Pᵀ
    const dyt = this.positions(dy, n, g); //                                                          dYᵗ
    const dwt = kernels.gemmProduct(false, false, k, this.outChannels, rows, patches, dyt); //       (dYᵗᵀ P)ᵀ = Pᵀ dYᵗ
    kernels.addTransposed(dwt, k, this.outChannels, this.weight.grad.data); //                       dW += dYᵗᵀ P
    if (this.bias) kernels.sumPlanes(dy.data, n, this.outChannels, g.oh * g.ow, this.bias.grad.data); // db += Σ dY
  }

  /**
   * The error sent to the input through a matrix V of W's shape (viewed `[out, in·kh·kw]`):
   * `dP = dYᵗ V` (formed transposed, `dPᵀ = Vᵀ dYᵗᵀ`), then `dX = col2im(dP)`, the transposed
   * convolution with V in place of W.
   */
  inputGradient(dy: Tensor, v: Tensor): Tensor {
    const { n, g, inputShape } = this.requireCache();
    this.checkGradShape(dy, n, g);
    if (v.size !== this.weight.value.size) throw new ShapeError(`${this.describe()}.inputGradient feedback matrix`, formatShape(this.weight.value.shape), v.shape);
    const rows = n * g.oh * g.ow;
    const k = this.inChannels * g.kh * g.kw;
    const dyt = this.positions(dy, n, g);
    const dp = this.kernels.gemmProduct(true, true, k, rows, this.outChannels, v.data, dyt); //   dPᵀ = Vᵀ dYᵗᵀ
    const dx = this.workspace.tensor('dx', inputShape, dy.dtype, false); //                          every value is written
    this.kernels.col2im(dp, n, g, dx.data); //                                                       dX = col2im(dP)
    return dx;
  }

  lastInputShape(): Shape {
    return this.requireCache().inputShape;
  }

  /**
   * dYᵗ, `dy` with positions as rows (`[N·oh·ow, out]`), in a work array kept across steps. The
   * parameter gradients and the input gradient of one backward pass both need it for the same
   * `dy`, so the second call reuses the first one's (dYᵗ is a pure rearrangement of `dy`'s values).
   */
  private positions(dy: Tensor, n: number, g: Geometry2d): Storage {
    if (this.work.dytOf === dy && this.work.dyt) return this.work.dyt;
    const dyt = (this.work.dyt = this.reuse(this.work.dyt, dy.dtype, n * g.oh * g.ow * this.outChannels));
    this.kernels.channelsToPositions(dy.data, n, this.outChannels, g.oh * g.ow, dyt);
    this.work.dytOf = dy;
    return dyt;
  }

  private checkGradShape(dy: Tensor, n: number, g: Geometry2d): void {
    const expected = [n, this.outChannels, g.oh, g.ow];
    if (dy.rank !== 4 || expected.some((d, i) => dy.shape[i] !== d)) {
      throw new ShapeError(`${this.describe()}.backward`, `[${expected.join(', ')}]`, dy.shape);
    }
  }

  /** `storage` when it has this dtype and size, else a fresh work array from the kernels (kept across steps; the old one given back). */
  private reuse(storage: Storage | null, dtype: 'float32' | 'float64', size: number): Storage {
    if (storage && storage.length === size && (storage instanceof Float64Array) === (dtype === 'float64')) return storage;
    if (storage) this.kernels.release(storage);
    return this.kernels.allocate(dtype, size);
  }

  /** The patch matrix of input x, built again (after a forward pass in evaluation mode, which kept none). */
  private patchesOf(x: Tensor, n: number, g: Geometry2d): Storage {
    const patches = (this.work.patches = this.reuse(this.work.patches, x.dtype, n * g.oh * g.ow * this.inChannels * g.kh * g.kw));
    this.kernels.im2col(x.data, n, g, patches);
    return patches;
  }

  private requireCache(): NonNullable<Conv2d['cache']> {
    if (!this.cache) throw new StateError(`${this.describe()}.backward called before forward`);
    return this.cache;
  }
}
