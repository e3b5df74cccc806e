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
 * - `xor128`: brSF redraws its magnitudes from seedrandom's xor128 stream on every step. Each
 *   number depends on the one before, so the stream is cut into four stretches (their starting
 *   states found by jumping ahead, in `xor128Jump.ts`) that the kernel computes in the four SIMD
 *   lanes: the same numbers in the same order, in about half the TypeScript loop's time, copies
 *   included.
 */

import {
  F32X4_ADD,
  F32X4_CONVERT_I32X4_U,
  F32X4_GT,
  F32X4_LT,
  F32X4_MUL,
  I32,
  I32X4_GT_S,
  I32X4_NE,
  I32X4_SHL,
  I32X4_SHR_U,
  I8X16_SHUFFLE,
  V128,
  V128_AND,
  V128_BITSELECT,
  V128_LOAD,
  V128_OR,
  V128_STORE,
  V128_XOR,
  f32Const,
  i32x4Splat,
  memarg,
  moduleBytes,
  oneFunctionModule,
  op,
  simd,
  sleb,
  uleb,
  vec,
} from './wasmAssembler.js';
import { jumpState } from './xor128Jump.js';

/** Values per chunk: 256 KiB of float32, so a chunk's copy in, pass and copy out stay in cache. */
const CHUNK = 1 << 16;

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
  const get = (l: number) => [op.localGet, l];
  const set = (l: number) => [op.localSet, l];
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
    ...get(P), op.i32Const, ...sleb(16), op.i32Add, ...set(P),
    ...[op.br, 0, op.end, op.end],
    op.end,
  ];
  return [...vec([[...uleb(2), V128]]), ...code];
}

/** The module of the `sign` kernel (two i32 parameters: the start and end byte addresses). */
export function signModuleBytes(): Uint8Array<ArrayBuffer> {
  return oneFunctionModule('sign', 2, signBody());
}

/** A kernel module's exports, with views of its own memory. */
type Kernels<K extends string> = Record<K, (...args: number[]) => void> & { readonly f32: Float32Array; readonly i32: Int32Array };

/**
 * Compiles a kernel module with a memory of its own of `bytes` bytes (rounded up to 64 KiB pages).
 * Null where WebAssembly (or its SIMD) is unavailable or refuses the module.
 */
function instantiate<K extends string>(module: Uint8Array<ArrayBuffer>, bytes: number, names: readonly K[]): Kernels<K> | null {
  try {
    if (typeof WebAssembly === 'undefined' || !WebAssembly.validate(module)) return null;
    const memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / 65536) });
    const inst = new WebAssembly.Instance(new WebAssembly.Module(module), { env: { memory } });
    const kernels: Record<string, unknown> = { f32: new Float32Array(memory.buffer), i32: new Int32Array(memory.buffer) };
    for (const name of names) kernels[name] = inst.exports[name];
    return kernels as Kernels<K>;
  } catch {
    return null;
  }
}

let signKernels: Kernels<'sign'> | null | undefined;

function getSign(): Kernels<'sign'> | null {
  if (signKernels === undefined) signKernels = instantiate(signModuleBytes(), CHUNK * 4, ['sign']);
  return signKernels;
}

/**
 * `out[i] = sign(x[i])` for float32 arrays of the same length (`out` may be `x`) on the SIMD
 * kernel; false, with nothing written, where WebAssembly SIMD is unavailable.
 */
export function wasmSignFloat32(out: Float32Array, x: Float32Array): boolean {
  const inst = getSign();
  if (!inst) return false;
  const { f32, sign } = inst;
  for (let start = 0; start < x.length; start += CHUNK) {
    const n = Math.min(CHUNK, x.length - start);
    f32.set(x.subarray(start, start + n));
    // Up to 3 values past n are transformed too (whatever the memory held) and never copied out.
    sign(0, ((n + 3) >> 2) << 4);
    out.set(f32.subarray(0, n), start);
  }
  return true;
}

/**
 * The code of `signScale(pw, pm, pv, end, mStep)`: for every 4 float32 values of W from byte pw up
 * to end, `V = M · s(W)` at pv, with s(w) = (w > 0) − (w < 0) (so 0 for ±0 and NaN) and M read
 * from pm, which moves by mStep bytes per 4 values: 16 for an array of magnitudes, 0 for one
 * constant in all four lanes. The same values as the TypeScript loop, which multiplies in double
 * precision: M times ±1 or 0 is exact in float32 too, as long as M is a finite float32 (the caller
 * keeps a constant beyond float32's range out of the kernel).
 */
function signScaleBody(): number[] {
  const [PW, PM, PV, END, MSTEP, W] = [0, 1, 2, 3, 4, 5];
  const get = (l: number) => [op.localGet, l];
  const set = (l: number) => [op.localSet, l];
  const advance = (l: number, by: number[]) => [...get(l), ...by, op.i32Add, ...set(l)];
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
    ...advance(PW, [op.i32Const, ...sleb(16)]),
    ...advance(PV, [op.i32Const, ...sleb(16)]),
    ...advance(PM, get(MSTEP)),
    ...[op.br, 0, op.end, op.end],
    op.end,
  ];
  return [...vec([[...uleb(1), V128]]), ...code];
}

/** The module of the `signScale` kernel (five i32 parameters, see its code). */
export function signScaleModuleBytes(): Uint8Array<ArrayBuffer> {
  return oneFunctionModule('signScale', 5, signScaleBody());
}

let signScaleKernels: Kernels<'signScale'> | null | undefined;

function getSignScale(): Kernels<'signScale'> | null {
  // W, M and V of one chunk side by side.
  if (signScaleKernels === undefined) signScaleKernels = instantiate(signScaleModuleBytes(), 3 * CHUNK * 4, ['signScale']);
  return signScaleKernels;
}

/**
 * `v[i] = m[i] · s(w[i])` (or `m · s(w[i])` for a number m), s(w) = (w > 0) − (w < 0), for float32
 * arrays of one length, on the SIMD kernel; false, with nothing written, where WebAssembly SIMD is
 * unavailable.
 */
export function wasmSignScale(v: Float32Array, w: Float32Array, m: Float32Array | number): boolean {
  const inst = getSignScale();
  if (!inst) return false;
  const { f32, signScale } = inst;
  const [W, M, V] = [0, CHUNK, 2 * CHUNK]; // offsets in floats
  if (typeof m === 'number') f32.fill(m, M, M + 4);
  for (let start = 0; start < w.length; start += CHUNK) {
    const n = Math.min(CHUNK, w.length - start);
    f32.set(w.subarray(start, start + n), W);
    if (typeof m !== 'number') f32.set(m.subarray(start, start + n), M);
    // Up to 3 values past n are computed too (from whatever the memory held) and never copied out.
    signScale(4 * W, 4 * M, 4 * V, 4 * W + (((n + 3) >> 2) << 4), typeof m === 'number' ? 0 : 16);
    v.set(f32.subarray(V, V + n), start);
  }
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
  const get = (l: number) => [op.localGet, l];
  const set = (l: number) => [op.localSet, l];
  const advance = (l: number) => [...get(l), op.i32Const, ...sleb(16), op.i32Add, ...set(l)];
  const code = [
    ...[op.block, 0x40, op.loop, 0x40],
    ...get(P), ...get(END), op.i32GeU, op.br_if, 1,
    ...get(P), //                                                                       the store's address
    ...get(P), ...simd(V128_LOAD), ...memarg(4, 0),
    ...get(Q), ...simd(V128_LOAD), ...memarg(4, 0), ...i32x4Splat(0), ...simd(F32X4_GT), ...i32x4Splat(0x3f800000), ...simd(V128_AND), // 1 where > 0
    ...simd(F32X4_MUL), ...i32x4Splat(0), ...simd(F32X4_ADD),
    ...simd(V128_STORE), ...memarg(4, 0),
    ...advance(P), ...(backward ? advance(Q) : []),
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

let reluKernels: Kernels<'relu' | 'reluBackward'> | null | undefined;

function getRelu(): Kernels<'relu' | 'reluBackward'> | null {
  // dy (or x) and y of one chunk.
  if (reluKernels === undefined) reluKernels = instantiate(reluModuleBytes(), 2 * CHUNK * 4, ['relu', 'reluBackward']);
  return reluKernels;
}

/**
 * ReLU on the SIMD kernel, for float32 arrays of one length: `out[i] = max(0, x[i])` as `ReLU`
 * computes it (with `y` null), or its backward `out[i] = x[i] · (y[i] > 0) + 0` with x the
 * incoming error and y the forward output. False, with nothing written, where WebAssembly SIMD is
 * unavailable.
 */
export function wasmRelu(out: Float32Array, x: Float32Array, y: Float32Array | null): boolean {
  const inst = getRelu();
  if (!inst) return false;
  const { f32, relu, reluBackward } = inst;
  for (let start = 0; start < x.length; start += CHUNK) {
    const n = Math.min(CHUNK, x.length - start);
    const end = ((n + 3) >> 2) << 4; // up to 3 values past n are computed too and never copied out
    f32.set(x.subarray(start, start + n));
    if (y) {
      f32.set(y.subarray(start, start + n), CHUNK);
      reluBackward(0, 4 * CHUNK, end);
    } else {
      relu(0, end);
    }
    out.set(f32.subarray(0, n), start);
  }
  return true;
}

/**
 * The code of `xor128(p, end, s)`: writes the next (end − p) / 4 numbers of Marsaglia's xorshift
 * (seedrandom's xor128) as float32 `(w >>> 8) · 2⁻²⁴` from byte p up to end, starting from and
 * updating the state x, y, z, w at byte s. Four numbers per turn of the main loop, then one at a
 * time for the last up to three.
 *
 * ```
 * t = x ^ (x << 11);  x = y;  y = z;  z = w;
 * w = (w ^ (t ^ (t >>> 8))) ^ (w >>> 19)    seedrandom's w ^ (w >>> 19) ^ t ^ (t >>> 8), reassociated
 * ```
 *
 * Reassociating the xors leaves two operations between one w and the next instead of four: the
 * chain from each number to the next is what bounds this loop.
 */
function xor128Body(): number[] {
  const [P, END, S, X, Y, Z, W, T] = [0, 1, 2, 3, 4, 5, 6, 7];
  const get = (l: number) => [op.localGet, l];
  const set = (l: number) => [op.localSet, l];
  const i32 = (v: number) => [op.i32Const, ...sleb(v)];
  // One number: the step of the recurrence from (x, y, z, w), stored at p + offset.
  const next = (offset: number): number[] => [
    ...get(X), ...get(X), ...i32(11), op.i32Shl, op.i32Xor, ...set(T),
    ...get(Y), ...set(X), ...get(Z), ...set(Y), ...get(W), ...set(Z),
    ...get(W), ...get(T), ...get(T), ...i32(8), op.i32ShrU, op.i32Xor, op.i32Xor, ...get(W), ...i32(19), op.i32ShrU, op.i32Xor, ...set(W),
    ...get(P), ...get(W), ...i32(8), op.i32ShrU, op.f32ConvertI32U, ...f32Const(2 ** -24), op.f32Mul, op.f32Store, ...memarg(2, offset),
  ];
  const code = [
    ...get(S), op.i32Load, ...memarg(2, 0), ...set(X),
    ...get(S), op.i32Load, ...memarg(2, 4), ...set(Y),
    ...get(S), op.i32Load, ...memarg(2, 8), ...set(Z),
    ...get(S), op.i32Load, ...memarg(2, 12), ...set(W),
    // four at a time while p + 16 ≤ end
    ...[op.block, 0x40, op.loop, 0x40],
    ...get(P), ...i32(16), op.i32Add, ...get(END), op.i32GtU, op.br_if, 1,
    ...next(0), ...next(4), ...next(8), ...next(12),
    ...get(P), ...i32(16), op.i32Add, ...set(P),
    ...[op.br, 0, op.end, op.end],
    // then one at a time while p < end
    ...[op.block, 0x40, op.loop, 0x40],
    ...get(P), ...get(END), op.i32GeU, op.br_if, 1,
    ...next(0),
    ...get(P), ...i32(4), op.i32Add, ...set(P),
    ...[op.br, 0, op.end, op.end],
    ...get(S), ...get(X), op.i32Store, ...memarg(2, 0),
    ...get(S), ...get(Y), op.i32Store, ...memarg(2, 4),
    ...get(S), ...get(Z), op.i32Store, ...memarg(2, 8),
    ...get(S), ...get(W), op.i32Store, ...memarg(2, 12),
    op.end,
  ];
  return [...vec([[...uleb(5), I32]]), ...code];
}

/**
 * The code of `xor128x4(p0, p1, p2, p3, count, s)`: four stretches of the stream side by side, one
 * per SIMD lane. The lanes' states are at byte s as four vectors, X, Y, Z and W (lane k holds
 * stretch k's x, y, z, w). Each of `count` turns takes four steps of all four lanes, with the
 * recurrence and the conversion of `xor128` on i32x4 and f32x4, then transposes the four result
 * vectors (one per step) into one per lane, and stores lane k's four numbers at pk, which then
 * moves on by 16.
 *
 * Four steps per turn need no moves between locals: the step from (x, y, z, w) gives a new w from
 * x and w, and the next three steps take y, z and w in x's place, so the four new values are the
 * next (x, y, z, w).
 */
function xor128x4Body(): number[] {
  const [P0, COUNT, S] = [0, 4, 5];
  const [X, Y, Z, W, T] = [6, 7, 8, 9, 10];
  const F0 = 11; // F0 … F0+3: the four steps' numbers; then reused for the transposition
  const SCALE = 15; // 2⁻²⁴ in every lane, set once
  const get = (l: number) => [op.localGet, l];
  const set = (l: number) => [op.localSet, l];
  const i32 = (v: number) => [op.i32Const, ...sleb(v)];
  const xor = simd(V128_XOR);
  // An i8x16.shuffle taking 32-bit lanes (0–3 of the first vector, 4–7 of the second).
  const shuffle = (lanes: number[]) => [...simd(I8X16_SHUFFLE), ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3])];
  // One step: into `into` (one of X, Y, Z, W) the new w from `old` (the x it replaces) and `prev` (the latest w).
  const stepInto = (into: number, prev: number, k: number): number[] => [
    ...get(into), ...get(into), ...i32(11), ...simd(I32X4_SHL), ...xor, ...set(T), //              t = x ^ (x << 11)
    ...get(prev), ...get(T), ...get(T), ...i32(8), ...simd(I32X4_SHR_U), ...xor, ...xor, //       (w ^ (t ^ (t >>> 8)))
    ...get(prev), ...i32(19), ...simd(I32X4_SHR_U), ...xor, ...set(into), //                      ^ (w >>> 19)
    ...get(into), ...i32(8), ...simd(I32X4_SHR_U), ...simd(F32X4_CONVERT_I32X4_U), ...get(SCALE), ...simd(F32X4_MUL), ...set(F0 + k), // · 2⁻²⁴
  ];
  const code = [
    ...get(S), ...simd(V128_LOAD), ...memarg(4, 0), ...set(X),
    ...get(S), ...simd(V128_LOAD), ...memarg(4, 16), ...set(Y),
    ...get(S), ...simd(V128_LOAD), ...memarg(4, 32), ...set(Z),
    ...get(S), ...simd(V128_LOAD), ...memarg(4, 48), ...set(W),
    ...i32x4Splat(0x33800000), ...set(SCALE),
    ...[op.block, 0x40, op.loop, 0x40],
    ...get(COUNT), op.i32Eqz, op.br_if, 1,
    ...stepInto(X, W, 0), ...stepInto(Y, X, 1), ...stepInto(Z, Y, 2), ...stepInto(W, Z, 3),
    // Transpose: F0..F3 hold steps 0..3 across lanes 0..3; lane k's four numbers go to pk.
    ...get(F0), ...get(F0 + 1), ...shuffle([0, 4, 1, 5]), ...get(F0), ...get(F0 + 1), ...shuffle([2, 6, 3, 7]), ...set(F0 + 1), ...set(F0),
    ...get(F0 + 2), ...get(F0 + 3), ...shuffle([0, 4, 1, 5]), ...get(F0 + 2), ...get(F0 + 3), ...shuffle([2, 6, 3, 7]), ...set(F0 + 3), ...set(F0 + 2),
    ...get(P0), ...get(F0), ...get(F0 + 2), ...shuffle([0, 1, 4, 5]), ...simd(V128_STORE), ...memarg(4, 0),
    ...get(P0 + 1), ...get(F0), ...get(F0 + 2), ...shuffle([2, 3, 6, 7]), ...simd(V128_STORE), ...memarg(4, 0),
    ...get(P0 + 2), ...get(F0 + 1), ...get(F0 + 3), ...shuffle([0, 1, 4, 5]), ...simd(V128_STORE), ...memarg(4, 0),
    ...get(P0 + 3), ...get(F0 + 1), ...get(F0 + 3), ...shuffle([2, 3, 6, 7]), ...simd(V128_STORE), ...memarg(4, 0),
    ...[0, 1, 2, 3].flatMap((lane) => [...get(P0 + lane), ...i32(16), op.i32Add, ...set(P0 + lane)]),
    ...get(COUNT), ...i32(1), op.i32Sub, ...set(COUNT),
    ...[op.br, 0, op.end, op.end],
    ...get(S), ...get(X), ...simd(V128_STORE), ...memarg(4, 0),
    ...get(S), ...get(Y), ...simd(V128_STORE), ...memarg(4, 16),
    ...get(S), ...get(Z), ...simd(V128_STORE), ...memarg(4, 32),
    ...get(S), ...get(W), ...simd(V128_STORE), ...memarg(4, 48),
    op.end,
  ];
  return [...vec([[...uleb(10), V128]]), ...code];
}

/** The module of the xor128 kernels: `xor128(p, end, s)` and `xor128x4(p0, p1, p2, p3, count, s)`. */
export function xor128ModuleBytes(): Uint8Array<ArrayBuffer> {
  return moduleBytes([
    { name: 'xor128', params: 3, body: xor128Body() },
    { name: 'xor128x4', params: 6, body: xor128x4Body() },
  ]);
}

/** Numbers per chunk of the xor128 kernels (1 MiB of float32); the states sit in the 64 bytes before. */
const XOR_CHUNK = 1 << 18;
/** Below this many numbers, one lane: the jump-ahead's cost is not worth it. */
const XOR_LANES_FROM = 1024;

let xor128Kernels: Kernels<'xor128' | 'xor128x4'> | null | undefined;

function getXor128(): Kernels<'xor128' | 'xor128x4'> | null {
  // The lane states (64 bytes), then one chunk of numbers.
  if (xor128Kernels === undefined) xor128Kernels = instantiate(xor128ModuleBytes(), 64 + XOR_CHUNK * 4, ['xor128', 'xor128x4']);
  return xor128Kernels;
}

/**
 * Fills `out` with the next `out.length` numbers of the xor128 stream whose state `[x, y, z, w]`
 * is `state` (updated), as `(w >>> 8) · 2⁻²⁴`: the same values, in the same order, as
 * `Rng.fillUniform24`'s TypeScript loop. False, with nothing written, where WebAssembly SIMD is
 * unavailable.
 *
 * A chunk of n numbers is cut into four stretches of q = 4·⌊n/16⌋: the state at the start of each is
 * found by jumping ahead q numbers at a time (`xor128Jump.ts`), `xor128x4` computes the four side
 * by side, and the last n − 4q numbers follow from the fourth stretch's final state, one lane.
 */
export function wasmXor128Uniform24(out: Float32Array | Float64Array, state: Int32Array): boolean {
  const inst = getXor128();
  if (!inst) return false;
  const { f32, i32, xor128, xor128x4 } = inst;
  const DATA = 16; // floats: the four lane states (64 bytes) come first
  for (let start = 0; start < out.length; start += XOR_CHUNK) {
    const n = Math.min(XOR_CHUNK, out.length - start);
    const q = n >= XOR_LANES_FROM ? (n >> 4) << 2 : 0; // a multiple of 4: the kernel writes four numbers per lane and turn
    if (q > 0) {
      // Lane k starts k·q numbers on: X = [x0, x1, x2, x3] at 0, Y at 16 bytes, Z at 32, W at 48.
      let s: ArrayLike<number> = state;
      for (let lane = 0; lane < 4; lane++) {
        if (lane > 0) s = jumpState(s, q);
        for (let word = 0; word < 4; word++) i32[4 * word + lane] = s[word]!;
      }
      const p = 4 * DATA;
      xor128x4(p, p + 4 * q, p + 8 * q, p + 12 * q, q >> 2, 0);
      for (let word = 0; word < 4; word++) state[word] = i32[4 * word + 3]!; // the fourth lane ends 4q on
    }
    // The rest, one lane: the state at byte 0.
    i32.set(state.subarray(0, 4));
    xor128(4 * (DATA + 4 * q), 4 * (DATA + n), 0);
    state.set(i32.subarray(0, 4));
    out.set(f32.subarray(DATA, DATA + n), start);
  }
  return true;
}

/** Whether the SIMD element-wise kernels run here. */
export function wasmVectorAvailable(): boolean {
  return getSign() !== null && getSignScale() !== null && getRelu() !== null && getXor128() !== null;
}
