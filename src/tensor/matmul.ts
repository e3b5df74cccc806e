import { ShapeError, formatShape } from '../errors.js';
import { defaultKernels } from '../kernels/fast.js';
import type { Kernels } from '../kernels/kernels.js';
import { Tensor, type Storage } from './tensor.js';

export { transposeInto } from '../kernels/reference.js';

/**
 * Matrix multiply on the default kernels ({@link defaultKernels}): `C (m×n) = op(A) (m×k) ·
 * op(B) (k×n)`, or added to C when `accumulate` is set, where `op(X)` is `X` or `Xᵀ` according to
 * the transpose flags. All matrices are contiguous and row-major: A is stored `m×k` (or `k×m`
 * when `transA`), B `k×n` (or `n×k` when `transB`). See {@link Kernels.gemm};
 * {@link gemmReference} is the slow triple loop that tests hold the kernels against.
 *
 * @throws {@link ShapeError} when an array is shorter than its matrix.
 */
export function gemm(transA: boolean, transB: boolean, m: number, n: number, k: number, a: Storage, b: Storage, c: Storage, accumulate = false): void {
  defaultKernels().gemm(transA, transB, m, n, k, a, b, c, accumulate);
}

/** The name of the default kernels that run `gemm`: `wasm-simd` where WebAssembly SIMD is available, else `reference`. */
export function gemmKernel(): Kernels['name'] {
  return defaultKernels().name;
}

/** The slow, obviously-correct triple loop that the kernels are tested against. */
export function gemmReference(
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  a: Storage,
  b: Storage,
  c: Storage,
  accumulate = false,
): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) {
        const av = transA ? a[p * m + i]! : a[i * k + p]!;
        const bv = transB ? b[j * k + p]! : b[p * n + j]!;
        s += av * bv;
      }
      c[i * n + j] = accumulate ? c[i * n + j]! + s : s;
    }
  }
}

/** Options of {@link matmul}. */
export interface MatmulOptions {
  /** Use Aᵀ instead of A. */
  transA?: boolean;
  /** Use Bᵀ instead of B. */
  transB?: boolean;
  /** Write into this tensor instead of allocating one. */
  out?: Tensor;
  /** Add the product to `out` instead of overwriting it. */
  accumulate?: boolean;
  /** The kernels that compute it (default {@link defaultKernels}). */
  kernels?: Kernels;
}

/**
 * Matrix product of two rank-2 tensors with optional transposes, shape-checked.
 *
 * @example
 * ```ts
 * import { Tensor, matmul } from 'asymprop';
 *
 * const x = Tensor.from([[1, 2, 3]]);              // [N, in] = [1, 3]
 * const w = Tensor.from([[1, 0, 0], [0, 1, 1]]);   // [out, in] = [2, 3]
 * const y = matmul(x, w, { transB: true });        // x wᵀ: [N, out]
 * console.log(y.shape, Array.from(y.data));        // [1, 2] [1, 5]
 * ```
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const { transA = false, transB = false, accumulate = false } = options;
  if (a.rank !== 2) throw new ShapeError('matmul', 'A of rank 2', a.shape);
  if (b.rank !== 2) throw new ShapeError('matmul', 'B of rank 2', b.shape);
  const m = transA ? a.shape[1]! : a.shape[0]!;
  const k = transA ? a.shape[0]! : a.shape[1]!;
  const kb = transB ? b.shape[1]! : b.shape[0]!;
  const n = transB ? b.shape[0]! : b.shape[1]!;
  if (k !== kb) {
    throw new ShapeError(
      `matmul(A${transA ? 'ᵀ' : ''} ${formatShape(a.shape)}, B${transB ? 'ᵀ' : ''})`,
      `B with inner size ${k}`,
      b.shape,
    );
  }
  const out = options.out ?? Tensor.zeros([m, n], a.dtype);
  if (out.rank !== 2 || out.shape[0] !== m || out.shape[1] !== n) {
    throw new ShapeError('matmul out', formatShape([m, n]), out.shape);
  }
  (options.kernels ?? defaultKernels()).gemm(transA, transB, m, n, k, a.data, b.data, out.data, accumulate);
  return out;
}
