/**
 * Element-wise float32 kernels in WebAssembly SIMD, generated at run time like the matrix kernel
 * (`wasmGemm.ts`), for the passes over every parameter or activation that plain TypeScript runs
 * one value at a time. Each kernel has its own small memory: the caller's values are copied in, transformed four
 * at a time, and copied back, in chunks that stay in cache. Callers fall back to their TypeScript
 * loop where WebAssembly SIMD is unavailable (`null` below).
 *
 * - `sign`: Batch Manhattan replaces every gradient by its sign on every step. V8 compiles the
 *   TypeScript loop to about 1.5 ns a value; copy in, SIMD and copy out take about a third of that.
 * - `signScale`: sign-concordant feedback fills V = M ∘ sign(W) from the current weights on every
 *   step.
 * - `relu` and `reluBackward`: every hidden activation of every step, forward and backward.
 *
 * Each wrapper also says no (returns false) for arrays too short for the copies to pay, so that
 * the callers' only test is whether the kernel did the work. brSF's redraw has kernels of its own,
 * in `wasmXor128.ts`.
 */

import {
  F32X4_ADD,
  F32X4_GT,
  F32X4_LT,
  F32X4_MUL,
  I32X4_GT_S,
  I32X4_NE,
  V128,
  V128_AND,
  V128_BITSELECT,
  V128_LOAD,
  V128_OR,
  V128_STORE,
  addToLocal,
  i32Const as i32,
  i32x4Splat,
  lazyKernels,
  localGet as get,
  localSet as set,
  memarg,
  moduleBytes,
  oneFunctionModule,
  op,
  simd,
  uleb,
  vec,
} from './wasmAssembler.js';
import { wasmXor128Available } from './wasmXor128.js';

/** Values per chunk: 256 KiB of float32, so a chunk's copy in, pass and copy out stay in cache. */
const CHUNK = 1 << 16;
/** Shorter arrays stay with the callers' TypeScript loops: the copies in and out would not pay. */
const MIN_LENGTH = 512;

/**
 * Calls `pass(start, n, end)` for each chunk of up to CHUNK values of an array of `length`: the
 * chunk's first index, its length and the byte end of its values in the kernel's memory, rounded
 * up to whole vectors of 4 (up to 3 values past n are computed too, and never copied out).
 */
function inChunks(length: number, pass: (start: number, n: number, end: number) => void): void {
  for (let start = 0; start < length; start += CHUNK) {
    const n = Math.min(CHUNK, length - start);
    pass(start, n, ((n + 3) >> 2) << 4);
  }
}

/**
 * The code of `sign(p, end)`: for every 4 float32 values from byte p up to end (p and end multiples
 * of 16), replaces each by its sign on the bits, exactly as the TypeScript `signInto` does: ±1 is
 * the value's sign bit with 1.0f's exponent and mantissa, ±0 stays ±0 and NaN stays NaN.
 *
 * ```
 * m = v & 0x7fffffff                    the magnitude bits
 * r = (v & 0x80000000) | ((m ≠ 0) & 0x3f800000)
 * v ← m > 0x7f800000 ? v : r            NaN (magnitude above infinity's) kept
 * ```
 */
function signBody(): number[] {
  const [P, END, V, M] = [0, 1, 2, 3];
  const code = [
    ...[op.block, 0x40, op.loop, 0x40],
    ...get(P), ...get(END), op.i32GeU, op.br_if, 1,
    ...get(P), ...simd(V128_LOAD), ...memarg(4, 0), ...set(V),
    ...get(V), ...i32x4Splat(0x7fffffff), ...simd(V128_AND), ...set(M),
    ...get(P), //                                                   the store's address
    ...get(V), //                                                   bitselect: v where NaN ...
    ...get(V), ...i32x4Splat(0x80000000), ...simd(V128_AND), //     ... else the sign bit
    ...get(M), ...i32x4Splat(0), ...simd(I32X4_NE), ...i32x4Splat(0x3f800000), ...simd(V128_AND),
    ...simd(V128_OR), //                                            | 1.0f where m ≠ 0
    ...get(M), ...i32x4Splat(0x7f800000), ...simd(I32X4_GT_S), //  the NaN lanes
    ...simd(V128_BITSELECT),
    ...simd(V128_STORE), ...memarg(4, 0),
    ...addToLocal(P, i32(16)),
    ...[op.br, 0, op.end, op.end],
    op.end,
  ];
  return [...vec([[...uleb(2), V128]]), ...code];
}

/** The module of the `sign` kernel (two i32 parameters: the start and end byte addresses). */
export function signModuleBytes(): Uint8Array<ArrayBuffer> {
  return oneFunctionModule('sign', 2, signBody());
}

const getSign = lazyKernels(signModuleBytes, CHUNK * 4, ['sign']);

/**
 * `out[i] = sign(x[i])` for float32 arrays of the same length (`out` may be `x`) on the SIMD
 * kernel; false, with nothing written, for short or unequal arrays or where WebAssembly SIMD is
 * unavailable.
 */
export function wasmSignFloat32(out: Float32Array, x: Float32Array): boolean {
  if (x.length < MIN_LENGTH || out.length !== x.length) return false;
  const inst = getSign();
  if (!inst) return false;
  const { f32, sign } = inst;
  inChunks(x.length, (start, n, end) => {
    f32.set(x.subarray(start, start + n));
    sign(0, end);
    out.set(f32.subarray(0, n), start);
  });
  return true;
}

/**
 * The code of `signScale(pw, pm, pv, end, mStep)`: for every 4 float32 values of W from byte pw up
 * to end, `V = M · s(W)` at pv, with s(w) = (w > 0) − (w < 0) (so 0 for ±0 and NaN) and M read
 * from pm, which moves by mStep bytes per 4 values: 16 for an array of magnitudes, 0 for one
 * constant in all four lanes. The same values as the TypeScript loop, which multiplies in double
 * precision: M times ±1 or 0 is exact in float32 too, as long as M is a finite float32
 * (`wasmSignScale` keeps a constant beyond float32's range out of the kernel).
 */
function signScaleBody(): number[] {
  const [PW, PM, PV, END, MSTEP, W] = [0, 1, 2, 3, 4, 5];
  const code = [
    ...[op.block, 0x40, op.loop, 0x40],
    ...get(PW), ...get(END), op.i32GeU, op.br_if, 1,
    ...get(PW), ...simd(V128_LOAD), ...memarg(4, 0), ...set(W),
    ...get(PV), //                                                                     the store's address
    ...get(PM), ...simd(V128_LOAD), ...memarg(4, 0),
    ...get(W), ...i32x4Splat(0), ...simd(F32X4_GT), ...i32x4Splat(0x3f800000), ...simd(V128_AND), //  1 where w > 0
    ...get(W), ...i32x4Splat(0), ...simd(F32X4_LT), ...i32x4Splat(0xbf800000), ...simd(V128_AND), // −1 where w < 0
    ...simd(V128_OR),
    ...simd(F32X4_MUL),
    ...simd(V128_STORE), ...memarg(4, 0),
    ...addToLocal(PW, i32(16)),
    ...addToLocal(PV, i32(16)),
    ...addToLocal(PM, get(MSTEP)),
    ...[op.br, 0, op.end, op.end],
    op.end,
  ];
  return [...vec([[...uleb(1), V128]]), ...code];
}

/** The module of the `signScale` kernel (five i32 parameters, see its code). */
export function signScaleModuleBytes(): Uint8Array<ArrayBuffer> {
  return oneFunctionModule('signScale', 5, signScaleBody());
}

// W, M and V of one chunk side by side.
const getSignScale = lazyKernels(signScaleModuleBytes, 3 * CHUNK * 4, ['signScale']);

/**
 * `v[i] = m[i] · s(w[i])` (or `m · s(w[i])` for a number m), s(w) = (w > 0) − (w < 0), for float32
 * arrays of one length, on the SIMD kernel; false, with nothing written, for short arrays, for a
 * constant m beyond float32's range (the kernel multiplies in float32, and its ∞·0 would be NaN
 * where the definition gives 0), or where WebAssembly SIMD is unavailable.
 */
export function wasmSignScale(v: Float32Array, w: Float32Array, m: Float32Array | number): boolean {
  if (w.length < MIN_LENGTH || (typeof m === 'number' && !Number.isFinite(Math.fround(m)))) return false;
  const inst = getSignScale();
  if (!inst) return false;
  const { f32, signScale } = inst;
  const [W, M, V] = [0, CHUNK, 2 * CHUNK]; // offsets in floats
  if (typeof m === 'number') f32.fill(m, M, M + 4);
  inChunks(w.length, (start, n, end) => {
    f32.set(w.subarray(start, start + n), W);
    if (typeof m !== 'number') f32.set(m.subarray(start, start + n), M);
    signScale(4 * W, 4 * M, 4 * V, 4 * W + end, typeof m === 'number' ? 0 : 16);
    v.set(f32.subarray(V, V + n), start);
  });
  return true;
}

/**
 * The code of `relu(p, end)`: `v ← v · (v > 0) + 0` for every 4 float32 values from byte p up to
 * end, and of `reluBackward(pdy, py, end)`: `dy ← dy · (y > 0) + 0` for the values of dy from pdy
 * up to end, y read from py. The same operations as the TypeScript loops of `ReLU`, in float32:
 * each is exact (a product with 1 or 0, then + 0), so the results are the same to the bit, −0
 * becoming 0, NaN kept and −∞ giving NaN.
 */
function reluBody(backward: boolean): number[] {
  const [P, Q, END] = backward ? [0, 1, 2] : [0, 0, 1]; // the values changed at P; the mask's source at Q
  const code = [
    ...[op.block, 0x40, op.loop, 0x40],
    ...get(P), ...get(END), op.i32GeU, op.br_if, 1,
    ...get(P), //                                                                       the store's address
    ...get(P), ...simd(V128_LOAD), ...memarg(4, 0),
    ...get(Q), ...simd(V128_LOAD), ...memarg(4, 0), ...i32x4Splat(0), ...simd(F32X4_GT), ...i32x4Splat(0x3f800000), ...simd(V128_AND), // 1 where > 0
    ...simd(F32X4_MUL), ...i32x4Splat(0), ...simd(F32X4_ADD),
    ...simd(V128_STORE), ...memarg(4, 0),
    ...addToLocal(P, i32(16)), ...(backward ? addToLocal(Q, i32(16)) : []),
    ...[op.br, 0, op.end, op.end],
    op.end,
  ];
  return [...vec([]), ...code];
}

/** The module of the ReLU kernels: `relu(p, end)` and `reluBackward(pdy, py, end)`. */
export function reluModuleBytes(): Uint8Array<ArrayBuffer> {
  return moduleBytes([
    { name: 'relu', params: 2, body: reluBody(false) },
    { name: 'reluBackward', params: 3, body: reluBody(true) },
  ]);
}

// dy (or x) and y of one chunk.
const getRelu = lazyKernels(reluModuleBytes, 2 * CHUNK * 4, ['relu', 'reluBackward']);

/**
 * ReLU on the SIMD kernel, for float32 arrays of one length: `out[i] = max(0, x[i])` as `ReLU`
 * computes it (with `y` null), or its backward `out[i] = x[i] · (y[i] > 0) + 0` with x the
 * incoming error and y the forward output. False, with nothing written, for short arrays or where
 * WebAssembly SIMD is unavailable.
 */
export function wasmRelu(out: Float32Array, x: Float32Array, y: Float32Array | null): boolean {
  if (x.length < MIN_LENGTH) return false;
  const inst = getRelu();
  if (!inst) return false;
  const { f32, relu, reluBackward } = inst;
  inChunks(x.length, (start, n, end) => {
    f32.set(x.subarray(start, start + n));
    if (y) {
      f32.set(y.subarray(start, start + n), CHUNK);
      reluBackward(0, 4 * CHUNK, end);
    } else {
      relu(0, end);
    }
    out.set(f32.subarray(0, n), start);
  });
  return true;
}

/** Whether the SIMD element-wise kernels run here. */
export function wasmVectorAvailable(): boolean {
  return getSign() !== null && getSignScale() !== null && getRelu() !== null && wasmXor128Available();
}
