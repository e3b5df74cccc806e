import { ShapeError } from '../errors.js';
import { Tensor, assertSameShape, type Storage } from './tensor.js';
import { defaultKernels } from '../kernels/fast.js';
import type { Kernels } from '../kernels/kernels.js';

/**
 * Elementwise operations and reductions the layers need. Each works on whole tensors, checks
 * shapes, and writes into an `out` tensor when one is given (which may alias an input).
 */

/** `out = a + b` elementwise. */
export function add(a: Tensor, b: Tensor, out: Tensor = Tensor.zeros(a.shape, a.dtype)): Tensor {
  assertSameShape('add', a, b);
  assertSameShape('add out', a, out);
  const x = a.data, y = b.data, o = out.data;
  for (let i = 0; i < o.length; i++) o[i] = x[i]! + y[i]!;
  return out;
}

/** `out = a - b` elementwise. */
export function sub(a: Tensor, b: Tensor, out: Tensor = Tensor.zeros(a.shape, a.dtype)): Tensor {
  assertSameShape('sub', a, b);
  assertSameShape('sub out', a, out);
  const x = a.data, y = b.data, o = out.data;
  for (let i = 0; i < o.length; i++) o[i] = x[i]! - y[i]!;
  return out;
}

/** `out = a ∘ b` (Hadamard product). */
export function mul(a: Tensor, b: Tensor, out: Tensor = Tensor.zeros(a.shape, a.dtype)): Tensor {
  assertSameShape('mul', a, b);
  assertSameShape('mul out', a, out);
  const x = a.data, y = b.data, o = out.data;
  for (let i = 0; i < o.length; i++) o[i] = x[i]! * y[i]!;
  return out;
}

/** `out = s · a`. */
export function scale(a: Tensor, s: number, out: Tensor = Tensor.zeros(a.shape, a.dtype)): Tensor {
  assertSameShape('scale out', a, out);
  defaultKernels().scale(out.data, s, a.data);
  return out;
}

/** `y += alpha · x` in place (BLAS axpy). */
export function axpy(alpha: number, x: Tensor, y: Tensor): Tensor {
  assertSameShape('axpy', y, x);
  defaultKernels().axpy(alpha, x.data, y.data);
  return y;
}

/** `out = sign(a)` with sign(0) = 0 (and sign(NaN) = NaN). */
export function sign(a: Tensor, out: Tensor = Tensor.zeros(a.shape, a.dtype)): Tensor {
  assertSameShape('sign out', a, out);
  signInto(out.data, a.data);
  return out;
}

/** Raw-array sign on the default kernels: `out[i] = sign(x[i])`, sign(±0) = ±0, sign(NaN) = NaN (see `Kernels.sign`). */
export function signInto(out: Storage, x: Storage): void {
  defaultKernels().sign(out, x);
}

/** Sum of all elements. */
export function sum(a: Tensor): number {
  let s = 0;
  const d = a.data;
  for (let i = 0; i < d.length; i++) s += d[i]!;
  return s;
}

/** Inner product of two same-shape tensors (flattened). */
export function dot(a: Tensor, b: Tensor): number {
  assertSameShape('dot', a, b);
  return dotRaw(a.data, b.data);
}

function dotRaw(x: Storage, y: Storage): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * y[i]!;
  return s;
}

/** Euclidean (Frobenius) norm. */
export function norm(a: Tensor): number {
  return Math.sqrt(dotRaw(a.data, a.data));
}

/**
 * The angle in degrees between two tensors seen as flat vectors: 0 when parallel, 90 when
 * orthogonal. NaN when either is all zeros (the angle is undefined).
 */
export function angleDegrees(a: Tensor, b: Tensor): number {
  assertSameShape('angleDegrees', a, b);
  const na = norm(a), nb = norm(b);
  if (na === 0 || nb === 0) return NaN;
  const c = Math.max(-1, Math.min(1, dotRaw(a.data, b.data) / (na * nb)));
  return (Math.acos(c) * 180) / Math.PI;
}

/** The fraction of positions where `sign(a) = sign(b)` (0 counts as its own sign). */
export function signAgreement(a: Tensor, b: Tensor): number {
  assertSameShape('signAgreement', a, b);
  const x = a.data, y = b.data;
  if (x.length === 0) return NaN;
  let same = 0;
  for (let i = 0; i < x.length; i++) if (Math.sign(x[i]!) === Math.sign(y[i]!)) same++;
  return same / x.length;
}

/** Adds a row vector `[cols]` to every row of `a` `[rows, cols]`, in place, on `kernels` (default the default kernels). */
export function addRowVector(a: Tensor, row: Tensor, kernels: Kernels = defaultKernels()): Tensor {
  if (a.rank !== 2 || row.rank !== 1 || row.shape[0] !== a.shape[1]) {
    throw new ShapeError('addRowVector', `a row of [${a.shape[1]}] for a matrix of [${a.shape.join(', ')}]`, row.shape);
  }
  kernels.addRows(a.data, row.data, a.shape[0]!, row.size);
  return a;
}

/** Adds the column sums of `a` `[rows, cols]` into `out` `[cols]` (so gradients accumulate), on `kernels` (default the default kernels). */
export function sumRowsInto(a: Tensor, out: Tensor, kernels: Kernels = defaultKernels()): Tensor {
  if (a.rank !== 2 || out.rank !== 1 || out.shape[0] !== a.shape[1]) {
    throw new ShapeError('sumRowsInto', `an output of [${a.shape[1]}] for a matrix of [${a.shape.join(', ')}]`, out.shape);
  }
  kernels.sumRows(a.data, a.shape[0]!, out.size, out.data);
  return out;
}

/** Index of the largest element in each row of a `[rows, cols]` tensor. */
export function argmaxRows(a: Tensor): Int32Array {
  if (a.rank !== 2) throw new ShapeError('argmaxRows', 'a tensor of rank 2', a.shape);
  const [rows, cols] = a.shape as [number, number];
  const out = new Int32Array(rows);
  const d = a.data;
  for (let i = 0; i < rows; i++) {
    let best = 0, bv = -Infinity;
    for (let j = 0; j < cols; j++) {
      const v = d[i * cols + j]!;
      if (v > bv) { bv = v; best = j; }
    }
    out[i] = best;
  }
  return out;
}

/** Whether every element is finite. */
export function allFinite(a: Tensor): boolean {
  const d = a.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    if (v - v !== 0) return false;
  }
  return true;
}
