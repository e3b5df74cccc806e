import type { Geometry2d } from '../tensor/geometry.js';
import type { DType, Storage } from '../tensor/tensor.js';

/**
 * A matrix left where a product was computed: row i is `data[offset + i·ld …]`. A kernel may
 * leave a product in its own memory, valid until its next product.
 */
export interface StridedMatrix {
  /** The array the matrix lies in. */
  readonly data: Storage;
  /** Where row 0 starts in `data`. */
  readonly offset: number;
  /** Elements between consecutive rows (at least the number of columns). */
  readonly ld: number;
}

/** Smallest positive normal float32: SGD flushes momentum values below it to zero (see {@link Kernels.sgdMomentum}). */
export const FLUSH_BELOW = 1.1754943508222875e-38;

/** The coefficients of one SGD momentum update (see {@link Kernels.sgdMomentum}). */
export interface MomentumStep {
  /** The learning rate. */
  readonly lr: number;
  /** How much of the old buffer stays: μ, or 0 on the first step. */
  readonly keep: number;
  /** How much of the gradient enters the buffer: 1 − dampening, or 1 on the first step. */
  readonly gain: number;
  /** L2 weight decay λ, added to the gradient. */
  readonly weightDecay: number;
  /** μ, for Nesterov's look-ahead. */
  readonly momentum: number;
  /** Nesterov momentum: `w ← w − lr·(g + μ·buf)` instead of `w ← w − lr·buf`. */
  readonly nesterov: boolean;
}

/** The per-channel sums a batch normalisation's backward pass needs, in float64. */
export interface ChannelGradSums {
  /** Σ dy per channel. */
  readonly sumDy: Float64Array;
  /** Σ dy·x̂ per channel. */
  readonly sumDyXhat: Float64Array;
}

/**
 * The loops the layers run, behind one boundary: the layers say what to compute (a matrix
 * product, im2col, a ReLU, a batch normalisation's sums) and a kernel object computes it. Layer
 * files then read as the mathematics; how fast it goes is the kernels' business.
 *
 * Two implementations keep the same protocol:
 * - {@link referenceKernels}: plain TypeScript loops, the definitions written out; the oracle the
 *   fast kernels are tested against, and what runs where WebAssembly does not.
 * - the fast kernels ({@link defaultKernels} where WebAssembly SIMD is available): WebAssembly
 *   generated at run time, sharing each call among threads (`useThreads`), working in place on
 *   the arrays they handed out ({@link Kernels.allocate}).
 *
 * Both give the same bits for every operation but one: for float32 products large enough for the
 * SIMD kernel, the fast kernels add in float32, where the reference's `gemm` accumulates in
 * float64. Everything else (copies, float32 additions, float64 statistics) is the same arithmetic
 * in the same order. Results never depend on the number of threads.
 *
 * A layer uses the kernels it was given (default {@link defaultKernels}); `Sequential.useKernels`
 * sets them for a whole model.
 *
 * All arrays are contiguous; shapes are checked by the layers, not here.
 */
export interface Kernels {
  /** `reference` or `wasm-simd`. */
  readonly name: 'reference' | 'wasm-simd';

  /** Threads a call may be shared among (1 for the reference). */
  threads(): number;

  /**
   * A work array for a layer's pass, zero-filled: in the kernels' own memory where they have one
   * (so they use it in place), else an ordinary typed array.
   */
  allocate(dtype: DType, size: number): Storage;

  /** An index array for a layer's pass (max pooling's argmax), zero-filled, in the kernels' memory where they have one. */
  allocateIndices(size: number): Int32Array;

  /**
   * Takes back an array {@link Kernels.allocate} handed out, which nothing uses any more (a work
   * array replaced by one of another size), so its space serves the next one at once rather than
   * when the garbage collector gets to it. Anything else is left alone.
   */
  release(array: Storage | Int32Array): void;

  /**
   * A work array of at least `size` values that lives only until the next `scratch` call (by any
   * layer on these kernels): for a pass that needs room it does not keep, such as the patch matrix
   * of a convolution that will not be differentiated. Not zero-filled.
   */
  scratch(dtype: DType, size: number): Storage;

  /**
   * `C (m×n) (+)= op(A) · op(B)`, op(X) = X or Xᵀ by the flags, all row-major: A stored `m×k` (or
   * `k×m` when `transA`), B `k×n` (or `n×k` when `transB`).
   */
  gemm(transA: boolean, transB: boolean, m: number, n: number, k: number, a: Storage, b: Storage, c: Storage, accumulate?: boolean): void;

  /**
   * `op(A) · op(B)` (m×n) left where it was computed (the kernel's memory or scratch), for a caller
   * that reads it once and rearranges it anyway. Valid until the next product.
   */
  gemmProduct(transA: boolean, transB: boolean, m: number, n: number, k: number, a: Storage, b: Storage): StridedMatrix;

  /**
   * im2col, transposed: the patch matrix P (a row per output position (s, oy, ox), its receptive
   * field in x `[n, c, h, w]` along it, ordered c, ky, kx like W's; zeros where the window
   * overlaps the padding) written as Pᵀ into out (`[c·kh·kw, n·oh·ow]`). Transposed, consecutive
   * output positions of a stride-1 convolution read consecutive pixels.
   */
  im2col(x: Storage, n: number, g: Geometry2d, out: Storage): void;

  /**
   * col2im, the adjoint of im2col: `dx` (`[n, c, h, w]`) set to the sum, onto each pixel, of the
   * entries of a transposed patch matrix (row p of `patches` for the window offset (c, ky, kx))
   * copied from it, each pixel's terms added in the order of the output positions they come from.
   */
  col2im(patches: StridedMatrix, n: number, g: Geometry2d, dx: Storage): void;

  /** `[n·p, ch]` (positions as rows, strided) → `[n, ch, p]` (NCHW), adding a per-channel bias (none: null). */
  positionsToChannels(src: StridedMatrix, n: number, ch: number, p: number, dst: Storage, bias: Storage | null): void;

  /** `[n, ch, p]` (NCHW) → `[n·p, ch]` (positions as rows). */
  channelsToPositions(src: Storage, n: number, ch: number, p: number, dst: Storage): void;

  /** `out[j, i] += m[i, j]`: adds the transpose of the strided `rows × cols` matrix into out (`cols × rows`). */
  addTransposed(m: StridedMatrix, rows: number, cols: number, out: Storage): void;

  /** `out[o] += Σ src[s, o, q]` over `[n, ch, p]`, one addition at a time in the order (s, q), rounding to out's precision each time. */
  sumPlanes(src: Storage, n: number, ch: number, p: number, out: Storage): void;

  /** `out = max(0, x)` as `x · [x > 0] + 0` (−0 becomes 0, NaN stays NaN, −∞ gives NaN). */
  relu(out: Storage, x: Storage): void;
  /** `out = dy · [y > 0] + 0`, y the forward output. */
  reluBackward(out: Storage, dy: Storage, y: Storage): void;
  /** `out = a + b`. */
  add(out: Storage, a: Storage, b: Storage): void;
  /** `out[i, j] += row[j]` over a `rows × cols` matrix: a dense layer's bias. */
  addRows(out: Storage, row: Storage, rows: number, cols: number): void;
  /** `out[j] += Σ_i a[i, j]` over a `rows × cols` matrix, one addition at a time in the order of i, rounding to out's precision each time: a dense layer's bias gradient. */
  sumRows(a: Storage, rows: number, cols: number, out: Storage): void;
  /** Whether every value is finite (no NaN, no ±∞). */
  allFinite(x: Storage): boolean;
  /** `y = y + alpha·x` (BLAS axpy; the product and sum in float64, rounded once to y's precision). */
  axpy(alpha: number, x: Storage, y: Storage): void;
  /** `out = alpha·x` (in float64, rounded once to out's precision). */
  scale(out: Storage, alpha: number, x: Storage): void;
  /** `out = sign(x)`: ±1, with sign(±0) = ±0 and sign(NaN) = NaN. */
  sign(out: Storage, x: Storage): void;
  /** `v = m ∘ s(w)` (m an array, or one number), s(w) = (w > 0) − (w < 0): 0 for ±0 and NaN. */
  signScale(v: Storage, w: Storage, m: Storage | number): void;

  /**
   * Fills `out` with the next numbers of the xor128 stream (Marsaglia's xorshift, seedrandom's
   * xor128) whose state `[x, y, z, w]` is `state` (updated), as `(w >>> 8) · 2⁻²⁴`.
   */
  uniform24(out: Storage, state: Int32Array): void;

  /**
   * Per channel of `[n, c, s]`, `Σ x` (mean null) or `Σ (x − mean)²`: each a chain of float64
   * additions in the order (sample, position).
   */
  channelSums(x: Storage, n: number, c: number, s: number, mean: Float64Array | null): Float64Array;
  /** `x̂ = (x − μ)·(1/σ)`, `y = γ·x̂ + β` per channel, evaluated in float64 (x̂ rounded only when stored). */
  batchNormNormalize(x: Storage, n: number, c: number, s: number, mean: Float64Array, invStd: Float64Array, gamma: Storage, beta: Storage, xhat: Storage, y: Storage): void;
  /** Per channel, Σ dy and Σ dy·x̂ (float64 chains in the order of {@link Kernels.channelSums}). */
  batchNormGradSums(dy: Storage, xhat: Storage, n: number, c: number, s: number): ChannelGradSums;
  /** `dx = (dy·v − meanG − x̂·meanGXhat)·(1/σ)` per channel, in float64. */
  batchNormInputGrad(dy: Storage, xhat: Storage, n: number, c: number, s: number, v: Storage, invStd: Float64Array, meanG: Float64Array, meanGXhat: Float64Array, dx: Storage): void;

  /**
   * Max pooling of `planes` planes of `[h, w]` (the geometry's c is ignored) into `[oh, ow]`: each
   * window's largest value (scanned row by row; a value takes over only when strictly larger, the
   * first value of the window always; the padding never read) into y, and its index in x into argmax.
   */
  maxPool(x: Storage, planes: number, g: Geometry2d, y: Storage, argmax: Int32Array): void;
  /** The gradient of {@link Kernels.maxPool}: dx zero, then `dx[argmax[o]] += dy[o]` in the order of o. */
  maxPoolBackward(dy: Storage, argmax: Int32Array, planes: number, g: Geometry2d, dx: Storage): void;

  /**
   * SGD's momentum update of one parameter, in float64 arithmetic: `g ← g + λ·w`,
   * `b ← keep·buf + gain·g`, `b ← b·[|b| ≥ FLUSH_BELOW]` (momentum values too small for a normal
   * float32 flushed to zero, keeping their sign; NaN stays NaN), `buf ← b`, then `w ← w − lr·b`
   * (or `w − lr·(g + μ·b)` with Nesterov). The gradient array is not changed.
   */
  sgdMomentum(w: Storage, g: Storage, buf: Storage, step: MomentumStep): void;
}
