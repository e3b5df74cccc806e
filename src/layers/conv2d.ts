import { ShapeError, StateError, formatShape } from '../errors.js';
import type { BackwardSignals } from '../feedback/strategy.js';
import { gemmProduct, type StridedMatrix } from '../tensor/matmul.js';
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
 * (The weight gradient is formed as its transpose, `Pᵀ dYᵗ`, because the matrix kernel reads its
 * first operand in place and packs the second: P is by far the larger one.)
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
  private cache: { n: number; g: Geometry2d; patches: Storage; inputShape: Shape } | null = null;
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

  forward(x: Tensor, _training: boolean): Tensor {
    if (x.rank !== 4) throw new ShapeError(`${this.describe()}.forward`, `[N, ${this.inChannels}, H, W]`, x.shape);
    const n = x.shape[0]!;
    const g = this.geometry(x.shape.slice(1));
    const rows = n * g.oh * g.ow;
    const k = this.inChannels * g.kh * g.kw;
    const patches = (this.work.patches = reuse(this.work.patches, x.dtype, rows * k));
    im2col(x.data, n, g, patches); //                                                          P
    const yt = gemmProduct(false, true, rows, this.outChannels, k, patches, this.weight.value.data); // Yᵗ = P Wᵀ
    const y = this.workspace.tensor('y', [n, this.outChannels, g.oh, g.ow], x.dtype, false); // every value is written
    positionsToChannels(yt, n, this.outChannels, g.oh * g.ow, y.data, this.bias?.value.data ?? null); // Y (+ b)
    this.cache = { n, g, patches, inputShape: x.shape };
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
    const { n, g, patches } = this.requireCache();
    this.checkGradShape(dy, n, g);
    const rows = n * g.oh * g.ow;
    const k = this.inChannels * g.kh * g.kw;
    const dyt = this.positions(dy, n, g); //                                                  dYᵗ
    const dwt = gemmProduct(true, false, k, this.outChannels, rows, patches, dyt); //        (dYᵗᵀ P)ᵀ = Pᵀ dYᵗ
    addTransposed(dwt, k, this.outChannels, this.weight.grad.data); //                       dW += dYᵗᵀ P
    if (this.bias) sumPlanesInto(dy.data, n, this.outChannels, g.oh * g.ow, this.bias.grad.data); // db += Σ dY
  }

  /**
   * The error sent to the input through a matrix V of W's shape (viewed `[out, in·kh·kw]`):
   * `dP = dYᵗ V`, then `dX = col2im(dP)`, the transposed convolution with V in place of W.
   */
  inputGradient(dy: Tensor, v: Tensor): Tensor {
    const { n, g, inputShape } = this.requireCache();
    this.checkGradShape(dy, n, g);
    if (v.size !== this.weight.value.size) throw new ShapeError(`${this.describe()}.inputGradient feedback matrix`, formatShape(this.weight.value.shape), v.shape);
    const rows = n * g.oh * g.ow;
    const k = this.inChannels * g.kh * g.kw;
    const dyt = this.positions(dy, n, g);
    const dp = gemmProduct(false, false, rows, k, this.outChannels, dyt, v.data); // dP = dYᵗ V
    const dx = this.workspace.tensor('dx', inputShape, dy.dtype, true); //            col2im adds into it
    col2im(dp.data, n, g, dx.data, dp.offset, dp.ld); //                              dX = col2im(dP)
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
    const dyt = (this.work.dyt = reuse(this.work.dyt, dy.dtype, n * g.oh * g.ow * this.outChannels));
    channelsToPositions(dy.data, n, this.outChannels, g.oh * g.ow, dyt);
    this.work.dytOf = dy;
    return dyt;
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
  const [kx0, kx1] = windowColumns(g);
  const rowLength = c * kh * kw;
  for (let s = 0, o = 0; s < n; s++) {
    for (let oy = 0; oy < oh; oy++) {
      const top = oy * sh - ph; // the window's first image row; rows ky0 ≤ ky < ky1 are inside the image
      const ky0 = Math.max(0, -top), ky1 = Math.min(kh, h - top);
      for (let ox = 0; ox < ow; ox++, o += rowLength) {
        const lo = kx0[ox]!, hi = kx1[ox]!, left = ox * sw - pw;
        if (lo === 0 && hi === kw && ky0 === 0 && ky1 === kh) {
          // The whole window is inside the image (most windows): plain copies, no padding tests.
          if (kw === 5) {
            // 5 wide, the most common kernel, written out: the loop over 5 values cost more than the copies.
            for (let ch = 0, q = o; ch < c; ch++) {
              for (let ky = 0, f = ((s * c + ch) * h + top) * w + left; ky < kh; ky++, f += w, q += 5) {
                out[q] = x[f]!; out[q + 1] = x[f + 1]!; out[q + 2] = x[f + 2]!; out[q + 3] = x[f + 3]!; out[q + 4] = x[f + 4]!;
              }
            }
            continue;
          }
          for (let ch = 0, q = o; ch < c; ch++) {
            for (let ky = 0, from = ((s * c + ch) * h + top) * w + left; ky < kh; ky++, from += w) {
              for (let kx = 0; kx < kw; kx++) out[q++] = x[from + kx]!;
            }
          }
          continue;
        }
        for (let ch = 0, q = o; ch < c; ch++) {
          const plane = (s * c + ch) * h;
          for (let ky = 0; ky < kh; ky++, q += kw) {
            if (ky < ky0 || ky >= ky1) {
              for (let kx = 0; kx < kw; kx++) out[q + kx] = 0;
              continue;
            }
            const from = (plane + top + ky) * w + left;
            for (let kx = 0; kx < lo; kx++) out[q + kx] = 0;
            for (let kx = lo; kx < hi; kx++) out[q + kx] = x[from + kx]!;
            for (let kx = hi; kx < kw; kx++) out[q + kx] = 0;
          }
        }
      }
    }
  }
}

/**
 * The adjoint of {@link im2col}: adds each patch entry back onto the pixel it came from. Row r of
 * the patch matrix starts at `offset + r·ld` (default: packed rows, `ld = c·kh·kw`).
 */
export function col2im(patches: Storage, n: number, g: Geometry2d, dx: Storage, offset = 0, ld = g.c * g.kh * g.kw): void {
  const { c, h, w, kh, kw, sh, sw, ph, pw, oh, ow } = g;
  const [kx0, kx1] = windowColumns(g);
  let row = offset;
  for (let s = 0; s < n; s++) {
    for (let oy = 0; oy < oh; oy++) {
      const top = oy * sh - ph;
      const ky0 = Math.max(0, -top), ky1 = Math.min(kh, h - top);
      for (let ox = 0; ox < ow; ox++, row += ld) {
        // The same additions in the same order as im2col's copies, skipping the padding.
        const lo = kx0[ox]!, hi = kx1[ox]!, left = ox * sw - pw;
        if (kw === 5 && lo === 0 && hi === 5 && ky0 === 0 && ky1 === kh) {
          // A whole 5-wide window inside the image, written out as in im2col.
          for (let ch = 0, o = row; ch < c; ch++) {
            for (let ky = 0, t = ((s * c + ch) * h + top) * w + left; ky < kh; ky++, t += w, o += 5) {
              dx[t] += patches[o]!; dx[t + 1] += patches[o + 1]!; dx[t + 2] += patches[o + 2]!; dx[t + 3] += patches[o + 3]!; dx[t + 4] += patches[o + 4]!;
            }
          }
          continue;
        }
        for (let ch = 0, o = row; ch < c; ch++) {
          const plane = (s * c + ch) * h;
          for (let ky = 0; ky < kh; ky++, o += kw) {
            if (ky < ky0 || ky >= ky1) continue;
            const to = (plane + top + ky) * w + left;
            for (let kx = lo; kx < hi; kx++) dx[to + kx] += patches[o + kx]!;
          }
        }
      }
    }
  }
}

/** For each output column ox, the range [kx0, kx1) of window columns that land inside the image. */
function windowColumns(g: Geometry2d): [Int32Array, Int32Array] {
  const lo = new Int32Array(g.ow), hi = new Int32Array(g.ow);
  for (let ox = 0; ox < g.ow; ox++) {
    const shift = ox * g.sw - g.pw;
    lo[ox] = Math.min(g.kw, Math.max(0, -shift));
    hi[ox] = Math.max(lo[ox]!, Math.min(g.kw, g.w - shift));
  }
  return [lo, hi];
}

/** `[n·p, ch]` (positions as rows, strided) → `[n, ch, p]` (NCHW), adding a per-channel bias. */
function positionsToChannels(src: StridedMatrix, n: number, ch: number, p: number, dst: Storage, bias: Storage | null): void {
  const { data, offset, ld } = src;
  for (let s = 0; s < n; s++) {
    for (let o = 0; o < ch; o++) {
      const b = bias ? bias[o]! : 0;
      const to = (s * ch + o) * p;
      let from = offset + s * p * ld + o;
      for (let q = 0; q < p; q++, from += ld) dst[to + q] = data[from]! + b;
    }
  }
}

/** `out[j, i] += m[i, j]`: adds the transpose of the strided `rows × cols` matrix `m` into `out` (`cols × rows`). */
function addTransposed(m: StridedMatrix, rows: number, cols: number, out: Storage): void {
  const { data, offset, ld } = m;
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] += data[offset + i * ld + j]!;
}

/** `storage` when it has this dtype and size, else a fresh array (work arrays kept across steps). */
function reuse(storage: Storage | null, dtype: 'float32' | 'float64', size: number): Storage {
  return storage && storage.length === size && (storage instanceof Float64Array) === (dtype === 'float64') ? storage : allocate(dtype, size);
}

/** `[n, ch, p]` (NCHW) → `[n·p, ch]` (positions as rows), written into `dst`. */
function channelsToPositions(src: Storage, n: number, ch: number, p: number, dst: Storage): Storage {
  for (let s = 0; s < n; s++) {
    for (let o = 0; o < ch; o++) {
      const from = (s * ch + o) * p;
      for (let q = 0; q < p; q++) dst[(s * p + q) * ch + o] = src[from + q]!;
    }
  }
  return dst;
}

/**
 * Adds each channel's sum over `[n, ch, p]` (NCHW) into `out[ch]`, one addition at a time in the
 * order of the positions `(sample, p)`, rounding to out's precision at each step like `out[ch] += v`.
 * Each sum is a chain of dependent additions, so channels go in pairs: two chains interleaved run
 * in about the time of one.
 */
function sumPlanesInto(src: Storage, n: number, ch: number, p: number, out: Storage): void {
  const single = out instanceof Float32Array;
  let o = 0;
  for (; o + 1 < ch; o += 2) {
    let a = out[o]!, b = out[o + 1]!;
    for (let s = 0; s < n; s++) {
      const from = (s * ch + o) * p, end = from + p;
      if (single) for (let q = from; q < end; q++) { a = Math.fround(a + src[q]!); b = Math.fround(b + src[q + p]!); }
      else for (let q = from; q < end; q++) { a += src[q]!; b += src[q + p]!; }
    }
    out[o] = a;
    out[o + 1] = b;
  }
  for (; o < ch; o++) {
    let a = out[o]!;
    for (let s = 0; s < n; s++) {
      const from = (s * ch + o) * p, end = from + p;
      if (single) for (let q = from; q < end; q++) a = Math.fround(a + src[q]!);
      else for (let q = from; q < end; q++) a += src[q]!;
    }
    out[o] = a;
  }
}
