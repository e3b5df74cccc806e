import { ConfigError, ShapeError, formatShape } from '../errors.js';
import { wasmGemm, wasmGemmAvailable, wasmProduct } from './wasmGemm.js';
import { Tensor, allocate, dtypeOf, type Storage } from './tensor.js';

/**
 * Matrix multiply, the kernel that dense and conv layers share.
 *
 * `gemm` computes `C (m×n) = op(A) (m×k) · op(B) (k×n)`, or adds it to C when `accumulate` is set,
 * where `op(X)` is `X` or `Xᵀ` according to the transpose flags. All matrices are contiguous and
 * row-major: A is stored `m×k` (or `k×m` when `transA`), B `k×n` (or `n×k` when `transB`).
 *
 * The fast path packs both operands so that the inner loop runs over `k` in contiguous memory for
 * both, then computes 4×2 blocks of C in registers. {@link gemmReference} is the slow triple loop
 * that tests hold it against.
 */
export function gemm(
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
  if (a.length < m * k || b.length < k * n || c.length < m * n) {
    throw new ShapeError('gemm', `A ≥ ${m * k}, B ≥ ${k * n}, C ≥ ${m * n} elements`, [a.length, b.length, c.length]);
  }
  if (m === 0 || n === 0) return;
  if (k === 0) {
    if (!accumulate) c.fill(0, 0, m * n);
    return;
  }
  // float32 products big enough to amortise the packing go to the WebAssembly SIMD kernel.
  if (backend !== 'js' && a instanceof Float32Array && b instanceof Float32Array && c instanceof Float32Array && m * n * k >= WASM_MIN_WORK) {
    if (wasmGemm(transA, transB, m, n, k, a, b, c, accumulate)) return;
  }
  // Bring A to m×k and B to n×k (both with k contiguous) unless they already are.
  const ap = transA ? transposeInto(scratch(0, dtypeOf(a), m * k), a, k, m) : a;
  const bp = transB ? b : transposeInto(scratch(1, dtypeOf(b), n * k), b, k, n);
  kernelNT(m, n, k, ap, bp, c, accumulate);
}

/** A matrix left where a product was computed: row i is `data[offset + i·ld …]`. */
export interface StridedMatrix {
  readonly data: Storage;
  readonly offset: number;
  /** Elements between consecutive rows (at least the number of columns). */
  readonly ld: number;
}

/**
 * `op(A) · op(B)` (m×n), like {@link gemm}, but left where it was computed instead of copied into
 * a C of the caller's: on the SIMD kernel that is the kernel's own memory (rows padded to 8
 * columns), otherwise a scratch buffer. For a caller that reads the product once and rearranges
 * it anyway (a convolution turning positions into channels, or scattering patches back with
 * col2im), this saves a pass over C.
 *
 * The result is only valid until the next `gemm` or `gemmProduct` call.
 */
export function gemmProduct(transA: boolean, transB: boolean, m: number, n: number, k: number, a: Storage, b: Storage): StridedMatrix {
  if (a.length < m * k || b.length < k * n) {
    throw new ShapeError('gemmProduct', `A ≥ ${m * k}, B ≥ ${k * n} elements`, [a.length, b.length]);
  }
  if (backend !== 'js' && a instanceof Float32Array && b instanceof Float32Array && m * n * k >= WASM_MIN_WORK && k > 0) {
    const product = wasmProduct(transA, transB, m, n, k, a, b);
    if (product) return product;
  }
  const c = scratch(2, dtypeOf(a), m * n);
  gemm(transA, transB, m, n, k, a, b, c);
  return { data: c, offset: 0, ld: n };
}

/** Below this many multiply-adds the plain kernel is as fast as packing for the SIMD one. */
const WASM_MIN_WORK = 4096;

/** Which kernel `gemm` uses for float32: `auto` (SIMD where available) or `js` (always the plain one). */
export type GemmBackend = 'auto' | 'js';
let backend: GemmBackend = 'auto';

/**
 * Chooses the float32 kernel: `auto` uses the WebAssembly SIMD kernel where the platform has it,
 * `js` forces the plain TypeScript kernel (float64 always uses it). Returns the previous choice.
 */
export function setGemmBackend(choice: GemmBackend): GemmBackend {
  if (choice !== 'auto' && choice !== 'js') throw new ConfigError('gemm backend', choice, "'auto', 'js'");
  const previous = backend;
  backend = choice;
  return previous;
}

/** The kernel `gemm` uses for large float32 products now: `wasm-simd` or `js`. */
export function gemmKernel(): 'wasm-simd' | 'js' {
  return backend === 'auto' && wasmGemmAvailable() ? 'wasm-simd' : 'js';
}

/** C (+)= Ap · Bpᵀ with Ap m×k and Bp n×k, in 4×2 register blocks. */
function kernelNT(m: number, n: number, k: number, a: Storage, b: Storage, c: Storage, acc: boolean): void {
  const m4 = m - (m % 4);
  const n2 = n - (n % 2);
  for (let i = 0; i < m4; i += 4) {
    const a0 = i * k;
    const a1 = a0 + k;
    const a2 = a1 + k;
    const a3 = a2 + k;
    for (let j = 0; j < n2; j += 2) {
      const b0 = j * k;
      const b1 = b0 + k;
      let s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0, s31 = 0;
      for (let p = 0; p < k; p++) {
        const x0 = b[b0 + p]!;
        const x1 = b[b1 + p]!;
        const y0 = a[a0 + p]!;
        const y1 = a[a1 + p]!;
        const y2 = a[a2 + p]!;
        const y3 = a[a3 + p]!;
        s00 += y0 * x0; s01 += y0 * x1;
        s10 += y1 * x0; s11 += y1 * x1;
        s20 += y2 * x0; s21 += y2 * x1;
        s30 += y3 * x0; s31 += y3 * x1;
      }
      const c0 = i * n + j;
      if (acc) {
        c[c0] += s00; c[c0 + 1] += s01;
        c[c0 + n] += s10; c[c0 + n + 1] += s11;
        c[c0 + 2 * n] += s20; c[c0 + 2 * n + 1] += s21;
        c[c0 + 3 * n] += s30; c[c0 + 3 * n + 1] += s31;
      } else {
        c[c0] = s00; c[c0 + 1] = s01;
        c[c0 + n] = s10; c[c0 + n + 1] = s11;
        c[c0 + 2 * n] = s20; c[c0 + 2 * n + 1] = s21;
        c[c0 + 3 * n] = s30; c[c0 + 3 * n + 1] = s31;
      }
    }
    for (let j = n2; j < n; j++) for (let r = i; r < i + 4; r++) dotInto(a, r * k, b, j * k, k, c, r * n + j, acc);
  }
  for (let i = m4; i < m; i++) for (let j = 0; j < n; j++) dotInto(a, i * k, b, j * k, k, c, i * n + j, acc);
}

function dotInto(a: Storage, ao: number, b: Storage, bo: number, k: number, c: Storage, co: number, acc: boolean): void {
  let s = 0;
  for (let p = 0; p < k; p++) s += a[ao + p]! * b[bo + p]!;
  c[co] = acc ? c[co]! + s : s;
}

/** Writes the transpose of `src` (rows×cols, row-major) into `dst` (cols×rows). */
export function transposeInto(dst: Storage, src: Storage, rows: number, cols: number): Storage {
  const B = 32;
  for (let i0 = 0; i0 < rows; i0 += B) {
    const i1 = Math.min(i0 + B, rows);
    for (let j0 = 0; j0 < cols; j0 += B) {
      const j1 = Math.min(j0 + B, cols);
      for (let i = i0; i < i1; i++) for (let j = j0; j < j1; j++) dst[j * rows + i] = src[i * cols + j]!;
    }
  }
  return dst;
}

// Grow-only packing buffers, one pair per dtype. The kernels are synchronous, so no two calls
// ever share them at once (each worker thread has its own module instance).
const buffers: Record<string, Storage[]> = { float32: [], float64: [] };
function scratch(slot: number, dtype: 'float32' | 'float64', size: number): Storage {
  const list = buffers[dtype]!;
  let buf = list[slot];
  if (!buf || buf.length < size) {
    buf = allocate(dtype, Math.max(size, (buf?.length ?? 0) * 2));
    list[slot] = buf;
  }
  return buf;
}

/** The slow, obviously-correct triple loop that the fast kernel is tested against. */
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
  gemm(transA, transB, m, n, k, a.data, b.data, out.data, accumulate);
  return out;
}
