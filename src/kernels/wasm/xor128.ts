/**
 * brSF's per-step redraw of its magnitudes, in WebAssembly: the numbers of seedrandom's xor128
 * stream (Marsaglia's xorshift), generated at run time like the other kernels (`module.ts`).
 * Each number depends on the one before, so the stream is cut into four stretches (their starting
 * states found by jumping ahead, in `xor128Jump.ts`) that `xor128x4` computes in the four SIMD
 * lanes: the same numbers in the same order, in about half the TypeScript loop's time, copies
 * included.
 */

import {
  F32X4_CONVERT_I32X4_U,
  F32X4_MUL,
  I32,
  I32X4_SHL,
  I32X4_SHR_U,
  I8X16_SHUFFLE,
  V128,
  V128_LOAD,
  V128_STORE,
  V128_XOR,
  addToLocal,
  f32Const,
  i32Const as i32,
  i32x4Splat,
  localGet as get,
  localSet as set,
  memarg,
  op,
  simd,
  uleb,
  vec,
  type WasmFunction,
} from './assembler.js';
import { jumpState } from './xor128Jump.js';

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
    ...addToLocal(P, i32(16)),
    ...[op.br, 0, op.end, op.end],
    // then one at a time while p < end
    ...[op.block, 0x40, op.loop, 0x40],
    ...get(P), ...get(END), op.i32GeU, op.br_if, 1,
    ...next(0),
    ...addToLocal(P, i32(4)),
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
    ...[0, 1, 2, 3].flatMap((lane) => addToLocal(P0 + lane, i32(16))),
    ...addToLocal(COUNT, i32(-1)),
    ...[op.br, 0, op.end, op.end],
    ...get(S), ...get(X), ...simd(V128_STORE), ...memarg(4, 0),
    ...get(S), ...get(Y), ...simd(V128_STORE), ...memarg(4, 16),
    ...get(S), ...get(Z), ...simd(V128_STORE), ...memarg(4, 32),
    ...get(S), ...get(W), ...simd(V128_STORE), ...memarg(4, 48),
    op.end,
  ];
  return [...vec([[...uleb(10), V128]]), ...code];
}

/** The xor128 kernels: `xor128(p, end, s)` and `xor128x4(p0, p1, p2, p3, count, s)`. */
export function xor128Kernels(): WasmFunction[] {
  return [
    { name: 'xor128', params: 3, body: xor128Body() },
    { name: 'xor128x4', params: 6, body: xor128x4Body() },
  ];
}

/** Numbers per chunk of the xor128 kernels (1 MiB of float32). */
export const XOR_CHUNK = 1 << 18;
/** Bytes of work space a fill needs: the four lane states (64 bytes), then one chunk of numbers. */
export const XOR_SCRATCH_BYTES = 64 + XOR_CHUNK * 4;
/** Shorter fills stay with the TypeScript loop. */
export const XOR_MIN_LENGTH = 256;
/** Below this many numbers, one lane: the jump-ahead's cost is not worth it. */
const XOR_LANES_FROM = 1024;

/** Where a fill runs: the kernels, views of their memory, and the byte address of its work space ({@link XOR_SCRATCH_BYTES}). */
export interface Xor128Site {
  readonly f32: Float32Array;
  readonly i32: Int32Array;
  readonly base: number;
  xor128(p: number, end: number, s: number): void;
  xor128x4(p0: number, p1: number, p2: number, p3: number, count: number, s: number): void;
}

/**
 * Fills `out` with the next `out.length` numbers of the xor128 stream whose state `[x, y, z, w]`
 * is `state` (updated), as `(w >>> 8) · 2⁻²⁴`: the same values, in the same order, as the
 * reference kernels' TypeScript loop.
 *
 * A chunk of n numbers is cut into four stretches of q = 4·⌊n/16⌋: the state at the start of each is
 * found by jumping ahead q numbers at a time (`xor128Jump.ts`), `xor128x4` computes the four side
 * by side, and the last n − 4q numbers follow from the fourth stretch's final state, one lane.
 */
export function xor128Fill(site: Xor128Site, out: Float32Array | Float64Array, state: Int32Array): void {
  const { f32, i32, xor128, xor128x4 } = site;
  const S = site.base >> 2; // the lane states, in 32-bit words
  const DATA = S + 16; // the numbers, after the four lane states (64 bytes)
  for (let start = 0; start < out.length; start += XOR_CHUNK) {
    const n = Math.min(XOR_CHUNK, out.length - start);
    const q = n >= XOR_LANES_FROM ? (n >> 4) << 2 : 0; // a multiple of 4: the kernel writes four numbers per lane and turn
    if (q > 0) {
      // Lane k starts k·q numbers on: X = [x0, x1, x2, x3] at S, Y 16 bytes on, Z 32, W 48.
      let s: ArrayLike<number> = state;
      for (let lane = 0; lane < 4; lane++) {
        if (lane > 0) s = jumpState(s, q);
        for (let word = 0; word < 4; word++) i32[S + 4 * word + lane] = s[word]!;
      }
      const p = 4 * DATA;
      xor128x4(p, p + 4 * q, p + 8 * q, p + 12 * q, q >> 2, 4 * S);
      for (let word = 0; word < 4; word++) state[word] = i32[S + 4 * word + 3]!; // the fourth lane ends 4q on
    }
    // The rest, one lane: the state at S.
    i32.set(state.subarray(0, 4), S);
    xor128(4 * (DATA + 4 * q), 4 * (DATA + n), 4 * S);
    state.set(i32.subarray(S, S + 4));
    out.set(f32.subarray(DATA, DATA + n), start);
  }
}
