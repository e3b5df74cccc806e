import { ShapeError, StateError } from '../errors.js';
import { gemm } from '../tensor/matmul.js';
import { Tensor, allocate, type Shape, type Storage } from '../tensor/tensor.js';
import { checkPositiveInt } from './checks.js';
import { geometry2d, pair, type Geometry2d, type Size2 } from './geometry.js';
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
 * `dX = col2im(dYᵗ V)` is the transposed convolution with V in place of W, so every feedback
 * strategy acts on a conv layer exactly as on a dense one.
 *
 * @example
 * ```ts
 * const conv = new Conv2d(1, 6, 5, { rng: new Rng(0), padding: 2, feedback: usf() });
 * conv.forward(Tensor.zeros([100, 1, 28, 28]), true).shape; // [100, 6, 28, 28]
 * ```
 */
export class Conv2d extends WeightedLayer {
  readonly kernel: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  /** Backward cache: input shape, geometry and the patch matrix of the last forward pass. */
  private cache: { n: number; g: Geometry2d; patches: Storage; inputShape: Shape } | null = null;

  constructor(
    readonly inChannels: number,
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

  forward(x: Tensor, _training: boolean): Tensor {
    if (x.rank !== 4) throw new ShapeError(`${this.describe()}.forward`, `[N, ${this.inChannels}, H, W]`, x.shape);
    const n = x.shape[0]!;
    const g = this.geometry(x.shape.slice(1));
    const rows = n * g.oh * g.ow;
    const k = this.inChannels * g.kh * g.kw;
    const patches = allocate(x.dtype, rows * k);
    im2col(x.data, n, g, patches); //                                                      P
    const yt = allocate(x.dtype, rows * this.outChannels);
    gemm(false, true, rows, this.outChannels, k, patches, this.weight.value.data, yt); //   Yᵗ = P Wᵀ
    const y = Tensor.zeros([n, this.outChannels, g.oh, g.ow], x.dtype);
    positionsToChannels(yt, n, this.outChannels, g.oh * g.ow, y.data, this.bias?.value.data ?? null); // Y (+ b)
    this.cache = { n, g, patches, inputShape: x.shape };
    return y;
  }

  backward(dy: Tensor): Tensor {
    const { n, g, patches, inputShape } = this.requireCache();
    this.checkGradShape(dy, n, g);
    const rows = n * g.oh * g.ow;
    const k = this.inChannels * g.kh * g.kw;
    const dyt = channelsToPositions(dy.data, n, this.outChannels, g.oh * g.ow); //         dYᵗ

    // Parameter gradients: always the true ones, accumulated.
    gemm(true, false, this.outChannels, k, rows, dyt, patches, this.weight.grad.data, true); // dW += dYᵗᵀ P
    if (this.bias) sumColumnsInto(dyt, this.outChannels, this.bias.grad.data); //              db += Σ dYᵗ

    // The error sent down goes through the feedback matrix V.
    const v = this.feedback.matrix(this.weight.value); //                                      V (= W for backprop)
    const dx = this.inputGradient(dyt, v.data, n, g, inputShape, dy); //                       dX = col2im(dYᵗ V)

    if (this.instrument) this.measure(v, dx, () => this.inputGradient(dyt, this.weight.value.data, n, g, inputShape, dy));
    return dx;
  }

  trueInputGradient(dy: Tensor): Tensor {
    const { n, g, inputShape } = this.requireCache();
    this.checkGradShape(dy, n, g);
    const dyt = channelsToPositions(dy.data, n, this.outChannels, g.oh * g.ow);
    return this.inputGradient(dyt, this.weight.value.data, n, g, inputShape, dy);
  }

  private inputGradient(dyt: Storage, v: Storage, n: number, g: Geometry2d, inputShape: Shape, dy: Tensor): Tensor {
    const rows = n * g.oh * g.ow;
    const k = this.inChannels * g.kh * g.kw;
    const dp = allocate(dy.dtype, rows * k);
    gemm(false, false, rows, k, this.outChannels, dyt, v, dp); // dP = dYᵗ V
    const dx = Tensor.zeros(inputShape, dy.dtype);
    col2im(dp, n, g, dx.data); //                                dX = col2im(dP)
    return dx;
  }

  private checkGradShape(dy: Tensor, n: number, g: Geometry2d): void {
    const expected = [n, this.outChannels, g.oh, g.ow];
    if (dy.rank !== 4 || expected.some((d, i) => dy.shape[i] !== d)) {
      throw new ShapeError(`${this.describe()}.backward`, `[${expected.join(', ')}]`, dy.shape);
    }
  }

  private requireCache(): NonNullable<Conv2d['cache']> {
    if (!this.cache) throw new StateError(`${this.describe()}.backward called before forward`);
    return this.cache;
  }
}

/**
 * Copies every receptive field of `x` (`[n, c, h, w]`) into a row of `out`
 * (`[n·oh·ow, c·kh·kw]`, columns ordered c, ky, kx like W's), with zeros where the window
 * overlaps the padding.
 */
export function im2col(x: Storage, n: number, g: Geometry2d, out: Storage): void {
  const { c, h, w, kh, kw, sh, sw, ph, pw, oh, ow } = g;
  let o = 0;
  for (let s = 0; s < n; s++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        for (let ch = 0; ch < c; ch++) {
          const plane = (s * c + ch) * h;
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * sh - ph + ky;
            if (iy < 0 || iy >= h) {
              for (let kx = 0; kx < kw; kx++) out[o++] = 0;
              continue;
            }
            const rowBase = (plane + iy) * w;
            for (let kx = 0; kx < kw; kx++) {
              const ix = ox * sw - pw + kx;
              out[o++] = ix >= 0 && ix < w ? x[rowBase + ix]! : 0;
            }
          }
        }
      }
    }
  }
}

/** The adjoint of {@link im2col}: adds each patch entry back onto the pixel it came from. */
export function col2im(patches: Storage, n: number, g: Geometry2d, dx: Storage): void {
  const { c, h, w, kh, kw, sh, sw, ph, pw, oh, ow } = g;
  let o = 0;
  for (let s = 0; s < n; s++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        for (let ch = 0; ch < c; ch++) {
          const plane = (s * c + ch) * h;
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * sh - ph + ky;
            if (iy < 0 || iy >= h) {
              o += kw;
              continue;
            }
            const rowBase = (plane + iy) * w;
            for (let kx = 0; kx < kw; kx++, o++) {
              const ix = ox * sw - pw + kx;
              if (ix >= 0 && ix < w) dx[rowBase + ix] += patches[o]!;
            }
          }
        }
      }
    }
  }
}

/** `[n·p, ch]` (positions as rows) → `[n, ch, p]` (NCHW), adding a per-channel bias. */
function positionsToChannels(src: Storage, n: number, ch: number, p: number, dst: Storage, bias: Storage | null): void {
  for (let s = 0; s < n; s++) {
    for (let q = 0; q < p; q++) {
      const from = (s * p + q) * ch;
      for (let o = 0; o < ch; o++) dst[(s * ch + o) * p + q] = src[from + o]! + (bias ? bias[o]! : 0);
    }
  }
}

/** `[n, ch, p]` (NCHW) → `[n·p, ch]` (positions as rows). */
function channelsToPositions(src: Storage, n: number, ch: number, p: number): Storage {
  const dst = allocate(src instanceof Float64Array ? 'float64' : 'float32', n * p * ch);
  for (let s = 0; s < n; s++) {
    for (let o = 0; o < ch; o++) {
      const from = (s * ch + o) * p;
      for (let q = 0; q < p; q++) dst[(s * p + q) * ch + o] = src[from + q]!;
    }
  }
  return dst;
}

/** Adds the column sums of `m` (`[rows, cols]`) into `out`. */
function sumColumnsInto(m: Storage, cols: number, out: Storage): void {
  for (let i = 0; i < m.length; i += cols) for (let j = 0; j < cols; j++) out[j] += m[i + j]!;
}
